"""The task head a classification model (of texts or of tokens) puts on its encoder: which layer
produces the outputs, whether loading gave it fresh (untrained) weights, and its starting bias."""

from __future__ import annotations

from typing import Any


def output_layer(model: Any, outputs: int) -> Any:
    """The head's last linear layer: the one outside the encoder with `outputs` outputs and a
    bias (BERT's `classifier`, RoBERTa's `classifier.out_proj`, ...); None when the model has no
    single such layer."""
    import torch

    base = getattr(model, "base_model", None)
    inside_base = {id(m) for m in base.modules()} if base is not None and base is not model else set()
    # Under LoRA the head trains as a copy beside its frozen original (peft's modules_to_save):
    # the copy is the head, the original is not used.
    found = [m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and id(m) not in inside_base
             and m.out_features == outputs and m.bias is not None and ".original_module" not in f".{name}"]
    return found[0] if len(found) == 1 else None


def head_is_new(model: Any, loading_info: dict[str, Any]) -> bool:
    """Whether loading initialised any weight outside the encoder (a model without a head, or
    another task's head replaced): then the head starts from random weights, not trained ones."""
    prefix = getattr(model, "base_model_prefix", "") or ""
    fresh = list(loading_info.get("missing_keys") or [])
    fresh += [str(item[0] if isinstance(item, tuple) else item) for item in loading_info.get("mismatched_keys") or []]
    return any(not (prefix and key.startswith(prefix + ".")) for key in fresh)


def set_output_bias(model: Any, bias: Any) -> bool:
    """Copy `bias` (one value per output) into the head's output layer; False when the model has
    no single output layer of that width (its own initialisation stays)."""
    import torch

    layer = output_layer(model, len(bias))
    if layer is None:
        return False
    with torch.no_grad():
        layer.bias.copy_(torch.as_tensor(bias, dtype=layer.bias.dtype))
    return True
