"""LoRA: low-rank adapters beside a frozen model, built on peft so adapters load anywhere.

`attach_lora` injects the adapters into the loaded transformers model in place (peft's
`get_peft_model` replaces the target projections with LoRA layers that wrap them, and the head
with a trainable copy, `modules_to_save`). The trainer keeps calling the transformers model it
loaded, so the loop, evaluation, DDP and the tasks need no LoRA code; the `PeftModel` peft
returns is kept beside it for what only it does: writing and reading the adapter folder.

Targets: `auto` gives adapters to every projection inside the transformer layers (attention and
feed-forward; found generically, so any architecture whose layers `freezing.layer_groups`
finds works), named by one regular expression anchored at the layer list, so a pooler or head
with the same leaf name ("dense") is never hit. A list of names or a regular expression given
by the user goes to peft as it is, after checking that it matches modules LoRA can adapt.

`merged_weights` folds each adapter into its base weight (W + B A x alpha/r) without touching
the model, so best/ and last/ are plain transformers folders that stock `pipeline()` loads.

QLoRA (lora_4bit): the frozen base loads in 4 bits (NF4, double-quantized, computing in bf16)
through transformers' BitsAndBytesConfig on a CUDA GPU (`four_bit_loading`), peft's
`prepare_model_for_kbit_training` readies it (`prepare_four_bit`), then the adapters attach
as usual. `qlora_problem` refuses it, before anything is loaded or written, where it cannot run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import CheckpointError, SettingsError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_DIR = "adapter"  # the adapter's PEFT folder inside best/ and last/ (which hold merged weights)
ADAPTER_NAME = "default"
# peft's task types by the task's model kind; masked-LM has none (peft's base PeftModel serves it).
_PEFT_TASK_TYPES = {"sequence-classification": "SEQ_CLS", "token-classification": "TOKEN_CLS",
                    "causal-lm": "CAUSAL_LM"}
_REGEX_CHARACTERS = set("^$*+?[](){}|\\")
REINIT_PROBLEM = ("reinit_top_layers: with strategy lora the model's own weights stay frozen, so re-initialised "
                  "layers would stay random. Set it to 0, or pick another strategy.")
QLORA_INSTALL = "pip install 'ftstudio[qlora]'"
# Modules kept out of 4 bits: the head and pooler train as full copies (modules_to_save), and a
# language model's output layer stays as precise as its embeddings. (transformers' patterns:
# a prefix or suffix of the module's name, or a regular expression from its start.)
_NOT_QUANTIZED = ["score", "classifier", ".*classifier", ".*pooler", "lm_head", "cls", "qa_outputs"]


# ------------------------------------------------------------------ targets
def adaptable_modules(model: Any) -> dict[str, Any]:
    """Every module LoRA can adapt (linear layers, GPT-2's Conv1D, embeddings), by full name."""
    import torch
    from transformers.pytorch_utils import Conv1D

    kinds = (torch.nn.Linear, torch.nn.Embedding, Conv1D)
    return {name: module for name, module in model.named_modules() if isinstance(module, kinds)}


def auto_targets(model: Any) -> tuple[str, list[str]]:
    """(the regular expression peft gets, the full names it matches): every adaptable module of
    the transformer layers, i.e. the attention and feed-forward projections."""
    from ftstudio.engine.models.freezing import layer_groups

    layers = layer_groups(model).layers
    if not layers:
        raise SettingsError(no_layers_message(type(model).__name__), "lora_targets")
    names = {id(module): name for name, module in model.named_modules()}
    layer_names = [names[id(layer)] for layer in layers]
    prefix = layer_names[0].rsplit(".", 1)[0]  # e.g. bert.encoder.layer
    adaptable = adaptable_modules(model)
    suffixes = sorted({name[len(layer) + 1:] for layer in layer_names for name in adaptable
                       if name.startswith(layer + ".")})
    if not suffixes:
        raise SettingsError(no_projections_message(type(model).__name__), "lora_targets")
    pattern = rf"{re.escape(prefix)}\.\d+\.({'|'.join(re.escape(s) for s in suffixes)})"
    return pattern, [name for name in adaptable if re.fullmatch(pattern, name)]  # (in the model's order)


def resolve_targets(model: Any, text: str) -> tuple[str | list[str], list[str]]:
    """What peft's target_modules gets for the lora_targets setting, and the full names of the
    modules it adapts; SettingsError when it names nothing LoRA can adapt."""
    text = text.strip()
    if text.lower() == "auto":
        return auto_targets(model)
    return match_targets(text, list(adaptable_modules(model)), type(model).__name__)


def match_targets(text: str, adaptable: list[str], model_name: str) -> tuple[str | list[str], list[str]]:
    """The lora_targets setting other than auto against the full names of a model's adaptable
    modules, as peft matches them: a regular expression is fullmatched against whole names, a
    list of names matches a name or its dotted suffix. Returns (peft's target_modules, the names
    hit); SettingsError when it names nothing. Names only (no torch): the window's layer plan
    (adapter_plan.py) checks the setting with the same words from the safetensors header."""
    text = text.strip()
    if is_expression(text):
        try:
            pattern = re.compile(text)
        except re.error as exc:
            raise SettingsError(f"lora_targets: '{text}' is not a valid regular expression ({exc}).",
                                "lora_targets") from None
        hit = [name for name in adaptable if pattern.fullmatch(name)]
        if not hit:
            raise SettingsError(f"lora_targets: the expression '{text}' matches no linear or embedding module of "
                                f"{model_name} (it must match whole names such as "
                                f"'{_example(adaptable)}').", "lora_targets")
        return text, hit
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    hit = [name for name in adaptable if any(name == w or name.endswith("." + w) for w in wanted)]
    missing = [w for w in wanted if not any(n == w or n.endswith("." + w) for n in hit)]
    if missing or not wanted:
        # (named from the modules inside numbered layers first: those are what LoRA is for)
        inside = [name for name in adaptable if re.search(r"\.\d+\.", name)] or adaptable
        leaves = sorted({name.rsplit(".", 1)[-1] for name in inside})
        raise SettingsError(f"lora_targets: {model_name} has no linear or embedding module named "
                            f"'{missing[0] if missing else text}'. Its layers' modules are named "
                            f"{', '.join(leaves[:12])}{', ...' if len(leaves) > 12 else ''}.", "lora_targets")
    return wanted, hit


def is_expression(text: str) -> bool:
    """Whether lora_targets reads as a regular expression (else a list of names)."""
    return bool(_REGEX_CHARACTERS & set(text))


def no_layers_message(model_name: str) -> str:
    return (f"lora_targets: auto found no transformer layers in {model_name}. Name the modules to adapt "
            "(e.g. query,value) or give a regular expression.")


def no_projections_message(model_name: str) -> str:
    return (f"lora_targets: the layers of {model_name} have no linear projections for LoRA. Name the modules "
            "to adapt, or use another strategy.")


def _example(adaptable: list[str]) -> str:
    return adaptable[0] if adaptable else "encoder.layer.0.attention.self.query"


# ------------------------------------------------------------------ QLoRA
def qlora_problem(settings: Any, device: Any) -> str | None:
    """Why lora_4bit cannot run here, in words (None: it can, or it is off). Asked before the
    model loads: 4 bits need strategy lora, a CUDA GPU, bitsandbytes and accelerate (the extra `qlora`)."""
    import importlib.util

    if not settings.lora_4bit:
        return None
    if settings.strategy_kind != "lora":
        return (f"lora_4bit: 4-bit base weights (QLoRA) are for LoRA adapters, and the strategy is "
                f"{settings.strategy}. Set strategy to lora, or turn lora_4bit off.")
    kind = getattr(device, "type", str(device))
    if kind != "cuda":
        where = "the CPU" if kind == "cpu" else "an Apple GPU (MPS)" if kind == "mps" else kind
        return (f"lora_4bit: 4-bit base weights (QLoRA, bitsandbytes) need a CUDA GPU, and this run is on {where}. "
                f"Turn lora_4bit off (LoRA alone works here), or train on an NVIDIA GPU with {QLORA_INSTALL}.")
    # (transformers quantizes through bitsandbytes and places the 4-bit weights with accelerate)
    missing = [name for name in ("bitsandbytes", "accelerate") if importlib.util.find_spec(name) is None]
    if missing:
        which = " and ".join(missing) + (", which are" if len(missing) > 1 else ", which is")
        return (f"lora_4bit: 4-bit base weights (QLoRA) need {which} not installed: {QLORA_INSTALL}. "
                "Or turn lora_4bit off.")
    return None


def four_bit_loading(device: Any, precision: str) -> dict[str, Any]:
    """from_pretrained arguments that load the frozen base in 4 bits on CUDA `device`: NF4 with
    double quantization (the QLoRA recipe), computing in bf16 (fp16 on a GPU without bf16,
    where precision resolved to fp16). The head and pooler stay unquantized (_NOT_QUANTIZED)."""
    import torch
    from transformers import BitsAndBytesConfig

    compute = torch.float16 if precision == "fp16" else torch.bfloat16
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute,
                                bnb_4bit_use_double_quant=True, llm_int8_skip_modules=list(_NOT_QUANTIZED))
    index = device.index if device.index is not None else torch.cuda.current_device()
    return {"quantization_config": config, "device_map": {"": index}}


