"""The task metrics against values worked out by hand or by numpy's own routines."""

from __future__ import annotations

import numpy as np
import pytest

from ftstudio.engine.tasks.multilabel_metrics import multilabel_metrics, tune_thresholds
from ftstudio.engine.tasks.regression_metrics import regression_metrics


def test_multilabel_metrics_by_hand():
    truth = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    predicted = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 0]])
    found = multilabel_metrics(truth, predicted, ["a", "b", "c"])
    # tp: a 2, b 2, c 0; fp: c 1; fn: c 1
    assert found["micro_precision"] == pytest.approx(4 / 5)
    assert found["micro_recall"] == pytest.approx(4 / 5)
    assert found["micro_f1"] == pytest.approx(0.8)
    assert found["macro_f1"] == pytest.approx((1 + 1 + 0) / 3)
    assert found["subset_accuracy"] == pytest.approx(2 / 4)
    assert found["per_label"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 1}


def test_thresholds_are_tuned_per_label_for_f1():
    # Label a: five positives at 0.3-0.4, negatives at most 0.1: any threshold in (0.1, 0.3] is
    # perfect and the grid's value nearest 0.5 wins the tie. Label b: positives at 0.8 and up.
    truth = np.array([[1, 1]] * 5 + [[0, 0]] * 5)
    probabilities = np.array([[0.3 + i / 100, 0.8 + i / 100] for i in range(5)] + [[0.1, 0.75]] * 5)
    thresholds = tune_thresholds(truth, probabilities)
    assert thresholds[0] == pytest.approx(0.3)
    assert thresholds[1] == pytest.approx(0.8)


def test_rare_labels_keep_the_default_threshold():
    truth = np.array([[1], [1], [0], [0], [0]])  # two positives: too few to tune on
    assert tune_thresholds(truth, np.array([[0.2], [0.25], [0.1], [0.05], [0.0]]))[0] == 0.5
    assert tune_thresholds(np.zeros((3, 1)), np.full((3, 1), 0.7))[0] == 0.5


def test_regression_metrics_match_numpy():
    rng = np.random.default_rng(0)
    truth = rng.normal(3, 2, 200)
    predicted = truth + rng.normal(0, 1, 200)
    found = regression_metrics(truth, predicted)
    assert found["mse"] == pytest.approx(np.mean((predicted - truth) ** 2))
    assert found["rmse"] == pytest.approx(np.sqrt(found["mse"]))
    assert found["mae"] == pytest.approx(np.mean(np.abs(predicted - truth)))
    assert found["pearson"] == pytest.approx(np.corrcoef(truth, predicted)[0, 1])
    ranks = lambda v: np.argsort(np.argsort(v))  # noqa: E731 - no ties in continuous draws
    assert found["spearman"] == pytest.approx(np.corrcoef(ranks(truth), ranks(predicted))[0, 1])
    assert found["r2"] == pytest.approx(1 - found["mse"] / np.var(truth))


def test_spearman_averages_ties_and_constant_predictions_read_as_uncorrelated():
    found = regression_metrics(np.array([1.0, 2.0, 2.0, 3.0]), np.array([1.0, 2.0, 2.0, 3.0]))
    assert found["spearman"] == pytest.approx(1.0) and found["pearson"] == pytest.approx(1.0)
    flat = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]))
    assert flat["pearson"] == 0.0 and flat["spearman"] == 0.0 and np.isfinite(flat["r2"])
