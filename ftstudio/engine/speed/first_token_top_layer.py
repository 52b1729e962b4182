"""The top encoder layer computes the first token only: the classification head reads nothing else.

A sequence-classification head on a BERT-style encoder reads the last hidden state at the first
token alone (BERT's pooler and RoBERTa's or ELECTRA's head take `[:, 0]`). In the top layer the
other tokens' queries, attention outputs, feed-forward blocks and layer norms feed nothing: keys
and values still come from every token (the first token attends to all of them), the rest is
skipped. On a 6-layer model that is about a seventh of each training step's matrix work, and the
same share of every evaluation and of the head-only feature cache's single encoding pass.

The loss and its gradients are the full model's: the skipped outputs had no path to the loss.
Only the top layer's dropout masks are drawn for fewer elements, so a run with the lever differs
from one without it as two seeds do, not in expectation. Weights, `state_dict()` and saved
checkpoints are untouched: the lever is a forward method set on one layer object.

It is used only where it is known to be exact: model types whose head reads the first token, top
layers built like BERT's (`attention.self.query/key/value`, `attention.output`,
`feed_forward_chunk`), encoders (no decoder, no cross-attention), and only after a check on real
rows that the model's logits are unchanged. `FTSTUDIO_FIRST_TOKEN_TOP=0` turns it off (the
benchmarks measure the lever that way).
"""

from __future__ import annotations

import os
import types
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from ftstudio.engine.speed.fast_dropout import ATTENTION_NAME
from ftstudio.engine.speed.lever_check import logits_agree, probe_inputs

if TYPE_CHECKING:
    from ftstudio.engine.speed.levers import LeverRun

ENV_SWITCH = "FTSTUDIO_FIRST_TOKEN_TOP"
# Encoders whose layers are BERT's code (transformers generates them from it) and whose
# sequence-classification head reads only the first token of the last hidden state.
MODEL_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "camembert", "electra"})
_ATTENTION = frozenset({"eager", "sdpa", ATTENTION_NAME})  # implementations taking a 4-D mask (or none)


def _top_layer(model: Any) -> Any | None:
    encoder = getattr(getattr(model, "base_model", None), "encoder", None)
    layers = getattr(encoder, "layer", None)
    return layers[-1] if layers is not None and len(layers) > 0 else None


def unavailable_reason(model: Any) -> str | None:
    """Why the top layer must compute every token for this model, or None when it need not."""
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return f"turned off by {ENV_SWITCH}=0"
    if not type(model).__name__.endswith("ForSequenceClassification"):
        return "the model's head reads every token, not only the first"
    config = model.config
    model_type = getattr(config, "model_type", "")
    if model_type not in MODEL_TYPES:
        return f"the {model_type or 'unknown'} architecture is not known to read only the first token"
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return "the model is a decoder"
    if getattr(config, "_attn_implementation", None) not in _ATTENTION:
        return f"attention implementation {getattr(config, '_attn_implementation', None)!r}"
    layer = _top_layer(model)
    attention = getattr(layer, "attention", None)
    self_attention = getattr(attention, "self", None)
    parts = (self_attention, getattr(attention, "output", None), getattr(layer, "feed_forward_chunk", None))
    if any(part is None for part in parts) or not all(
        hasattr(self_attention, name) for name in ("query", "key", "value", "attention_head_size", "scaling")
    ):
        return "its top layer is not built like BERT's"
    return None


def _first_token_forward(layer: Any, hidden_states: Any, attention_mask: Any = None, *_args: Any, **_kwargs: Any) -> Any:
    """BertLayer.forward for the first token's output only: [batch, 1, hidden]."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.models.bert.modeling_bert import eager_attention_forward

    attention = layer.attention.self
    batch, tokens, _ = hidden_states.shape
    head_size = attention.attention_head_size
    first = hidden_states[:, :1]
    query = attention.query(first).view(batch, 1, -1, head_size).transpose(1, 2)
    key = attention.key(hidden_states).view(batch, tokens, -1, head_size).transpose(1, 2)
    value = attention.value(hidden_states).view(batch, tokens, -1, head_size).transpose(1, 2)
    if attention_mask is not None and attention_mask.dim() == 4 and attention_mask.shape[-2] != 1:
        attention_mask = attention_mask[:, :, :1, :]  # the first query's row of [batch, heads, queries, keys]
    attend = ALL_ATTENTION_FUNCTIONS.get_interface(attention.config._attn_implementation, eager_attention_forward)
    context, _weights = attend(
        attention, query, key, value, attention_mask,
        dropout=attention.dropout.p if attention.training else 0.0, scaling=attention.scaling,
    )
    context = context.reshape(batch, 1, -1).contiguous()
    return layer.feed_forward_chunk(layer.attention.output(context, first))


def remove(model: Any) -> None:
    """The top layer computes every token again."""
    layer = _top_layer(model)
    if layer is not None:
        layer.__dict__.pop("forward", None)


def is_used(model: Any) -> bool:
    layer = _top_layer(model)
    return layer is not None and "forward" in layer.__dict__


def use_first_token_top_layer(model: Any, probe: dict[str, Any], autocast: Any = nullcontext) -> str | None:
    """Make the top layer compute the first token only, when that leaves the model's logits
    unchanged on `probe` (a padded batch of real rows, on the model's device, no labels).
    Returns None when in use, else why not (the model is then left as it was)."""
    import torch

    reason = unavailable_reason(model)
    if reason is not None:
        return reason
    layer = _top_layer(model)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), autocast():
            full = model(**probe).logits.float()
            layer.forward = types.MethodType(_first_token_forward, layer)
            reduced = model(**probe).logits.float()
    except Exception as exc:  # noqa: BLE001 - any failure means the layer is not what we expect
        remove(model)
        return f"the reduced top layer failed ({type(exc).__name__})"
    finally:
        model.train(was_training)
    if not logits_agree(full, reduced, autocast):
        remove(model)
        return "the reduced top layer did not reproduce the model"
    return None


class FirstTokenTopLayerLever:
    """This module as a speed lever (see speed/levers.py): checked on the first rows of the
    training split."""

    name = "first-token top layer"

    def unavailable_reason(self, run: LeverRun) -> str | None:
        if len(run.splits["train"]) == 0:
            return "no training rows to check it on"
        return unavailable_reason(run.model)

    def apply(self, run: LeverRun) -> str | None:
        probe = probe_inputs(run.splits["train"], run.pad_token_id, run.device)
        return use_first_token_top_layer(run.model, probe, run.autocast)


LEVER = FirstTokenTopLayerLever()