def prepare_four_bit(model: Any) -> None:
    """peft's preparation of a 4-bit model for training, before the adapters attach: every weight
    frozen, the unquantized ones (norms, embeddings, head) in float32, input gradients enabled.
    Its own gradient checkpointing is left off: the trainer turns on the non-reentrant kind
    when gradient_checkpointing asks (models/checkpointing.py)."""
    from peft import prepare_model_for_kbit_training

    prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)


# ------------------------------------------------------------------ attaching
def lora_problem(settings: Any, task: Any, model: Any, new_head: bool) -> str | None:
    """Why this run cannot use LoRA as configured, in words (None: it can)."""
    if settings.reinit_top_layers:
        return REINIT_PROBLEM
    if settings.sharding == "fsdp":
        return ("sharding: fsdp with strategy lora is not supported; use none (each process holds the frozen "
                "model, and only the small adapters' gradients are exchanged).")
    if task.language_model and new_head:
        return (f"strategy: lora keeps the model's language-model head frozen, but {type(model).__name__} gets a "
                "new, untrained one here. Pre-train with strategy full or head first, or pick a model that has "
                "its language-model head.")
    tied = bool(getattr(getattr(model, "config", None), "tie_word_embeddings", False))
    if task.language_model and settings.lora_embeddings and tied:
        return ("lora_embeddings: this model's output layer shares the embeddings' weights, so they cannot train "
                "apart from the frozen head under LoRA. Turn lora_embeddings off.")
    return None


