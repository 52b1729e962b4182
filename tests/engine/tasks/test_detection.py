"""Which task `auto` picks, the shapes of multi-label data, and refusals that name the fix."""

from __future__ import annotations

import pytest

from ftstudio.engine.errors import DatasetError
from ftstudio.engine.tasks.detection import detect_separator, resolve_task


def _dataset(columns):
    import datasets

    return datasets.Dataset.from_dict(columns)


TEXTS = [f"text number {i}" for i in range(40)]


def test_auto_picks_single_label_for_plain_classes():
    task, labels, notes = resolve_task(_dataset({"text": TEXTS, "label": ["a", "b"] * 20}), ["label"], "auto", None)
    assert task.name == "single-label" and labels.separator is None and notes == []


def test_auto_picks_multi_label_for_lists_delimited_strings_and_several_columns():
    lists = _dataset({"text": TEXTS, "labels": [["a", "b"], ["b"], [], ["c"]] * 10})
    assert resolve_task(lists, ["labels"], "auto", None)[0].name == "multi-label"
    delimited = _dataset({"text": TEXTS, "tags": ["billing;refund", "billing", "refund", "shipping"] * 10})
    task, labels, _ = resolve_task(delimited, ["tags"], "auto", None)
    assert task.name == "multi-label" and labels.separator == ";"
    columns = _dataset({"text": TEXTS, "toxic": [0, 1] * 20, "insult": [1, 0] * 20})
    task, labels, _ = resolve_task(columns, ["toxic", "insult"], "auto", None)
    assert task.name == "multi-label" and labels.columns == ["toxic", "insult"]


def test_separator_detection_needs_one_unambiguous_candidate():
    assert detect_separator(["a,b", "c", "a"] * 10, 30) == (",", [])
    separator, notes = detect_separator(["a,b|c", "c", "a;b"] * 10, 30)
    assert separator is None and "give the label separator" in notes[0]
    assert detect_separator(["1,5", "2,0", "3,25"] * 10, 30) == (None, [])  # decimal commas are numbers
    prose = ["I liked it, but the ending was weak and slow", "Great, thanks", "no"] * 10
    assert detect_separator([f"{p} {i}" for i, p in enumerate(prose)], 30)[0] is None  # long, varied parts


def test_many_distinct_numbers_are_refused_with_the_regression_hint():
    scores = _dataset({"text": TEXTS, "score": [i / 3 for i in range(40)]})
    with pytest.raises(DatasetError, match="looks like a score.*--task regression"):
        resolve_task(scores, ["score"], "auto", None)
    many = _dataset({"text": TEXTS, "age": [18 + (i % 30) for i in range(40)]})
    with pytest.raises(DatasetError, match="30 distinct numbers"):
        resolve_task(many, ["age"], "auto", None)
    stars = _dataset({"text": TEXTS, "stars": [1 + i % 5 for i in range(40)]})
    assert resolve_task(stars, ["stars"], "auto", None)[0].name == "single-label"  # 1-5 stars are classes
    assert resolve_task(scores, ["score"], "regression", None)[0].name == "regression"


def test_explicit_tasks_refuse_shapes_they_cannot_read():
    lists = _dataset({"text": TEXTS, "labels": [["a"], ["b"]] * 20})
    with pytest.raises(DatasetError, match="multi-label"):
        resolve_task(lists, ["labels"], "single-label", None)
    columns = _dataset({"text": TEXTS, "a": [0, 1] * 20, "b": [1, 0] * 20})
    with pytest.raises(DatasetError, match="Several label columns"):
        resolve_task(columns, ["a", "b"], "regression", None)
    single = _dataset({"text": TEXTS, "label": ["x", "y"] * 20})
    task, labels, notes = resolve_task(single, ["label"], "multi-label", None)
    assert task.name == "multi-label" and "one label" in notes[0]


def test_the_settings_offer_exactly_the_registered_tasks_and_metrics():
    from ftstudio.engine.settings.train_settings import BEST_METRICS, TASKS
    from ftstudio.engine.tasks.registry import ALL_METRICS, TASK_CHOICES

    assert TASKS == TASK_CHOICES
    assert set(BEST_METRICS) == set(ALL_METRICS)
