"""The check a speed lever passes before a run uses it: the model's logits, unchanged, on a few
real rows (frozen_features and first_token_top_layer both step aside when it fails)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np

from ftstudio.engine.data.batching import TokenizedSplit, collate

PROBE_ROWS = 8  # a few real rows, padded to the longest: enough to exercise the attention mask


def probe_inputs(split: TokenizedSplit, pad_token_id: int, device: Any, rows: int = PROBE_ROWS) -> dict[str, Any]:
    """The first `rows` texts of `split` as model inputs on `device` (no labels)."""
    batch = collate(split, np.arange(min(rows, len(split))), pad_token_id)
    batch.pop("labels")
    return {k: v.to(device) for k, v in batch.items()}


def logits_agree(full: Any, other: Any, autocast: Any) -> bool:
    """Whether `other` reproduces `full` (float logits): tight in fp32, looser under
    half-precision autocast, where the two paths round differently."""
    import torch

    tolerance = 1e-4 if isinstance(autocast(), nullcontext) else 1e-2
    return full.shape == other.shape and bool(torch.allclose(full, other, rtol=10 * tolerance, atol=tolerance))
