"""The Setup tab's panels on their own: model, data, settings and layers.

Each test drives a real panel with qtbot and waits on its state (never sleeps); remembered
choices go to a temporary QSettings location so the user's own are never touched.
"""

from __future__ import annotations

import pytest

from ftstudio.engine.settings import TrainSettings

WAIT_MS = 60000  # first loads import datasets/transformers: generous on slow CI machines


# A throwaway organisation and settings folder for each test (tests/gui/conftest.py).
pytestmark = pytest.mark.usefixtures("temp_qsettings")


# ---------------------------------------------------------------- model
def test_model_panel_shows_the_tiny_folder(qtbot, tiny_model_dir):
    from ftstudio.gui.setup.model_panel import ModelPanel

    panel = ModelPanel()
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.model_info() is not None, timeout=WAIT_MS)  # the embedded default
    assert panel.model_spec() == "default"
    panel.choose_folder(str(tiny_model_dir))
    qtbot.waitUntil(lambda: panel.model_info() is not None and panel.model_spec() == str(tiny_model_dir),
                    timeout=WAIT_MS)
    info = panel.model_info()
    assert info.num_layers == 2 and info.hidden_size == 32
    assert "2 layers" in panel.findChild(type(panel._facts), "modelFacts").text()
    assert panel.error() == ""


