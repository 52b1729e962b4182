"""SIGTERM to the window's own process while a run trains: the run stops through its session (the
training child saves a checkpoint), nobody is asked, the window closes, no thread or child is left.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from ftstudio.engine.runs import checkpoints
from ftstudio.engine.runs import folder as runs
from ftstudio.engine.settings import TrainSettings
from tests.gui.conftest import quiet_main_window
from tests.gui.test_main_window import WAIT_MS, _choose

pytestmark = [pytest.mark.usefixtures("temp_qsettings"),
              pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")]


@pytest.fixture
def window(qtbot, runs_dir):
    win = quiet_main_window(qtbot, runs_dir)
    yield win
    win.shutdown()


@pytest.mark.slow
def test_sigterm_to_the_window_stops_the_run_saves_and_closes(qtbot, window, tiny_model_dir, small_csv):
    from ftstudio.gui.shutdown_signals import ShutdownSignals

    _choose(qtbot, window, tiny_model_dir, small_csv)
    window.settings_panel.set_settings(TrainSettings(epochs=50, batch_size=4, log_steps=1, device="cpu"))
    asked, infos = [], []
    window.confirm_close = lambda: asked.append(True) or False  # a signal must not ask
    window.session.sig_info.connect(infos.append)
    window.show()
    with qtbot.waitSignal(window.session.sig_step, timeout=WAIT_MS):
        window.start_action.trigger()
    process = window.session._worker.process._process
    before = signal.getsignal(signal.SIGTERM)
    signals = ShutdownSignals()
    signals.sig_received.connect(window.close_for_shutdown)
    signals.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    finally:
        signals.restore()
    assert signal.getsignal(signal.SIGTERM) is before and signals.received == signal.SIGTERM
    assert not asked and not window.session.is_running() and window.session._thread is None
    assert process.poll() == 0  # the child ended on its own, after saving: no orphan, no kill
    run_dir = Path(infos[0]["run_dir"])
    status = runs.read_status(run_dir)
    assert status["status"] == "stopped", status
    step = int(checkpoints.read_trainer_state(run_dir / "last")["global_step"])
    assert step >= 1 and f"Stopped at step {step}." in status["message"]
