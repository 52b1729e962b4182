"""The Setup tab's advice: too few planned steps for the learning rate, and the click that fixes it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from ftstudio.engine.settings import TrainSettings

WAIT_MS = 60000

pytestmark = pytest.mark.usefixtures("temp_qsettings")


def _load(qtbot, page, model_dir, data_file) -> None:
    page.model_panel.choose_folder(str(model_dir))
    page.data_panel.choose_file(str(data_file))
    qtbot.waitUntil(lambda: page.data_panel.prepared() is not None
                    and page.data_panel.data_spec() == str(data_file), timeout=WAIT_MS)


def test_a_short_run_gets_advice_and_its_button_sets_the_learning_rate(qtbot, page, tiny_model_dir, small_csv):
    _load(qtbot, page, tiny_model_dir, small_csv)  # 108 training rows
    page.settings_panel.set_settings(TrainSettings(epochs=2, batch_size=8))  # 28 steps at 5e-5
    advice = page.advice
    assert not advice.isHidden()
    assert advice.text.text().startswith("Only 28 optimizer steps planned: at learning rate 5e-5")
    assert advice.button.text() == "Use 2e-4"
    qtbot.mouseClick(advice.button, Qt.MouseButton.LeftButton)
    assert page.settings_panel.settings().learning_rate == 2e-4
    assert advice.isHidden()
    assert page.current_settings() is not None  # advice, not a problem: the run may start either way


def test_enough_steps_or_sgd_get_no_advice(qtbot, page, tiny_model_dir, small_csv):
    _load(qtbot, page, tiny_model_dir, small_csv)
    page.settings_panel.set_settings(TrainSettings(epochs=40, batch_size=8))  # 560 steps at 5e-5
    assert page.advice.isHidden()
    page.settings_panel.set_settings(TrainSettings(epochs=2, batch_size=8))
    assert not page.advice.isHidden()
    page.settings_panel.set_settings(TrainSettings(epochs=2, batch_size=8, optimizer="sgd"))
    assert page.advice.isHidden()
