"""Tokenize once, then serve dynamically padded batches in a reproducible order.

Texts are tokenized a single time without padding; each batch is padded only to its own longest
text, which on short texts (tweets) saves most of the compute a pad-to-max_length recipe wastes.
The order of every epoch is a pure function of (seed, epoch), so a resumed run replays exactly
the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ftstudio.engine.events import Reporter, TrainingControl

TOKENIZE_CHUNK = 1000  # texts per tokenizer call: large enough to be fast, small enough to stop promptly


@dataclass
class TokenizedSplit:
    """Token ids per text (unpadded) and integer labels."""

    input_ids: list[list[int]]
    labels: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.input_ids)


def tokenize_texts(
    texts: list[str],
    labels: list[int] | np.ndarray,
    tokenizer: Any,
    max_length: int,
    control: TrainingControl | None = None,
    reporter: Reporter | None = None,
    phase: str = "tokenizing",
) -> TokenizedSplit:
    """Tokenize in chunks, checking for stop/pause between chunks and reporting progress."""
    ids: list[list[int]] = []
    total = len(texts)
    for start in range(0, total, TOKENIZE_CHUNK):
        if control is not None:
            control.check(reporter, resume_status="preparing")
        chunk = texts[start : start + TOKENIZE_CHUNK]
        encoded = tokenizer(chunk, truncation=True, max_length=max_length, padding=False)
        ids.extend(encoded["input_ids"])
        if reporter is not None:
            reporter.on_progress(phase, min(start + TOKENIZE_CHUNK, total), total)
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    return TokenizedSplit(ids, np.asarray(labels, dtype=np.int64), lengths)


def epoch_order(size: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of one epoch, reproducible from (seed, epoch) alone."""
    return np.random.default_rng([seed, epoch]).permutation(size)


def train_batches(
    split: TokenizedSplit, batch_size: int, seed: int, epoch: int, group_by_length: bool = False
) -> list[np.ndarray]:
    """Index batches for one training epoch.

    With `group_by_length`, each window of 50 batches is sorted by length before cutting, then
    the batches are shuffled: similar lengths share a batch (less padding) while the epoch stays
    random, as in Hugging Face's LengthGroupedSampler.
    """
    order = epoch_order(len(split), seed, epoch)
    if group_by_length:
        window = batch_size * 50
        parts = []
        for start in range(0, len(order), window):
            block = order[start : start + window]
            parts.append(block[np.argsort(-split.lengths[block], kind="stable")])
        order = np.concatenate(parts) if parts else order
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        rng = np.random.default_rng([seed, epoch, 1])
        return [batches[i] for i in rng.permutation(len(batches))]
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def eval_batches(split: TokenizedSplit, batch_size: int) -> list[np.ndarray]:
    """Evaluation batches sorted by length: order does not matter, padding does."""
    order = np.argsort(split.lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(split: TokenizedSplit, indices: np.ndarray, pad_token_id: int, pin: bool = False) -> dict[str, Any]:
    """Pad the chosen texts to the longest among them; returns CPU tensors (in pinned memory
    with `pin`, so the copy to a GPU can overlap compute instead of blocking)."""
    import torch

    rows = [split.input_ids[i] for i in indices]
    width = max(len(r) for r in rows)
    # Filled in numpy and handed over without a copy: one tensor per batch, not one per row.
    input_ids = np.full((len(rows), width), pad_token_id, dtype=np.int64)
    attention = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = row
        attention[i, : len(row)] = 1
    batch = {
        "input_ids": torch.from_numpy(input_ids),
        "attention_mask": torch.from_numpy(attention),
        "labels": torch.as_tensor(split.labels[indices], dtype=torch.long),
    }
    return {k: v.pin_memory() for k, v in batch.items()} if pin else batch
