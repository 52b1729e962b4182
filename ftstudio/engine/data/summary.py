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


def token_lengths(texts: Sequence[Any], tokenizer: Any, control: Any = None,
                  pairs: Sequence[str] | None = None) -> np.ndarray:
    """Token count of each text (of each pair, joined as the model reads them; of each sentence's
    words, for token classification; special tokens included, no truncation), in chunks so a
    stop request (control.check()) is honoured between them."""
    lengths: list[int] = []
    texts = list(texts)
    pairs = list(pairs) if pairs is not None else None
    for start in range(0, len(texts), _CHUNK):
        if control is not None:
            control.check()
        chunk = texts[start:start + _CHUNK]
        second = pairs[start:start + _CHUNK] if pairs is not None else None
        # verbose=False: no "sequence longer than the model's maximum" warning; measuring is the point.
        pair = {"text_pair": second} if second is not None else {}
        if chunk and isinstance(chunk[0], list):  # words, not texts
            pair = {"is_split_into_words": True}
        encoded = tokenizer(chunk, padding=False, truncation=False, verbose=False, **pair)
        lengths.extend(len(ids) for ids in encoded["input_ids"])
    return np.asarray(lengths, dtype=np.int64)


def _ordered(splits: dict[str, Any]) -> list[str]:
    return [s for s in _SPLIT_ORDER if s in splits] + [s for s in splits if s not in _SPLIT_ORDER]


def summarize(prepared: PreparedData, tokenizer: Any = None, max_length: int = 128,
              control: Any = None, pack_texts: bool = True) -> dict[str, Any]:
    """Rows and the task's label summary per split (class counts; label frequencies and labels
    per row; a score histogram); with a tokenizer, train token-length statistics too.

    Returns plain data (JSON-serialisable) so the run folder, the CLI and the window share it.
    Pre-training's texts (`pack_texts`: joined into blocks of max_length) report their total
    tokens and blocks instead of truncation.
    """
    order = _ordered(prepared.splits)
    task = prepared.task
    labels = {split: task.summarize(prepared.targets(split), prepared.label_names, prepared.task_state)
              for split in order}
    summary: dict[str, Any] = {
        "source": prepared.source.display,
        "task": task.name,
        "task_title": task.title,
        "text_column": prepared.text_column,
        "text_pair_column": prepared.text_pair_column,
        "label_column": prepared.label_column,
        "label_names": list(prepared.label_names),
        "rows": {split: len(prepared.splits[split]) for split in order},
        "labels": labels,
        "classes": {split: found["counts"] for split, found in labels.items() if "counts" in found},
        "notes": list(prepared.notes),
    }
    if tokenizer is not None:
        train = prepared.splits["train"]
        pairs = train["text_pair"][:] if "text_pair" in train.column_names else None
        summary["tokens"] = length_stats(token_lengths(train["text"][:], tokenizer, control, pairs), max_length)
        if task.token_level:  # longer sentences are cut into windows at word boundaries, not truncated
            summary["tokens"]["long_handling"] = "split"
        if task.language_model:
            _text_blocks(summary["tokens"], max_length, pack_texts)
    return summary


def _text_blocks(tokens: dict[str, Any], max_length: int, pack_texts: bool) -> None:
    """What pre-training makes of the texts: every token packed into full blocks (nothing
    truncated), or a row per text (the longer ones truncated)."""
    total = int(round(tokens.get("mean", 0.0) * tokens.get("count", 0)))
    tokens["total"] = total
    if pack_texts:
        tokens.update(long_handling="packed", truncated_share=0.0, blocks=-(-total // max_length))
    else:
        tokens["blocks"] = tokens.get("count", 0)


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
    """Multi-line text for the CLI: task, rows, labels per split, token lengths, notes."""
    from ftstudio.engine.tasks.registry import get_task

    task = get_task(summary.get("task", "single-label"))
    texts = f"text: '{summary['text_column']}'"
    if summary.get("text_pair_column"):
        texts += f", second text: '{summary['text_pair_column']}'"
    what = {"classes": "Classes", "labels": "Labels", "scores": "Score", "entities": "Tags"}.get(
        next(iter(summary["labels"].values()), {}).get("kind", "classes"), "Labels")
    if task.language_model:  # no labels: the texts, and what they become
        return _format_texts(summary, texts, task)
    lines = [f"Data: {summary['source']} ({texts}, label: '{summary['label_column']}')",
             f"Task: {summary.get('task_title', task.title)}",
             f"{what} ({len(summary['label_names'])}): {', '.join(summary['label_names'])}"]
    unit = "sentences" if task.token_level else "rows"
    for split, rows in summary["rows"].items():
        lines.append(f"  {split:<10} {rows:>8} {unit}   {task.describe(summary['labels'][split])}")
    tokens = summary.get("tokens")
    if tokens and tokens.get("count"):
        lines.append(
            f"Tokens per {'sentence' if task.token_level else 'text'} (train): median {tokens['p50']:.0f}, p90 {tokens['p90']:.0f}, "
            f"p99 {tokens['p99']:.0f}, max {tokens['max']}, mean {tokens['mean']:.1f}; "
            f"{tokens['truncated_share']:.1%} "
            f"{'split into windows' if tokens.get('long_handling') == 'split' else 'truncated'} "
            f"at max_length {tokens['max_length']}"
        )
    lines += [f"Note: {note}" for note in summary.get("notes", [])]
    return "\n".join(lines)


def _format_texts(summary: dict[str, Any], texts: str, task: Any) -> str:
    lines = [f"Data: {summary['source']} ({texts}; no labels: pre-training reads only the text)",
             f"Task: {summary.get('task_title', task.title)}"]
    lines += [f"  {split:<10} {rows:>8,} texts" for split, rows in summary["rows"].items()]
    tokens = summary.get("tokens")
    if tokens and tokens.get("count"):
        line = (f"Tokens per text (train): median {tokens['p50']:.0f}, p90 {tokens['p90']:.0f}, max {tokens['max']}; "
                f"{tokens['total']:,} tokens in all")
        if tokens.get("long_handling") == "packed":
            line += f", packed into about {tokens['blocks']:,} blocks of {tokens['max_length']} (nothing truncated)"
        else:
            line += f", one text per row; {tokens['truncated_share']:.1%} truncated at max_length {tokens['max_length']}"
        lines.append(line)
    lines += [f"Note: {note}" for note in summary.get("notes", [])]
    return "\n".join(lines)
