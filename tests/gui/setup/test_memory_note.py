"""The Setup page's training-memory line: the engine's estimate beside the device's memory,
updated live as the model, the labels and the settings change; in the error colour, with what to
change and a warning above the panels, when the run will not fit (a warning, not a block)."""

from __future__ import annotations

import pytest

from ftstudio.engine.models.files import ModelInfo
from ftstudio.engine.models.memory import DeviceMemory
from ftstudio.engine.settings import TrainSettings
from ftstudio.gui.setup import memory_note

WAIT_MS = 60000
FIX = "will not fit: lower batch size, max tokens, use LoRA or gradient checkpointing"
GPU = DeviceMemory("cuda", "Test GPU", 24_000_000_000, "GPU memory")


def _llama_7b() -> ModelInfo:
    """Llama-2-7B's shapes (no weights needed: the estimate reads shapes only)."""
    layer = 4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096
    return ModelInfo(source=None, architecture="LlamaForCausalLM", model_type="llama", num_layers=32,
                     hidden_size=4096, num_heads=32, vocab_size=32000, max_position_embeddings=4096,
                     num_parameters=32 * layer + 32000 * 4096 * 2 + 4096, embedding_params=32000 * 4096 + 4096,
                     layer_params=[layer] * 32, other_params=32000 * 4096, intermediate_size=11008)


@pytest.fixture
def note(qtbot, monkeypatch):
    """A note on its own runner whose device is a 24 GB GPU (there is none here)."""
    from ftstudio.gui.background import BackgroundRunner

    monkeypatch.setattr(memory_note, "device_memory", lambda setting: GPU)
    runner = BackgroundRunner(max_threads=1)
    widget = memory_note.MemoryNote(runner)
    qtbot.addWidget(widget)
    qtbot.addWidget(widget.warning)
    yield widget
    widget.shutdown()
    runner.shutdown()


def _settle(qtbot, note, settings: TrainSettings) -> None:
    note.set_settings(settings)
    qtbot.waitUntil(lambda: note.device() is not None, timeout=WAIT_MS)


def test_without_a_model_it_waits_for_one(note):
    assert note.text() == "Training memory: estimated once the model has been read."
    assert note.estimate() is None and not note.will_not_fit() and note.warning.isHidden()


def test_a_7b_full_fine_tune_will_not_fit_on_24_gb_and_qlora_does(qtbot, note):
    note.set_model(_llama_7b())
    _settle(qtbot, note, TrainSettings(strategy="full", batch_size=8, max_length=512, device="cuda"))
    assert note.will_not_fit()
    assert note.text().startswith(f"Training memory: {note.estimate().describe()}.")
    assert note.text().endswith(f"Test GPU has 24.0 GB (GPU memory): {FIX}.")
    assert note.property("role") == "error"
    assert not note.warning.isHidden() and FIX.split(": ", 1)[1] in note.warning.text()
    assert "Start still runs it" in note.warning.text()
    # Live: QLoRA with checkpointing and a smaller batch fits, and the warning goes.
    note.set_settings(TrainSettings(strategy="lora", lora_4bit=True, gradient_checkpointing=True, batch_size=4,
                                    max_length=512, device="cuda"))
    assert not note.will_not_fit() and note.estimate().total < 24e9 * 0.9
    assert note.property("role") == "hint" and note.warning.isHidden()
    assert note.text().endswith("Test GPU has 24.0 GB (GPU memory).")


def test_labels_and_settings_change_the_estimate(qtbot, note):
    note.set_model(_llama_7b())
    _settle(qtbot, note, TrainSettings(strategy="lora", batch_size=4, max_length=256, device="cuda"))
    before = note.estimate()
    note.set_settings(TrainSettings(strategy="lora", batch_size=8, max_length=256, device="cuda"))
    assert note.estimate().activations > before.activations
    assert note.estimate().weights == before.weights
    note.set_num_labels(20)
    assert note.estimate().gradients > before.gradients  # a wider head trains


def test_a_device_that_cannot_be_read_is_said(qtbot, monkeypatch):
    from ftstudio.gui.background import BackgroundRunner

    def broken(setting):
        raise RuntimeError("no driver")

    monkeypatch.setattr(memory_note, "device_memory", broken)
    runner = BackgroundRunner(max_threads=1)
    widget = memory_note.MemoryNote(runner)
    qtbot.addWidget(widget)
    try:
        widget.set_model(_llama_7b())
        widget.set_settings(TrainSettings(device="cuda"))
        qtbot.waitUntil(lambda: "no driver" in widget.text(), timeout=WAIT_MS)
        assert widget.text().startswith("Training memory: about") and not widget.will_not_fit()
    finally:
        widget.shutdown()
        runner.shutdown()


@pytest.mark.usefixtures("temp_qsettings")
def test_the_page_shows_it_in_the_hardware_group_and_warns_without_blocking(qtbot, page, tiny_model_dir,
                                                                            small_csv, monkeypatch):
    from PySide6.QtWidgets import QGroupBox

    ram = DeviceMemory("cpu", "CPU", 8_000_000_000, "RAM available")
    monkeypatch.setattr(memory_note, "device_memory", lambda setting: ram)
    note = page.memory_note
    group = note.parentWidget()
    assert isinstance(group, QGroupBox) and group.title() == "Hardware"
    page.model_panel.choose_folder(str(tiny_model_dir))
    page.data_panel.choose_file(str(small_csv))
    page.settings_panel.set_settings(TrainSettings(device="cpu"))
    qtbot.waitUntil(lambda: page.data_panel.prepared() is not None and note.device() is not None
                    and note.estimate() is not None, timeout=WAIT_MS)
    tiny = note.estimate()
    assert tiny.total < 1e9 and note.text().startswith("Training memory: about") and " MB: " in note.text()
    assert not note.will_not_fit() and note.warning.isHidden()
    # The settings form drives it: a bigger batch needs more.
    page.settings_panel.set_settings(TrainSettings(device="cpu", batch_size=64))
    assert note.estimate().activations > tiny.activations
    # A model that will not fit: the warning sits in the advice area, and Start is not blocked.
    page.model_panel.sig_model_changed.emit(_llama_7b())
    page.settings_panel.set_settings(TrainSettings(device="cpu", strategy="full", max_length=512))
    assert note.will_not_fit() and not note.warning.isHidden()
    assert "CPU has 8.0 GB (RAM available), so it will not fit" in note.warning.text()
    assert note.warning.parentWidget() is page
    assert page.current_settings() is not None
