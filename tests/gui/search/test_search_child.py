"""A real study from the Search tab: `ftstudio search` as a child process on a tiny model, watched
until it finishes; and one stopped mid-way, with no process left behind (also by the window's
shutdown)."""

from __future__ import annotations

import sys

import psutil
import pytest
from PySide6.QtCore import Qt

from ftstudio.engine.settings import TrainSettings
from ftstudio.gui.search.panel import SearchPanel
from tests.conftest import make_texts, write_csv
from tests.gui.conftest import quiet_main_window

WAIT_MS = 120000  # the child imports torch and transformers before its first trial


@pytest.fixture
def fixed_settings(tmp_path, tiny_model_dir) -> TrainSettings:
    data = write_csv(tmp_path / "data.csv", make_texts(60))
    return TrainSettings(model=str(tiny_model_dir), data=str(data), epochs=1, batch_size=16, max_length=32,
                         device="cpu")


@pytest.fixture
def panel(qtbot, tmp_path, fixed_settings):
    widget = SearchPanel(None, lambda: fixed_settings, tmp_path / "runs")
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def _no_child_left(pid: int) -> bool:
    return not psutil.pid_exists(pid) and all(child.pid != pid for child in psutil.Process().children(True))


def test_a_search_runs_to_the_end_from_the_panel(qtbot, panel, tmp_path):
    panel.options_box.trials.setValue(2)
    panel.options_box.set_folder(tmp_path / "study")
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.is_running() and not panel.start_button.isEnabled() and panel.stop_button.isEnabled()
    pid = panel.process.pid
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    assert panel.status.text() == "The search finished.", panel.log.text()
    qtbot.waitUntil(lambda: panel.results.view is not None and len(panel.results.view.rows) == 2
                    and panel.results.view.importances == {} and panel._reading is None, timeout=WAIT_MS)
    view = panel.results.view
    assert [row.state for row in view.rows] == ["complete", "complete"]
    assert view.best is not None and panel.results.train_best.isEnabled()
    assert panel.results.proxy.rowCount() == 2
    assert "trial 1" in panel.log.text()
    study = tmp_path / "study"
    assert {"settings.toml", "space.toml", "search.log", "study.db", "best_settings.toml"} <= \
        {path.name for path in study.iterdir()}
    assert (study / "trial-0000" / "best").is_dir()
    assert _no_child_left(pid)
    # The next start gets a new folder; the finished study can be continued.
    assert panel.options_box.options().study_dir.name.startswith("search-")
    assert panel.resume_button.isEnabled()


def test_stop_ends_the_search_and_leaves_no_process(qtbot, panel, tmp_path, fixed_settings):
    panel.settings_source = lambda: fixed_settings.replace(epochs=3)
    panel.options_box.trials.setValue(50)
    assert panel.start()
    pid = panel.process.pid
    qtbot.waitUntil(lambda: "trial 0:" in panel.log.text(), timeout=WAIT_MS)
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert "Stopping" in panel.status.text() and not panel.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    assert "stopped" in panel.status.text()
    assert _no_child_left(pid)
    qtbot.waitUntil(lambda: panel.results.view is not None and panel._reading is None, timeout=WAIT_MS)
    assert len(panel.results.view.rows) < 50
    assert "running" not in [row.state for row in panel.results.view.rows]


def test_closing_the_window_stops_a_running_search(qtbot, runs_dir, tmp_path):
    window = quiet_main_window(qtbot, runs_dir, confirm_close=True)
    panel = window.search_panel
    # A stand-in child (no torch): the window's shutdown must end it however it runs.
    child = "import time\nprint('ready', flush=True)\ntime.sleep(60)\n"
    assert panel._launch([sys.executable, "-c", child], tmp_path)
    qtbot.waitUntil(lambda: "ready" in panel.log.text(), timeout=WAIT_MS)
    pid = panel.process.pid
    assert window.search_running()
    window.close()
    assert _no_child_left(pid)


def test_a_failing_search_says_why(qtbot, panel, tmp_path):
    # A stand-in for a search refused on its input: the CLI's one-line error is its log's last line.
    child = "import sys\nprint('Study s: ...')\nprint('ftstudio: error: data: no file named nope.csv.', file=sys.stderr)\nsys.exit(2)\n"
    with qtbot.waitSignal(panel.sig_running_changed, timeout=WAIT_MS, check_params_cb=lambda on: not on):
        assert panel._launch([sys.executable, "-c", child], tmp_path)
    assert panel.status.text() == "data: no file named nope.csv."
    assert panel.status.property("role") == "error"
    assert "ftstudio: error: data: no file named nope.csv." in panel.log.text()
