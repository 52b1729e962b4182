"""Dropout with a cheaper random mask on the CPU.

`nn.Dropout` on the CPU draws one Bernoulli sample per element from torch's CPU generator, one
Mersenne-Twister draw per element on one thread: on the 2-core benchmark machine the masks of a
small BERT (20 dropouts per step) took about a tenth of each training step. `FastDropout` draws
64 random bits for every four elements and keeps an element when its 16-bit lane clears a
threshold, so p is honoured to 1/65,536 (0.1 becomes 0.1000061). It is still inverted dropout
(kept values scaled by 1/(1-p), identity in eval mode) and still drawn from torch's generator,
so runs stay reproducible from their seed and a resumed run replays the same masks.

Only modules that are exactly `nn.Dropout` are replaced, and only for CPU training; attention
dropout inside `scaled_dot_product_attention` reads the module's `p` and stays torch's own.
`FTSTUDIO_FAST_DROPOUT=0` keeps torch's dropout (the benchmarks measure the lever that way).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

ENV_SWITCH = "FTSTUDIO_FAST_DROPOUT"
_LANES = 4  # 16-bit lanes per 64-bit draw
_INT64_MIN = torch.iinfo(torch.int64).min


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
        if self.p == 1.0 or x.device.type != "cpu" or not x.is_floating_point():
            return nn.functional.dropout(x, self.p, True)
        count = x.numel()
        draws = torch.empty((count + _LANES - 1) // _LANES, dtype=torch.int64).random_(_INT64_MIN, None)
        lanes = draws.view(torch.int16)[:count].view(x.shape)
        # A lane is uniform over [-32768, 32767]: dropped when among the lowest round(p * 65536).
        threshold = round(self.p * 65536) - 32768
        keep = (lanes >= threshold).to(x.dtype).mul_(1.0 / (1.0 - self.p))
        return x * keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


def use_fast_dropout(model: Any, device_type: str) -> int:
    """Swap every `nn.Dropout` of `model` for `FastDropout` when training on the CPU; how many."""
    if device_type != "cpu" or os.environ.get(ENV_SWITCH, "1") == "0":
        return 0
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, FastDropout(child.p))
                swapped += 1
    return swapped
