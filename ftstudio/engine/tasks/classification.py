"""Classification metrics computed with numpy: accuracy, macro precision/recall/F1, confusion.

Written here rather than pulled from scikit-learn to keep the dependency set small; classes
absent from both labels and predictions count as 0 in macro averages only when present in
`num_classes` (like scikit-learn with `labels=range(num_classes)` and zero_division=0).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true labels, columns predicted labels."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def classification_metrics(
    labels: np.ndarray, predictions: np.ndarray, num_classes: int, label_names: list[str] | None = None
) -> dict[str, Any]:
    """Accuracy, macro precision/recall/F1, the confusion matrix and per-class scores."""
    matrix = confusion_matrix(labels, predictions, num_classes)
    total = int(matrix.sum())
    true_positive = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    actual = matrix.sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, true_positive / predicted, 0.0)
        recall = np.where(actual > 0, true_positive / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    names = label_names or [str(i) for i in range(num_classes)]
    per_class = {
        names[i]: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(actual[i]),
        }
        for i in range(num_classes)
    }
    return {
        "accuracy": float(true_positive.sum() / total) if total else 0.0,
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
        "confusion": matrix.tolist(),
        "per_class": per_class,
    }
