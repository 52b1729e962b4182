"""What a saved checkpoint (or the base model standing in for one) reports for its task."""

from __future__ import annotations

import numpy as np
import pytest


def test_multi_label_file_evaluation_uses_the_saved_thresholds():
    """A run trained with tune_thresholds is measured on a file with the thresholds it predicts
    with, not thresholds tuned again on that file."""
    from ftstudio.engine.tasks.registry import TASKS

    task = TASKS["multi-label"]
    logits = np.array([[2.0, -2.0], [0.1, -2.0], [-2.0, 2.0], [-2.0, -0.5]])
    targets = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.float32)
    state = {"tune_thresholds": True, "thresholds": [0.5, 0.5]}
    outputs = task.evaluate_checkpoint(logits, targets, ["a", "b"], state)
    assert outputs.details["thresholds"] == [0.5, 0.5]
    predicted = [row["labels"] for row in task.predict(logits, ["a", "b"], state)]
    assert outputs.details["per_label"]["b"]["predicted"] == sum("b" in row for row in predicted)


def test_regression_base_model_predicts_in_the_runs_units(tiny_model_dir):
    """The untrained head of the 'before' model has the run's scale folded in, like a checkpoint."""
    from ftstudio.engine.predict.predictor import Predictor

    state = {"mean": 50.0, "std": 10.0, "standardised": True, "minimum": 20.0, "maximum": 80.0}
    base = Predictor.base_model(str(tiny_model_dir), ["score"], task="regression", task_state=state)
    values = [p.value for p in base.predict(["great flight", "awful delay"])]
    assert values == pytest.approx([50.0, 50.0], abs=10.0)
