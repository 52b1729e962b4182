"""Gradient (activation) checkpointing: each transformer layer's activations are recomputed in
the backward pass instead of being kept from the forward pass.

What it buys: the activations held for the backward pass shrink from every layer's internals
(attention scores, feed-forward intermediates: most of a step's memory for long texts) to each
layer's input, plus one layer's internals at a time while it is recomputed (models/memory.py
puts numbers on it). What it costs: one more forward pass of the layers, about a third more
time per step.

It is transformers' own mechanism (`activation_checkpointing_enable`, formerly
`gradient_checkpointing_enable`), non-reentrant: torch's reentrant variant needs the layer's
inputs to require gradients, which frozen embeddings under LoRA or a frozen bottom do not, and
would then silently train nothing below; the non-reentrant one has no such condition, restores
the random state for the recomputation (the same dropout masks) and gives the same gradients.
A model whose architecture does not support it (ALBERT, MPNet, XLNet, ...) is refused in words
before anything is written (`checkpointing_problem`).
"""

from __future__ import annotations

from typing import Any

SETTING = "gradient_checkpointing"
_KWARGS = {"use_reentrant": False}


def checkpointing_problem(model: Any) -> str | None:
    """Why `model` cannot train with gradient checkpointing, in words (None: it can)."""
    if getattr(model, "supports_gradient_checkpointing", False):
        return None
    kind = getattr(getattr(model, "config", None), "model_type", None) or type(model).__name__
    return (f"{SETTING}: {type(model).__name__} ({kind}) does not support gradient checkpointing in transformers. "
            "Turn it off, and save memory with a smaller batch_size or max_length, or strategy lora.")


def enable_checkpointing(model: Any) -> None:
    """Turn on non-reentrant checkpointing of every layer of `model` (a transformers model,
    adapters injected or not). The config is left alone (it is saved with each checkpoint):
    transformers itself drops a decoder's key/value cache inside a checkpointed layer."""
    enable = getattr(model, "activation_checkpointing_enable", None)
    if enable is not None:
        enable(activation_checkpointing_kwargs=dict(_KWARGS))
    else:  # transformers before activation_checkpointing_enable
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=dict(_KWARGS))


def is_checkpointing(model: Any) -> bool:
    """Whether checkpointing is on for `model`."""
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):  # (the new name, then the old)
        if hasattr(type(model), name):
            return bool(getattr(model, name))
    return False
