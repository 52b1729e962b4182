"""Keyboard: Ctrl+R starts, Ctrl+. and Esc stop, with the focus anywhere in the window (a text
field, the plots, the tester's input); Esc with a combo's list or a dialog open closes that only."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from ftstudio.engine.settings import TrainSettings
from tests.gui.conftest import quiet_main_window

WAIT_MS = 60000
RUN_TIMEOUT_MS = 180_000

pytestmark = pytest.mark.usefixtures("temp_qsettings")

START = (Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
STOPS = {"ctrl+.": (Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier),
         "esc": (Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier)}


@pytest.fixture
def window(qtbot, runs_dir):
    from PySide6.QtWidgets import QApplication

    win = quiet_main_window(qtbot, runs_dir, confirm_close=True)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=WAIT_MS)
    return win


def _focus_places(window) -> dict:
    """Where the focus may be: (tab index, widget)."""
    return {
        "setup-text-field": (0, window.settings_panel.widget_for("learning_rate")),
        "plots": (1, window.training_panel.plots._canvas),
        "tester-input": (2, window.tester_panel.text),
    }


def _focus(qtbot, window, place: str):
    tab, widget = _focus_places(window)[place]
    window.tabs.setCurrentIndex(tab)
    widget.setFocus(Qt.FocusReason.OtherFocusReason)
    qtbot.waitUntil(widget.hasFocus, timeout=WAIT_MS)
    return widget


class _Calls:
    """Stands in for the training panel's start/stop, which the shortcuts' actions call."""

    def __init__(self, window) -> None:
        self.calls: list[str] = []
        window.training_panel.start = lambda: self.calls.append("start")
        window.training_panel.stop = lambda: self.calls.append("stop")


@pytest.mark.parametrize("place", ["setup-text-field", "plots", "tester-input"])
def test_ctrl_r_starts_with_the_focus_anywhere(qtbot, window, place):
    calls = _Calls(window)
    widget = _focus(qtbot, window, place)
    qtbot.keyClick(widget, *START)
    assert calls.calls == ["start"]


@pytest.mark.parametrize("key", sorted(STOPS))
@pytest.mark.parametrize("place", ["setup-text-field", "plots", "tester-input"])
def test_ctrl_period_and_esc_stop_with_the_focus_anywhere(qtbot, window, place, key):
    calls = _Calls(window)
    window.stop_action.setEnabled(True)  # as while a run trains
    widget = _focus(qtbot, window, place)
    qtbot.keyClick(widget, *STOPS[key])
    assert calls.calls == ["stop"]


def test_esc_without_a_run_does_nothing_and_text_fields_keep_their_keys(qtbot, window):
    calls = _Calls(window)
    assert not window.stop_action.isEnabled()
    widget = _focus(qtbot, window, "tester-input")
    qtbot.keyClick(widget, Qt.Key.Key_Escape)
    qtbot.keyClicks(widget, "r.")
    assert calls.calls == [] and widget.text() == "r."


def test_esc_closes_an_open_combo_list_or_dialog_not_the_run(qtbot, window):
    from PySide6.QtWidgets import QApplication, QDialog

    calls = _Calls(window)
    window.stop_action.setEnabled(True)
    window.tabs.setCurrentIndex(0)
    combo = window.settings_panel.widget_for("scheduler")
    combo.showPopup()
    popup = combo.view()
    qtbot.waitUntil(popup.isVisible, timeout=WAIT_MS)
    qtbot.keyClick(popup, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not popup.isVisible(), timeout=WAIT_MS)
    assert calls.calls == []
    dialog = QDialog(window)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=WAIT_MS)
    with qtbot.waitSignal(dialog.rejected, timeout=WAIT_MS):
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert calls.calls == []


def test_the_shortcuts_start_and_stop_a_real_run_through_the_buttons_path(qtbot, window, tiny_model_dir, small_csv):
    """Ctrl+R from Setup's learning-rate field starts the run; Esc in the plots stops it the way the
    Stop button does (a checkpoint saved, the run stopped and resumable)."""
    window.model_panel.choose_folder(str(tiny_model_dir))
    window.data_panel.choose_file(str(small_csv))
    qtbot.waitUntil(lambda: window.model_panel.model_info() is not None
                    and window.model_panel.model_spec() == str(tiny_model_dir)
                    and window.data_panel.prepared() is not None
                    and window.data_panel.data_spec() == str(small_csv), timeout=WAIT_MS)
    window.settings_panel.set_settings(TrainSettings(epochs=50, batch_size=4, log_steps=1, device="cpu"))
    panel = window.training_panel
    with qtbot.waitSignal(panel.sig_run_started, timeout=WAIT_MS):
        qtbot.keyClick(_focus(qtbot, window, "setup-text-field"), *START)
    qtbot.waitUntil(lambda: window.badge.property("state") == "training" and window.stop_action.isEnabled(),
                    timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.keyClick(_focus(qtbot, window, "plots"), *STOPS["esc"])
    assert finished.args[0]["status"] == "stopped"
    assert not window.session.is_running() and window.start_action.isEnabled()
