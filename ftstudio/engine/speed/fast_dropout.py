"""Dropout with a cheaper random mask on the CPU.

`nn.Dropout` on the CPU draws one Bernoulli sample per element from torch's CPU generator, one
Mersenne-Twister draw per element on one thread: on the 2-core benchmark machine the masks of a
small BERT (20 dropouts per step) took about a tenth of each training step. `FastDropout` draws
64 random bits for every four elements and keeps an element when its 16-bit lane clears a
threshold, so p is honoured to 1/65,536 (0.1 becomes 0.1000061). It is still inverted dropout
(kept values scaled by 1/(1-p), identity in eval mode) and still drawn from torch's generator,
so runs stay reproducible from their seed and a resumed run replays the same masks.

Only modules that are exactly `nn.Dropout` are replaced, and only for CPU training. Attention
dropout happens inside `scaled_dot_product_attention`, which on the CPU falls back to its math
path whenever dropout is on and draws one Bernoulli sample per attention weight (4-5% of a step
on the benchmark model): `use_fast_dropout` also switches models on transformers' "sdpa"
attention to `ATTENTION_NAME`, registered with transformers' `AttentionInterface`, which computes
the same math path with this mask in CPU training and is plain sdpa everywhere else (evaluation,
GPUs, causal or grouped-query attention). The implementation name is not saved in checkpoints.
`FTSTUDIO_FAST_DROPOUT=0` keeps torch's dropout (the benchmarks measure the lever that way).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from ftstudio.engine.speed.levers import LeverRun

ENV_SWITCH = "FTSTUDIO_FAST_DROPOUT"
ATTENTION_NAME = "ftstudio_sdpa"  # sdpa with fast attention dropout on the CPU (see the docstring)
_LANES = 4  # 16-bit lanes per 64-bit draw
_INT64_MIN = torch.iinfo(torch.int64).min


def fast_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Training-mode dropout of `x` with the 16-bit-lane mask (torch's own off the CPU)."""
    if p == 1.0 or x.device.type != "cpu" or not x.is_floating_point():
        return nn.functional.dropout(x, p, True)
    count = x.numel()
    draws = torch.empty((count + _LANES - 1) // _LANES, dtype=torch.int64).random_(_INT64_MIN, None)
    lanes = draws.view(torch.int16)[:count].view(x.shape)
    # A lane is uniform over [-32768, 32767]: dropped when among the lowest round(p * 65536).
    threshold = round(p * 65536) - 32768
    keep = (lanes >= threshold).to(x.dtype).mul_(1.0 / (1.0 - p))
    return x * keep


class FastDropout(nn.Module):
    """`nn.Dropout(p)` with a mask made from 16-bit random lanes (see the module docstring)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return fast_dropout(x, self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def unavailable_reason(device_type: str) -> str | None:
    """Why torch's dropout stays for training on `device_type`, or None when it need not."""
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return f"turned off by {ENV_SWITCH}=0"
    if device_type != "cpu":  # the masks are the CPU generator's cost; devices draw theirs in parallel
        return f"training on {device_type}, not the CPU"
    return None


def use_fast_dropout(model: Any, device_type: str) -> int:
    """Swap every `nn.Dropout` of `model` for `FastDropout` when training on the CPU, and its
    sdpa attention for `ATTENTION_NAME`; how many dropout modules were swapped."""
    if unavailable_reason(device_type) is not None:
        return 0
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, FastDropout(child.p))
                swapped += 1
    config = getattr(model, "config", None)
    # Only encoders gain (causal attention always takes sdpa's own path below), and some decoders
    # test for the name "sdpa" itself: they keep it.
    causal = any(getattr(module, "is_causal", False) is True for module in model.modules())
    if getattr(config, "_attn_implementation", None) == "sdpa" and not causal and _register_attention():
        try:
            model.set_attn_implementation(ATTENTION_NAME)
        except (ValueError, ImportError, KeyError):  # a model that refuses a registered attention keeps sdpa
            pass
    return swapped


def sdpa_with_fast_dropout(
    module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attention_mask: torch.Tensor | None,
    dropout: float = 0.0, scaling: float | None = None, **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' sdpa attention, except where torch would take its math path anyway (CPU,
    attention dropout on, i.e. training) in plain bidirectional attention: there the same math
    with `fast_dropout` on the attention weights. Same shapes in and out as sdpa."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    plain = (
        dropout == 0.0 or query.device.type != "cpu" or not query.is_floating_point()
        or getattr(module, "is_causal", True) or kwargs.get("is_causal")  # causal: sdpa's own masking
        or query.shape[1] != key.shape[1]  # grouped-query attention: sdpa repeats the key heads
        or kwargs.get("position_bias") is not None or kwargs.get("cache") is not None
        or (attention_mask is not None and attention_mask.dtype != torch.bool)
    )
    if plain:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    scale = query.shape[-1] ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query, key.transpose(-2, -1)) * scale
    if attention_mask is not None:  # sdpa's boolean masks: True where a query may attend
        scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
    weights = fast_dropout(torch.softmax(scores, dim=-1), dropout)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), None


def _register_attention() -> bool:
    """Register `ATTENTION_NAME` (with sdpa's masks) once; False where transformers lacks the interface."""
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
    except ImportError:
        return False
    AttentionInterface.register(ATTENTION_NAME, sdpa_with_fast_dropout)
    AttentionMaskInterface.register(ATTENTION_NAME, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])
    return True


def uses_fast_attention(model: Any) -> bool:
    """Whether `model` computes its attention with `ATTENTION_NAME`."""
    return getattr(getattr(model, "config", None), "_attn_implementation", None) == ATTENTION_NAME


class FastDropoutLever:
    """This module as a speed lever (see speed/levers.py)."""

    name = "fast dropout"

    def unavailable_reason(self, run: LeverRun) -> str | None:
        return unavailable_reason(run.device.type)

    def apply(self, run: LeverRun) -> str | None:
        if use_fast_dropout(run.model, run.device.type) == 0 and not uses_fast_attention(run.model):
            return "the model has no plain dropout to replace"
        return None


LEVER = FastDropoutLever()
