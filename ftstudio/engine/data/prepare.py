"""How training data becomes clean splits of texts and task targets.

`prepare_data` is the one entry point the trainer, the CLI and the window use: it resolves the
user's data spec and reads the data's own splits (`sources.py`), finds the text, second-text and
label columns (`columns.py`), settles the task (`tasks/detection.py`: `auto` picks multi-label
for label lists), drops unusable rows, lets the task encode the targets, and holds out
validation/test rows with a seeded split stratified on the task's strata (`splits.py`).
Everything that can go wrong raises a `DatasetError` whose message tells the user what to change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ftstudio.engine.data.columns import DataColumns, detect_columns
from ftstudio.engine.data.sources import DataSource, load_raw_with_notes, resolve_data_source
from ftstudio.engine.data.splits import hold_out, subsample
from ftstudio.engine.errors import DatasetError, SettingsError
from ftstudio.engine.events import PREPARING, Reporter

if TYPE_CHECKING:
    import datasets

    from ftstudio.engine.settings import TrainSettings
    from ftstudio.engine.tasks.base import Task

_log = logging.getLogger(__name__)
_PHASES = 5  # progress steps reported as ("loading", done, _PHASES)


@dataclass
class PreparedData:
    """Clean splits ready for tokenization: each has `text`, `text_pair` (pair tasks only) and
    `label` (a class id, a multi-hot row or a score, as the task encodes it); for token
    classification `text` is a sentence's words and `label` a tag id per word."""

    splits: dict[str, datasets.Dataset]
    label_names: list[str]
    columns: DataColumns
    source: DataSource
    task: Task
    task_state: dict[str, Any] = field(default_factory=dict)  # saved with checkpoints (scale, thresholds)
    notes: list[str] = field(default_factory=list)  # what the user should know (rows dropped, ...)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def text_column(self) -> str:
        return self.columns.text

    @property
    def label_column(self) -> str:
        return self.columns.label

    @property
    def text_pair_column(self) -> str | None:
        return self.columns.text_pair

    def targets(self, split: str) -> np.ndarray:
        """The split's targets as one array (class ids, multi-hot rows or scores)."""
        dataset = self.splits[split]
        if self.task.language_model:  # pre-training: the text is its own target
            return np.zeros(len(dataset), dtype=np.int64)
        if self.task.token_level:  # one array of tag ids per sentence
            found = np.empty(len(dataset), dtype=object)
            found[:] = [np.asarray(row, dtype=np.int64) for row in dataset["label"]]
            return found
        return np.asarray(dataset.with_format("numpy")["label"])


@dataclass
class _Rows:
    """One split's usable rows: texts, second texts (or None), raw label values."""

    texts: list[str]
    pairs: list[str] | None
    values: list[Any]

    def take(self, rows: np.ndarray) -> _Rows:
        return _Rows([self.texts[i] for i in rows], [self.pairs[i] for i in rows] if self.pairs is not None else None,
                     [self.values[i] for i in rows])