def test_a_pickle_only_folder_is_shown_with_the_switch_that_allows_it(qtbot, tiny_model_dir, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file

    from ftstudio.gui.setup.model_panel import ModelPanel
    from ftstudio.gui.setup.settings_panel import FORM_LABELS

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.choose_folder(str(folder))
    qtbot.waitUntil(lambda: panel.model_info() is not None and panel.model_spec() == str(folder), timeout=WAIT_MS)
    hint = panel._message.text()
    switch = FORM_LABELS["allow_pickle"]
    assert "only pickle weights" in hint and f"'{switch}'" in hint  # names the checkbox as it reads


def test_model_panel_explains_a_bad_folder(qtbot, tmp_path):
    from ftstudio.gui.setup.model_panel import ModelPanel

    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.choose_folder(str(folder))
    qtbot.waitUntil(lambda: panel.error() != "", timeout=WAIT_MS)
    assert "config.json" in panel.error()
    assert panel.model_info() is None


def test_hub_download_offline_answers_fast(qtbot):
    from ftstudio.gui.setup.model_panel import ModelPanel

    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel._hub.setText("someone/some-model-that-is-not-cached")
    panel._download.click()
    qtbot.waitUntil(lambda: "Hub" in panel.download_error(), timeout=15000)  # HF_HUB_OFFLINE=1 in tests
    qtbot.waitUntil(lambda: panel._download.isEnabled(), timeout=5000)
    assert "offline" in panel.download_error()
    assert panel.error() == ""  # the chosen model is still fine


# ---------------------------------------------------------------- layers
def test_strategy_changes_trainable_counts(qtbot, tiny_model_dir):
    from ftstudio.engine.models.sources import inspect_model
    from ftstudio.gui.setup.layers_view import LayersView

    view = LayersView()
    qtbot.addWidget(view)
    assert view.plan() is None
    view.set_model(inspect_model(str(tiny_model_dir)))
    full = view.plan()
    assert [row["name"] for row in full.rows] == ["Embeddings", "Layer 1", "Layer 2", "Head"]
    assert full.trainable == full.total
    assert "Trainable:" in view.summary_text() and "100.0%" in view.summary_text()

    view.set_strategy("head")
    head = view.plan()
    assert head.trainable == head.rows[-1]["params"] < head.total
    view.set_strategy("bottom-1")
    assert head.trainable < view.plan().trainable < full.total
    view.set_strategy("bottom-5")  # deeper than the model: said in words, no plan
    assert view.plan() is None and "bottom-5" in view.problem()

    view.set_strategy("gradual", epochs=4)
    slider = view._epoch
    assert slider.maximum() == 4
    slider.setValue(1)
    first = view.plan().trainable
    slider.setValue(3)
    assert view.plan().trainable > first
    assert "epoch 3" in view.summary_text()


# ---------------------------------------------------------------- settings
def test_settings_panel_defaults_and_round_trip(qtbot):
    from ftstudio.gui.setup.settings_panel import SettingsPanel

    panel = SettingsPanel()
    qtbot.addWidget(panel)
    assert panel.settings() == TrainSettings()
    elsewhere = {"model", "data", "task", "text_column", "text_pair_column", "label_column", "label_separator",
                 "tag_names", "extra"}
    edited_fields = set(TrainSettings.__dataclass_fields__) - elsewhere
    missing = [name for name in edited_fields if panel.widget_for(name) is None]
    assert missing == [], f"settings without an editor: {missing}"
    for name in edited_fields:  # every editor explains itself (tooltips from setting_help)
        assert panel.widget_for(name).toolTip(), name

    custom = TrainSettings(epochs=7, learning_rate=2e-5, strategy="bottom-3", scheduler="cosine", optimizer="sgd",
                           validation_split=0.2, max_length=256, device="cpu", precision="fp32",
                           early_stopping_patience=2, metric_for_best="accuracy", trust_remote_code=True,
                           reinit_top_layers=1, layerwise_lr_decay=0.9)
    panel.set_settings(custom)
    assert panel.settings() == custom
    assert panel.strategy() == "bottom-3"

    with qtbot.waitSignal(panel.sig_strategy_changed):
        panel._reset_button.click()
    assert panel.settings() == TrainSettings()


def test_a_precision_this_machine_cannot_train_in_is_flagged_when_picked(qtbot):
    """fp16 on the CPU is refused by the engine; the form says so as soon as it is chosen, in
    the engine's words, not only when Start is pressed."""
    from ftstudio.engine.models.devices import resolve_device
    from ftstudio.gui.setup.settings_panel import SettingsPanel

    if resolve_device("auto").type != "cpu":
        pytest.skip("checks the CPU-only rules")
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    summary = panel._hardware.summary
    qtbot.waitUntil(lambda: summary.text().startswith("Detected:"), timeout=WAIT_MS)
    assert panel.hardware_problem() == ""

    panel.set_settings(panel.settings().replace(precision="fp16"))  # device Automatic: the CPU here
    assert panel.hardware_problem().startswith("precision: fp16 needs a GPU")
    assert summary.text() == panel.hardware_problem() and summary.property("role") == "error"
    panel.set_settings(panel.settings().replace(device="cpu", precision="bf16"))  # allowed on a CPU
    assert panel.hardware_problem() == ""
    assert summary.text().startswith("Detected:") and summary.property("role") == "hint"


def test_learning_rate_accepts_scientific_notation(qtbot):
    from ftstudio.gui.setup.settings_panel import SettingsPanel

    panel = SettingsPanel()
    qtbot.addWidget(panel)
    field = panel.widget_for("learning_rate")
    field.clear()
    qtbot.keyClicks(field, "3e-4")
    assert panel.settings().learning_rate == pytest.approx(3e-4)
    field.setText("")  # empty: passed on as NaN so validation names the field
    with pytest.raises(Exception, match="learning_rate"):
        panel.settings().validate()


# ---------------------------------------------------------------- data
def test_data_panel_loads_a_csv(qtbot, small_csv, tiny_model_dir):
    from ftstudio.gui.setup.data_panel import DataPanel

    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.set_model_spec(str(tiny_model_dir))
    panel.choose_file(str(small_csv))
    qtbot.waitUntil(lambda: panel.prepared() is not None and panel.data_spec() == str(small_csv), timeout=WAIT_MS)
    prepared = panel.prepared()
    assert sorted(prepared.label_names) == ["negative", "neutral", "positive"]
    assert (prepared.text_column, prepared.label_column) == ("text", "label")
    assert panel._table_model.rowCount() == 120 and panel._table_model.columnCount() == 2
    assert panel.error() == ""
    assert "train" in panel._splits.text() and "validation" in panel._splits.text()

    chart = panel._lengths_chart
    qtbot.waitUntil(lambda: "truncated" in chart.truncated_text(), timeout=WAIT_MS)
    assert "at 128" in chart.truncated_text() and "0.0% truncated" in chart.truncated_text()
    panel.set_settings(TrainSettings(max_length=8))  # redraws from the stored lengths
    assert panel._length_task is None
    assert "at 8" in chart.truncated_text() and "0.0% truncated" not in chart.truncated_text()


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02\xff\xfe binary \x00" * 50], ids=["empty", "binary"])
def test_data_panel_explains_a_bad_file(qtbot, tmp_path, content):
    from ftstudio.gui.setup.data_panel import DataPanel

    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.choose_file(str(bad))
    qtbot.waitUntil(lambda: panel.error() != "", timeout=WAIT_MS)
    assert panel.prepared() is None
    assert "bad.csv" in panel.error() or "empty" in panel.error().lower()


def test_choosing_another_label_column_reprepares(qtbot, tmp_path):
    from ftstudio.gui.setup.data_panel import DataPanel
    from tests.conftest import make_texts, write_csv

    rows = [(text, label, "yes" if i % 2 else "no") for i, (text, label) in enumerate(make_texts(90))]
    path = write_csv(tmp_path / "two_labels.csv", rows, header=("text", "label", "flag"))
    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.choose_file(str(path))
    qtbot.waitUntil(lambda: panel.prepared() is not None and panel.data_spec() == str(path), timeout=WAIT_MS)
    combo = panel._choices.label_combo
    combo.setCurrentIndex(combo.findText("flag"))
    combo.activated.emit(combo.currentIndex())
    assert panel.label_column() == "flag"
    qtbot.waitUntil(lambda: panel.prepared() is not None, timeout=WAIT_MS)
    assert panel.prepared().label_names == ["no", "yes"]


# ---------------------------------------------------------------- shared by the panels
def test_recent_paths_keep_the_newest_first_once_and_only_the_last_few():
    from ftstudio.gui.setup.recent_paths import MAX_RECENT, recent_paths, remember_path

    assert recent_paths("test/recent") == []
    for i in range(MAX_RECENT + 2):
        remember_path("test/recent", f"/data/{i}.csv")
    remember_path("test/recent", "/data/5.csv")
    recent = recent_paths("test/recent")
    assert recent[:3] == ["/data/5.csv", "/data/9.csv", "/data/8.csv"]
    assert len(recent) == MAX_RECENT and len(set(recent)) == MAX_RECENT and "/data/0.csv" not in recent
