"""What trains: freezing strategies, top-layer re-initialisation and optimizer parameter groups.

A classification model is seen as three groups, bottom to top: embeddings, the encoder layers,
and the head. The groups are found generically through `model.base_model`, so the same code
serves BERT, RoBERTa/XLM-R, DistilBERT, ELECTRA, DeBERTa(-v2) and ALBERT (whose one shared
layer group counts as a single layer), and the decoders GPT-2, Llama, Qwen2, Mistral and Gemma
(whose final norm, outside the layers, counts with the embeddings). `layer_plan` gives the same table from `inspect_model`
counts without torch, so the window can show trainable/total while the user picks a strategy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.settings import STRATEGY_KINDS, parse_strategy

if TYPE_CHECKING:
    from torch import nn

    from ftstudio.engine.models.files import ModelInfo

# Where encoders keep their layer list, relative to the base model; tried before a generic search.
_LAYER_PATHS = (
    "encoder.layer",  # BERT, RoBERTa, XLM-R, ELECTRA, DeBERTa, MPNet
    "transformer.layer",  # DistilBERT
    "encoder.albert_layer_groups",  # ALBERT: one shared group, trained as one layer
    "encoder.layers",
    "layers",  # ModernBERT; decoders: Llama, Qwen2, Mistral, Gemma (model.layers)
    "h",  # GPT-2 (transformer.h)
)


@dataclass
class LayerGroups:
    """The model split bottom-to-top. Module lists are for display and re-initialisation; the
    parameter lists partition every parameter of the model exactly once."""

    embeddings: list[nn.Module]
    layers: list[nn.Module]
    head: list[nn.Module]  # everything outside the base model, plus its pooler
    embedding_params: list[nn.Parameter] = field(default_factory=list)
    layer_params: list[list[nn.Parameter]] = field(default_factory=list)
    head_params: list[nn.Parameter] = field(default_factory=list)


@dataclass
class LayerPlan:
    """Rows {name, params, trainable} bottom to top, with the totals the window shows."""

    rows: list[dict[str, Any]]
    trainable: int
    total: int


# ------------------------------------------------------------------ groups
def layer_groups(model: nn.Module) -> LayerGroups:
    """Split `model` into embeddings / layers / head through its base model.

    The head is every parameter outside the base model plus the pooler: the pooler feeds the
    classifier and is often newly initialised, so it trains with the head. Whatever else the base
    model holds outside its layers (embeddings, DeBERTa's relative embeddings, ALBERT's
    projection) counts as embeddings, so nothing is left out of any strategy.
    """
    base = getattr(model, "base_model", model)
    layer_list = _find_layers(base)
    layers = list(layer_list) if layer_list is not None else []
    pooler = getattr(base, "pooler", None)
    base_ids = {id(p) for p in base.parameters()}
    pooler_ids = {id(p) for p in pooler.parameters()} if pooler is not None else set()
    head_modules = [child for child in model.children() if child is not base]
    head_modules += [pooler] if pooler is not None else []

    layer_params = [list(layer.parameters()) for layer in layers]
    layer_ids = {id(p) for params in layer_params for p in params}
    head_params, embedding_params = [], []
    for param in model.parameters():  # deduplicated, so tied weights land once
        if id(param) in layer_ids:
            continue
        if id(param) not in base_ids or id(param) in pooler_ids:
            head_params.append(param)
        else:
            embedding_params.append(param)
    embeddings = _embedding_modules(base, layer_list, pooler)
    return LayerGroups(embeddings, layers, head_modules, embedding_params, layer_params, head_params)


def _find_layers(base: nn.Module) -> nn.ModuleList | None:
    """The encoder's layer list: a known path, else the longest ModuleList in the base model."""
    from torch import nn

    for path in _LAYER_PATHS:
        obj: Any = base
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, nn.ModuleList) and len(obj) > 0:
            return obj
    candidates = [m for m in base.modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    return max(candidates, key=len) if candidates else None


def _embedding_modules(base: nn.Module, layer_list: nn.Module | None, pooler: nn.Module | None) -> list[nn.Module]:
    """The base model's modules outside the layers and the pooler, as high up as possible."""
    skip = {id(m) for m in (layer_list, pooler) if m is not None}
    found: list[nn.Module] = []

    def visit(module: nn.Module) -> None:
        for child in module.children():
            if id(child) in skip:
                continue
            if any(id(m) in skip for m in child.modules()):
                visit(child)  # a container of the layers (the encoder): look inside
            elif any(True for _ in child.parameters()):  # skip activations, dropout
                found.append(child)

    visit(base)
    return found


# ------------------------------------------------------------------ strategies
def _kind_and_n(kind: str, n: int) -> tuple[str, int]:
    """Accept a kind plus n, or a whole strategy string such as "bottom-4"."""
    if kind in STRATEGY_KINDS and kind != "bottom":
        return kind, 0
    if kind == "bottom":
        return kind, int(n)
    return parse_strategy(kind)


def trainable_flags(kind: str, n: int, epoch: int, num_layers: int) -> tuple[bool, list[bool], bool]:
    """(embeddings, per-layer bottom first, head) trainability for a strategy.

    gradual: epoch 0 trains the head only, epoch e adds the top e layers; the embeddings, being
    the group below the bottom layer, join one epoch after the last layer (epoch L + 1).
    """
    kind, n = _kind_and_n(kind, n)
    layers_count = int(num_layers)
    if kind == "full":
        return True, [True] * layers_count, True
    if kind in ("head", "lora"):  # (lora: the model's own weights; its adapters are adapters.py's)
        return False, [False] * layers_count, True
    if kind == "embeddings":
        return False, [True] * layers_count, True
    if kind == "bottom":
        if n > layers_count:
            raise SettingsError(
                f"strategy: bottom-{n} freezes more layers than the model has ({layers_count}). "
                f"Use bottom-0 to bottom-{layers_count}.",
                "strategy",
            )
        return False, [i >= n for i in range(layers_count)], True
    epoch = max(0, int(epoch))  # gradual
    return epoch > layers_count, [i >= layers_count - epoch for i in range(layers_count)], True


def apply_freeze(model: nn.Module, kind: str, n: int = 0, epoch: int = 0) -> tuple[int, int]:
    """Set requires_grad for a strategy (kind full/head/embeddings/bottom/gradual, or a whole
    string like "bottom-4"); call again each epoch for gradual. Returns (trainable, total)."""
    if _kind_and_n(kind, n)[0] == "lora":  # peft decided what trains when it attached the adapters
        return parameter_counts(model)
    groups = layer_groups(model)
    emb, layer_flags, head = trainable_flags(kind, n, epoch, len(groups.layers))
    for param in groups.embedding_params:
        param.requires_grad_(emb)
    for flag, params in zip(layer_flags, groups.layer_params, strict=True):
        for param in params:
            param.requires_grad_(flag)
    for param in groups.head_params:
        param.requires_grad_(head)
    return parameter_counts(model)


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = total = 0
    for param in model.parameters():
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
    return trainable, total


def layer_table(model: nn.Module, kind: str, n: int = 0, epoch: int = 0) -> list[dict[str, Any]]:
    """Rows Embeddings, Layer 1..L, Head with their sizes and whether `kind` trains them
    (computed from the strategy, without touching requires_grad)."""
    groups = layer_groups(model)
    emb, layer_flags, head = trainable_flags(kind, n, epoch, len(groups.layers))
    sizes = [_numel(groups.embedding_params)] + [_numel(p) for p in groups.layer_params] + [_numel(groups.head_params)]
    return _rows(sizes, [emb, *layer_flags, head])


def layer_plan(info: ModelInfo, freeze: str, epoch: int = 0, num_labels: int = 2) -> LayerPlan:
    """The layer table from inspect_model's counts, without torch. The head (pooler or dense
    layer, then the classifier) is estimated as hidden^2 + hidden + (hidden + 1) * num_labels,
    which is what BERT, RoBERTa, DistilBERT, ELECTRA, DeBERTa and ALBERT all build; with
    `num_labels` 0 (pre-training) it is the language-model head (its output weights are tied to
    the embeddings in BERT-style models, so they count there)."""
    kind, n = parse_strategy(freeze)
    hidden = info.hidden_size
    embeddings, layers = info.embedding_params, list(info.layer_params)
    if not layers and info.num_layers > 0:  # no safetensors header to read: estimate BERT-style
        inner = info.intermediate_size or 4 * hidden
        layers = [4 * hidden * hidden + 2 * hidden * inner + inner + 9 * hidden] * info.num_layers
        embeddings = (info.vocab_size + info.max_position_embeddings + 2) * hidden + 2 * hidden
    if num_labels > 0:
        head = hidden * hidden + hidden + (hidden + 1) * num_labels
    else:  # pre-training (no labels): the checkpoint's LM head, or BERT's transform plus a bias per word
        head = info.other_params or hidden * hidden + 3 * hidden + info.vocab_size
    emb, layer_flags, head_flag = trainable_flags(kind, n, epoch, len(layers))
    rows = _rows([embeddings, *layers, head], [emb, *layer_flags, head_flag])
    trainable = sum(row["params"] for row in rows if row["trainable"])
    return LayerPlan(rows, trainable, sum(row["params"] for row in rows))


def _rows(sizes: list[int], flags: list[bool]) -> list[dict[str, Any]]:
    names = ["Embeddings"] + [f"Layer {i}" for i in range(1, len(sizes) - 1)] + ["Head"]
    return [{"name": name, "params": int(size), "trainable": bool(flag)} for name, size, flag in zip(names, sizes, flags, strict=True)]


def _numel(params: list[nn.Parameter]) -> int:
    return sum(p.numel() for p in params)


# ------------------------------------------------------------------ re-initialisation
def reinit_top_layers(model: nn.Module, k: int) -> None:
    """Re-initialise the top k encoder layers with the model's own `_init_weights`.

    Re-initialising the top layers often helps small datasets (Zhang et al., 2021): they are the
    most pretraining-specific. transformers 5 marks loaded tensors `_is_hf_initialized` and its
    init functions skip those, so the flag is lifted for the duration.
    """
    if k <= 0:
        return
    layers = layer_groups(model).layers
    if k > len(layers):
        raise SettingsError(
            f"reinit_top_layers: {k} is more than the model's {len(layers)} encoder layers. Use 0 to {len(layers)}.",
            "reinit_top_layers",
        )
    init = getattr(model, "_init_weights", None)
    if init is None:
        raise SettingsError(
            f"reinit_top_layers: {type(model).__name__} has no weight initialiser. Set reinit_top_layers to 0.",
            "reinit_top_layers",
        )
    for layer in layers[len(layers) - k:]:
        tensors = list(layer.parameters()) + list(layer.buffers())
        saved = [getattr(t, "_is_hf_initialized", None) for t in tensors]
        for tensor in tensors:
            tensor._is_hf_initialized = False
        try:
            layer.apply(init)
        finally:
            for tensor, flag in zip(tensors, saved, strict=True):
                if flag is None:
                    del tensor._is_hf_initialized
                else:
                    tensor._is_hf_initialized = flag


# ------------------------------------------------------------------ optimizer groups
def optimizer_param_groups(
    model: nn.Module, lr: float, weight_decay: float, layerwise_lr_decay: float = 1.0
) -> list[dict[str, Any]]:
    """Parameter groups for the optimizer, each with a "name", "lr" and "weight_decay".

    Every parameter is included, frozen ones too, so gradual unfreezing can enable them later
    without rebuilding the optimizer (AdamW skips parameters whose grad is None). Biases and
    norm weights get no weight decay. With layer-wise decay d the head keeps `lr`, the top layer
    gets lr*d, the next lr*d^2, ..., the embeddings lr*d^(L+1).
    """
    groups = layer_groups(model)
    names = {id(p): name for name, p in model.named_parameters()}
    count = len(groups.layers)
    levels = [("head", groups.head_params, lr)]
    for i in reversed(range(count)):
        levels.append((f"layer_{i + 1}", groups.layer_params[i], lr * layerwise_lr_decay ** (count - i)))
    levels.append(("embeddings", groups.embedding_params, lr * layerwise_lr_decay ** (count + 1)))
    result = []
    for name, params, group_lr in levels:
        decay = [p for p in params if not _no_decay(names.get(id(p), ""), p)]
        plain = [p for p in params if _no_decay(names.get(id(p), ""), p)]
        if decay:
            result.append({"name": name, "params": decay, "lr": group_lr, "weight_decay": weight_decay})
        if plain:
            result.append({"name": f"{name}.no_decay", "params": plain, "lr": group_lr, "weight_decay": 0.0})
    return result


def _no_decay(name: str, param: nn.Parameter) -> bool:
    """Biases and normalisation weights (1-D, or named *norm*) are not decayed."""
    return param.ndim <= 1 or name.endswith("bias") or "norm" in name.lower()
