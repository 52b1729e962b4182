"""Single-label classification: each text (or pair of texts) belongs to exactly one class."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ftstudio.engine.errors import DatasetError
from ftstudio.engine.tasks.base import LabelSpec, Outputs, Targets, Task
from ftstudio.engine.tasks.classification import classification_metrics

if TYPE_CHECKING:
    import datasets
    import torch


class SingleLabelTask(Task):
    name = "single-label"
    title = "Single-label classification"
    problem_type = "single_label_classification"
    metric_names = ("accuracy", "precision", "recall", "f1")  # precision/recall/F1: macro averages
    best_metric = "f1"
    headline = ("accuracy", "f1")

    def encode(self, train: datasets.Dataset, labels: LabelSpec, values: dict[str, list[Any]]) -> Targets:
        from ftstudio.engine.data.columns import encode_labels

        names, encoded = encode_labels(train, labels.columns[0], values)
        return Targets(names, encoded)

    def encode_with(self, values: list[Any], label_names: list[str], state: dict[str, Any],
                    where: str) -> np.ndarray:
        from ftstudio.engine.data.columns import label_keys

        index = {name: i for i, name in enumerate(label_names)}
        keys = label_keys(values, where)
        unknown = sorted(set(keys) - set(index))
        if unknown:
            raise DatasetError(
                f"Label '{unknown[0]}' in {where} is unknown to the model, whose labels are "
                f"{', '.join(label_names)}. Use a file labelled like the training data."
            )
        return np.array([index[k] for k in keys], dtype=np.int64)

    def strata(self, targets: np.ndarray) -> tuple[np.ndarray, int]:
        targets = np.asarray(targets, dtype=np.int64)
        return targets, int(targets.max()) + 1 if targets.size else 0

    def loss_sum(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.cross_entropy(logits.float(), targets.long(), reduction="sum")

    def evaluate(self, logits: np.ndarray, targets: np.ndarray, label_names: list[str],
                 state: dict[str, Any]) -> Outputs:
        found = classification_metrics(targets, logits.argmax(axis=-1), len(label_names), label_names)
        return Outputs({k: found[k] for k in self.metric_names},
                       {"confusion": found["confusion"], "per_class": found["per_class"]})

    def predict(self, logits: np.ndarray, label_names: list[str], state: dict[str, Any]) -> list[dict[str, Any]]:
        shifted = logits - logits.max(axis=-1, keepdims=True)
        probs = np.exp(shifted)
        probs /= probs.sum(axis=-1, keepdims=True)
        results = []
        for row in probs:
            top = int(row.argmax())
            results.append({"label": label_names[top], "score": float(row[top]),
                            "probabilities": {n: float(p) for n, p in zip(label_names, row, strict=True)}})
        return results

    def summarize(self, targets: np.ndarray, label_names: list[str], state: dict[str, Any]) -> dict[str, Any]:
        targets = np.asarray(targets, dtype=np.int64)
        counts = np.bincount(targets, minlength=len(label_names)) if targets.size else np.zeros(len(label_names))
        return {"kind": "classes", "rows": int(targets.size),
                "counts": {n: int(c) for n, c in zip(label_names, counts, strict=True)}}

    def describe(self, summary: dict[str, Any]) -> str:
        rows = summary["rows"]
        return ", ".join(f"{name} {count} ({count / rows:.0%})" if rows else f"{name} 0"
                         for name, count in summary["counts"].items())
