"""The data panel's lines of facts, in words, from the engine's summary (`summarize()`): what the
data is (source, task, labels), the split sizes (rows; for token classification sentences and words), the tag scheme the engine
found and what it repaired, and the remaining notes.

Plain functions of the summary (no Qt), so they are easy to test and the panel stays thin.
"""

from __future__ import annotations

from typing import Any

# How each tag scheme reads, for people who have not met its name before (the line's tooltip).
SCHEME_WORDS = {
    "BIO": "BIO: B- opens an entity, I- continues it, O is outside.",
    "IOB1": "IOB1: I- opens an entity, B- only parts two touching ones of a type.",
    "BIOES": "BIOES: B- opens an entity, I- continues it, E- ends it, S- is a one-word entity.",
    "IO": "IO: no tag opens an entity, so touching entities of one type read as one.",
}
REPAIRS_SHOWN = 3  # repair lines written out; the rest are counted (all of them in the tooltip)


def is_entities(summary: dict[str, Any]) -> bool:
    """Whether the summary is of token-classification data (label summaries of kind "entities")."""
    return next(iter(summary["labels"].values()), {}).get("kind") == "entities"


def describe_data(summary: dict[str, Any]) -> str:
    """One line on what the prepared data is: source, task, texts and labels."""
    task = summary["task_title"].lower()
    if summary.get("text_pair_column"):
        task += f" of text pairs ('{summary['text_column']}' with '{summary['text_pair_column']}')"
    names = summary["label_names"]
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    kind = summary["labels"]["train"].get("kind", "classes")
    if kind == "texts":  # pre-training: the texts are all there is
        texts = summary["labels"]["train"].get("texts", summary["rows"].get("train", 0))
        return f"{summary['source']}: {task} on {texts:,} training texts (no labels)"
    if kind == "entities":
        types = list(summary["labels"]["train"].get("counts", {}))
        shown = ", ".join(types[:8]) + (", ..." if len(types) > 8 else "")
        what = f"{len(types)} entity type{'s' if len(types) != 1 else ''} ({shown or 'none'})"
    elif kind == "scores":
        what = f"predicting the values of '{summary['label_column']}'"
    elif kind == "labels":
        what = f"{len(names)} labels ({shown})"
    else:
        what = f"{len(names)} classes ({shown})"
    return f"{summary['source']}: {task}, {what}"


def split_sizes(summary: dict[str, Any]) -> str:
    """'Rows: train 1,000, validation 120'; for token data the sentences and words of each split;
    for pre-training's texts 'Texts: train 1,000, validation 111'."""
    if next(iter(summary["labels"].values()), {}).get("kind") == "texts":  # pre-training: texts, no labels
        return "Texts: " + ", ".join(f"{split} {n:,}" for split, n in summary["rows"].items())
    if not is_entities(summary):
        return "Rows: " + ", ".join(f"{split} {n:,}" for split, n in summary["rows"].items())
    return "Sentences: " + ", ".join(
        f"{split} {found['sentences']:,} ({found['tokens']:,} words)" for split, found in summary["labels"].items())


def scheme_line(summary: dict[str, Any]) -> str:
    """The tag scheme found and what was repaired, in short ("" unless token data); the tooltip
    (`scheme_tooltip`) explains the scheme and lists every repair."""
    if not is_entities(summary):
        return ""
    train = summary["labels"]["train"]
    scheme = train.get("scheme", "BIO")
    line = "Tags: BIO" if scheme == "BIO" else f"Tags: {scheme}, converted to BIO"
    repairs = train.get("repairs", [])
    if not repairs:
        return line + "; no repairs needed."
    shown = "; ".join(repairs[:REPAIRS_SHOWN])
    more = len(repairs) - REPAIRS_SHOWN
    return line + f". Repaired: {shown}" + (f"; and {more} more." if more > 0 else "")


def scheme_tooltip(summary: dict[str, Any]) -> str:
    """What the scheme means, and every repair, one a line ("" unless token data)."""
    if not is_entities(summary):
        return ""
    train = summary["labels"]["train"]
    scheme = train.get("scheme", "BIO")
    lines = [SCHEME_WORDS.get(scheme, scheme)]
    if scheme != "BIO":
        lines.append("The tags were converted to BIO, which the model learns and predicts.")
    repairs = train.get("repairs", [])
    if repairs:
        lines += ["", "Repairs to the tags:", *repairs]
    return "\n".join(lines)


def notes_text(summary: dict[str, Any]) -> str:
    """The summary's notes, less the tag repairs the scheme line already says."""
    repairs = set(summary["labels"]["train"].get("repairs", [])) if is_entities(summary) else set()
    return "\n".join(note for note in summary["notes"] if note not in repairs)

