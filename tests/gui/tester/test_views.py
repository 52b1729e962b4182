"""The tester's task views on their own, fed the dicts the worker sends (no model needed)."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")


def test_format_score_uses_the_decimals_the_scale_needs():
    from ftstudio.gui.tester.score_scale import format_score

    assert format_score(3.4231, 4.0) == "3.42"
    assert format_score(1234.4, 9000.0) == "1,234"
    assert format_score(0.03121, 0.1) == "0.031"
    assert format_score(-0.5, 2.0) == "-0.50"
    assert format_score(7.0, 0.0) == "7.00"


def test_score_scale_marks_a_prediction_outside_the_training_range(qtbot):
    from ftstudio.gui.tester.score_scale import ScoreScale

    scale = ScoreScale()
    qtbot.addWidget(scale)
    scale.set_scale(1.0, 5.0, 2.5, 1.0)
    scale.set_value(3.0)
    assert not scale.outside() and "Predicted: 3.00" in scale.toolTip()
    scale.set_value(6.5)
    assert scale.outside() and "outside the training range" in scale.toolTip()
    scale.resize(400, scale.sizeHint().height())
    assert not scale.grab().isNull()  # paints with the stretched scale


def test_prediction_column_picks_the_view_from_the_prediction(qtbot):
    from ftstudio.gui.tester.prediction_column import PredictionColumn

    column = PredictionColumn()
    qtbot.addWidget(column)
    column.show()
    column.show_prediction({"label": "b", "score": 0.7, "probabilities": {"a": 0.3, "b": 0.7}})
    assert column.kind() == "single-label" and column.bars.isVisible() and not column.multi.isVisible()
    column.show_prediction({"label": "(none)", "score": 0.4, "labels": [],
                            "probabilities": {"x": 0.4, "y": 0.1}, "thresholds": {"x": 0.5, "y": 0.3}})
    assert column.kind() == "multi-label" and column.multi.isVisible() and not column.bars.isVisible()
    assert column.predicted_label() == "(none)" and column.multi.chosen() == []
    assert column.multi.thresholds() == {"x": 0.5, "y": 0.3}
    column.show_prediction({"label": "stars", "score": 4.2, "value": 4.2},
                           task_state={"minimum": 1.0, "maximum": 5.0, "mean": 3.0, "std": 1.0})
    assert column.kind() == "regression" and column.scale.isVisible() and not column.multi.isVisible()
    assert column.predicted_label() == "4.20" and column.confidence.text() == "stars"
    # A regression checkpoint made elsewhere has no saved scale: the value alone.
    column.show_prediction({"label": "stars", "score": 4.2, "value": 4.2}, task="regression")
    assert not column.scale.isVisible() and column.predicted_label() == "4.20"
    column.show_error("Model gone")
    assert column.kind() == "" and column.state.text() == "Model gone"


def test_per_label_table_orders_rows_by_the_models_labels(qtbot):
    from ftstudio.gui.tester.per_label_table import PerLabelTable

    table = PerLabelTable()
    qtbot.addWidget(table)
    per_label = {
        "b": {"precision": 0.5, "recall": 1.0, "f1": 0.667, "support": 2, "predicted": 4},
        "a": {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 4, "predicted": 2},
    }
    table.set_rows(per_label, [0.4, 0.6], ["a", "b"])
    assert [(r["label"], r["threshold"]) for r in table.rows()] == [("a", 0.4), ("b", 0.6)]
    assert [table.item(0, c).text() for c in range(table.columnCount())] == [
        "a", "1.000", "0.500", "0.667", "4", "2", "0.40"]


def test_evaluation_summary_names_the_tasks_metrics():
    from ftstudio.gui.tester.file_test_box import evaluation_summary

    regression = {"task": "regression", "rows": 12, "rmse": 0.5, "mae": 0.4, "mse": 0.25, "pearson": 0.9,
                  "spearman": 0.8, "r2": 0.7}
    text = evaluation_summary(regression, "scores.csv")
    assert "<b>RMSE 0.5</b>" in text and "MSE" not in text.replace("RMSE", "")
    assert "Spearman ρ 0.800" in text and "12 texts from scores.csv" in text
    single = {"task": "single-label", "rows": 3, "accuracy": 2 / 3, "f1": 0.5,
              "per_class": {"a": {"f1": 0.5}}}
    assert evaluation_summary(single, "x.csv").startswith("<b>Accuracy 66.7%</b> · <b>macro F1 0.500</b>")
