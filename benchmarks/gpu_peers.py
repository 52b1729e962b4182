"""The GPU benchmark's children, one per process: `python benchmarks/gpu_peers.py MODE CONFIG OUT`.

- `probe`: what the figures are shares of: the device (name, count, memory), the peak dense
  bf16 FLOP/s from the vendor's table for that name and the FLOP/s of a large bf16 matmul
  measured here (fp32 on a CPU), the model's parameters (all, in embedding tables, trainable),
  and the library versions.
- `hf_trainer`: the stock Hugging Face recipe of `peers.py` (`datasets` map with truncation,
  `DataCollatorWithPadding`, `Trainer` with default `TrainingArguments` apart from the shared
  settings) with `bf16=True` on a GPU, as its users switch mixed precision on.
- `ftstudio`: `ftstudio.engine.training.train.train` with the same settings plus `device` and
  `precision` (what `ftstudio train --device cuda --precision bf16` runs).

Both training peers report their peak GPU memory (`torch.cuda.max_memory_allocated`); the stock
peer also the real (non-pad) tokens of one epoch of its own tokenization, which the driver checks
against its own count (the one both peers' tokens/s are computed from).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402
from common import Clock, load_config, quiet_libraries, run_peer, write_result  # noqa: E402

# Peak dense (no sparsity) bf16 tensor FLOP/s from the vendors' data sheets, matched in order
# against torch.cuda.get_device_name(): the first entry whose words all occur in the name wins
# (so "L40S" and "L40" come before "L4"). None: a name we hold no sure figure for (the A10G, a
# cloud variant of the A10, would otherwise match "A10").
PEAK_BF16: list[tuple[str, float | None]] = [
    ("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H200", 989e12), ("H100", 989e12), ("H800", 989e12),
    ("A100", 312e12), ("A800", 312e12), ("L40S", 362e12), ("L40", 181e12), ("L4", 121e12), ("A10G", None),
    ("A10", 125e12),
]


def spec_peak(name: str) -> float | None:
    """The data-sheet peak for a device name, or None when the table does not know it (then
    only the matmul measured in the run is a peak)."""
    for key, peak in PEAK_BF16:
        if all(word in name for word in key.split()):
            return peak
    return None


def parameter_counts(model: Any) -> dict[str, int]:
    """All parameters, those in embedding tables (looked up, not multiplied: no FLOPs), and the
    trainable ones of each kind."""
    import torch

    embedding = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    counts = {"total": 0, "embedding": 0, "trainable": 0, "trainable_embedding": 0}
    for p in model.parameters():
        counts["total"] += p.numel()
        counts["trainable"] += p.numel() if p.requires_grad else 0
        if id(p) in embedding:
            counts["embedding"] += p.numel()
            counts["trainable_embedding"] += p.numel() if p.requires_grad else 0
    return counts


def run_probe(cfg: dict[str, Any]) -> dict[str, Any]:
    import accelerate
    import torch
    import transformers
    from common import matmul_peak_flops
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(cfg["model_dir"], num_labels=len(cfg["label_names"]))
    out: dict[str, Any] = {"parameters": parameter_counts(model), "model_type": model.config.model_type,
                           "versions": {m.__name__: m.__version__ for m in (torch, transformers, accelerate)},
                           "cuda": torch.cuda.is_available()}
    del model
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        out.update(device_name=torch.cuda.get_device_name(0), device_count=torch.cuda.device_count(),
                   device_memory_gb=round(properties.total_memory / 1e9, 1),
                   capability=".".join(map(str, torch.cuda.get_device_capability(0))),
                   bf16_supported=torch.cuda.is_bf16_supported(), torch_cuda=torch.version.cuda)
        out["spec_peak_flops"] = spec_peak(out["device_name"])
        out["matmul_dtype"] = "bfloat16"
        out["matmul_size"] = cfg.get("matmul_size", 8192)
    else:
        out.update(device_name="cpu", device_count=0, spec_peak_flops=None, matmul_dtype="float32",
                   matmul_size=cfg.get("matmul_size", 1024))
    started = time.perf_counter()
    out["matmul_peak_flops"] = matmul_peak_flops(out["matmul_size"], cfg.get("matmul_seconds", 2.0), out["matmul_dtype"])
    out["matmul_seconds"] = round(time.perf_counter() - started, 2)
    return out


def _gpu_memory(result: dict[str, Any]) -> dict[str, Any]:
    import torch

    if torch.cuda.is_available():
        result["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return result


def run_hf_trainer(cfg: dict[str, Any]) -> dict[str, Any]:
    import torch
    from datasets import load_dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        set_seed,
    )

    clock = Clock()
    set_seed(cfg["seed"])
    data = load_dataset("csv", data_files={s: str(Path(cfg["data_dir"]) / f"{s}.csv") for s in ("train", "validation")})
    tokenizer = AutoTokenizer.from_pretrained(cfg["model_dir"])
    preprocess, head, compute_metrics = peers.stock_recipe(cfg, tokenizer)
    data = data.map(preprocess, batched=True, remove_columns=data["train"].column_names)
    model = AutoModelForSequenceClassification.from_pretrained(cfg["model_dir"], **head)
    if model.config.pad_token_id is None:  # decoders (Llama, ...): what their users add for padded batches
        model.config.pad_token_id = tokenizer.pad_token_id
    args = peers.stock_training_arguments(cfg, bf16=cfg["precision"] == "bf16", use_cpu=cfg["device"] == "cpu")
    trainer = Trainer(model=model, args=args, train_dataset=data["train"], eval_dataset=data["validation"],
                      processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer),
                      compute_metrics=compute_metrics)
    output = trainer.train()
    wall = clock()
    last_eval = [h for h in trainer.state.log_history if "eval_accuracy" in h][-1]
    return _gpu_memory({
        "train_runtime": output.metrics["train_runtime"],
        "train_samples_per_second": output.metrics["train_samples_per_second"],
        "wall_to_end": wall,
        "accuracy": last_eval["eval_accuracy"],
        "f1": last_eval["eval_f1"],
        "train_samples": len(data["train"]) * cfg["epochs"],
        "epoch_tokens": int(sum(len(ids) for ids in data["train"]["input_ids"])),
        "autocast_dtype": "bfloat16" if args.bf16 else "float32",
        "device": str(trainer.model.device),
        "torch_cuda_available": torch.cuda.is_available(),
    })


def run_ftstudio(cfg: dict[str, Any]) -> dict[str, Any]:
    cfg = dict(cfg, ftstudio_overrides={"device": cfg["device"], "precision": cfg["precision"]})
    return _gpu_memory(peers.run_ftstudio(cfg))


MODES = {"probe": run_probe, "hf_trainer": run_hf_trainer, "ftstudio": run_ftstudio}


def main(argv: list[str]) -> int:
    mode, config_path, out_path = argv
    cfg = load_config(config_path)
    quiet_libraries()
    if mode == "probe":
        write_result(out_path, run_probe(cfg))
        return 0
    if cfg["device"] == "cuda":
        # One GPU: the Trainer would otherwise spread its batch over every visible GPU (DataParallel).
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
        os.environ["CUDA_VISIBLE_DEVICES"] = visible or "0"
    if mode == "ftstudio":
        # What ftstudio's entry points do before torch loads (ftstudio/engine/speed/cpu_runtime.py).
        from ftstudio.engine.speed.cpu_runtime import configure_cpu_runtime

        configure_cpu_runtime()
    run_peer(MODES[mode], mode, cfg, out_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
