"""What the prepared data looks like: rows, class balance and token lengths.

Shown before training (the window's dataset panel, `ftstudio train` output) so the user can spot a
lopsided class balance or a `max_length` that truncates most texts before spending time on a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ftstudio.engine.data.prepare import PreparedData

_CHUNK = 2000  # texts per tokenizer call: big enough for the fast tokenizer's batching, small
# enough that a stop request is honoured within a fraction of a second
_BINS = 30
_SPLIT_ORDER = ("train", "validation", "test")


def token_lengths(texts: Sequence[str], tokenizer: Any, control: Any = None) -> np.ndarray:
    """Token count of each text (special tokens included, no truncation), in chunks so a stop
    request (control.check()) is honoured between them."""
    lengths: list[int] = []
    texts = list(texts)
    for start in range(0, len(texts), _CHUNK):
        if control is not None:
            control.check()
        chunk = texts[start:start + _CHUNK]
        # verbose=False: no "sequence longer than the model's maximum" warning; measuring is the point.
        encoded = tokenizer(chunk, padding=False, truncation=False, verbose=False)
        lengths.extend(len(ids) for ids in encoded["input_ids"])
    return np.asarray(lengths, dtype=np.int64)


def _ordered(splits: dict[str, Any]) -> list[str]:
    return [s for s in _SPLIT_ORDER if s in splits] + [s for s in splits if s not in _SPLIT_ORDER]


def summarize(prepared: PreparedData, tokenizer: Any = None, max_length: int = 128,
              control: Any = None) -> dict[str, Any]:
    """Rows and class counts per split; with a tokenizer, train token-length statistics too.

    Returns plain data (JSON-serialisable) so the run folder, the CLI and the window share it.
    """
    order = _ordered(prepared.splits)
    summary: dict[str, Any] = {
        "source": prepared.source.display,
        "text_column": prepared.text_column,
        "label_column": prepared.label_column,
        "label_names": list(prepared.label_names),
        "rows": {split: len(prepared.splits[split]) for split in order},
        "classes": {split: _class_counts(prepared, split) for split in order},
        "notes": list(prepared.notes),
    }
    if tokenizer is not None:
        texts = prepared.splits["train"]["text"][:]
        summary["tokens"] = length_stats(token_lengths(texts, tokenizer, control), max_length)
    return summary


def _class_counts(prepared: PreparedData, split: str) -> dict[str, int]:
    labels = np.asarray(prepared.splits[split]["label"][:], dtype=np.int64)
    counts = np.bincount(labels, minlength=len(prepared.label_names)) if labels.size else \
        np.zeros(len(prepared.label_names), dtype=np.int64)
    return {name: int(count) for name, count in zip(prepared.label_names, counts, strict=True)}


def length_stats(lengths: np.ndarray, max_length: int) -> dict[str, Any]:
    """Percentiles, mean, share truncated at `max_length`, and a histogram for plotting."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size == 0:
        return {"count": 0, "max_length": max_length, "truncated_share": 0.0,
                "histogram": {"edges": [], "counts": []}}
    p50, p90, p95, p99 = np.percentile(lengths, [50, 90, 95, 99])
    top = int(lengths.max())
    # Integer-aligned bins: at most _BINS of them, each at least one token wide.
    width = max(1, int(np.ceil((top + 1) / _BINS)))
    edges = np.arange(0, top + width + 1, width)
    counts, _ = np.histogram(lengths, bins=edges)
    return {
        "count": int(lengths.size),
        "p50": float(p50), "p90": float(p90), "p95": float(p95), "p99": float(p99),
        "max": top,
        "mean": float(lengths.mean()),
        "max_length": max_length,
        "truncated_share": float(np.mean(lengths > max_length)),
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
    }


def format_summary(summary: dict[str, Any]) -> str:
    """Multi-line text for the CLI: rows, class balance per split, token lengths, notes."""
    lines = [f"Data: {summary['source']} (text: '{summary['text_column']}', label: '{summary['label_column']}')",
             f"Classes ({len(summary['label_names'])}): {', '.join(summary['label_names'])}"]
    for split, rows in summary["rows"].items():
        counts = summary["classes"].get(split, {})
        balance = ", ".join(f"{name} {count} ({count / rows:.0%})" if rows else f"{name} 0"
                            for name, count in counts.items())
        lines.append(f"  {split:<10} {rows:>8} rows   {balance}")
    tokens = summary.get("tokens")
    if tokens and tokens.get("count"):
        lines.append(
            f"Tokens per text (train): median {tokens['p50']:.0f}, p90 {tokens['p90']:.0f}, "
            f"p99 {tokens['p99']:.0f}, max {tokens['max']}, mean {tokens['mean']:.1f}; "
            f"{tokens['truncated_share']:.1%} truncated at max_length {tokens['max_length']}"
        )
    lines += [f"Note: {note}" for note in summary.get("notes", [])]
    return "\n".join(lines)