def attach_lora(model: Any, settings: Any, task: Any, base_model: str, new_head: bool) -> Any:
    """Freeze `model` and inject LoRA adapters into it (in place); the head and, when asked, the
    embeddings train as full copies. Returns peft's PeftModel around the same model.
    `base_model` is what the adapter folder names as its base (a folder or a Hub id)."""
    from peft import LoraConfig, get_peft_model

    from ftstudio.engine.models.freezing import layer_groups

    problem = lora_problem(settings, task, model, new_head)
    if problem:
        raise SettingsError(problem, problem.split(":", 1)[0])
    target_modules, hit = resolve_targets(model, settings.lora_targets)
    groups = layer_groups(model)
    names = {id(module): name for name, module in model.named_modules()}
    trained = [] if task.language_model else list(groups.head)  # (a language model's head stays frozen)
    if settings.lora_embeddings:
        trained += groups.embeddings
    saved = [names[id(m)] for m in trained if any(True for _ in m.parameters())]
    config = LoraConfig(
        r=settings.lora_rank, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
        target_modules=target_modules, modules_to_save=saved or None,
        task_type=_PEFT_TASK_TYPES.get(task.model_kind), bias="none", fan_in_fan_out=_stores_transposed(model, hit),
    )
    try:
        peft_model = get_peft_model(model, config, adapter_name=ADAPTER_NAME)
    except ValueError as exc:  # e.g. a target peft cannot adapt ("Target module ... is not supported")
        raise SettingsError(f"lora_targets: {str(exc).splitlines()[0]}", "lora_targets") from None
    peft_model.peft_config[ADAPTER_NAME].base_model_name_or_path = base_model
    return peft_model


def _stores_transposed(model: Any, names: list[str]) -> bool:
    """Whether the adapted modules keep their weight as (in, out): GPT-2's Conv1D does, which
    peft must be told (fan_in_fan_out) or it guesses it with a warning per run."""
    from transformers.pytorch_utils import Conv1D

    modules = dict(model.named_modules())
    return bool(names) and all(isinstance(modules.get(name), Conv1D) for name in names)