class Steps:
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
    """Resolve, read, detect columns and task, clean, encode targets and split: same settings, same splits."""
    from ftstudio.engine.data.token_columns import detect_token_columns
    from ftstudio.engine.tasks.base import LabelSpec
    from ftstudio.engine.tasks.detection import is_token_task, resolve_task
    from ftstudio.engine.tasks.registry import TASKS, get_task

    if settings.task in TASKS and TASKS[settings.task].language_model:  # unlabeled text: no labels, no targets
        from ftstudio.engine.data.prepare_texts import prepare_texts

        return prepare_texts(settings, control, reporter)
    steps = Steps(control, reporter)
    steps.next(f"Reading data: {settings.data}")
    source = resolve_data_source(settings.data)
    raw, notes = load_raw_with_notes(source, control)
    steps.next("Finding the text and label columns")
    if is_token_task(settings.task, raw["train"]):
        columns = detect_token_columns(raw["train"], settings.text_column, settings.label_column)
        task, labels = get_task("token-classification"), LabelSpec([columns.label])
    else:
        columns = detect_columns(raw["train"], settings.text_column, settings.label_column,
                                 settings.text_pair_column, scores=settings.task == "regression")
        task, labels, task_notes = resolve_task(raw["train"], list(columns.labels), settings.task,
                                                settings.label_separator)
        notes += task_notes
    _check_split_columns(raw, columns)
    if settings.metric_for_best != "auto" and task.check_metric(settings.metric_for_best):
        raise SettingsError(task.check_metric(settings.metric_for_best), "metric_for_best")
    steps.next("Cleaning rows and encoding labels")
    tag_names = tag_name_list(settings.tag_names) if task.token_level else None
    if task.token_level:
        rows = {name: _clean_sentences(ds, columns, name, notes, tag_names) for name, ds in raw.items()}
    else:
        rows = {name: _clean(ds, columns, task, name, notes) for name, ds in raw.items()}
    rows = {name: split_rows for name, split_rows in rows.items() if split_rows.texts or name == "train"}
    if not rows["train"].texts:
        raise DatasetError(
            f"No usable rows: every training row lacks text ('{columns.text}') or a label ('{columns.label}')."
        )
    targets = task.encode(raw["train"], labels, {name: r.values for name, r in rows.items()})
    # The columns go with the state into every checkpoint: testing a file later finds them by name.
    state = {**targets.state, "text_column": columns.text, "text_pair_column": columns.text_pair,
             "label_columns": list(columns.labels), "text_pair": columns.text_pair is not None}
    if task.name == "multi-label":
        state["tune_thresholds"] = bool(settings.tune_thresholds)
    if tag_names:  # a test file with numeric tags is read with the same names
        state["tag_names"] = tag_names
    notes += targets.notes
    encoded = targets.encoded
    steps.next("Splitting")
    rows, encoded = _add_missing_splits(rows, encoded, task, settings, notes)
    rows, encoded = _cap(rows, encoded, task, settings, notes)
    steps.next("Building splits")
    splits = {name: _to_dataset(rows[name], encoded[name]) for name in rows}
    steps.finish(notes)
    return PreparedData(splits, targets.label_names, columns, source, task, state, notes)


def _check_split_columns(raw: dict[str, datasets.Dataset], columns: DataColumns) -> None:
    for name, dataset in raw.items():
        for column in columns.used:
            if column not in dataset.column_names:
                raise DatasetError(
                    f"The {name} split has no column '{column}' (its columns: {', '.join(dataset.column_names)}); "
                    "all splits need the same columns."
                )


def _clean(dataset: datasets.Dataset, columns: DataColumns, task: Task, split: str, notes: list[str]) -> _Rows:
    """Rows with text (both texts for a pair) and a label, texts stripped; counts what was
    dropped in `notes`."""
    import datasets

    texts = dataset[columns.text][:]
    pairs = dataset[columns.text_pair][:] if columns.text_pair else None
    label_values = [dataset[c][:] for c in columns.labels]
    values = label_values[0] if len(label_values) == 1 else list(zip(*label_values, strict=True))
    feature = dataset.features[columns.labels[0]]
    # ClassLabel uses -1 for "no label" (e.g. GLUE test splits).
    unlabelled = -1 if len(columns.labels) == 1 and isinstance(feature, datasets.ClassLabel) else None
    kept = _Rows([], [] if pairs is not None else None, [])
    no_text = no_pair = no_label = 0
    for i, (text, value) in enumerate(zip(texts, values, strict=True)):
        text = text.strip() if isinstance(text, str) else ""
        second = pairs[i].strip() if pairs is not None and isinstance(pairs[i], str) else ""
        if not text:
            no_text += 1
        elif pairs is not None and not second:
            no_pair += 1
        elif task.is_missing(value) or (unlabelled is not None and value == unlabelled):
            no_label += 1
        else:
            kept.texts.append(text)
            if kept.pairs is not None:
                kept.pairs.append(second)
            kept.values.append(value.strip() if isinstance(value, str) else value)
    dropped = [f"{_rows(count)} {what}" for count, what in (
        (no_text, "with empty text"), (no_pair, f"without a second text ('{columns.text_pair}')"),
        (no_label, "without a label")) if count]
    if dropped:
        notes.append(f"Dropped {' and '.join(dropped)} from the {split} split ({_rows(len(kept.texts))} left).")
    if not kept.texts and split != "train":
        notes.append(f"The {split} split has no usable rows; it was left out.")
    return kept


