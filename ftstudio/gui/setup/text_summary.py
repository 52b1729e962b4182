"""What unlabeled text for continued pre-training looks like, in place of the label charts: how
many texts and characters each split holds, and a histogram of the training texts' lengths in
characters (tokens per text, and the blocks packing makes of them, are the token-length chart's).

`text_facts` measures the prepared splits off the UI thread (a count and a length per text:
cheap, no tokenizer); label_charts.TextLengthChart draws them. Characters, not tokens, because
they are known before any model is chosen; the token chart beside it follows the model. No Qt
here: the data panel's background work imports this.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PRETRAIN_TASK = "pretrain"  # the task that reads texts alone (the settings' value)
BINS = 30


def text_facts(prepared: Any) -> dict[str, Any]:
    """Texts and characters per split, and the training texts' lengths as a histogram
    ({"splits": {split: {"texts", "characters"}}, "train": {"median", "p95", "max", "mean",
    "histogram": {"edges", "counts"}}}), from the prepared splits' `text` column."""
    splits, train = {}, np.zeros(0, dtype=np.int64)
    for name, split in prepared.splits.items():
        lengths = np.fromiter((len(text) for text in split["text"]), dtype=np.int64, count=len(split))
        splits[name] = {"texts": int(lengths.size), "characters": int(lengths.sum())}
        if name == "train":
            train = lengths
    facts: dict[str, Any] = {"splits": splits, "train": {"histogram": {"edges": [], "counts": []}}}
    if train.size:
        top = int(train.max())
        width = max(1, int(np.ceil((top + 1) / BINS)))  # whole characters per bin, at most BINS bins
        counts, edges = np.histogram(train, bins=np.arange(0, top + width + 1, width))
        facts["train"] = {"median": float(np.median(train)), "p95": float(np.percentile(train, 95)), "max": top,
                          "mean": float(train.mean()),
                          "histogram": {"edges": edges.tolist(), "counts": counts.tolist()}}
    return facts


def texts_line(facts: dict[str, Any]) -> str:
    """'Texts: train 1,000 (52,300 characters), validation 111 (5,800 characters)'."""
    return "Texts: " + ", ".join(f"{split} {found['texts']:,} ({found['characters']:,} characters)"
                                 for split, found in facts["splits"].items())
