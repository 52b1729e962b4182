"""How training data becomes clean `text`/`label` splits.

`prepare_data` is the one entry point the trainer, the CLI and the window use: it resolves the
user's data spec and reads the data's own splits (`sources.py`), finds the text and label columns,
drops unusable rows, encodes labels as integers (`columns.py`) and holds out validation/test rows
with a seeded stratified split (`splits.py`). Everything that can go wrong raises a `DatasetError`
whose message tells the user what to change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ftstudio.engine.data.columns import detect_columns, encode_labels
from ftstudio.engine.data.sources import DataSource, load_raw_with_notes, resolve_data_source
from ftstudio.engine.data.splits import hold_out, subsample
from ftstudio.engine.errors import DatasetError
from ftstudio.engine.events import PREPARING, Reporter

if TYPE_CHECKING:
    import datasets

    from ftstudio.engine.settings import TrainSettings

_log = logging.getLogger(__name__)
_PHASES = 5  # progress steps reported as ("loading", done, _PHASES)


@dataclass
class PreparedData:
    """Clean splits ready for tokenization: each has exactly `text` (str) and `label` (int)."""

    splits: dict[str, datasets.Dataset]
    label_names: list[str]
    text_column: str
    label_column: str
    source: DataSource
    notes: list[str] = field(default_factory=list)  # what the user should know (rows dropped, ...)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


class _Steps:
    """Cancellation and progress between phases, tolerant of a missing control or reporter."""

    def __init__(self, control: Any, reporter: Reporter | None) -> None:
        self.control, self.reporter, self.done = control, reporter, 0

    def next(self, message: str) -> None:
        if self.control is not None:
            self.control.check(self.reporter, PREPARING)
        if self.reporter is not None:
            self.reporter.on_log(message)
            self.reporter.on_progress("loading", self.done, _PHASES)
        self.done += 1

    def finish(self, notes: list[str]) -> None:
        if self.reporter is not None:
            for note in notes:
                self.reporter.on_log(note)
            self.reporter.on_progress("loading", _PHASES, _PHASES)


def prepare_data(settings: TrainSettings, control: Any = None, reporter: Reporter | None = None) -> PreparedData:
    """Resolve, read, detect columns, clean, encode labels and split: same settings, same splits."""
    steps = _Steps(control, reporter)
    steps.next(f"Reading data: {settings.data}")
    source = resolve_data_source(settings.data)
    raw, notes = load_raw_with_notes(source, control)
    steps.next("Finding the text and label columns")
    text_column, label_column = detect_columns(raw["train"], settings.text_column, settings.label_column)
    _check_split_columns(raw, text_column, label_column)
    steps.next("Cleaning rows and encoding labels")
    columns = {name: _clean(ds, text_column, label_column, name, notes) for name, ds in raw.items()}
    columns = {name: pair for name, pair in columns.items() if pair[0] or name == "train"}
    if not columns["train"][0]:
        raise DatasetError(
            f"No usable rows: every training row lacks text ('{text_column}') or a label ('{label_column}')."
        )
    label_names, encoded = encode_labels(raw["train"], label_column, {n: p[1] for n, p in columns.items()})
    texts = {name: pair[0] for name, pair in columns.items()}
    steps.next("Splitting")
    texts, encoded = _add_missing_splits(texts, encoded, len(label_names), settings, notes)
    texts, encoded = _cap(texts, encoded, len(label_names), settings, notes)
    steps.next("Building splits")
    splits = {name: _to_dataset(texts[name], encoded[name]) for name in texts}
    steps.finish(notes)
    return PreparedData(splits, label_names, text_column, label_column, source, notes)


def _check_split_columns(raw: dict[str, datasets.Dataset], text_column: str, label_column: str) -> None:
    for name, dataset in raw.items():
        for column in (text_column, label_column):
            if column not in dataset.column_names:
                raise DatasetError(
                    f"The {name} split has no column '{column}' (its columns: {', '.join(dataset.column_names)}); "
                    "all splits need the same columns."
                )


def _is_missing_label(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:  # NaN, e.g. a blank cell in a numeric column
        return True
    return isinstance(value, str) and not value.strip()


def _clean(dataset: datasets.Dataset, text_column: str, label_column: str, split: str,
           notes: list[str]) -> tuple[list[str], list[Any]]:
    """Rows with text and a label, texts stripped; counts what was dropped in `notes`."""
    import datasets

    texts = dataset[text_column][:]
    labels = dataset[label_column][:]
    # ClassLabel uses -1 for "no label" (e.g. GLUE test splits).
    unlabelled = -1 if isinstance(dataset.features[label_column], datasets.ClassLabel) else None
    kept_texts, kept_labels = [], []
    no_text = no_label = 0
    for text, label in zip(texts, labels, strict=True):
        text = text.strip() if isinstance(text, str) else ""
        if not text:
            no_text += 1
        elif _is_missing_label(label) or (unlabelled is not None and label == unlabelled):
            no_label += 1
        else:
            kept_texts.append(text)
            kept_labels.append(label.strip() if isinstance(label, str) else label)
    if no_text or no_label:
        dropped = " and ".join(part for count, what in ((no_text, "with empty text"), (no_label, "without a label"))
                               if count for part in [f"{_rows(count)} {what}"])
        notes.append(f"Dropped {dropped} from the {split} split ({_rows(len(kept_texts))} left).")
    if not kept_texts and split != "train":
        notes.append(f"The {split} split has no usable rows; it was left out.")
    return kept_texts, kept_labels


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _add_missing_splits(texts: dict[str, list[str]], labels: dict[str, np.ndarray], num_classes: int,
                        settings: TrainSettings, notes: list[str]) -> tuple[dict, dict]:
    """Hold out validation (always) and test (when asked for) from train when the data lacks them."""
    wanted = []
    if settings.test_split > 0 and "test" not in texts:
        wanted.append(("test", settings.test_split))
    if "validation" not in texts:
        wanted.append(("validation", settings.validation_split))
    if not wanted:
        return texts, labels
    parts = hold_out(labels["train"], num_classes, [fraction for _, fraction in wanted], settings.seed)
    train_texts, train_labels = texts["train"], labels["train"]
    for name, rows in zip(["train", *(n for n, _ in wanted)], parts, strict=True):
        texts[name] = [train_texts[i] for i in rows]
        labels[name] = train_labels[rows]
    for name, fraction in wanted:
        if not texts[name]:
            raise DatasetError(
                f"Too few rows ({len(train_texts)}) to hold out a {name} split: add rows, or provide a "
                f"{name} file."
            )
        notes.append(f"Held out {len(texts[name])} training rows ({fraction:.0%}, stratified, seed "
                     f"{settings.seed}) as the {name} split.")
    return texts, labels


def _cap(texts: dict[str, list[str]], labels: dict[str, np.ndarray], num_classes: int,
         settings: TrainSettings, notes: list[str]) -> tuple[dict, dict]:
    """Apply max_samples: train to max_samples, validation/test to max(max_samples // 4, 100)."""
    if settings.max_samples <= 0:
        return texts, labels
    for name in list(texts):
        limit = settings.max_samples if name == "train" else max(settings.max_samples // 4, 100)
        if len(texts[name]) > limit:
            rows = subsample(labels[name], num_classes, limit, settings.seed)
            notes.append(f"Using {len(rows)} of {len(texts[name])} {name} rows (max_samples).")
            texts[name] = [texts[name][i] for i in rows]
            labels[name] = labels[name][rows]
    return texts, labels


def _to_dataset(texts: list[str], labels: np.ndarray) -> datasets.Dataset:
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.Value("int64")})
    return datasets.Dataset.from_dict({"text": texts, "label": [int(x) for x in labels]}, features=features)
