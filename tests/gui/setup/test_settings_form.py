"""The settings form is built from the declaration: ranges, steps, choices and tooltips match it,
and a settings file at the extremes of every range shows unchanged (as the CLI reads it)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QGroupBox, QLineEdit, QSpinBox

from ftstudio.engine.settings import (
    FROZEN_LAYERS_RANGE,
    STRATEGY_KINDS,
    TrainSettings,
    setting_spec,
    setting_specs,
)
from ftstudio.gui.setup.setting_editors import WholeNumberSpinBox, editor_value, setting_tooltip
from ftstudio.gui.setup.setting_labels import LORA_SETTINGS
from ftstudio.gui.setup.settings_panel import CHOICE_LABELS, FORM_LABELS, SettingsPanel, form_groups
from tests.engine.settings.extremes import extreme_settings

# Edited by the Model and Data panels, or never shown.
ELSEWHERE = {"model", "data", "task", "text_column", "text_pair_column", "label_column", "label_separator",
             "tag_names", "extra"}
FORM_SPECS = [spec for spec in setting_specs() if spec.name not in ELSEWHERE]


@pytest.fixture
def panel(qtbot):
    form = SettingsPanel()
    qtbot.addWidget(form)
    return form


def test_the_form_shows_every_setting_in_the_declarations_groups_and_order(panel):
    assert set(FORM_LABELS) == {spec.name for spec in FORM_SPECS}
    titles = [title for title, _specs in form_groups()]
    assert titles == list(dict.fromkeys(spec.group for spec in FORM_SPECS))
    assert [box.title() for box in panel.findChildren(QGroupBox)] == titles
    assert [spec.name for _title, specs in form_groups() for spec in specs] == [spec.name for spec in FORM_SPECS]


@pytest.mark.parametrize("spec", FORM_SPECS, ids=lambda spec: spec.name)
def test_each_editor_takes_its_range_step_choices_and_tooltip_from_the_declaration(panel, spec):
    widget = panel.widget_for(spec.name)
    if spec.name in LORA_SETTINGS:  # disabled while the strategy is not lora: the reason comes first
        assert widget.toolTip().startswith("Only for the strategy LoRA adapters")
        assert widget.toolTip().endswith("\n\n" + setting_tooltip(spec))
    else:
        assert widget.toolTip() == setting_tooltip(spec)
    assert spec.help[1:] in widget.toolTip() and spec.allowed_text()[1:] in widget.toolTip()
    if spec.name == "strategy":
        assert [widget.itemData(i) for i in range(widget.count())] == list(STRATEGY_KINDS)
        assert (panel._bottom_n.minimum(), panel._bottom_n.maximum()) == FROZEN_LAYERS_RANGE
    elif spec.choices:
        assert isinstance(widget, QComboBox)
        assert tuple(widget.itemData(i) for i in range(widget.count())) == spec.choices
    elif isinstance(widget, QSpinBox | QDoubleSpinBox):
        assert (widget.minimum(), widget.maximum()) == (spec.lowest, spec.highest)
        assert widget.singleStep() == (spec.step or spec.resolution)
        assert widget.specialValueText() == spec.at_minimum
        if spec.value_type is float:
            assert widget.decimals() == spec.decimals and not isinstance(widget, WholeNumberSpinBox)
        else:  # whole numbers past QSpinBox's C int get a spin box that holds them, with no decimals
            assert isinstance(widget, WholeNumberSpinBox) == (spec.highest > 2**31 - 1)
            assert isinstance(widget, QSpinBox) or widget.decimals() == 0
    elif spec.value_type is str:  # free text (LoRA's targets): the default is the placeholder
        assert isinstance(widget, QLineEdit) and widget.placeholderText() == spec.default
    elif isinstance(widget, QLineEdit):
        validator = widget.validator()
        assert (validator.bottom(), validator.top()) == (spec.lowest, spec.highest)
    else:
        assert spec.value_type is bool, spec.name


def test_a_seed_beyond_32_bit_spin_boxes_is_editable(panel):
    """QSpinBox stops at 2^31-1; the declared seed goes to 2^32-1."""
    seed = panel.widget_for("seed")
    assert seed.maximum() == 2**32 - 1
    panel.set_settings(TrainSettings(seed=2**32 - 1))
    assert panel.settings().seed == 2**32 - 1 and isinstance(panel.settings().seed, int)


@pytest.mark.parametrize("suffix", [".json", ".toml"])
@pytest.mark.parametrize("end", ["min", "max"])
def test_a_settings_file_at_the_extremes_shows_unchanged(panel, tmp_path, end, suffix):
    expected = extreme_settings(end).validate()
    path = tmp_path / f"extreme{suffix}"
    expected.save(path)
    loaded = TrainSettings.load(path)
    panel.set_settings(loaded)
    for spec in FORM_SPECS:
        if spec.name == "strategy":
            shown = panel.strategy()
        elif spec.name in ("device", "precision"):
            shown = panel.widget_for(spec.name).currentData()
        else:
            shown = editor_value(panel.widget_for(spec.name))
        assert shown == getattr(expected, spec.name), spec.name
    assert panel.settings(base=loaded) == expected


def test_the_best_metric_choices_read_as_metrics_and_follow_the_task(panel):
    from ftstudio.engine.tasks.metric_names import metric_label
    from ftstudio.engine.tasks.registry import TASKS

    metric = panel.widget_for("metric_for_best")
    texts = [metric.itemText(i) for i in range(metric.count())]
    assert texts[:2] == ["Task's natural metric", "Validation loss"]
    assert CHOICE_LABELS["metric_for_best"]["rmse"] == "RMSE" == metric_label("rmse")
    assert len(set(texts)) == len(texts)  # unknown task: macro F1 of both classifications, told apart
    assert "Macro F1 (single-label)" in texts and "Macro F1 (multi-label)" in texts

    for name, task in TASKS.items():
        panel.set_task(name)
        assert [metric.itemData(i) for i in range(metric.count())] == ["auto", "loss", *task.metric_names]
        assert metric.itemText(0) == f"Task's natural: {metric_label(task.best_metric)}"
    panel.set_task("single-label")
    panel.set_settings(TrainSettings(metric_for_best="accuracy"))
    panel.set_task("regression")  # a chosen metric of another task stays, marked, for the page to refuse
    assert metric.currentData() == "accuracy" and metric.currentText() == "Accuracy (not reported by this task)"
    assert panel.settings().metric_for_best == "accuracy"


def test_threshold_tuning_is_for_multi_label_only(panel):
    tune = panel.widget_for("tune_thresholds")
    assert tune.text() == "Tune thresholds per label (multi-label)" and tune.isEnabled()  # task not known yet
    panel.set_task("regression")
    assert not tune.isEnabled() and tune.toolTip().startswith("Only for multi-label classification")
    panel.set_task("multi-label")
    assert tune.isEnabled() and tune.toolTip() == setting_tooltip(setting_spec("tune_thresholds"))
    panel.set_settings(TrainSettings(tune_thresholds=True))
    assert panel.settings().tune_thresholds is True