def adapter_modules(model: Any) -> list[str]:
    """The full names of the modules that carry an adapter (for the layer table and the log)."""
    from peft.tuners.lora import LoraLayer

    return [name for name, module in model.named_modules() if isinstance(module, LoraLayer)]


# ------------------------------------------------------------------ merging and folders
def merged_weights(model: Any) -> dict[str, Any]:
    """The model's weights with every adapter folded in, under the names of the model without
    adapters (CPU tensors): what a stock transformers folder holds. The model is not changed,
    so training continues exactly; 4-bit base weights are de-quantized first."""
    import torch
    from peft.tuners.lora import LoraLayer
    from peft.utils.integrations import dequantize_module_weight
    from peft.utils.other import ModulesToSaveWrapper

    replaced: dict[str, Any] = {}
    covered: list[str] = []
    with torch.no_grad():
        for name, module in model.named_modules():
            if any(name.startswith(prefix) for prefix in covered):
                continue
            if isinstance(module, LoraLayer):
                base = module.get_base_layer()
                weight = dequantize_module_weight(base)
                own = set(module.lora_A) | set(getattr(module, "lora_embedding_A", {}))
                delta = module.get_delta_weight(ADAPTER_NAME).float() if ADAPTER_NAME in own else 0
                dtype = weight.dtype if weight.dtype.is_floating_point else torch.float32
                replaced[f"{name}.weight"] = (weight.float() + delta).to(dtype)
                if getattr(base, "bias", None) is not None:
                    replaced[f"{name}.bias"] = base.bias
            elif isinstance(module, ModulesToSaveWrapper):
                copy = module.modules_to_save[ADAPTER_NAME]
                replaced.update({f"{name}.{key}": value for key, value in copy.state_dict().items()})
            else:
                continue
            covered.append(name + ".")
    kept = {key: value for key, value in model.state_dict().items()
            if not any(key.startswith(prefix) for prefix in covered)}
    return {key: value.detach().to("cpu").contiguous() for key, value in {**kept, **replaced}.items()}


def save_merged(model: Any, folder: Path) -> None:
    """Write `model` with its adapters folded in as a standard transformers folder (config.json
    and model.safetensors); a 4-bit base is saved de-quantized, so its config loses the
    quantization."""
    config = model.config
    quantization = config.__dict__.pop("quantization_config", None)
    try:
        model.save_pretrained(folder, safe_serialization=True, state_dict=merged_weights(model))
    finally:
        if quantization is not None:
            config.quantization_config = quantization


def adapter_folder(checkpoint: Path) -> Path | None:
    """The PEFT folder of a checkpoint: itself (a step folder of a LoRA run), its adapter/
    (best/ and last/ of a LoRA run), or None (a full checkpoint)."""
    checkpoint = Path(checkpoint)
    if (checkpoint / ADAPTER_CONFIG).is_file():
        return checkpoint
    if (checkpoint / ADAPTER_DIR / ADAPTER_CONFIG).is_file():
        return checkpoint / ADAPTER_DIR
    return None


def read_adapter_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((Path(folder) / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder} has no readable {ADAPTER_CONFIG} ({exc}).") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{folder / ADAPTER_CONFIG} is not a PEFT adapter configuration.")
    return config


def load_adapter_weights(peft_model: Any, folder: Path) -> None:
    """An adapter folder's weights into the run's adapters (resume, the test split on best/);
    CheckpointError when they were trained with other targets, rank or head."""
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    path = Path(folder) / ADAPTER_WEIGHTS
    try:
        weights = load_file(str(path), device="cpu")
    except (OSError, RuntimeError) as exc:
        raise CheckpointError(f"Cannot read the adapter {path}: {str(exc).splitlines()[0]}") from None
    try:
        result = set_peft_model_state_dict(peft_model, weights, adapter_name=ADAPTER_NAME)
    except RuntimeError as exc:  # size mismatch: another rank, or a head for other labels
        raise CheckpointError(f"The adapter in {folder} does not fit this run's model ({str(exc).splitlines()[0]}). "
                              "It cannot continue this run; start a new run.") from None
    missing = [key for key in result.missing_keys if "lora_" in key or "modules_to_save" in key]
    if result.unexpected_keys or missing:
        first = (result.unexpected_keys or missing)[0]
        raise CheckpointError(f"The adapter in {folder} was trained with other LoRA targets than this run's "
                              f"({first}). It cannot continue this run; start a new run.")
