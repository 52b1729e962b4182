"""A model's modules from its safetensors header, named as the loaded task model names them.

LoRA's layer plan (adapter_plan.py) needs each projection's shape and full name without loading
the model: the header holds every tensor's name and shape, so each 2-D `weight` is a module LoRA
can adapt (a Linear, GPT-2's Conv1D, an Embedding). A checkpoint saved as a bare encoder names
its tensors "encoder.layer.0..." where the loaded classifier says "bert.encoder.layer.0...", so
the base model's prefix is put back (its `base_model_prefix`, known here by model type), and the
tensors are grouped as freezing.layer_groups groups the loaded model: embeddings (the base model
outside its layers and pooler), each layer, and what lies outside the base model.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ftstudio.engine.errors import ModelError
from ftstudio.engine.models.files import SAFETENSORS_FILES, local_tensor_shapes

if TYPE_CHECKING:
    from ftstudio.engine.models.files import ModelInfo

# Layer lists a known path away from the base model (freezing._LAYER_PATHS); other models' list
# is the dotted path before the first layer index that most tensors share (GPT-2's "h").
_KNOWN_LAYER_PATHS = ("encoder.layer", "transformer.layer", "encoder.albert_layer_groups", "encoder.layers", "layers")
_INDEX_RE = re.compile(r"(?:^|\.)(\d+)\.")
# The base model's attribute in the task model where it differs from the model type
# (`base_model_prefix`), for checkpoints saved without one (a bare BertModel such as MiniLM).
_BASE_PREFIXES = {
    "xlm-roberta": "roberta", "camembert": "roberta", "deberta-v2": "deberta", "modernbert": "model",
    "gpt2": "transformer", "gpt_neo": "transformer", "gptj": "transformer", "bloom": "transformer",
    "falcon": "transformer", "openai-gpt": "transformer", "megatron-bert": "bert",
}
_DECODER_BASE_PREFIX = "model"  # Llama, Mistral, Qwen, Gemma, Phi, OPT, ...
# Decoders (their task models keep the base model under "model" or "transformer").
DECODER_TYPES = {"gpt2", "gpt_neo", "gpt_neox", "gptj", "llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma",
                 "gemma2", "gemma3_text", "phi", "phi3", "opt", "bloom", "falcon", "olmo", "olmo2", "smollm3",
                 "stablelm", "starcoder2", "granite"}


@dataclass
class ModelModules:
    """The model's modules as the loaded task model names them, from the safetensors header."""

    base: str  # the base model's prefix in the task model ("bert.", "model.")
    layer_list: str  # the layer list's full name ("bert.encoder.layer")
    matrices: dict[str, list[int]]  # adaptable module -> its weight's shape, in the header's order
    containers: set[str]  # every other module that owns or holds parameters
    embedding_params: int  # the base model outside its layers (and its pooler)
    layer_params: list[int]  # per layer, bottom first
    other_params: int  # outside the base model (a pretraining head), dropped for classification
    transposed: bool = False  # GPT-2's Conv1D: weights stored (in, out)


def model_modules(info: ModelInfo) -> ModelModules | None:
    """The adaptable modules of a local model with safetensors weights (None: no header here)."""
    source = info.source
    if source is None or not source.is_local or info.weights != "safetensors":
        return None
    folder = Path(source.ref)
    stamp = tuple(_mtime(folder / name) for name in SAFETENSORS_FILES)
    try:
        return _read_modules(str(folder), stamp, info.model_type)
    except ModelError:
        return None


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


@lru_cache(maxsize=8)
def _read_modules(folder: str, _stamp: tuple[int, ...], model_type: str) -> ModelModules | None:
    """Read once per weights file (the stamp changes when the file does): the window asks again
    at every edit of the rank or the targets."""
    shapes = {name: shape for name, (dtype, shape) in local_tensor_shapes(Path(folder)).items()
              if not _is_buffer(name, dtype, shape)}
    return modules_from_shapes(shapes, model_type) if shapes else None


