"""A finished study opened again: the trials table, the charts, and acting on a trial (train with
its settings on Setup, open it in the tester)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from ftstudio.engine.settings import TrainSettings
from tests.gui.conftest import quiet_main_window
from tests.gui.search.conftest import TRIALS

WAIT_MS = 30000
pytestmark = pytest.mark.usefixtures("temp_qsettings")


def _open(qtbot, panel, study_dir):
    panel.open_study(study_dir)
    qtbot.waitUntil(lambda: panel.results.view is not None, timeout=WAIT_MS)
    return panel.results


def _cells(model, column):
    return [model.index(row, column).data() for row in range(model.rowCount())]


def test_the_results_fill_from_a_study(qtbot, panel, finished_study):
    results = _open(qtbot, panel, finished_study)
    model = results.proxy
    assert model.rowCount() == len(TRIALS)
    assert results.model.headers() == ["#", "State", "accuracy", "Duration", "Pruned at", "Learning rate",
                                       "Strategy", "Message"]
    assert _cells(model, 0)[4] == "★ 4"  # the best trial, marked (and bold, tinted)
    assert model.index(4, 0).data(Qt.ItemDataRole.FontRole).bold()
    assert _cells(model, 1) == [state for state, *_ in TRIALS]
    assert _cells(model, 2)[:4] == ["0.6100", "0.7200", "0.4000", ""]
    assert _cells(model, 3)[0] == "1:35"
    assert _cells(model, 4)[2] == "epoch 0.4"
    assert _cells(model, 5)[:2] == ["2e-5", "0.00012"]
    assert "Out of memory" in _cells(model, 7)[3]
    assert "demo" in results.summary.text() and "Best: trial 4" in results.summary.text()
    # Sortable by value, best first.
    results.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    assert _cells(model, 0)[0] == "★ 4"
    # The study's space and options are shown on the left.
    assert sorted(panel.space_editor.searched()) == ["learning_rate", "strategy"]
    assert panel.options_box.trials.value() == 10
    assert panel.resume_button.isEnabled() and panel.start_button.isEnabled()

    # Charts: every trial with a value (the failed one at the bottom), best so far, importances.
    value_chart = results.value_chart
    assert len(value_chart._points.data) == len(TRIALS)
    xs, ys = value_chart._line.getData()
    assert max(ys) == pytest.approx(0.83) and ys[0] == pytest.approx(0.61)
    scatter = results.scatter_chart
    assert [scatter.param.itemText(i) for i in range(scatter.param.count())] == ["Learning rate", "Strategy"]
    assert len(scatter._points.data) == len(TRIALS) - 1  # not the failed trial: it has no value
    assert scatter.plot.getPlotItem().ctrl.logXCheck.isChecked()  # a log range, a log axis
    scatter.param.setCurrentIndex(1)
    assert not scatter.plot.getPlotItem().ctrl.logXCheck.isChecked()
    assert {round(x) for x in scatter._points.data["x"]} == {0, 1}  # full, bottom-1 side by side
    assert set(results.view.importances) == {"learning_rate", "strategy"}
    assert "Importance" in results.importance_chart.title.text()
    assert results.importance_chart._bars is not None


def test_importance_waits_for_five_complete_trials(qtbot, panel, tmp_path, tiny_model_dir):
    from tests.gui.search.conftest import make_study

    study = make_study(tmp_path / "few", TrainSettings(model=str(tiny_model_dir)), trials=TRIALS[:4])
    results = _open(qtbot, panel, study)
    assert results.view.importances == {}
    assert "after 5 complete trials (2 so far)" in results.importance_chart._placeholder.text()


def test_acting_on_a_trial(qtbot, panel, finished_study):
    results = _open(qtbot, panel, finished_study)
    assert results.train_best.isEnabled() and not results.tester.isEnabled()
    with qtbot.waitSignal(panel.sig_train_with, timeout=WAIT_MS) as wanted:
        qtbot.mouseClick(results.train_best, Qt.MouseButton.LeftButton)
    settings, words = wanted.args
    assert settings.learning_rate == pytest.approx(8e-5) and settings.strategy == "full"
    assert words.startswith("trial 4 of demo")
    results.select_trial(1)
    assert results.selected_row().number == 1
    with qtbot.waitSignal(panel.sig_train_with, timeout=WAIT_MS) as wanted:
        qtbot.mouseClick(results.train_selected, Qt.MouseButton.LeftButton)
    assert wanted.args[0].strategy == "bottom-1"
    with qtbot.waitSignal(panel.sig_open_in_tester, timeout=WAIT_MS) as opened:
        qtbot.mouseClick(results.tester, Qt.MouseButton.LeftButton)
    assert opened.args == [str(finished_study / "trial-0001")]


def test_a_folder_without_a_study_says_so(qtbot, panel, tmp_path):
    (tmp_path / "empty").mkdir()
    panel.open_study(tmp_path / "empty")
    qtbot.waitUntil(lambda: panel.status.property("role") == "error", timeout=WAIT_MS)
    assert "holds no study" in panel.status.text()
    assert panel.results.view is None


def test_train_with_these_settings_puts_them_on_setup(qtbot, runs_dir, finished_study):
    window = quiet_main_window(qtbot, runs_dir)
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())][-1] == "Search"
    window.tabs.setCurrentIndex(4)  # builds the Search tab
    panel = window.search_panel
    results = _open(qtbot, panel, finished_study)
    qtbot.mouseClick(results.train_best, Qt.MouseButton.LeftButton)
    assert window.tabs.currentIndex() == 0
    assert window.gathered_settings().learning_rate == pytest.approx(8e-5)
    assert "trial 4 of demo" in window.statusBar().currentMessage()


def test_log_axis_ticks_are_round_short_and_few():
    from ftstudio.gui.search.charts import _log_ticks

    labels = [label for _, label in _log_ticks(1e-5, 1e-3)]
    assert labels == ["1e-5", "3e-5", "1e-4", "3e-4", "0.001"]
    assert [label for _, label in _log_ticks(2e-5, 8e-5)] == ["2e-5", "5e-5"]
