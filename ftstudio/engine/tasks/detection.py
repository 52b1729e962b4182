"""Which task a label column calls for (`task = "auto"`), and the shape of multi-label data.

`auto` trains token classification on words with a tag each (CoNLL files, token and tag list
columns), multi-label when the labels are lists, delimited label strings or several 0/1
columns, and single-label otherwise. It never silently trains a classifier on a score: a label
column of many distinct numbers (or of fractions) is refused with a message that suggests
regression. A delimited string is recognised among `,` `;` `|` only when exactly one of them
splits the column into a small vocabulary of short labels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftstudio.engine.data.columns import column_kind, label_limit
from ftstudio.engine.errors import DatasetError
from ftstudio.engine.tasks.base import LabelSpec, Task
from ftstudio.engine.tasks.registry import TASKS, get_task

if TYPE_CHECKING:
    import datasets

SEPARATORS = (",", ";", "|")
NUMERIC_CLASS_LIMIT = 20  # more distinct numbers than this in auto mode looks like a score
_SAMPLE_ROWS = 5000
_MIN_SPLIT_SHARE = 0.05  # a separator must occur in at least this share of the labels
_MAX_LABEL_CHARS = 40  # a part longer than this is prose, not a label


def _values(dataset: datasets.Dataset, column: str) -> list:
    return dataset.select_columns([column])[:_SAMPLE_ROWS][column]


def _numbers(values: list) -> list[float] | None:
    """The values as numbers when every filled one is a number (text numbers too), else None."""
    found = []
    for value in values:
        if value is None or (isinstance(value, float) and value != value):
            continue
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            found.append(float(value))
            continue
        if not isinstance(value, str):
            return None
        text = value.strip().replace(",", ".", 1) if value.count(",") == 1 and "." not in value else value.strip()
        if not text:
            continue
        try:
            found.append(float(text))
        except ValueError:
            return None
    return found or None


def detect_separator(values: list, rows: int) -> tuple[str | None, list[str]]:
    """The separator of delimited label strings, when exactly one candidate fits; notes say why
    none was chosen when more than one did."""
    texts = [v.strip() for v in values if isinstance(v, str) and v.strip()]
    if not texts or _numbers(texts) is not None:  # numbers with a decimal comma are not label lists
        return None, []
    fitting = []
    for separator in SEPARATORS:
        holding = [t for t in texts if separator in t]
        if len(holding) < max(1, _MIN_SPLIT_SHARE * len(texts)):
            continue
        parts = [p.strip() for t in texts for p in t.split(separator) if p.strip()]
        distinct = set(parts)
        if parts and len(distinct) <= label_limit(rows) and max(map(len, distinct)) <= _MAX_LABEL_CHARS:
            fitting.append(separator)
    if len(fitting) == 1:
        return fitting[0], []
    if len(fitting) > 1:
        shown = " and ".join(f"'{s}'" for s in fitting)
        return None, [f"The labels contain both {shown}; give the label separator to read them as multi-label."]
    return None, []


def is_token_task(task: str, dataset: datasets.Dataset) -> bool:
    """Whether the data is read as words with a tag each: asked for, or (`auto`) data whose
    rows are a list of words and a list of tags of the same length (CoNLL files read that way)."""
    if task == "token-classification":
        return True
    if task != "auto":
        return False
    from ftstudio.engine.data.token_columns import looks_like_token_data

    return looks_like_token_data(dataset)


def resolve_task(dataset: datasets.Dataset, columns: list[str], task_name: str,
                 separator: str | None) -> tuple[Task, LabelSpec, list[str]]:
    """The task for `task_name` ('auto' or a task) on these label columns, their LabelSpec, and
    notes for the user."""
    if len(columns) > 1:
        if task_name not in ("auto", "multi-label"):
            raise DatasetError(
                f"Several label columns ({', '.join(columns)}) are read together as multi-label 0/1 columns; "
                f"use the multi-label task, or give one label column for {task_name}."
            )
        return TASKS["multi-label"], LabelSpec(list(columns)), []
    column = columns[0]
    kind = column_kind(dataset.features[column])
    if task_name not in ("auto", "multi-label"):
        task = get_task(task_name)
        if kind == "lists":
            raise DatasetError(
                f"The label column '{column}' holds lists of labels: that is multi-label data; use the "
                f"multi-label task instead of {task_name}."
            )
        return task, LabelSpec([column]), []
    if kind == "lists":
        return TASKS["multi-label"], LabelSpec([column]), []
    values = _values(dataset, column)
    if kind == "string":
        if separator is None:
            separator, notes = detect_separator(values, len(dataset))
        else:
            notes = []
        if separator is not None:
            return TASKS["multi-label"], LabelSpec([column], separator), notes
        if task_name == "multi-label":
            return TASKS["multi-label"], LabelSpec([column]), [
                *notes, f"No label separator found in '{column}': each row has one label."]
    else:
        notes = []
    if task_name == "multi-label":
        return TASKS["multi-label"], LabelSpec([column]), notes
    _refuse_scores(column, kind, values)
    return TASKS["single-label"], LabelSpec([column]), notes


def _refuse_scores(column: str, kind: str, values: list) -> None:
    """Many distinct numbers, or fractions, are scores: say so instead of training hundreds of classes."""
    if kind == "classlabel":
        return
    numbers = _numbers(values)
    if numbers is None:
        return
    distinct = set(numbers)
    fractions = any(not n.is_integer() for n in distinct)
    if not fractions and len(distinct) == len(numbers) >= 3:
        return  # a different whole number in every row: ids, which the class checks refuse in their words
    if fractions or len(distinct) > NUMERIC_CLASS_LIMIT:
        what = "fractions" if fractions else f"{len(distinct)} distinct numbers"
        raise DatasetError(
            f"The label column '{column}' holds {what}: that looks like a score, not classes. Train a regression "
            "(--task regression; the window proposes it), or choose single-label to treat each value as a class."
        )
