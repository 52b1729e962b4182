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

LABEL_PAD = -100  # transformers' ignore_index: padded token labels count in no loss or metric
TOKENIZE_CHUNK = 1000  # texts per tokenizer call: large enough to be fast, small enough to stop promptly


@dataclass
class TokenizedSplit:
    """Token ids per text, or per pair of texts joined as the model expects (unpadded), and the
    targets as the loss sees them: class ids (int64), multi-hot rows or scores (float32), or
    for token classification an object array holding one int64 label array per row."""

    input_ids: list[list[int]]
    labels: np.ndarray
    lengths: np.ndarray
    # Segment ids of pairs, for models that read them (BERT); None for single texts, where
    # they are all 0 and the model's default is the same.
    token_type_ids: list[list[int]] | None = None
    # Token classification: the sentence each row (a window of a long sentence) comes from.
    sources: np.ndarray | None = None
    # Masked-language modelling's training split: masks each batch afresh (masking.TokenMasker);
    # its `labels` are then placeholders and collate takes the masker's.
    masker: Any = None

    def __len__(self) -> int:
        return len(self.input_ids)


def tokenize_texts(
    texts: list[str],
    labels: list[Any] | np.ndarray,
    tokenizer: Any,
    max_length: int,
    control: TrainingControl | None = None,
    reporter: Reporter | None = None,
    phase: str = "tokenizing",
    pairs: list[str] | None = None,
) -> TokenizedSplit:
    """Tokenize in chunks (with `pairs`, each text with its second text, the longer one truncated
    first), checking for stop/pause between chunks and reporting progress."""
    ids: list[list[int]] = []
    segments: list[list[int]] | None = [] if pairs is not None else None
    total = len(texts)
    for start in range(0, total, TOKENIZE_CHUNK):
        if control is not None:
            control.check(reporter, resume_status="preparing")
        chunk = texts[start : start + TOKENIZE_CHUNK]
        second = pairs[start : start + TOKENIZE_CHUNK] if pairs is not None else None
        pair = {"text_pair": second} if second is not None else {}
        encoded = tokenizer(chunk, truncation=True, max_length=max_length, padding=False, **pair)
        ids.extend(encoded["input_ids"])
        if segments is not None:
            if "token_type_ids" not in encoded:
                segments = None  # the model has no segment embeddings (RoBERTa, DistilBERT, ...)
            else:
                segments.extend(encoded["token_type_ids"])
        if reporter is not None:
            reporter.on_progress(phase, min(start + TOKENIZE_CHUNK, total), total)
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    return TokenizedSplit(ids, as_targets(labels), lengths, segments)


def as_targets(labels: list[Any] | np.ndarray) -> np.ndarray:
    """Class ids as int64; anything fractional (multi-hot rows, scores) as float32."""
    array = np.asarray(labels)
    return array.astype(np.int64) if array.dtype.kind in "iub" else array.astype(np.float32)


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
    }
    if split.token_type_ids is not None:
        segments = np.zeros((len(rows), width), dtype=np.int64)
        for i, index in enumerate(indices):
            row = split.token_type_ids[index]
            segments[i, : len(row)] = row
        batch["token_type_ids"] = torch.from_numpy(segments)
    if split.masker is not None:
        batch["input_ids"], batch["labels"] = split.masker(batch["input_ids"], batch["attention_mask"], indices)
    elif split.labels.dtype == object:  # a label per token (token classification): padded with the ignore index
        labels = np.full((len(rows), width), LABEL_PAD, dtype=np.int64)
        for i, index in enumerate(indices):
            row = split.labels[index]
            labels[i, : len(row)] = row
        batch["labels"] = torch.from_numpy(labels)
    else:
        batch["labels"] = torch.from_numpy(np.ascontiguousarray(split.labels[indices]))
    return {k: v.pin_memory() for k, v in batch.items()} if pin else batch
