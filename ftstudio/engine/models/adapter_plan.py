"""LoRA's layer table without loading the model: which modules get adapters, and what trains.

The window shows trainable/total for every strategy while the user edits it (freezing.layer_plan);
for strategy lora the count depends on the projections' shapes, which the safetensors header
holds: each 2-D `weight` is a module LoRA can adapt (a Linear, GPT-2's Conv1D, an Embedding),
and an adapter of rank r on it adds r x (in + out) parameters (its A and B matrices; a Conv1D
stores its weight transposed, which the sum does not mind). module_shapes.py turns the header's
names into those the loaded task model gives its modules, so that lora_targets is matched as the
engine matches it: auto = every adaptable module inside
the transformer layers (adapters.auto_targets), a list of names or a regular expression as peft
matches them (adapters.match_targets, whose messages these are).

What else trains mirrors adapters.attach_lora: peft keeps a frozen original beside the trainable
copy of the new head (and of the embeddings with lora_embeddings), so both count in the total, as
they do in `parameter_counts` of the loaded model and in memory. Without a header to read (a Hub
model not downloaded, pickle weights) the adapters are estimated from the config, BERT-style, and
the plan says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.models.adapters import (
    is_expression,
    match_targets,
    no_layers_message,
    no_projections_message,
)
from ftstudio.engine.models.freezing import LayerPlan, layer_plan
from ftstudio.engine.models.module_shapes import DECODER_TYPES, ModelModules, model_modules
from ftstudio.engine.settings import setting_spec

if TYPE_CHECKING:
    from ftstudio.engine.models.files import ModelInfo

# Decoders classify with one bias-free linear layer on the last token (`score`); encoders with a
# pooler or dense layer, then the classifier (freezing.layer_plan's estimate).
_CAUSAL_HEADS = ("ForCausalLM", "LMHeadModel")
# BERT's names for what `auto` adapts in each layer (estimates without a header).
_ESTIMATED_MODULES = (("attention.self.query", "h", "h"), ("attention.self.key", "h", "h"),
                      ("attention.self.value", "h", "h"), ("attention.output.dense", "h", "h"),
                      ("intermediate.dense", "i", "h"), ("output.dense", "h", "i"))
# Display order of a layer's modules: attention first (q, k, v, out), then the feed-forward.
_ROLES = {"q": 0, "query": 0, "qkv": 0, "c_attn": 0, "wqkv": 0, "k": 1, "key": 1, "v": 2, "value": 2,
          "o": 3, "out": 3, "gate": 4, "gate_up": 4, "up": 5, "intermediate": 5, "fc1": 5, "c_fc": 5, "lin1": 5,
          "fc_in": 5, "wi": 5, "down": 6, "output": 6, "fc2": 6, "lin2": 6, "c_proj": 6, "fc_out": 6, "wo": 6}
_GENERIC_LEAVES = ("dense", "linear", "proj")


@dataclass
class AdapterPlan(LayerPlan):
    """freezing.LayerPlan for strategy lora. Each row also has `adapter_params` (the LoRA
    parameters on its modules), `adapters` (those modules' short names, e.g. q, k, v, o) and
    `adapter_modules` [(full name, in, out, parameters)]; `trainable` counts the adapters and the
    parts trained in full, `total` the model plus adapters plus peft's trainable copies."""

    rank: int = 8
    adapted: list[str] = field(default_factory=list)  # full names of the modules with adapters
    estimate: bool = False  # no header to read: sizes from the config, BERT-style names
    note: str = ""  # what the plan rests on, in words ("" when read exactly)

    @property
    def adapter_params(self) -> int:
        return sum(row["adapter_params"] for row in self.rows)


def adapter_plan(info: ModelInfo, rank: int = 8, targets: str = "auto", embeddings: bool = False,
                 num_labels: int = 2) -> AdapterPlan:
    """The layer table of strategy lora for an inspected model (no torch). `num_labels` 0 is
    pre-training, whose language-model head stays frozen. SettingsError (lora_targets) when the
    targets adapt nothing, in the engine's words."""
    rank = max(1, int(rank))
    modules = model_modules(info)
    if modules is None:
        return _estimated_plan(info, rank, targets, embeddings, num_labels)
    adapted = _adapted_modules(modules, targets, embeddings, _model_name(info))
    head = _head_params(info, modules, num_labels)
    sizes = [modules.embedding_params, *modules.layer_params, head]
    flags = [embeddings, *[False] * len(modules.layer_params), num_labels > 0]
    rows = _rows(sizes, flags)
    groups = _group_of(modules)
    for name in adapted:
        shape = modules.matrices[name]
        out, inn = (shape[1], shape[0]) if modules.transposed or _is_embedding(name, groups) else shape
        rows[groups[name]]["adapter_modules"].append((name, int(inn), int(out), rank * (int(inn) + int(out))))
    return _finish(rows, rank, adapted, modules.layer_list, estimate=False, note="")


# ------------------------------------------------------------------ targets
def _adapted_modules(modules: ModelModules, targets: str, embeddings: bool, model_name: str) -> list[str]:
    """The full names that get adapters, as the engine would choose them; SettingsError when
    none would (peft refuses a run that adapts nothing)."""
    text = str(targets or "").strip()
    spec = setting_spec("lora_targets")
    if not spec.allows(text):  # empty: the declaration's own words, as validation says them
        raise SettingsError(spec.refusal(text), "lora_targets")
    groups = _group_of(modules)
    if text.lower() == "auto":
        if not modules.layer_params:
            raise SettingsError(no_layers_message(model_name), "lora_targets")
        adapted = [name for name in modules.matrices if groups[name] > 0]
        if not adapted:
            raise SettingsError(no_projections_message(model_name), "lora_targets")
        return adapted
    _, hit = match_targets(text, list(modules.matrices), model_name)
    stray = _stray_module(text, modules)
    if stray:  # peft would try to wrap it and fail: say so now, in words
        raise SettingsError(f"lora_targets: '{text}' also matches {stray}, which is not a linear or embedding "
                            "layer; LoRA adapts only those. Name the projections themselves.", "lora_targets")
    # peft never puts an adapter inside a module that trains as a full copy (modules_to_save).
    adapted = [name for name in modules.matrices if name in set(hit) and not (embeddings and groups[name] == 0)]
    if not adapted:
        raise SettingsError(f"lora_targets: '{text}' reaches only the embeddings, which lora_embeddings trains in "
                            "full already, so no adapter would be added. Name modules inside the layers, or use "
                            "auto.", "lora_targets")
    return adapted


def _stray_module(text: str, modules: ModelModules) -> str:
    """A module that is not adaptable but that the targets match as peft matches names."""
    if is_expression(text):
        pattern = re.compile(text)
        found = [name for name in modules.containers if pattern.fullmatch(name)]
    else:
        wanted = [part.strip() for part in text.split(",") if part.strip()]
        found = [name for name in modules.containers if any(name == w or name.endswith("." + w) for w in wanted)]
    return min(found, key=len) if found else ""


def _group_of(modules: ModelModules) -> dict[str, int]:
    """Each adaptable module's row: 0 embeddings, i the layer i (1-based)."""
    layer_re = re.compile(re.escape(modules.layer_list) + r"\.(\d+)\.")
    groups = {}
    for name in modules.matrices:
        match = layer_re.match(name + ".")
        groups[name] = int(match.group(1)) + 1 if match else 0
    return groups


def _is_embedding(name: str, groups: dict[str, int]) -> bool:
    """An embedding table (num, dim) outside the layers; its "in" is the vocabulary."""
    leaf = name.rsplit(".", 1)[-1].lower()
    return groups[name] == 0 and ("embed" in leaf or leaf in ("wte", "wpe"))


# ------------------------------------------------------------------ the head and the rows
def _head_params(info: ModelInfo, modules: ModelModules, num_labels: int) -> int:
    """The task model's head: a decoder's bias-free `score`, an encoder's pooler (or dense
    layer) and classifier, or for pre-training the checkpoint's language-model head."""
    hidden = info.hidden_size
    if num_labels <= 0:
        return modules.other_params or layer_plan(info, "head", num_labels=0).rows[-1]["params"]
    if _is_decoder(info):
        return hidden * num_labels
    return hidden * hidden + hidden + (hidden + 1) * num_labels


def _is_decoder(info: ModelInfo) -> bool:
    return info.model_type in DECODER_TYPES or (
        info.architecture.endswith(_CAUSAL_HEADS) and info.pooler_params == 0)


def _model_name(info: ModelInfo) -> str:
    return info.architecture or info.model_type or "the model"


def _rows(sizes: list[int], flags: list[bool]) -> list[dict[str, Any]]:
    names = ["Embeddings"] + [f"Layer {i}" for i in range(1, len(sizes) - 1)] + ["Head"]
    return [{"name": name, "params": int(size), "trainable": bool(flag), "adapter_params": 0, "adapters": [],
             "adapter_modules": []} for name, size, flag in zip(names, sizes, flags, strict=True)]


def _finish(rows: list[dict[str, Any]], rank: int, adapted: list[str], layer_list: str, estimate: bool,
            note: str) -> AdapterPlan:
    """Totals, and each row's short names in the layer's own order (q, k, v, o, gate, up, down)."""
    in_layers = [_local_name(name, layer_list) for row in rows[1:-1] for name, *_ in row["adapter_modules"]]
    short = short_names(sorted(set(in_layers)))
    short.update({_local_name(name, layer_list): _local_name(name, layer_list)
                  for row in (rows[0], rows[-1]) for name, *_ in row["adapter_modules"]})
    for row in rows:
        row["adapter_modules"].sort(key=lambda item: _order(_local_name(item[0], layer_list)))
        row["adapter_params"] = sum(item[3] for item in row["adapter_modules"])
        row["adapters"] = list(dict.fromkeys(short[_local_name(item[0], layer_list)]
                                             for item in row["adapter_modules"]))
    adapters = sum(row["adapter_params"] for row in rows)
    copies = sum(row["params"] for row in rows if row["trainable"])  # peft's copies, beside the originals
    return AdapterPlan(rows=rows, trainable=adapters + copies, total=sum(row["params"] for row in rows) + adapters
                       + copies, rank=rank, adapted=adapted, estimate=estimate, note=note)


def _local_name(name: str, layer_list: str) -> str:
    """A module's name inside its layer ("attention.self.query"), or its own for the others."""
    if name.startswith(layer_list + "."):
        return name[len(layer_list) + 1:].split(".", 1)[-1]
    return name.rsplit(".", 1)[-1]


def short_names(paths: list[str]) -> dict[str, str]:
    """Short, still distinct names for a layer's modules: a generic leaf dropped (BERT's
    attention.output.dense -> attention.output), the shortest distinguishing ending kept
    (query, intermediate), and a suffix every name shares dropped (Llama's q_proj -> q)."""
    keys = {}
    for path in paths:
        parts = path.split(".")
        if len(parts) > 1 and parts[-1] in _GENERIC_LEAVES:
            parts = parts[:-1]
        keys[path] = parts
    short = {}
    for path, parts in keys.items():
        others = [p for q, p in keys.items() if q != path]
        size = 1
        while size < len(parts) and any(o[-size:] == parts[-size:] for o in others):
            size += 1
        short[path] = ".".join(parts[-size:])
    for suffix in ("_proj", "_lin"):
        if short and all(s.endswith(suffix) and len(s) > len(suffix) for s in short.values()):
            short = {p: s[: -len(suffix)] for p, s in short.items()}
    return short


def _order(path: str) -> tuple[int, int, str]:
    parts = path.split(".")
    section = 0 if any("att" in part for part in parts[:-1]) or _role(parts) <= 3 else 1
    return section, _role(parts), path


def _role(parts: list[str]) -> int:
    for part in reversed(parts):
        if part.lower() in _ROLES:
            return _ROLES[part.lower()]
        for token in reversed(part.lower().split("_")):
            if token in _ROLES:
                return _ROLES[token]
    return 7


# ------------------------------------------------------------------ without a header
def _estimated_plan(info: ModelInfo, rank: int, targets: str, embeddings: bool, num_labels: int) -> AdapterPlan:
    """BERT-style projections from the config (hidden and feed-forward sizes) on layer_plan's
    rows; targets other than auto are matched against those names but not refused: the real
    names are checked when the run loads the model."""
    base = layer_plan(info, "head", num_labels=num_labels)
    hidden = info.hidden_size
    inner = info.intermediate_size or 4 * hidden
    size = {"h": hidden, "i": inner}
    rows = [{**row, "trainable": i == 0 and embeddings or (i == len(base.rows) - 1 and num_labels > 0),
             "adapter_params": 0, "adapters": [], "adapter_modules": []} for i, row in enumerate(base.rows)]
    text = str(targets or "").strip()
    layer_list = "encoder.layer"
    adapted = []
    for index in range(1, len(rows) - 1):
        for local, out, inn in _ESTIMATED_MODULES:
            name = f"{layer_list}.{index - 1}.{local}"
            if text.lower() == "auto" or _estimated_match(text, name):
                adapted.append(name)
                rows[index]["adapter_modules"].append((name, size[inn], size[out],
                                                       rank * (size[inn] + size[out])))
    note = ("Estimated from the model's configuration (its weights are not here to read); the target names are "
            "checked when the run loads the model.")
    return _finish(rows, rank, adapted, layer_list, estimate=True, note=note)


def _estimated_match(text: str, name: str) -> bool:
    if is_expression(text):
        try:
            return bool(re.fullmatch(text, name) or re.fullmatch(text, "bert." + name))
        except re.error:
            return False
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    return any(name == w or name.endswith("." + w) for w in wanted)
