"""Testing a checkpoint on a labelled file: the task's metrics on every row of every split.

The file is read like training data (any format, any split layout); its columns default to the
ones the model was trained on (saved with the checkpoint), then to detection; the labels are
encoded with the model's own label names, and a label the model never saw is refused in words.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ftstudio.engine.errors import DatasetError

if TYPE_CHECKING:
    from ftstudio.engine.predict.predictor import Predictor


def evaluate_file(
    predictor: Predictor,
    data_spec: str,
    text_column: str | None = None,
    label_column: str | None = None,
    control: Any = None,
    progress: Any = None,
    batch_size: int = 64,
    text_pair_column: str | None = None,
) -> dict[str, Any]:
    """The task's metrics of `predictor` on a labelled file, with their details (confusion matrix,
    per-label table, a scatter of predicted against true), rows and label names."""
    from ftstudio.engine.data.sources import load_raw, resolve_data_source

    splits = load_raw(resolve_data_source(data_spec))
    if predictor.task.token_level:
        return _evaluate_sentences(predictor, splits, data_spec, text_column, label_column, control, progress,
                                   batch_size)
    task, state = predictor.task, predictor.task_state
    texts: list[str] = []
    pairs: list[str] | None = [] if predictor.takes_pairs else None
    values: list[Any] = []
    label_where = ""
    for split in splits.values():
        columns = _columns(split, predictor, text_column, label_column, text_pair_column)
        label_where = columns.label
        label_values = [split[c] for c in columns.labels]
        rows = label_values[0] if len(label_values) == 1 else list(zip(*label_values, strict=True))
        seconds = split[columns.text_pair] if columns.text_pair else None
        for i, (text, value) in enumerate(zip(split[columns.text], rows, strict=True)):
            second = seconds[i] if seconds is not None else None
            if not isinstance(text, str) or not text.strip() or task.is_missing(value):
                continue
            if pairs is not None:
                if not isinstance(second, str) or not second.strip():
                    continue
                pairs.append(second)
            texts.append(text)
            values.append(value.strip() if isinstance(value, str) else value)
    if not texts:
        raise DatasetError(f"{data_spec} has no rows with both a text and a label.")
    targets = task.encode_with(values, predictor.label_names, state, label_where or Path(data_spec).name)
    logits = []
    for start in range(0, len(texts), batch_size):
        if control is not None:
            control.check()
        second = pairs[start : start + batch_size] if pairs is not None else None
        logits.append(predictor.logits(texts[start : start + batch_size], second))
        if progress is not None:
            progress(min(start + batch_size, len(texts)), len(texts))
    outputs = task.evaluate_checkpoint(np.concatenate(logits), targets, predictor.label_names, state)
    return {"task": task.name, "rows": len(texts), "label_names": list(predictor.label_names),
            **outputs.metrics, **outputs.details}


def _columns(split: Any, predictor: Predictor, text_column: str | None, label_column: str | None,
             text_pair_column: str | None) -> Any:
    """The file's columns: the caller's, else the ones the model was trained on when the file
    has them, else detected."""
    from ftstudio.engine.data.columns import detect_columns

    state = predictor.task_state
    names = set(split.column_names)

    def trained(key: str) -> str | None:
        value = state.get(key)
        return value if isinstance(value, str) and value in names else None

    saved_labels = [c for c in state.get("label_columns") or [] if c in names]
    if label_column is None and saved_labels and len(saved_labels) == len(state.get("label_columns") or []):
        label_column = ",".join(saved_labels)
    text_column = text_column or trained("text_column")
    if predictor.takes_pairs:  # (when neither is known, detection may find a conventionally named pair)
        text_pair_column = text_pair_column or trained("text_pair_column")
    columns = detect_columns(split, text_column, label_column, text_pair_column)
    if predictor.takes_pairs and columns.text_pair is None:
        raise DatasetError(
            "This model compares pairs of texts, but the file's second-text column was not found; "
            f"name it (its columns: {', '.join(split.column_names)})."
        )
    return columns


def _evaluate_sentences(predictor: Predictor, splits: dict[str, Any], data_spec: str, text_column: str | None,
                        label_column: str | None, control: Any, progress: Any, batch_size: int) -> dict[str, Any]:
    """Token classification: entity metrics over every sentence of the file, long sentences read
    in windows and joined back, with the sentences behind each error."""
    from ftstudio.engine.data.token_columns import detect_token_columns, token_rows
    from ftstudio.engine.predict.entities import word_logits
    from ftstudio.engine.tasks.entity_metrics import entity_metrics

    state = predictor.task_state
    words: list[list[str]] = []
    tags: list[list[str]] = []
    notes: list[str] = []
    for split in splits.values():
        names = set(split.column_names)
        saved_text = state.get("text_column") if state.get("text_column") in names else None
        saved_tags = next((c for c in state.get("label_columns") or [] if c in names), None)
        columns = detect_token_columns(split, text_column or saved_text, label_column or saved_tags)
        found_words, found_tags, problems = token_rows(split, columns, state.get("tag_names"))
        notes += problems  # rows left out, said as training says them
        words += found_words
        tags += found_tags
    if not words:
        raise DatasetError(f"{data_spec} has no sentences with words and tags.")
    targets = predictor.task.encode_with(tags, predictor.label_names, state, Path(str(data_spec)).name)
    with predictor.active():  # (an adapter's base runs with its adapter)
        logits = word_logits(predictor.model, predictor.tokenizer, words, predictor.max_length,
                             predictor.label_names, batch_size=batch_size, control=control, progress=progress)
    label_names = np.asarray(predictor.label_names, dtype=object)
    true = [label_names[row].tolist() for row in targets]
    predicted = [label_names[row.argmax(axis=-1)].tolist() if len(row) else [] for row in logits]
    outputs = predictor.task.outputs(entity_metrics(true, predicted, tokens=words))
    return {"task": predictor.task.name, "rows": len(words), "label_names": list(predictor.label_names),
            **outputs.metrics, **outputs.details, "notes": notes}
