"""The studio window as a user meets it: defaults, choosing a model and data, refusing a bad
setup, settings files, remembered choices, and closing while a run trains.
"""

from __future__ import annotations

import json

import pytest

from ftstudio.engine.settings import TrainSettings
from tests.gui.conftest import quiet_main_window

WAIT_MS = 60000


# A throwaway organisation and settings folder for each test (tests/gui/conftest.py).
pytestmark = pytest.mark.usefixtures("temp_qsettings")


@pytest.fixture
def window(qtbot, runs_dir):
    return quiet_main_window(qtbot, runs_dir)


def _choose(qtbot, window, model_dir, data_file) -> None:
    window.model_panel.choose_folder(str(model_dir))
    window.data_panel.choose_file(str(data_file))
    qtbot.waitUntil(lambda: window.model_panel.model_info() is not None
                    and window.model_panel.model_spec() == str(model_dir), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.data_panel.prepared() is not None
                    and window.data_panel.data_spec() == str(data_file), timeout=WAIT_MS)


def test_window_opens_with_defaults(qtbot, window):
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Setup", "Train", "Test", "Runs", "Search"]
    assert window.model_panel.model_spec() == "default"
    assert window.data_panel.data_spec() == "sample"
    assert window.settings_panel.settings() == TrainSettings()
    assert window.badge.text() == "Ready"
    assert window.start_action.isEnabled() and not window.stop_action.isEnabled()
    qtbot.waitUntil(lambda: window.model_panel.model_info() is not None, timeout=WAIT_MS)
    assert window.layers_view.plan().total > 20_000_000  # all-MiniLM-L6-v2


def test_tiny_model_shows_layers_and_strategy_updates_counts(qtbot, window, tiny_model_dir):
    window.model_panel.choose_folder(str(tiny_model_dir))
    qtbot.waitUntil(lambda: window.model_panel.model_spec() == str(tiny_model_dir)
                    and window.layers_view.plan() is not None, timeout=WAIT_MS)
    plan = window.layers_view.plan()
    assert [row["name"] for row in plan.rows] == ["Embeddings", "Layer 1", "Layer 2", "Head"]
    full = plan.trainable
    combo = window.settings_panel.widget_for("strategy")
    combo.setCurrentIndex(combo.findData("head"))
    assert window.layers_view.plan().trainable < full
    assert window.gathered_settings().strategy == "head"
    # bottom-N is capped at the model's depth
    assert window.settings_panel._bottom_n.maximum() == 2


def test_bad_dataset_refuses_start(qtbot, window, tiny_model_dir, tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_bytes(b"\x00\xff\xfe\x00" * 100)
    window.model_panel.choose_folder(str(tiny_model_dir))
    window.data_panel.choose_file(str(bad))
    qtbot.waitUntil(lambda: window.data_panel.error() != "", timeout=WAIT_MS)
    assert window.current_settings() is None
    assert window.setup.problem.isVisible() or not window.isVisible()
    assert window.setup.problem.text().startswith("Data:")
    assert window.training_panel.start() is False
    assert not window.session.is_running()


def test_invalid_setting_is_named_and_highlighted(qtbot, window):
    window.settings_panel.widget_for("learning_rate").setText("lots")
    assert window.current_settings() is None
    assert "learning_rate" in window.setup.problem.text()
    assert window.settings_panel.widget_for("learning_rate").property("invalid") is True


def test_save_load_reset_round_trip(qtbot, window, tiny_model_dir, small_csv, tmp_path):
    _choose(qtbot, window, tiny_model_dir, small_csv)
    custom = window.gathered_settings().replace(epochs=7, learning_rate=1e-4, strategy="bottom-1", batch_size=8)
    window.settings_panel.set_settings(custom)
    path = tmp_path / "my-run.json"
    assert window.save_settings_file(path)

    window.reset_to_defaults()
    assert window.settings_panel.settings() == TrainSettings()
    assert window.model_panel.model_spec() == "default" and window.data_panel.data_spec() == "sample"

    assert window.load_settings_file(path)
    loaded = window.gathered_settings()
    assert (loaded.epochs, loaded.learning_rate, loaded.strategy, loaded.batch_size) == (7, 1e-4, "bottom-1", 8)
    assert loaded.model == str(tiny_model_dir) and loaded.data == str(small_csv)

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert not window.load_settings_file(broken)
    assert "not valid JSON" in window.setup.problem.text()


def test_last_choices_are_remembered(qtbot, runs_dir, tiny_model_dir, small_csv):
    from ftstudio.gui.main_window import MainWindow

    first = MainWindow(runs_dir=runs_dir)
    qtbot.addWidget(first)
    _choose(qtbot, first, tiny_model_dir, small_csv)
    first.settings_panel.set_settings(first.settings_panel.settings().replace(epochs=5, strategy="head"))
    first.resize(760, 640)  # within the offscreen screen (800x800), so restoring does not clip it
    first.close()

    second = MainWindow(runs_dir=runs_dir)
    qtbot.addWidget(second)
    assert second.model_panel.model_spec() == str(tiny_model_dir)
    assert second.data_panel.data_spec() == str(small_csv)
    assert second.settings_panel.settings().epochs == 5
    assert second.settings_panel.strategy() == "head"
    assert (second.size().width(), second.size().height()) == (760, 640)


def test_only_changed_settings_are_remembered_so_new_defaults_reach_users(qtbot, runs_dir):
    """A setting left at its default follows the default of the version that runs, not the
    value a former version had when the window was last closed."""
    from PySide6.QtCore import QSettings

    from ftstudio.gui.main_window import MainWindow

    first = MainWindow(runs_dir=runs_dir)
    qtbot.addWidget(first)
    first.settings_panel.set_settings(first.settings_panel.settings().replace(epochs=5))
    first.close()
    store = QSettings()
    assert json.loads(store.value("choices/changed_settings")) == {"epochs": 5}
    # What a former version wrote (every field) is not read: it cannot tell choices from defaults.
    store.setValue("choices/settings", json.dumps({"group_by_length": False, "epochs": 9}))
    store.sync()

    second = MainWindow(runs_dir=runs_dir)
    qtbot.addWidget(second)
    restored = second.settings_panel.settings()
    assert restored.epochs == 5
    assert restored.group_by_length is TrainSettings().group_by_length is True
    second.close()
    assert QSettings().value("choices/settings") is None


def test_close_while_training_asks_then_stops_cleanly(qtbot, window, tiny_model_dir, small_csv):
    _choose(qtbot, window, tiny_model_dir, small_csv)
    window.settings_panel.set_settings(TrainSettings(epochs=50, batch_size=4, log_steps=1, device="cpu"))
    asked = []
    window.confirm_close = lambda: asked.append(True) or False
    with qtbot.waitSignal(window.training_panel.sig_run_started, timeout=WAIT_MS):
        window.start_action.trigger()
    assert window.tabs.currentIndex() == 1  # the Train tab
    qtbot.waitUntil(lambda: window.badge.property("state") == "training", timeout=WAIT_MS)
    assert window.pause_action.isEnabled() and window.stop_action.isEnabled()

    window.close()  # refused: the user said No
    assert asked and window.session.is_running()

    window.confirm_close = lambda: True
    window.close()
    assert not window.session.is_running()
