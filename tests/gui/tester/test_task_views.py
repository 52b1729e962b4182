"""The tester for the other task types, against tiny real runs: multi-label, regression, pairs.

Each run is trained once per module (1 epoch on a few dozen rows); the tests then drive the panel
as a user would: type, compare with the base model, test a file, and check the task's view.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.conftest import make_texts, write_csv

pytest.importorskip("pytestqt")

WAIT_MS = 60_000  # first use of a checkpoint imports torch and loads the model
SCORES = {"negative": 1.0, "neutral": 2.5, "positive": 4.0}


def _multi_label_rows(n: int, seed: int) -> list[dict]:
    """Sentiment plus "travel" when the text mentions the trip: a list of labels per row."""
    rows = []
    for text, label in make_texts(n, seed=seed):
        travel = any(word in text.split() for word in ("flight", "plane", "gate"))
        rows.append({"text": text, "labels": [label] + (["travel"] if travel else [])})
    return rows


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _regression_rows(n: int, seed: int) -> list[tuple[str, float]]:
    rng = random.Random(seed)
    return [(text, round(SCORES[label] + rng.uniform(-0.5, 0.5), 2)) for text, label in make_texts(n, seed=seed)]


def _pair_rows(n: int, seed: int) -> list[tuple[str, str, str]]:
    rows, rng = make_texts(n, seed=seed), random.Random(seed + 1)
    paired = []
    for text, label in rows:
        other, other_label = rows[rng.randrange(n)]
        paired.append((text, other, "same" if other_label == label else "different"))
    return paired


@pytest.fixture(scope="module")
def task_runs(tmp_path_factory, tiny_model_dir) -> dict[str, Path]:
    """One finished tiny run per task type, and a labelled test file for each."""
    from ftstudio.engine.settings import TrainSettings
    from ftstudio.engine.training.train import train

    root = tmp_path_factory.mktemp("tester-tasks")
    data = {
        "multi": _write_jsonl(root / "multi.jsonl", _multi_label_rows(48, 0)),
        "regression": write_csv(root / "scores.csv", _regression_rows(48, 0), header=("text", "rating")),
        "pairs": write_csv(root / "pairs.csv", _pair_rows(48, 0), header=("sentence1", "sentence2", "label")),
    }
    # tune_thresholds: the file test must then report the thresholds the checkpoint saved.
    extra = {"multi": {"tune_thresholds": True}, "regression": {"task": "regression"}, "pairs": {}}
    found: dict[str, Path] = {"runs": root / "runs"}
    for name, path in data.items():
        settings = TrainSettings(model=str(tiny_model_dir), data=str(path), epochs=1, batch_size=8,
                                 max_length=32, learning_rate=2e-3, seed=3, **extra[name])
        result = train(settings, runs_dir=root / "runs")
        assert result.status == "finished", result.message
        found[name] = result.run_dir
    found["multi_test"] = _write_jsonl(root / "multi_test.jsonl", _multi_label_rows(20, 5))
    found["regression_test"] = write_csv(root / "scores_test.csv", _regression_rows(20, 5), header=("text", "rating"))
    found["pairs_test"] = write_csv(root / "pairs_test.csv", _pair_rows(20, 5),
                                    header=("sentence1", "sentence2", "label"))
    return found


@pytest.fixture
def panel(qtbot, task_runs):
    from ftstudio.gui.tester.panel import TesterPanel

    tester = TesterPanel(task_runs["runs"])
    qtbot.addWidget(tester)
    yield tester
    assert tester.shutdown()


def _task_state(run_dir: Path) -> dict:
    state = json.loads((run_dir / "best" / "trainer_state.json").read_text(encoding="utf-8"))
    return state["task"]["state"]


def _label_names(run_dir: Path) -> list[str]:
    config = json.loads((run_dir / "best" / "config.json").read_text(encoding="utf-8"))
    return [config["id2label"][str(i)] for i in range(len(config["id2label"]))]


def _predict(qtbot, panel, text: str, second: str | None = None, slot: str = "a") -> dict:
    with qtbot.waitSignal(panel.sig_predicted, timeout=WAIT_MS, check_params_cb=lambda r: r["slot"] == slot) as got:
        panel.try_text(text, second)
    return got.args[0]


def _test_file(qtbot, panel, path: Path) -> dict:
    with qtbot.waitSignal(panel.sig_file_tested, timeout=WAIT_MS) as got:
        panel.test_file(path)
    return got.args[0]


# ---------------------------------------------------------------------- multi-label
def test_multi_label_shows_every_label_with_its_threshold_and_the_chosen_ones(qtbot, panel, task_runs):
    run = task_runs["multi"]
    panel.set_run(run)
    assert not panel.second_row.isVisibleTo(panel)
    result = _predict(qtbot, panel, "great flight thanks crew")
    column, names = panel.column_a, _label_names(run)
    assert result["task"] == column.kind() == "multi-label"
    assert column.multi.isVisibleTo(panel) and not column.bars.isVisibleTo(panel)
    assert sorted(n for n, _ in column.multi.rows()) == sorted(names)
    saved = _task_state(run)["thresholds"]  # tuned on validation and saved with the checkpoint
    assert column.multi.thresholds() == pytest.approx(dict(zip(names, saved, strict=True)))
    assert sorted(column.multi.chosen()) == sorted(result["labels"])
    assert all(p >= column.multi.thresholds()[n] for n, p in column.multi.rows() if n in result["labels"])
    assert column.predicted_label() == (", ".join(result["labels"]) or "(none)")
    assert "reach their threshold" in column.confidence.text()


def test_multi_label_file_test_shows_a_per_label_table_with_the_saved_thresholds(qtbot, panel, task_runs):
    run = task_runs["multi"]
    panel.set_run(run)
    evaluation = _test_file(qtbot, panel, task_runs["multi_test"])
    assert evaluation["task"] == "multi-label" and evaluation["rows"] == 20
    assert panel.per_label.isVisibleTo(panel)
    assert not panel.confusion.isVisibleTo(panel) and not panel.scatter.isVisibleTo(panel)
    rows = panel.per_label.rows()
    names = _label_names(run)
    assert [r["label"] for r in rows] == names
    assert [r["threshold"] for r in rows] == pytest.approx(_task_state(run)["thresholds"])
    assert sum(r["support"] for r in rows if r["label"] != "travel") == 20  # one sentiment per row
    summary = panel.file_summary.text()
    for words in ("Micro F1", "Macro F1", "Subset accuracy", "20 texts from multi_test.jsonl"):
        assert words in summary


# ---------------------------------------------------------------------- regression
def test_regression_shows_the_value_on_the_training_scale(qtbot, panel, task_runs):
    from ftstudio.gui.tester.score_scale import format_score

    run = task_runs["regression"]
    panel.set_run(run)
    result = _predict(qtbot, panel, "awful delayed flight")
    column, state = panel.column_a, _task_state(run)
    assert result["task"] == column.kind() == "regression"
    assert column.scale.isVisibleTo(panel) and not column.bars.isVisibleTo(panel)
    assert column.scale.value() == pytest.approx(result["value"])
    assert column.scale.scale() == pytest.approx(
        {k: state[k] for k in ("minimum", "maximum", "mean", "std")})
    assert column.predicted_label() == format_score(result["value"], state["maximum"] - state["minimum"])
    assert column.confidence.text().startswith("rating")  # the score's name as the caption
    assert not panel.order.isVisibleTo(panel)  # no bars to order
    assert not panel.second_row.isVisibleTo(panel)


def test_regression_base_model_answers_on_the_same_scale(qtbot, panel, task_runs):
    run = task_runs["regression"]
    panel.set_run(run)
    panel.compare_box.setChecked(True)
    assert "base model" in panel.compare_picker.currentText()
    before = _predict(qtbot, panel, "great crew", slot="b")
    state = _task_state(run)
    assert panel.column_b.kind() == "regression" and panel.column_b.scale.isVisibleTo(panel)
    # An untrained head in the run's units predicts about the mean (not about 0).
    assert abs(before["value"] - state["mean"]) < state["std"]
    assert panel.column_b.scale.scale()["minimum"] == pytest.approx(state["minimum"])


def test_regression_file_test_shows_metrics_and_a_scatter(qtbot, panel, task_runs):
    panel.set_run(task_runs["regression"])
    evaluation = _test_file(qtbot, panel, task_runs["regression_test"])
    assert evaluation["task"] == "regression" and evaluation["rows"] == 20
    assert panel.scatter.isVisibleTo(panel)
    assert not panel.confusion.isVisibleTo(panel) and not panel.per_label.isVisibleTo(panel)
    points = panel.scatter.points()
    assert len(points) == 20
    truth = sorted(t for t, _ in points)
    assert truth == pytest.approx(sorted(v for _, v in _regression_rows(20, 5)), abs=1e-4)
    summary = panel.file_summary.text()
    for words in ("RMSE", "MAE", "Pearson r", "Spearman ρ", "R²", "20 texts from scores_test.csv"):
        assert words in summary


# ---------------------------------------------------------------------- pairs
def test_second_text_box_only_for_the_pair_model(panel, task_runs):
    panel.set_run(task_runs["pairs"])
    assert panel.takes_pairs() and panel.second_row.isVisibleTo(panel)
    for name in ("multi", "regression"):
        panel.set_run(task_runs[name])
        assert not panel.takes_pairs() and not panel.second_row.isVisibleTo(panel)
    panel.set_run(task_runs["pairs"])
    assert panel.second_row.isVisibleTo(panel)


def test_pair_model_waits_for_the_second_text_then_predicts_with_both(qtbot, panel, task_runs):
    from ftstudio.gui.tester.panel import PAIR_HINT

    panel.set_run(task_runs["pairs"])
    panel.second_text.clear()
    seen = []
    panel.sig_predicted.connect(seen.append)
    panel.try_text("great crew thanks")
    assert panel.column_a.state.text() == PAIR_HINT and not seen
    result = _predict(qtbot, panel, "great crew thanks", "love the best flight")
    assert result["text_pair"] == "love the best flight"
    assert result["label"] in _label_names(task_runs["pairs"])
    assert panel.column_a.kind() == "single-label"
    assert sorted(n for n, _ in panel.column_a.bars.rows()) == sorted(_label_names(task_runs["pairs"]))


def test_pair_examples_fill_both_boxes_and_the_base_model_takes_pairs_too(qtbot, panel, task_runs):
    from ftstudio.gui.tester.panel import PAIR_EXAMPLES

    panel.set_run(task_runs["pairs"])
    panel.compare_box.setChecked(True)
    with qtbot.waitSignal(panel.sig_predicted, timeout=WAIT_MS, check_params_cb=lambda r: r["slot"] == "b") as got:
        panel.examples.linkActivated.emit("2")
    assert (panel.text.text(), panel.second_text.text()) == PAIR_EXAMPLES[2]
    assert got.args[0]["text_pair"] == PAIR_EXAMPLES[2][1]


def test_pair_file_test_finds_the_second_text_column(qtbot, panel, task_runs):
    panel.set_run(task_runs["pairs"])
    evaluation = _test_file(qtbot, panel, task_runs["pairs_test"])
    assert evaluation["task"] == "single-label" and evaluation["rows"] == 20
    assert panel.confusion.isVisibleTo(panel)
    assert sum(map(sum, panel.confusion.matrix())) == 20
    assert "Accuracy" in panel.file_summary.text()
