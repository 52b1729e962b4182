"""Regression metrics with numpy: MSE, RMSE, MAE, Pearson and Spearman correlation, R².

Correlations of a constant prediction (or constant truth) are undefined; they are reported as 0
so that a collapsed model reads as uncorrelated instead of breaking plots with NaN.
"""

from __future__ import annotations

import numpy as np


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    scale = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / scale) if scale > 0 else 0.0


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged, as Spearman's coefficient defines them."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Errors and agreement of `predicted` against `truth`, in the units of the data."""
    truth = np.asarray(truth, dtype=np.float64).reshape(-1)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if truth.size == 0:
        return {"mse": 0.0, "rmse": 0.0, "mae": 0.0, "pearson": 0.0, "spearman": 0.0, "r2": 0.0}
    error = predicted - truth
    mse = float(np.mean(error * error))
    variance = float(np.var(truth))
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(np.mean(np.abs(error))),
        "pearson": _pearson(truth, predicted),
        "spearman": _pearson(_ranks(truth), _ranks(predicted)) if truth.size > 1 else 0.0,
        "r2": 1.0 - mse / variance if variance > 0 else 0.0,
    }
