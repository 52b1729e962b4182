"""The data panel with every task type: the Task choice, the second-text picker, several 0/1
label columns and the label separator, what the panel draws per task (class bars; label
frequencies and labels per row; a histogram of the values), the regression proposal for a
score-like label column, and the embedded task samples among the sources."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QSettings, Qt

from tests.conftest import make_texts, write_csv
from tests.gui.setup.conftest import wait_loaded

pytestmark = pytest.mark.usefixtures("temp_qsettings")


def _choose(qtbot, panel, combo, data) -> None:
    """Pick an item of a combo as the user does (activated), and wait for the reload."""
    index = combo.findData(data) if combo.findData(data) >= 0 else combo.findText(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    wait_loaded(qtbot, panel)


def _pairs_csv(tmp_path):
    rows = [(text, f"second {label} text", label) for text, label in make_texts(60)]
    return write_csv(tmp_path / "pairs.csv", rows, header=("question1", "question2", "label"))


def _scores_csv(tmp_path, column="label"):
    rows = [(text, f"{(i % 37) / 36:.3f}") for i, (text, _label) in enumerate(make_texts(80))]
    return write_csv(tmp_path / "scores.csv", rows, header=("text", column))


# ---------------------------------------------------------------- the choices reach the settings
def test_the_task_choice_reaches_the_settings_and_is_remembered(qtbot, page, small_csv):
    from ftstudio.gui.setup.page import SetupPage

    data = page.data_panel
    data.choose_file(str(small_csv))
    wait_loaded(qtbot, data, small_csv)
    choices = data._choices
    assert choices.task_combo.currentText() == "Automatic (single-label)"  # what Automatic found
    assert page.gathered_settings().task == "auto"

    _choose(qtbot, data, choices.task_combo, "multi-label")
    assert data.task() == "multi-label" and data.prepared().task.name == "multi-label"
    assert not choices.separator.isHidden()  # multi-label chosen: the separator may be given
    choices.separator.setText(";")
    choices.separator.editingFinished.emit()
    wait_loaded(qtbot, data)
    settings = page.gathered_settings()
    assert (settings.task, settings.label_separator) == ("multi-label", ";")
    assert page.current_settings() is not None

    store = QSettings()
    page.remember(store)
    again = SetupPage(page.data_panel._runner)
    qtbot.addWidget(again)
    again.restore(store)
    assert again.data_panel.choices() == data.choices()
    assert again.gathered_settings().task == "multi-label"
    again.shutdown()


def test_the_second_text_is_detected_shown_and_can_be_turned_off(qtbot, page, tmp_path):
    data = page.data_panel
    path = _pairs_csv(tmp_path)
    data.choose_file(str(path))
    wait_loaded(qtbot, data, path)
    prepared = data.prepared()
    assert (prepared.text_column, prepared.text_pair_column) == ("question1", "question2")
    pair = data._choices.pair_combo
    assert pair.currentText() == "question2"
    assert data._table_model.marks() == {"question1": "text", "question2": "second text", "label": "label"}
    header = [data._table_model.headerData(i, Qt.Orientation.Horizontal) for i in range(3)]
    assert header == ["question1 (as text)", "question2 (as second text)", "label"]
    assert "text pairs ('question1' with 'question2')" in data._message.text()
    data._choices.label_combo.lineEdit().editingFinished.emit()  # tabbing through: nothing to reload
    assert not data.is_loading() and data.text_column() is None

    _choose(qtbot, data, pair, "")  # (none): one text per row, not detected again
    assert data.prepared().text_pair_column is None
    settings = page.gathered_settings()
    assert (settings.text_column, settings.text_pair_column) == ("question1", None)
    assert pair.currentText() == "(none)"

    _choose(qtbot, data, pair, "question2")
    assert page.gathered_settings().text_pair_column == "question2"
    assert data.prepared().text_pair_column == "question2"


# ---------------------------------------------------------------- what each task shows
def test_a_multi_label_jsonl_file_shows_label_frequencies_and_labels_per_row(qtbot, panel, tmp_path):
    path = tmp_path / "tags.jsonl"
    names = ["billing", "refund", "delay"]
    with open(path, "w", encoding="utf-8") as handle:
        for i, (text, _label) in enumerate(make_texts(90)):
            labels = [names[i % 3]] + ([names[(i + 1) % 3]] if i % 4 == 0 else [])
            handle.write(json.dumps({"text": text, "labels": labels}) + "\n")
    panel.choose_file(str(path))
    wait_loaded(qtbot, panel, path)
    assert panel.prepared().task.name == "multi-label"
    assert panel._choices.task_combo.currentText() == "Automatic (multi-label)"
    view = panel._labels_view
    assert view.currentWidget() is view._multi
    assert view.labels.title.text().startswith("3 labels: ")
    assert all(f"{name}: " in view.labels.toolTip() for name in names)
    assert "Labels per row: mean 1.2" in view.per_row.title.text()
    assert "1 label:" in view.per_row.toolTip() and "2 labels:" in view.per_row.toolTip()
    assert panel._choices.separator.isHidden()  # lists have no separator
    assert "multi-label classification, 3 labels" in panel._message.text()


def test_delimited_labels_show_the_separator_found(qtbot, panel, tmp_path):
    rows = [(text, "billing;refund" if i % 3 == 0 else ("refund" if i % 2 else "billing"))
            for i, (text, _label) in enumerate(make_texts(60))]
    path = write_csv(tmp_path / "delimited.csv", rows)
    panel.choose_file(str(path))
    wait_loaded(qtbot, panel, path)
    assert panel.prepared().task.name == "multi-label"
    separator = panel._choices.separator
    assert not separator.isHidden() and separator.placeholderText() == "detected: ;" and separator.text() == ""


def test_several_0_1_label_columns_typed_or_ticked(qtbot, panel, tmp_path):
    rows = [(text, i % 2, int(i % 3 == 0)) for i, (text, _label) in enumerate(make_texts(60))]
    path = write_csv(tmp_path / "flags.csv", rows, header=("text", "toxic", "insult"))
    panel.choose_file(str(path))
    wait_loaded(qtbot, panel, path)
    choices = panel._choices
    label = choices.label_combo
    label.setEditText("toxic,insult")
    label.lineEdit().editingFinished.emit()
    wait_loaded(qtbot, panel)
    assert panel.label_column() == "toxic,insult"
    assert panel.prepared().task.name == "multi-label" and panel.prepared().label_names == ["toxic", "insult"]
    assert panel._table_model.marks() == {"text": "text", "toxic": "label", "insult": "label"}
    assert [a.text() for a in choices._menu.actions() if a.isChecked()] == ["toxic", "insult"]

    panel.set_data(str(path))  # detected again: one column
    wait_loaded(qtbot, panel)
    for action in choices._menu.actions():
        action.setChecked(action.text() in ("toxic", "insult"))
    choices._menu.aboutToHide.emit()  # the ticks are used when the menu closes
    wait_loaded(qtbot, panel)
    assert panel.label_column() == "toxic,insult" and panel.prepared().task.name == "multi-label"


def test_a_regression_csv_shows_the_values_histogram(qtbot, page, tmp_path):
    data = page.data_panel
    path = _scores_csv(tmp_path, column="score")
    data.set_task("regression")
    data.choose_file(str(path))
    wait_loaded(qtbot, data, path)
    prepared = data.prepared()
    assert prepared.task.name == "regression" and prepared.label_column == "score"
    view = data._labels_view
    assert view.currentWidget() is view.scores
    title = view.scores.title.text()
    assert title.startswith("'score': mean 0.4") and "sd 0.3" in title and "min 0" in title and "max 1" in title
    assert "median" in view.scores.toolTip()
    assert "regression, predicting the values of 'score'" in data._message.text()
    assert page.layers_view._num_labels == 1  # one output
    # The form offers the task's metrics; a multi-label switch is off for regression.
    form = page.settings_panel
    metric = form.widget_for("metric_for_best")
    assert [metric.itemData(i) for i in range(metric.count())] == ["auto", "loss", *prepared.task.metric_names]
    assert metric.itemText(0) == "Task's natural: RMSE"
    assert not form.widget_for("tune_thresholds").isEnabled()


def test_a_metric_of_another_task_is_named_before_the_run(qtbot, page, tmp_path):
    from ftstudio.engine.settings import TrainSettings

    data = page.data_panel
    page.settings_panel.set_settings(TrainSettings(metric_for_best="accuracy"))
    data.set_task("regression")
    path = _scores_csv(tmp_path)
    data.choose_file(str(path))
    wait_loaded(qtbot, data, path)
    assert data.error() == ""  # the preview is not hidden by an unrelated setting
    metric = page.settings_panel.widget_for("metric_for_best")
    assert metric.currentData() == "accuracy" and "not reported" in metric.currentText()
    assert page.current_settings() is None
    assert "metric_for_best" in page.problem.text() and "regression" in page.problem.text()


# ---------------------------------------------------------------- the regression proposal
def test_a_score_column_in_automatic_mode_proposes_regression(qtbot, page, tmp_path):
    data = page.data_panel
    path = _scores_csv(tmp_path)
    data.choose_file(str(path))
    wait_loaded(qtbot, data, path)
    assert data.prepared() is None and "looks like a score" in data.error()
    button = data._propose
    assert not button.isHidden() and button.text() == "Train as regression"

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert data.task() == "regression" and button.isHidden()
    wait_loaded(qtbot, data)
    assert data.prepared().task.name == "regression" and data.error() == ""
    assert data._choices.task_combo.currentText() == "Regression"
    assert page.gathered_settings().task == "regression"


def test_no_proposal_when_the_task_was_chosen(qtbot, panel, tmp_path):
    path = write_csv(tmp_path / "lists.csv", [(text, "x") for text, _label in make_texts(30)])
    panel.set_task("regression")  # words are no numbers: refused, and nothing to propose
    panel.choose_file(str(path))
    wait_loaded(qtbot, panel, path)
    assert panel.error() != "" and panel._propose.isHidden()


# ---------------------------------------------------------------- embedded samples
def test_the_task_samples_are_data_sources_with_their_task(qtbot, panel):
    from ftstudio.engine.data.sample_tasks import TASK_SAMPLES

    source = panel._source
    offered = {source.itemData(i): source.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(source.count())}
    for spec, description in TASK_SAMPLES.items():
        assert offered[spec] == description
    wait_loaded(qtbot, panel, "sample")

    _choose(qtbot, panel, source, "sample:pairs")
    assert panel.data_spec() == "sample:pairs" and panel.task() == "auto"
    assert (panel.prepared().text_column, panel.prepared().text_pair_column) == ("tweet", "statement")
    assert panel._choices.pair_combo.currentText() == "statement"

    _choose(qtbot, panel, source, "sample:regression")  # Automatic never takes scores for classes
    assert panel.task() == "regression" and panel.prepared().task.name == "regression"

    _choose(qtbot, panel, source, "sample:multi-label")
    assert panel.task() == "auto" and panel.prepared().task.name == "multi-label"


def test_a_task_that_came_with_a_sample_is_not_kept_for_a_file(qtbot, panel, small_csv):
    wait_loaded(qtbot, panel, "sample")
    _choose(qtbot, panel, panel._source, "sample:regression")
    assert panel.task() == "regression"
    panel.choose_file(str(small_csv))
    wait_loaded(qtbot, panel, small_csv)
    assert panel.task() == "auto" and panel.prepared().task.name == "single-label"
    panel.set_task("regression")  # the user's own choice stays with new data
    panel.set_data(str(small_csv))
    assert panel.task() == "regression"
    wait_loaded(qtbot, panel)
