"""Multi-label classification: each text has any number of labels, none included.

Labels arrive in the three shapes users have: a list column (JSON, JSONL, Parquet), a delimited
string column ("billing;refund"), or several 0/1 columns named together (toxic,insult,threat).
Targets are multi-hot rows; the model's loss is binary cross-entropy per label
(`multi_label_classification`), and a label is predicted when its sigmoid reaches its threshold:
0.5, or tuned per label on validation (`tune_thresholds`) and saved with the checkpoint.

A fresh head starts from the label priors: each output's bias is the log-odds of its label's
training frequency. Most labels are rare, and a random head predicts each at ~0.5, so otherwise
the first hundreds of steps mostly push every probability down, with large gradients through the
encoder; starting at the priors spends them on telling texts apart (the prior initialisation of
Lin et al., "Focal Loss for Dense Object Detection", 2017). On the airline tweets' 10 labels, 2,000
rows and 2 epochs it lifts micro F1 from ~0.71 to ~0.84 (benchmarks/README.md, "Task types").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ftstudio.engine.data.columns import is_blank, name_order
from ftstudio.engine.errors import DatasetError
from ftstudio.engine.tasks.base import LabelSpec, Outputs, Targets, Task
from ftstudio.engine.tasks.multilabel_metrics import (
    DEFAULT_THRESHOLD,
    multilabel_metrics,
    sigmoid,
    tune_thresholds,
)

if TYPE_CHECKING:
    import datasets
    import torch

_TRUE = {"1", "1.0", "true", "yes", "y", "t"}
_FALSE = {"0", "0.0", "false", "no", "n", "f", ""}


def _flag(value: Any, column: str) -> bool:
    """A 0/1 column's cell as a bool; anything else is refused in words."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)) and float(value) in (0.0, 1.0):
        return float(value) == 1.0
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DatasetError(
        f"Label column '{column}' holds '{value}'; read together with other label columns, each must hold "
        "0 or 1 (or true/false) per row."
    )


def row_labels(value: Any, labels: LabelSpec) -> list[str]:
    """The labels of one row, whatever the shape they are stored in."""
    if len(labels.columns) > 1:
        return [column for column, cell in zip(labels.columns, value, strict=True) if _flag(cell, column)]
    if isinstance(value, (list, tuple, np.ndarray)):
        found = []
        for item in value:
            if isinstance(item, (list, tuple, dict)):
                raise DatasetError(
                    f"Label column '{labels.columns[0]}' holds nested lists; each row needs a flat list of labels."
                )
            if not is_blank(item):
                found.append(_name(item))
        return list(dict.fromkeys(found))  # a label listed twice counts once
    if labels.separator is not None and isinstance(value, str):
        return list(dict.fromkeys(part.strip() for part in value.split(labels.separator) if part.strip()))
    return [_name(value)]


