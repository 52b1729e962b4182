"""prepare_data for every task and data shape: targets, label names, strata, notes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftstudio.engine.data.prepare import prepare_data
from ftstudio.engine.data.summary import format_summary, summarize
from ftstudio.engine.errors import DatasetError, SettingsError
from ftstudio.engine.settings import TrainSettings
from tests.conftest import make_texts, write_csv
from tests.task_data import write_multilabel, write_pairs, write_regression


def prepare(path, **changes):
    return prepare_data(TrainSettings(data=str(path), **changes))


@pytest.mark.parametrize("shape,suffix,changes", [
    ("lists", ".jsonl", {}),
    ("lists", ".parquet", {}),
    ("delimited", ".csv", {}),
    ("delimited", ".csv", {"label_separator": ";", "task": "multi-label"}),
    ("columns", ".csv", {"label_column": "crew,negative,neutral,positive,urgent"}),
])
def test_multi_label_in_every_shape(tmp_path, shape, suffix, changes):
    prepared = prepare(write_multilabel(tmp_path / f"data{suffix}", shape=shape), **changes)
    assert prepared.task.name == "multi-label"
    assert prepared.label_names == ["crew", "negative", "neutral", "positive", "urgent"]
    targets = prepared.targets("train")
    assert targets.shape == (len(prepared.splits["train"]), 5) and set(np.unique(targets)) <= {0.0, 1.0}
    assert (targets.sum(axis=1) >= 1).all() and (targets.sum(axis=1) >= 2).any()
    # Every label reaches validation (strata: each row's rarest label).
    assert prepared.targets("validation").sum(axis=0).min() >= 1
    summary = summarize(prepared)
    assert summary["labels"]["train"]["kind"] == "labels" and sum(summary["labels"]["train"]["labels_per_row"]) > 0
    assert "labels per row" in format_summary(summary)


def test_empty_label_lists_are_rows_with_none_of_the_labels(tmp_path):
    rows = [{"text": t, "labels": [lab] if i % 4 else []} for i, (t, lab) in enumerate(make_texts(80))]
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    prepared = prepare(path)
    every = np.concatenate([prepared.targets(s) for s in prepared.splits])
    assert len(every) == 80 and (every.sum(axis=1) == 0).sum() == 20


def test_regression_targets_stay_in_the_users_units(tmp_path):
    prepared = prepare(write_regression(tmp_path / "scores.csv"), task="regression")
    assert prepared.task.name == "regression" and prepared.label_names == ["score"]
    targets = prepared.targets("train")
    assert targets.dtype == np.float32 and 0.4 < targets.min() < 1.6 and 4.4 < targets.max() < 5.6
    state = prepared.task_state
    assert state["standardised"] and state["std"] > 1 and 2 < state["mean"] < 4
    histogram = summarize(prepared)["labels"]["train"]["histogram"]
    assert sum(histogram["counts"]) == len(targets)


def test_regression_reads_decimal_commas_and_finds_the_score_column(tmp_path):
    prepared = prepare(write_regression(tmp_path / "comma.csv", decimal_comma=True), task="regression")
    assert prepared.label_column == "score" and prepared.targets("train").max() > 4


def test_regression_refuses_text_in_the_score_column_and_constant_scores(tmp_path):
    rows = [(t, "n/a" if i == 7 else str(i % 5)) for i, (t, _) in enumerate(make_texts(40))]
    with pytest.raises(DatasetError, match="'n/a' in the score column 'score'.*number in every row"):
        prepare(write_csv(tmp_path / "text.csv", rows, header=("text", "score")), task="regression")
    flat = [(t, "2.5") for t, _ in make_texts(40)]
    with pytest.raises(DatasetError, match="same score"):
        prepare(write_csv(tmp_path / "flat.csv", flat, header=("text", "score")), task="regression")


def test_pairs_by_name_and_by_choice_with_rows_missing_a_second_text(tmp_path):
    prepared = prepare(write_pairs(tmp_path / "pairs.csv"))
    assert prepared.text_pair_column == "sentence2" and prepared.task.name == "single-label"
    assert set(prepared.splits["train"].column_names) == {"text", "text_pair", "label"}
    assert prepared.splits["train"]["text_pair"][0].startswith("this is")
    rows = [(t, "" if i % 10 == 0 else "claim", lab) for i, (t, lab) in enumerate(make_texts(60))]
    path = write_csv(tmp_path / "gaps.csv", rows, header=("review", "claim", "label"))
    chosen = prepare(path, text_column="review", text_pair_column="claim")
    assert chosen.text_pair_column == "claim"
    assert any("6 rows without a second text ('claim')" in note for note in chosen.notes)
    with pytest.raises(DatasetError, match="second text column 'nope' is not in the data"):
        prepare(path, text_pair_column="nope")


def test_metric_for_best_must_be_the_tasks(tmp_path):
    with pytest.raises(SettingsError, match="'rmse' is not a metric of single-label classification"):
        prepare(write_pairs(tmp_path / "pairs.csv"), metric_for_best="rmse")


def test_splits_and_caps_are_seeded_for_every_task(tmp_path):
    path = write_regression(tmp_path / "scores.csv", n=300)
    first = prepare(path, task="regression", max_samples=100, seed=3)
    again = prepare(path, task="regression", max_samples=100, seed=3)
    assert first.splits["train"]["text"] == again.splits["train"]["text"]
    assert len(first.splits["train"]) == 100
    # Stratified on score bins: validation covers the whole range.
    validation = first.targets("validation")
    assert validation.min() < 1.6 and validation.max() > 4.4


def test_an_entity_type_only_in_validation_is_kept_and_said(tmp_path):
    import json

    from ftstudio.engine.data.prepare import prepare_data
    from ftstudio.engine.settings import TrainSettings

    folder = tmp_path / "ner"
    folder.mkdir()
    rows = {"train": [{"tokens": ["ada", "sings"], "tags": ["B-person", "O"]}] * 20,
            "validation": [{"tokens": ["in", "rome"], "tags": ["O", "B-place"]}] * 5}
    for split, lines in rows.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    prepared = prepare_data(TrainSettings(data=str(folder)))
    assert prepared.label_names == ["O", "B-person", "I-person", "B-place", "I-place"]
    assert "Entity type place is not in the training split: the model cannot learn it." in prepared.notes
