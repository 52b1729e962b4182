"""The space editor: the space a user ticks, refused inline when the engine refuses it; the grid's
size under the grid sampler; a study's space shown again."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from ftstudio.engine.settings import TrainSettings
from ftstudio.gui.search.space_editor import SpaceEditor


@pytest.fixture
def editor(qtbot):
    widget = SpaceEditor()
    qtbot.addWidget(widget)
    return widget


def test_the_learning_rate_is_searched_at_first(editor):
    assert editor.searched() == ["learning_rate"]
    assert editor.space().to_mapping() == {"learning_rate": {"low": 1e-5, "high": 3e-4, "log": True}}
    assert editor.message.property("role") == "hint" and "Learning rate" in editor.message.text()
    assert "metric_for_best" not in editor.rows and "device" not in editor.rows  # not searchable


def test_the_space_is_what_the_user_ticks(editor):
    editor.set_searched("strategy")
    editor.row("strategy").text.setText("full, head, bottom-1")
    editor.set_searched("scheduler")
    dict(editor.row("scheduler").ticks)["constant"].setChecked(False)
    editor.set_searched("batch_size")
    batch = editor.row("batch_size")
    batch.low.setValue(16)
    batch.high.setValue(48)
    batch.log.setChecked(False)
    batch.use_step.setChecked(True)
    batch.step.setValue(16)
    editor.set_searched("group_by_length")
    rate = editor.row("learning_rate")
    rate.low.setText("2e-5")
    assert editor.problem() == ""
    assert editor.space().to_mapping() == {
        "batch_size": {"low": 16, "high": 48, "step": 16},
        "group_by_length": [True, False],
        "learning_rate": {"low": 2e-5, "high": 3e-4, "log": True},
        "scheduler": ["linear", "cosine"],
        "strategy": ["full", "head", "bottom-1"],
    }
    assert editor.space().dimension("batch_size").grid_values() == [16, 32, 48]


def test_a_bad_range_is_refused_inline_and_start_waits(panel):
    rate = panel.space_editor.row("learning_rate")
    assert panel.start_button.isEnabled()
    rate.low.setText("0.001")  # above high
    editor = panel.space_editor
    assert editor.space() is None
    assert "learning_rate" in editor.problem() and "low" in editor.problem()
    assert editor.message.text() == editor.problem() and editor.message.property("role") == "error"
    assert rate.low.property("invalid") is True
    assert not panel.start_button.isEnabled()
    rate.low.setText("1e-5")
    assert editor.space() is not None and not rate.low.property("invalid")
    assert panel.start_button.isEnabled()
    # A list with nothing ticked, and an empty space, are refused in the engine's words too.
    editor.set_searched("optimizer")
    for _value, tick in editor.row("optimizer").ticks:
        tick.setChecked(False)
    assert "empty" in editor.problem() and not panel.start_button.isEnabled()
    editor.set_searched("optimizer", False)
    editor.set_searched("learning_rate", False)
    assert "[space] is empty" in editor.problem()


def test_the_grid_sampler_says_how_many_points(panel):
    options = panel.options_box
    options.sampler.setCurrentIndex(options.sampler.findData("grid"))
    # A log range has no grid: said under the sampler, Start waits.
    assert options.grid_note.isVisibleTo(panel) and options.grid_note.property("role") == "error"
    assert not panel.start_button.isEnabled()
    editor = panel.space_editor
    editor.set_searched("learning_rate", False)
    editor.set_searched("scheduler")
    editor.set_searched("strategy")  # full, bottom-3
    options.trials.setValue(20)
    assert options.grid_note.text() == "The grid has 6 points: the study tries each once (6 trials)."
    assert panel.start_button.isEnabled()
    options.trials.setValue(4)
    assert "4 trials try 4 of them" in options.grid_note.text()
    options.sampler.setCurrentIndex(options.sampler.findData("tpe"))
    assert not options.grid_note.isVisibleTo(panel)


def test_a_value_that_cannot_train_with_setup_is_refused_at_start(panel, qtbot):
    # Fixed settings that no trial can train with (the held-out shares leave too little data):
    # the engine's check names the searched value it tried, shown under the editor.
    panel.settings_source = lambda: TrainSettings(test_split=0.4, validation_split=0.45)
    editor = panel.space_editor
    editor.set_searched("warmup_ratio")
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert not panel.is_running()
    assert editor.message.property("role") == "error"
    assert "cannot train with the other settings: test_split" in editor.message.text()
    assert panel.status.property("role") == "error"


def test_a_study_space_is_shown_again(editor):
    editor.set_space({"strategy": ["full", "lora"], "lora_rank": {"low": 4, "high": 16, "step": 4}})
    assert sorted(editor.searched()) == ["lora_rank", "strategy"]
    assert editor.row("strategy").text.text() == "full, lora"
    assert editor.space().to_mapping() == {"strategy": ["full", "lora"],
                                           "lora_rank": {"low": 4, "high": 16, "step": 4}}


def test_number_values_can_be_listed(editor):
    editor.set_searched("batch_size")
    batch = editor.row("batch_size")
    batch.listed.setChecked(True)
    assert batch.values.isVisibleTo(editor) and not batch.low.isVisibleTo(editor)
    batch.values.setText("16, 3x")
    assert "batch_size" in editor.problem() and "'3x'" in editor.problem()
    assert batch.values.property("invalid") is True
    batch.values.setText("16, 32, 64")
    assert editor.space().dimension("batch_size").choices == (16, 32, 64)
    # A study written by the command line with listed numbers shows them listed.
    editor.set_space({"learning_rate": [2e-5, 5e-5]})
    rate = editor.row("learning_rate")
    assert rate.listed.isChecked() and rate.values.text() == "2e-5, 5e-5"
    assert editor.space().to_mapping() == {"learning_rate": [2e-5, 5e-5]}