def tag_name_list(tag_names: str | None) -> list[str] | None:
    """The `tag_names` setting ("O,B-PER,I-PER") as a list, None when not given."""
    names = [part.strip() for part in (tag_names or "").split(",") if part.strip()]
    return names or None


def _clean_sentences(dataset: datasets.Dataset, columns: DataColumns, split: str, notes: list[str],
                     tag_names: list[str] | None) -> _Rows:
    """Sentences with words and one tag per word (token classification; `tag_names`: the names
    of tags stored as numbers); what was dropped, and why, goes to `notes`."""
    from ftstudio.engine.data.token_columns import token_rows

    words, tags, problems = token_rows(dataset, columns, tag_names)
    notes += [f"{split} split: {problem}" for problem in problems]
    if not words and split != "train":
        notes.append(f"The {split} split has no usable sentences; it was left out.")
    return _Rows(words, None, tags)


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _add_missing_splits(rows: dict[str, _Rows], encoded: dict[str, np.ndarray], task: Task,
                        settings: TrainSettings, notes: list[str]) -> tuple[dict, dict]:
    """Hold out validation (always) and test (when asked for) from train when the data lacks them."""
    wanted = []
    if settings.test_split > 0 and "test" not in rows:
        wanted.append(("test", settings.test_split))
    if "validation" not in rows:
        wanted.append(("validation", settings.validation_split))
    if not wanted:
        return rows, encoded
    strata, count = task.strata(encoded["train"])
    parts = hold_out(strata, count, [fraction for _, fraction in wanted], settings.seed)
    train_rows, train_targets = rows["train"], encoded["train"]
    for name, indices in zip(["train", *(n for n, _ in wanted)], parts, strict=True):
        rows[name] = train_rows.take(indices)
        encoded[name] = train_targets[indices]
    for name, fraction in wanted:
        if not rows[name].texts:
            raise DatasetError(
                f"Too few rows ({len(train_rows.texts)}) to hold out a {name} split: add rows, or provide a "
                f"{name} file."
            )
        notes.append(f"Held out {len(rows[name].texts)} training rows ({fraction:.0%}, stratified, seed "
                     f"{settings.seed}) as the {name} split.")
    return rows, encoded


def _cap(rows: dict[str, _Rows], encoded: dict[str, np.ndarray], task: Task,
         settings: TrainSettings, notes: list[str]) -> tuple[dict, dict]:
    """Apply max_samples: train to max_samples, validation/test to max(max_samples // 4, 100)."""
    if settings.max_samples <= 0:
        return rows, encoded
    for name in list(rows):
        limit = settings.max_samples if name == "train" else max(settings.max_samples // 4, 100)
        if len(rows[name].texts) > limit:
            strata, count = task.strata(encoded[name])
            chosen = subsample(strata, count, limit, settings.seed)
            notes.append(f"Using {len(chosen)} of {len(rows[name].texts)} {name} rows (max_samples).")
            rows[name] = rows[name].take(chosen)
            encoded[name] = encoded[name][chosen]
    return rows, encoded


def _to_dataset(rows: _Rows, targets: np.ndarray) -> datasets.Dataset:
    import datasets

    columns: dict[str, Any] = {"text": rows.texts}
    features: dict[str, Any] = {"text": datasets.Value("string")}
    if targets.dtype == object:  # token classification: the words and a tag id per word
        features = {"text": datasets.Sequence(datasets.Value("string")),
                    "label": datasets.Sequence(datasets.Value("int64"))}
        columns["label"] = [row.tolist() for row in targets]
        return datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    if rows.pairs is not None:
        columns["text_pair"] = rows.pairs
        features["text_pair"] = datasets.Value("string")
    if targets.dtype.kind in "iu":
        columns["label"], features["label"] = [int(x) for x in targets], datasets.Value("int64")
    elif targets.ndim == 2:
        columns["label"] = targets.astype(np.float32).tolist()
        features["label"] = datasets.Sequence(datasets.Value("float32"), length=targets.shape[1])
    else:
        columns["label"], features["label"] = targets.astype(np.float32).tolist(), datasets.Value("float32")
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))
