"""A language model's predictions where they are scored, and only there.

transformers' ForMaskedLM models run their vocabulary head on every position and then score the
15% that were masked: for a small encoder the head (hidden -> 30k-word vocabulary) costs about
as much as the whole encoder, and 85% of it is thrown away. Here the encoder runs as usual and
the head runs on the hidden states of the scored positions only (the next-token shift applied
for a decoder). The logits at those positions are the ones the stock forward computes; the
first batch a model sees checks that (in eval mode, so dropout cannot differ) and, where the
model's head is not one module applied to hidden states (DistilBERT's is four; some decoders
scale their logits in forward), the stock forward is used instead. FTSTUDIO_FULL_LM_HEAD=1
uses the stock forward always (to measure the difference).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ftstudio.engine.data.batching import LABEL_PAD

FULL_HEAD_SWITCH = "FTSTUDIO_FULL_LM_HEAD"
_CHECKED = "_ftstudio_lm_head"  # attribute on the model: the verified head module, or False
_log = logging.getLogger(__name__)


def head_module(model: Any) -> Any:
    """The one module outside the base model that turns hidden states into vocabulary logits
    (BERT's `cls`, RoBERTa's and GPT-2's and Llama's `lm_head`); None when there is no single one."""
    base = getattr(model, "base_model", None)
    if base is None or base is model:
        return None
    others = [module for name, module in model.named_children()
              if module is not base and len(list(module.parameters())) > 0]
    return others[0] if len(others) == 1 else None


def scored_logits(model: Any, inputs: dict[str, Any], labels: Any, causal: bool) -> tuple[Any, Any]:
    """(logits [scored tokens, vocabulary], targets [scored tokens]) for a batch: every masked
    token (encoder) or every next token (decoder) whose label is not -100."""
    head = _verified_head(model, inputs, labels, causal)
    if head is None:
        return _stock(model, inputs, labels, causal)
    hidden = model.base_model(**inputs)[0]
    if causal:
        hidden, labels = hidden[:, :-1], labels[:, 1:]
    scored = labels != LABEL_PAD
    return head(hidden[scored]), labels[scored]


def _stock(model: Any, inputs: dict[str, Any], labels: Any, causal: bool) -> tuple[Any, Any]:
    logits = model(**inputs).logits
    if causal:
        logits, labels = logits[:, :-1], labels[:, 1:]
    scored = labels != LABEL_PAD
    return logits[scored], labels[scored]


def _verified_head(model: Any, inputs: dict[str, Any], labels: Any, causal: bool) -> Any:
    """The head module once it has been checked against the stock forward on this model (the
    result is kept on the model), or None."""
    import torch

    if os.environ.get(FULL_HEAD_SWITCH, "0") == "1":
        return None
    known = getattr(model, _CHECKED, None)
    if known is not None:
        return known or None
    head = head_module(model)
    if head is not None:
        was_training = model.training
        model.eval()
        try:
            device = next(model.parameters()).device.type
            with torch.no_grad(), torch.autocast(device, enabled=False):  # both paths in full precision
                rows = {k: v[:2] for k, v in inputs.items()}
                hidden = model.base_model(**rows)[0]
                full = model(**rows).logits
                if full.shape[:-1] != hidden.shape[:-1] or not torch.allclose(
                        head(hidden).float(), full.float(), rtol=1e-3, atol=1e-3):
                    head = None
        except Exception:  # noqa: BLE001 - any surprise in a model's forward: the stock path is always right
            _log.debug("scored-positions head check failed", exc_info=True)
            head = None
        finally:
            model.train(was_training)
    object.__setattr__(model, _CHECKED, head if head is not None else False)
    return head
