"""Multi-label metrics with numpy: micro and macro precision/recall/F1, subset accuracy, per-label
scores, and per-label decision thresholds tuned for F1.

Zero-division cases count as 0, like scikit-learn's `zero_division=0`; a label absent from both
truth and predictions therefore pulls the macro averages down, as it does there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_THRESHOLD = 0.5
# Candidate thresholds when tuning: coarse enough not to fit the validation split's noise.
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)
# A label needs this many positive validation rows to have its threshold tuned: fitted to one or
# two examples, a rare label's threshold drops until it fires on unrelated texts.
MIN_POSITIVES_TO_TUNE = 5


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(logits, dtype=np.float64), -60, 60)))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    return _ratio(2 * precision * recall, precision + recall)


def multilabel_metrics(truth: np.ndarray, predicted: np.ndarray, label_names: list[str]) -> dict[str, Any]:
    """Scores of 0/1 predictions against 0/1 truth, both [rows, labels]."""
    truth = np.asarray(truth) > 0.5
    predicted = np.asarray(predicted).astype(bool)
    tp = (truth & predicted).sum(axis=0)
    fp = (~truth & predicted).sum(axis=0)
    fn = (truth & ~predicted).sum(axis=0)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _f1(precision, recall)
    micro_p, micro_r = float(_ratio(tp.sum(), tp.sum() + fp.sum())), float(_ratio(tp.sum(), tp.sum() + fn.sum()))
    rows = truth.shape[0]
    return {
        "micro_f1": float(_f1(np.array(micro_p), np.array(micro_r))),
        "macro_f1": float(f1.mean()) if f1.size else 0.0,
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "macro_precision": float(precision.mean()) if precision.size else 0.0,
        "macro_recall": float(recall.mean()) if recall.size else 0.0,
        "subset_accuracy": float((truth == predicted).all(axis=1).mean()) if rows else 0.0,
        "per_label": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": int(truth[:, i].sum()), "predicted": int(predicted[:, i].sum())}
            for i, name in enumerate(label_names)
        },
    }


def tune_thresholds(truth: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Each label's threshold from THRESHOLD_GRID that maximises its F1 on these rows; ties go to
    the threshold nearest 0.5, and a label with fewer than MIN_POSITIVES_TO_TUNE positive rows
    keeps 0.5."""
    truth = np.asarray(truth) > 0.5
    chosen = np.full(truth.shape[1], DEFAULT_THRESHOLD)
    preference = np.abs(THRESHOLD_GRID - DEFAULT_THRESHOLD)
    for label in range(truth.shape[1]):
        positives = truth[:, label]
        if positives.sum() < MIN_POSITIVES_TO_TUNE:
            continue
        predicted = probabilities[:, label][None, :] >= THRESHOLD_GRID[:, None]  # [grid, rows]
        tp = (predicted & positives).sum(axis=1)
        precision = _ratio(tp, predicted.sum(axis=1))
        recall = _ratio(tp, np.full_like(tp, positives.sum()))
        f1 = _f1(precision, recall)
        best = np.lexsort((preference, -f1))[0]
        chosen[label] = THRESHOLD_GRID[best]
    return chosen
