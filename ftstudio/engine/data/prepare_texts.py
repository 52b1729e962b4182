"""Unlabeled texts for continued pre-training: the `pretrain` task's side of `prepare_data`.

Pre-training reads only text: a .txt file or folder (one text per line, `plain_text.py`), or the
text column of any table or Hub dataset (labels, if any, are ignored). Blank texts and exact
duplicates are dropped (a duplicate in the validation split would measure memory, not
language), validation (and test, when asked) are held out at random with the run's seed, and
max_samples caps the number of texts. Tokenization, packing into blocks and masking come later,
with the model's tokenizer (`text_blocks.py`, `masking.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ftstudio.engine.data.columns import DataColumns, detect_text_column
from ftstudio.engine.data.plain_text import is_plain_text, read_plain_text
from ftstudio.engine.data.prepare import PreparedData, Steps
from ftstudio.engine.data.sources import DataSource, load_raw_with_notes, resolve_data_source
from ftstudio.engine.data.splits import hold_out
from ftstudio.engine.errors import DatasetError, SettingsError

if TYPE_CHECKING:
    import datasets

    from ftstudio.engine.events import Reporter
    from ftstudio.engine.settings import TrainSettings


def prepare_texts(settings: TrainSettings, control: Any = None, reporter: Reporter | None = None) -> PreparedData:
    """Clean splits of texts (one column, `text`) for the pretrain task; same settings, same splits."""
    from ftstudio.engine.tasks.registry import get_task

    task = get_task("pretrain")
    if settings.metric_for_best != "auto" and task.check_metric(settings.metric_for_best):
        raise SettingsError(task.check_metric(settings.metric_for_best), "metric_for_best")
    steps = Steps(control, reporter)
    steps.next(f"Reading text: {settings.data}")
    source = resolve_data_source(settings.data)
    raw, notes = read_texts(source, control)
    if is_plain_text_source(source):
        column = "text"
    else:
        steps.next("Finding the text column")
        column = detect_text_column(raw["train"], settings.text_column)
        for name, dataset in raw.items():
            if column not in dataset.column_names:
                raise DatasetError(f"The {name} split has no column '{column}'; all splits need the text column.")
        others = [c for c in raw["train"].column_names if c != column]
        if others:
            notes.append(f"Pre-training reads the text column '{column}' only; "
                         f"{', '.join(others[:4])}{' ...' if len(others) > 4 else ''} ignored.")
    steps.next("Cleaning texts")
    seen: set[str] = set()
    texts = {name: _clean(raw[name][column][:], name, seen, notes) for name in _ordered(raw)}
    texts = {name: rows for name, rows in texts.items() if rows or name == "train"}
    if not texts["train"]:
        raise DatasetError(f"No usable text: every training row's '{column}' is blank.")
    steps.next("Splitting")
    _hold_out(texts, settings, notes)
    _cap(texts, settings, notes)
    steps.next("Building splits")
    splits = {name: _to_dataset(rows) for name, rows in texts.items()}
    steps.finish(notes)
    state = {"text_column": column, "text_pair_column": None, "label_columns": [], "text_pair": False}
    return PreparedData(splits, [], DataColumns(column, ()), source, task, state, notes)


def is_plain_text_source(source: DataSource) -> bool:
    """A .txt file or folder, which pre-training reads one text per line."""
    return source.kind == "file" and is_plain_text(Path(source.ref))


def read_texts(source: DataSource, control: Any = None) -> tuple[dict[str, datasets.Dataset], list[str]]:
    """The raw splits pre-training reads (and the window previews): plain text one text per
    line, else the source's own splits; with the notes on how they were read."""
    if is_plain_text_source(source):
        return read_plain_text(Path(source.ref), control)
    return load_raw_with_notes(source, control)


def _ordered(raw: dict[str, datasets.Dataset]) -> list[str]:
    """Train first: a text that is in train and in validation is kept in train."""
    return sorted(raw, key=lambda name: {"train": 0, "validation": 1, "test": 2}.get(name, 3))


def _clean(values: list[Any], split: str, seen: set[str], notes: list[str]) -> list[str]:
    kept, blank, repeated = [], 0, 0
    for value in values:
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            blank += 1
        elif text in seen:
            repeated += 1
        else:
            seen.add(text)
            kept.append(text)
    dropped = [what for count, what in ((blank, f"{blank:,} blank"), (repeated, f"{repeated:,} duplicate")) if count]
    if dropped:
        notes.append(f"Dropped {' and '.join(dropped)} texts from the {split} split ({len(kept):,} left); a "
                     "repeated text would be learned twice or measured on text the model trained on.")
    return kept


def _hold_out(texts: dict[str, list[str]], settings: TrainSettings, notes: list[str]) -> None:
    """Validation (always) and test (when asked) from train, at random with the run's seed."""
    wanted = []
    if settings.test_split > 0 and "test" not in texts:
        wanted.append(("test", settings.test_split))
    if "validation" not in texts:
        wanted.append(("validation", settings.validation_split))
    if not wanted:
        return
    train = texts["train"]
    parts = hold_out(np.zeros(len(train), dtype=np.int64), 1, [share for _, share in wanted], settings.seed)
    texts["train"] = [train[i] for i in parts[0]]
    for (name, share), rows in zip(wanted, parts[1:], strict=True):
        if len(rows) == 0:
            raise DatasetError(f"Too few texts ({len(train)}) to hold out a {name} split: add text, or give a "
                               f"{name} file.")
        texts[name] = [train[i] for i in rows]
        notes.append(f"Held out {len(rows):,} training texts ({share:.0%}, at random, seed {settings.seed}) as the "
                     f"{name} split.")


def _cap(texts: dict[str, list[str]], settings: TrainSettings, notes: list[str]) -> None:
    """max_samples: train to max_samples texts, validation/test to max(max_samples // 4, 100)."""
    if settings.max_samples <= 0:
        return
    for name, rows in texts.items():
        limit = settings.max_samples if name == "train" else max(settings.max_samples // 4, 100)
        if len(rows) > limit:
            chosen = np.sort(np.random.default_rng([settings.seed, 2]).permutation(len(rows))[:limit])
            texts[name] = [rows[i] for i in chosen]
            notes.append(f"Using {limit:,} of {len(rows):,} {name} texts (max_samples).")


def _to_dataset(rows: list[str]) -> datasets.Dataset:
    import datasets

    return datasets.Dataset.from_dict({"text": rows}, features=datasets.Features({"text": datasets.Value("string")}))
