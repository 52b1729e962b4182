"""The runs panel against real tiny runs: listing, curves, overlay, delete, resume."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import make_texts, write_csv

pytest.importorskip("pytestqt")


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory, tiny_model_dir) -> dict[str, Path]:
    """Two finished runs and one stopped after its first checkpoint, trained once per module."""
    from ftstudio.engine.events import Reporter, TrainingControl
    from ftstudio.engine.settings import TrainSettings
    from ftstudio.engine.training.train import train

    root = tmp_path_factory.mktemp("runs-panel")
    data = write_csv(root / "small.csv", make_texts(120))
    runs_dir = root / "runs"
    base = TrainSettings(model=str(tiny_model_dir), data=str(data), epochs=1, batch_size=8, max_length=32)
    first = train(base, runs_dir=runs_dir)
    second = train(base.replace(learning_rate=1e-3), runs_dir=runs_dir)

    class StopAfterFirstCheckpoint(Reporter):
        def __init__(self, control: TrainingControl) -> None:
            self.control = control

        def on_checkpoint(self, event) -> None:
            self.control.request_stop()

    control = TrainingControl()
    stopped = train(
        base.replace(epochs=3), runs_dir=runs_dir, reporter=StopAfterFirstCheckpoint(control), control=control
    )
    assert (first.status, second.status, stopped.status) == ("finished", "finished", "stopped")
    return {"dir": runs_dir, "first": first.run_dir, "second": second.run_dir, "stopped": stopped.run_dir}


@pytest.fixture
def panel(qtbot, trained_runs):
    from ftstudio.gui.runs.panel import RunsPanel

    widget = RunsPanel(trained_runs["dir"])
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def _row(panel, run_dir: Path) -> dict[str, str]:
    from ftstudio.gui.runs.panel import COLUMNS

    for r, summary in enumerate(panel.model.summaries()):
        if summary.run_dir == run_dir:
            return {c: panel.model.data(panel.model.index(r, i)) for i, c in enumerate(COLUMNS)}
    raise AssertionError(f"{run_dir} not listed")


def test_lists_runs_with_status_and_best_metric(panel, trained_runs):
    assert panel.model.rowCount() == 3
    first = _row(panel, trained_runs["first"])
    assert first["Status"] == "finished"
    assert first["Best"].startswith("macro F1 0.") and first["Task"] == "single-label"
    assert first["Model"] == "tiny-bert" and first["Data"] == "small.csv"
    assert _row(panel, trained_runs["stopped"])["Status"] == "stopped"


def test_sorting_by_best_uses_values(panel):
    from PySide6.QtCore import Qt

    from ftstudio.gui.runs.panel import COLUMNS

    panel.table.sortByColumn(COLUMNS.index("Best"), Qt.SortOrder.DescendingOrder)
    values = [
        panel.proxy.index(r, COLUMNS.index("Best")).data(panel.proxy.sortRole())
        for r in range(panel.proxy.rowCount())
    ]
    assert values == sorted(values, reverse=True)


def test_selecting_a_run_loads_curves_settings_and_checkpoints(panel, trained_runs):
    assert panel.select_run(trained_runs["first"])
    details = panel.details
    counts = details.plots.point_counts()
    assert counts["steps"] >= 1 and counts["evals"] >= 1
    assert ("batch_size", "8") in details.settings_rows()
    assert any(row["name"] == "best/" for row in details.checkpoints.rows())
    assert trained_runs["first"].name in details.title.text()


def test_second_selected_run_is_overlaid(panel, trained_runs):
    panel.select_run(trained_runs["first"])
    panel.select_run(trained_runs["second"], add=True)
    assert panel.selected_runs() == [trained_runs["first"], trained_runs["second"]]
    assert panel.details.overlay_ids == [trained_runs["second"].name]
    assert panel.details.summary.run_dir == trained_runs["first"]  # the first pick stays shown
    panel.select_run(trained_runs["second"])
    assert panel.details.overlay_ids == []


def test_resume_is_offered_for_a_stopped_run_only(qtbot, panel, trained_runs):
    panel.select_run(trained_runs["first"])
    assert not panel.resume_button.isEnabled()
    panel.select_run(trained_runs["stopped"])
    assert panel.resume_button.isEnabled()
    with qtbot.waitSignal(panel.sig_resume_requested, timeout=1000) as blocker:
        panel.resume_button.click()
    assert blocker.args == [str(trained_runs["stopped"])]
    panel.set_active_run(trained_runs["stopped"])  # training it now: no second resume, no delete
    assert not panel.resume_button.isEnabled() and not panel.delete_button.isEnabled()


def test_open_in_tester_and_open_folder(qtbot, panel, trained_runs):
    opened = []
    panel.open_folder = opened.append
    panel.select_run(trained_runs["second"])
    with qtbot.waitSignal(panel.sig_open_in_tester, timeout=1000) as blocker:
        panel.tester_button.click()
    assert blocker.args == [str(trained_runs["second"])]
    panel.folder_button.click()
    assert opened == [trained_runs["second"]]


def test_delete_asks_then_removes(qtbot, tmp_path, trained_runs):
    from ftstudio.gui.runs.panel import RunsPanel

    runs_dir = tmp_path / "runs"
    copy = runs_dir / trained_runs["first"].name
    shutil.copytree(trained_runs["first"], copy)
    panel = RunsPanel(runs_dir)
    qtbot.addWidget(panel)
    try:
        questions = []
        panel.confirm = lambda title, text: questions.append(text) or False
        panel.select_run(copy)
        panel.delete_button.click()
        assert copy.is_dir() and len(questions) == 1 and copy.name in questions[0]
        panel.confirm = lambda title, text: True
        with qtbot.waitSignal(panel.sig_run_deleted, timeout=1000) as blocker:
            panel.delete_button.click()
        assert blocker.args == [str(copy)]
        assert not copy.exists()
        assert panel.model.rowCount() == 0
        assert panel.details.summary is None
    finally:
        panel.shutdown()


def test_new_run_folder_appears_without_refresh_click(qtbot, tmp_path, trained_runs):
    from ftstudio.gui.runs.panel import RunsPanel

    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    panel = RunsPanel(runs_dir)
    qtbot.addWidget(panel)
    try:
        assert panel.model.rowCount() == 0
        with qtbot.waitSignal(panel.model.modelReset, timeout=10_000):
            shutil.copytree(trained_runs["second"], runs_dir / trained_runs["second"].name)
        assert panel.model.rowCount() == 1
    finally:
        panel.shutdown()