def _name(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


class MultiLabelTask(Task):
    name = "multi-label"
    title = "Multi-label classification"
    problem_type = "multi_label_classification"
    metric_names = ("micro_f1", "macro_f1", "micro_precision", "micro_recall", "macro_precision", "macro_recall",
                    "subset_accuracy")
    best_metric = "micro_f1"
    headline = ("micro_f1", "macro_f1", "subset_accuracy")

    def is_missing(self, value: Any) -> bool:
        if isinstance(value, tuple):  # several 0/1 columns: every one must be filled
            return any(is_blank(cell) for cell in value)
        if isinstance(value, (list, np.ndarray)):
            return False  # an empty list is a row with none of the labels
        return is_blank(value)

    def encode(self, train: datasets.Dataset, labels: LabelSpec, values: dict[str, list[Any]]) -> Targets:
        rows = {split: [row_labels(v, labels) for v in split_values] for split, split_values in values.items()}
        if len(labels.columns) > 1:
            names = list(labels.columns)
        else:
            found = {name for row in rows["train"] for name in row}
            names = sorted(found, key=name_order(list(found)))
        if len(names) < 2:
            only = f"only '{names[0]}'" if names else "no labels at all"
            raise DatasetError(
                f"Multi-label classification needs at least 2 labels; column '{labels.display}' has {only}. "
                "Choose another label column or task."
            )
        index = {name: i for i, name in enumerate(names)}
        encoded = {}
        for split, split_rows in rows.items():
            unseen = next((n for row in split_rows for n in row if n not in index), None)
            if unseen is not None:
                raise DatasetError(
                    f"The {split} split has label '{unseen}', which never occurs in train; every label needs "
                    f"training rows (train has: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''})."
                )
            encoded[split] = self._multi_hot(split_rows, index)
        if not encoded["train"].any():
            raise DatasetError(f"No training row has any label in '{labels.display}'; check the label column.")
        state = {"label_source": "columns" if len(labels.columns) > 1 else
                 ("delimited" if labels.separator else "lists"), "separator": labels.separator}
        return Targets(names, encoded, state)

    @staticmethod
    def _multi_hot(rows: list[list[str]], index: dict[str, int]) -> np.ndarray:
        hot = np.zeros((len(rows), len(index)), dtype=np.float32)
        for i, row in enumerate(rows):
            hot[i, [index[n] for n in row]] = 1.0
        return hot

    def encode_with(self, values: list[Any], label_names: list[str], state: dict[str, Any],
                    where: str) -> np.ndarray:
        columns = state.get("label_columns") or [where]
        spec = LabelSpec(list(columns), state.get("separator"))
        rows = [row_labels(v, spec) for v in values]
        index = {name: i for i, name in enumerate(label_names)}
        unknown = next((n for row in rows for n in row if n not in index), None)
        if unknown is not None:
            raise DatasetError(
                f"Label '{unknown}' in {where} is unknown to the model, whose labels are {', '.join(label_names)}."
            )
        return self._multi_hot(rows, index)

    def strata(self, targets: np.ndarray) -> tuple[np.ndarray, int]:
        """Each row's rarest label (rows without labels are a stratum of their own): rare labels
        then reach every split, the usual approximation of iterative stratification."""
        targets = np.asarray(targets) > 0.5
        labels = targets.shape[1]
        frequency = targets.sum(axis=0)
        rarity = np.where(targets, frequency[None, :], np.iinfo(np.int64).max)
        strata = np.where(targets.any(axis=1), rarity.argmin(axis=1), labels)
        return strata.astype(np.int64), labels + 1

    def loss_sum(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        # The training loss is the mean over rows and labels; its per-row share is the mean over labels.
        loss = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="sum")
        return loss / max(logits.shape[-1], 1)

    def initial_head_bias(self, targets: np.ndarray, label_names: list[str]) -> tuple[np.ndarray, str] | None:
        positives = (np.asarray(targets) > 0.5).sum(axis=0)
        rows = len(targets)
        # Add-one-half smoothing keeps a label seen in every row, or in none, at a finite bias.
        prior = (positives + 0.5) / (rows + 1.0)
        return np.log(prior / (1.0 - prior)), "The head starts from the label priors (each label's training frequency)."

    def thresholds(self, state: dict[str, Any], labels: int) -> np.ndarray:
        saved = state.get("thresholds")
        if isinstance(saved, list) and len(saved) == labels:
            return np.asarray(saved, dtype=np.float64)
        return np.full(labels, DEFAULT_THRESHOLD)

    def evaluate(self, logits: np.ndarray, targets: np.ndarray, label_names: list[str],
                 state: dict[str, Any]) -> Outputs:
        probabilities = sigmoid(logits)
        if state.get("tune_thresholds"):
            thresholds = tune_thresholds(targets, probabilities)
        else:
            thresholds = self.thresholds(state, len(label_names))
        found = multilabel_metrics(targets, probabilities >= thresholds[None, :], label_names)
        details = {"per_label": found.pop("per_label"), "thresholds": [float(t) for t in thresholds]}
        return Outputs({k: found[k] for k in self.metric_names}, details)

    def evaluate_checkpoint(self, logits: np.ndarray, targets: np.ndarray, label_names: list[str],
                            state: dict[str, Any]) -> Outputs:
        # A saved checkpoint is measured with the thresholds it predicts with: tuning them again on
        # the test file would flatter it and report thresholds the model does not use.
        return self.evaluate(logits, targets, label_names, self.state_for_testing(state))

    def state_for_testing(self, state: dict[str, Any]) -> dict[str, Any]:
        return {**state, "tune_thresholds": False}

    def state_after_evaluation(self, outputs: Outputs, state: dict[str, Any]) -> dict[str, Any]:
        if not state.get("tune_thresholds"):
            return state
        return {**state, "thresholds": list(outputs.details["thresholds"])}

    def predict(self, logits: np.ndarray, label_names: list[str], state: dict[str, Any]) -> list[dict[str, Any]]:
        probabilities = sigmoid(logits)
        thresholds = self.thresholds(state, len(label_names))
        results = []
        for row in probabilities:
            chosen = [n for n, p, t in zip(label_names, row, thresholds, strict=True) if p >= t]
            results.append({
                "label": ", ".join(chosen) if chosen else "(none)",
                "score": float(row.max()) if row.size else 0.0,
                "labels": chosen,
                "probabilities": {n: float(p) for n, p in zip(label_names, row, strict=True)},
                "thresholds": {n: float(t) for n, t in zip(label_names, thresholds, strict=True)},
            })
        return results

    def summarize(self, targets: np.ndarray, label_names: list[str], state: dict[str, Any]) -> dict[str, Any]:
        targets = np.asarray(targets) > 0.5
        per_row = targets.sum(axis=1) if targets.size else np.zeros(0, dtype=np.int64)
        most = int(per_row.max()) if per_row.size else 0
        return {"kind": "labels", "rows": int(targets.shape[0]),
                "counts": {n: int(c) for n, c in zip(label_names, targets.sum(axis=0), strict=True)},
                "labels_per_row": [int(c) for c in np.bincount(per_row, minlength=most + 1)]}

    def describe(self, summary: dict[str, Any]) -> str:
        rows = max(summary["rows"], 1)
        labels = ", ".join(f"{n} {c} ({c / rows:.0%})" for n, c in summary["counts"].items())
        per_row = " ".join(f"{k}:{c / rows:.0%}" for k, c in enumerate(summary["labels_per_row"]))
        return f"{labels}; labels per row {per_row}"
