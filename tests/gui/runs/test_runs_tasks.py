"""The Runs tab with runs of every task: the task column, best values sorted the right way
(RMSE lower is better), details named for the task, overlays of runs of one task only, and old
runs (no task in their records) shown as single-label."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from tests.conftest import make_texts, write_csv

pytest.importorskip("pytestqt")

SCORES = {"negative": -1.0, "positive": 2.0, "neutral": 0.5}


def write_tagged_jsonl(path: Path, rows) -> Path:
    """Multi-label rows: the sentiment plus a tag for each of two words the text mentions."""
    with open(path, "w", encoding="utf-8") as handle:
        for text, label in rows:
            labels = [label] + [word for word in ("flight", "gate") if word in text.split()]
            handle.write(json.dumps({"text": text, "labels": labels}) + "\n")
    return path


@pytest.fixture(scope="module")
def task_runs(tmp_path_factory, tiny_model_dir) -> dict[str, Path]:
    """A single-label run, two regression runs and a multi-label run, trained once per module
    (a second or two each), and an old-style copy of the single-label run without task names."""
    from ftstudio.engine.settings import TrainSettings
    from ftstudio.engine.training.train import train

    root = tmp_path_factory.mktemp("runs-tasks")
    rows = make_texts(96)
    rng = random.Random(3)
    scores = write_csv(root / "scores.csv", [(t, SCORES[label] * 10 + rng.gauss(0, 2)) for t, label in rows],
                       header=("text", "score"))
    runs_dir = root / "runs"
    base = TrainSettings(model=str(tiny_model_dir), data=str(write_csv(root / "small.csv", rows)), epochs=1,
                         batch_size=8, max_length=32, learning_rate=2e-3, eval_steps=4, seed=7)
    regression = base.replace(data=str(scores), task="regression", label_column="score")
    made = {
        "single": train(base, runs_dir=runs_dir),
        "regression_a": train(regression, runs_dir=runs_dir),
        "regression_b": train(regression.replace(learning_rate=1e-5, warmup_ratio=0.0), runs_dir=runs_dir),
        "multi": train(base.replace(data=str(write_tagged_jsonl(root / "tags.jsonl", rows)), task="multi-label",
                                    label_column="labels"), runs_dir=runs_dir),
    }
    assert {name: r.status for name, r in made.items()} == dict.fromkeys(made, "finished")
    found = {name: r.run_dir for name, r in made.items()}
    # A run from before task types: neither its settings nor its records name a task.
    old = runs_dir / "20200101-000000-old-run"
    shutil.copytree(found["single"], old)
    settings = json.loads((old / "settings.json").read_text())
    settings["settings"].pop("task", None)
    settings["settings"]["metric_for_best"] = "f1"
    (old / "settings.json").write_text(json.dumps(settings))
    records = [json.loads(line) for line in (old / "metrics.jsonl").read_text().splitlines()]
    for record in records:
        for key in ("task", "task_title", "metrics", "best_metric", "text_pair"):
            record.pop(key, None)
    (old / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return {"dir": runs_dir, "old": old, **found}


@pytest.fixture
def panel(qtbot, task_runs):
    from ftstudio.gui.runs.panel import RunsPanel

    widget = RunsPanel(task_runs["dir"])
    qtbot.addWidget(widget)
    widget.resize(1100, 800)
    yield widget
    widget.shutdown()


def _column(panel, name: str, role=None) -> list:
    from ftstudio.gui.runs.panel import COLUMNS

    column = COLUMNS.index(name)
    return [panel.proxy.index(r, column).data(role) if role is not None else panel.proxy.index(r, column).data()
            for r in range(panel.proxy.rowCount())]


def _summary(panel, run_dir: Path):
    return next(s for s in panel.summaries() if s.run_dir == run_dir)


def test_the_list_shows_each_runs_task_and_its_best_metric(panel, task_runs):
    from ftstudio.gui.runs.panel import COLUMNS

    shown = {}
    for r, summary in enumerate(panel.model.summaries()):
        row = {c: panel.model.data(panel.model.index(r, i)) for i, c in enumerate(COLUMNS)}
        shown[summary.run_dir] = (row["Task"], row["Best"].rsplit(" ", 1)[0])
    assert shown[task_runs["single"]] == ("single-label", "macro F1")
    assert shown[task_runs["regression_a"]] == shown[task_runs["regression_b"]] == ("regression", "RMSE")
    assert shown[task_runs["multi"]] == ("multi-label", "micro F1")
    assert shown[task_runs["old"]] == ("single-label", "macro F1")
    panel.filter.setText("regression")
    assert panel.proxy.rowCount() == 2


def test_sorting_by_best_puts_the_lowest_rmse_first(panel, task_runs):
    from PySide6.QtCore import Qt

    from ftstudio.gui.runs.panel import COLUMNS

    a, b = _summary(panel, task_runs["regression_a"]), _summary(panel, task_runs["regression_b"])
    assert a.best_value != b.best_value
    panel.table.sortByColumn(COLUMNS.index("Best"), Qt.SortOrder.DescendingOrder)  # best first
    best = _column(panel, "Best")
    rmse = [float(text.split()[-1]) for text in best if text.startswith("RMSE")]
    assert len(rmse) == 2 and rmse == sorted(rmse)  # lower is better: ascending when best comes first
    positions = [i for i, text in enumerate(best) if text.startswith("RMSE")]
    assert positions[1] == positions[0] + 1  # runs of one metric sit together
    f1 = [float(text.split()[-1]) for text in best if text.startswith("macro F1")]
    assert f1 == sorted(f1, reverse=True)
    panel.table.sortByColumn(COLUMNS.index("Best"), Qt.SortOrder.AscendingOrder)
    rmse = [float(text.split()[-1]) for text in _column(panel, "Best") if text.startswith("RMSE")]
    assert rmse == sorted(rmse, reverse=True)


def test_details_of_a_regression_run_name_its_metrics(panel, task_runs):
    assert panel.select_run(task_runs["regression_a"])
    details = panel.details
    assert "regression" in details.facts.text() and "best RMSE " in details.facts.text()
    text = details.best_metrics.text()
    assert text.startswith("Best evaluation, step ")
    for label in ("<b>RMSE ", "MAE ", "MSE ", "Pearson r ", "Spearman ρ ", "R² ", "loss "):
        assert label in text
    assert details.plots.metric_layout() == [("Validation error", ("rmse",)), ("Validation", ("pearson", "r2"))]
    assert details.checkpoints.headers()[2:5] == ["RMSE", "Pearson r", "R²"]
    assert details.plots.point_counts()["evals"] >= 2


def test_details_of_a_multi_label_run_name_its_metrics(panel, task_runs):
    assert panel.select_run(task_runs["multi"])
    details = panel.details
    assert "multi-label classification" in details.facts.text()
    assert "<b>micro F1 " in details.best_metrics.text() and "subset accuracy " in details.best_metrics.text()
    assert details.plots.metric_layout() == [("Validation", ("micro_f1", "macro_f1", "subset_accuracy"))]
    assert details.checkpoints.headers()[2:5] == ["Micro F1", "Macro F1", "Subset accuracy"]


def test_an_old_run_is_single_label(panel, task_runs):
    assert panel.select_run(task_runs["old"])
    details = panel.details
    assert "single-label classification" in details.facts.text()
    assert details.plots.task() == "single-label"
    assert details.plots.metric_layout() == [("Validation", ("accuracy", "f1"))]
    assert "<b>macro F1 " in details.best_metrics.text()


def test_only_runs_of_the_first_runs_task_are_overlaid(panel, task_runs):
    panel.select_run(task_runs["regression_a"])
    panel.select_run(task_runs["single"], add=True)
    panel.select_run(task_runs["regression_b"], add=True)
    panel.select_run(task_runs["multi"], add=True)
    details = panel.details
    assert details.summary.run_dir == task_runs["regression_a"]
    assert details.overlay_ids == [task_runs["regression_b"].name]
    assert [s.run_dir for s in details.skipped] == [task_runs["single"], task_runs["multi"]]
    hint = panel.hint.text()
    assert f"dashed curves: {task_runs['regression_b'].name}" in hint
    assert "Not overlaid" in hint and f"{task_runs['single'].name} (single-label)" in hint
    assert f"{task_runs['multi'].name} (multi-label)" in hint
    details.plots.flush()
    (overlay,) = details.plots._overlays
    rmse = next(c for c, _t, column in overlay.feeds if column == "rmse")
    assert len(rmse.getOriginalDataset()[0]) >= 2  # the other regression run's RMSE is drawn
    # The single-label run first: the regression runs are the ones left out.
    panel.select_run(task_runs["single"])
    panel.select_run(task_runs["old"], add=True)
    panel.select_run(task_runs["regression_a"], add=True)
    assert details.overlay_ids == [task_runs["old"].name]
    assert "Not overlaid" in panel.hint.text()
    panel.select_run(task_runs["single"])
    assert details.skipped == [] and "Not overlaid" not in panel.hint.text()
