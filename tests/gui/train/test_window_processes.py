"""The window trains on two processes (gloo on the CPU): it starts the run, shows how it is spread,
pauses, resumes and stops it, and leaves no thread and no process behind.

A run on two processes is the window's training child plus the two workers torch's elastic
launcher starts under it; rank 0 reports back, so the window sees one run as always.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ftstudio.engine.settings import TrainSettings
from tests.conftest import make_texts, write_csv
from tests.gui.conftest import quiet_main_window

pytest.importorskip("pytestqt")
psutil = pytest.importorskip("psutil")

pytestmark = [
    pytest.mark.usefixtures("temp_qsettings"),
    pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="two CPU processes need two cores"),
]

WAIT_MS = 120_000
PROCESSES_GONE_MS = 10_000


def _descendants() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def _two_process_window(qtbot, runs_dir, model_dir: Path, data: Path, **changes):
    """The window with a model, data and two CPU processes chosen on Setup."""
    window = quiet_main_window(qtbot, runs_dir, confirm_close=True)
    window.model_panel.choose_folder(str(model_dir))
    window.data_panel.choose_file(str(data))
    qtbot.waitUntil(lambda: window.model_panel.model_info() is not None
                    and window.data_panel.prepared() is not None
                    and window.data_panel.data_spec() == str(data), timeout=WAIT_MS)
    settings = TrainSettings(processes=2, device="cpu", batch_size=4, max_length=32, log_steps=1, **changes)
    window.settings_panel.set_settings(settings)
    return window


def _status_is(wanted: str):
    return lambda status, _message: status == wanted


def test_the_window_stops_a_two_process_run_and_leaves_no_process(qtbot, runs_dir, tiny_model_dir, tmp_path):
    from ftstudio.engine.runs.folder import read_status

    data = write_csv(tmp_path / "long.csv", make_texts(400))  # 50 steps an epoch: training when stopped
    window = _two_process_window(qtbot, runs_dir, tiny_model_dir, data, epochs=20)
    panel, before = window.training_panel, _descendants()
    with qtbot.waitSignal(window.session.sig_step, timeout=WAIT_MS):
        window.start_action.trigger()
    started = _descendants() - before
    assert len(started) >= 3, started  # the training child and the launcher's two workers
    assert not panel.group_label.isHidden() and panel.group_label.text() == "· 2 processes · global batch 8"
    assert "2 processes (gloo): batch 4 on each x 2 processes x 1 accumulation = global batch 8." in panel.log.text()

    with qtbot.waitSignal(panel.sig_run_finished, timeout=WAIT_MS) as finished:
        window.stop_action.trigger()
        assert panel.badge.text() == "Stopping..."
    result = finished.args[0]
    assert result["status"] == "stopped", result
    run_dir = Path(result["run_dir"])
    assert read_status(run_dir)["status"] == "stopped"
    assert (run_dir / "last" / "trainer_state.json").is_file()  # Stop saved a checkpoint to resume from
    assert not window.session.is_running()
    qtbot.waitUntil(lambda: not (_descendants() - before), timeout=PROCESSES_GONE_MS)
    window.close()


def test_the_window_pauses_and_resumes_a_two_process_run_to_its_end(qtbot, runs_dir, tiny_model_dir, tmp_path):
    data = write_csv(tmp_path / "small.csv", make_texts(120))  # 108 training rows: 14 steps an epoch
    window = _two_process_window(qtbot, runs_dir, tiny_model_dir, data, epochs=2, eval_steps=10)
    panel, session, before = window.training_panel, window.session, _descendants()
    with qtbot.waitSignal(session.sig_step, timeout=WAIT_MS):
        window.start_action.trigger()
    with qtbot.waitSignal(session.sig_status, check_params_cb=_status_is("paused"), timeout=WAIT_MS):
        window.pause_action.trigger()
    assert panel.state() == "paused" and session.is_running()
    paused_at = panel.progress.value()

    with qtbot.waitSignal(panel.sig_run_finished, timeout=WAIT_MS) as finished:
        window.resume_action.trigger()
    result = finished.args[0]
    assert result["status"] == "finished", result
    assert panel.progress.value() == panel.progress.maximum() == 28 > paused_at  # 108 rows / 8 a step x 2 epochs
    qtbot.waitUntil(lambda: not (_descendants() - before), timeout=PROCESSES_GONE_MS)
    window.close()