def modules_from_shapes(shapes: dict[str, list[int]], model_type: str) -> ModelModules | None:
    """Group a checkpoint's parameters (name -> shape) into embeddings / layers / other, under the
    names the loaded task model uses. None when no layer list is found."""
    layer_list = _layer_list(list(shapes))
    if layer_list is None:
        return None
    base = _base_of(layer_list)
    prefix = base or _base_prefix(model_type) + "."
    layer_re = re.compile(re.escape(layer_list) + r"\.(\d+)\.")
    matrices: dict[str, list[int]] = {}
    containers: set[str] = set()
    embedding_params = other_params = 0
    layers: dict[int, int] = {}
    for name, shape in shapes.items():
        numel = _numel(shape)
        inside_base = name.startswith(base) if base else name.split(".", 1)[0] not in _HEAD_NAMES
        if not inside_base:
            other_params += numel
            continue
        local = name[len(base):]
        if local.startswith("pooler."):  # the task model replaces or rebuilds it with the head
            continue
        full = prefix + local
        match = layer_re.match(name)
        if match:
            index = int(match.group(1))
            layers[index] = layers.get(index, 0) + numel
        else:
            embedding_params += numel
        module, _, leaf = full.rpartition(".")
        if leaf == "weight" and len(shape) == 2:
            matrices[module] = list(shape)
        parts = module.split(".")
        containers.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    containers -= set(matrices)
    count = max(layers) + 1 if layers else 0
    return ModelModules(base=prefix, layer_list=prefix + layer_list[len(base):], matrices=matrices,
                        containers=containers, embedding_params=embedding_params,
                        layer_params=[layers.get(i, 0) for i in range(count)], other_params=other_params,
                        transposed=model_type in ("gpt2", "openai-gpt"))


def _layer_list(names: list[str]) -> str | None:
    """The full name of the layer list: the path before the first layer index that most tensors
    share, a known path preferred (ALBERT's one shared group is a list of one)."""
    counts: dict[str, set[int]] = {}
    for name in names:
        match = _INDEX_RE.search(name)
        if match:
            counts.setdefault(name[:max(match.start(), 0)], set()).add(int(match.group(1)))
    if not counts:
        return None
    known = [path for path in counts if any(path == known or path.endswith("." + known)
                                            for known in _KNOWN_LAYER_PATHS)]
    return max(known or counts, key=lambda path: (len(counts[path]), -len(path)))


def _base_of(layer_list: str) -> str:
    """The base model's prefix in the checkpoint ("bert.", "model.", "" for a bare encoder)."""
    for path in _KNOWN_LAYER_PATHS:
        if layer_list == path:
            return ""
        if layer_list.endswith("." + path):
            return layer_list[: -len(path)]
    head, _, _ = layer_list.rpartition(".")
    return head + "." if head else ""


def _base_prefix(model_type: str) -> str:
    if model_type in _BASE_PREFIXES:
        return _BASE_PREFIXES[model_type]
    return _DECODER_BASE_PREFIX if model_type in DECODER_TYPES else model_type.replace("-", "_")


# Top-level names of pretraining / task heads when a checkpoint's base model has no prefix.
_HEAD_NAMES = {
    "cls", "lm_head", "classifier", "pre_classifier", "qa_outputs", "vocab_transform", "vocab_layer_norm",
    "vocab_projector", "generator_predictions", "generator_lm_head", "discriminator_predictions",
    "predictions", "score", "head", "sop_classifier", "mask_predictions", "lm_predictions",
}


def _is_buffer(name: str, dtype: str, shape: list[int]) -> bool:
    """Integer tensors, rotary frequencies and GPT-2's saved attention masks are buffers."""
    if dtype.upper() in {"I64", "I32", "I16", "I8", "U8", "BOOL"}:
        return True
    if name.endswith(("position_ids", "token_type_ids", "inv_freq", "masked_bias")):
        return True
    return name.endswith(".bias") and len(shape) > 1


def _numel(shape: list[int]) -> int:
    total = 1
    for dim in shape:
        total *= int(dim)
    return total
