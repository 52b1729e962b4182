"""Regression: each text (or pair) has a score, any real number.

Targets are standardised for training (mean 0, standard deviation 1): the head then starts at
the right scale whatever the units (stars, dollars, 0-100 ratings), the loss and its gradients
have the same size as in classification, so the learning rate and gradient clipping a user knows
still apply. Everything the user sees is in the data's own units: metrics, predictions and the
checkpoints, whose output layer has the scale folded in (weight * std, bias * std + mean), so
stock `pipeline(..., function_to_apply="none")` returns the score as the data writes it.
The exact training-space head goes into the resume state, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ftstudio.engine.data.columns import NUMBER
from ftstudio.engine.errors import DatasetError
from ftstudio.engine.models.head import output_layer
from ftstudio.engine.tasks.base import LabelSpec, Outputs, Targets, Task
from ftstudio.engine.tasks.regression_metrics import regression_metrics

if TYPE_CHECKING:
    import datasets
    import torch

_BINS = 10  # quantile strata for stratified hold-out
_SCATTER_POINTS = 2000


def as_number(value: Any, column: str, row: int, split: str) -> float:
    """A cell of the score column as a float ('3,5' with a decimal comma too); text is refused."""
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
    elif isinstance(value, str) and NUMBER.match(value):
        number = float(value.strip().replace(",", "."))
    else:
        shown = str(value)[:40]
        raise DatasetError(
            f"Row {row + 1} of the {split} split has '{shown}' in the score column '{column}'; regression needs a "
            "number in every row. Fix the row, or choose another label column or task."
        )
    if not np.isfinite(number):
        raise DatasetError(f"Row {row + 1} of the {split} split has {number} in the score column '{column}'; "
                           "scores must be finite numbers.")
    return number


class RegressionTask(Task):
    name = "regression"
    title = "Regression"
    problem_type = "regression"
    metric_names = ("rmse", "mae", "mse", "pearson", "spearman", "r2")
    best_metric = "rmse"
    headline = ("rmse", "pearson", "r2")

    def encode(self, train: datasets.Dataset, labels: LabelSpec, values: dict[str, list[Any]]) -> Targets:
        column = labels.columns[0]
        encoded = {split: np.array([as_number(v, column, i, split) for i, v in enumerate(vals)], dtype=np.float64)
                   for split, vals in values.items()}
        scores = encoded["train"]
        std = float(scores.std()) if scores.size else 0.0
        if scores.size and std == 0.0:
            raise DatasetError(
                f"Every training row has the same score ({scores[0]:g}) in '{column}': there is nothing to learn. "
                "Choose another label column."
            )
        state = {"mean": float(scores.mean()) if scores.size else 0.0, "std": std or 1.0, "standardised": True,
                 "minimum": float(scores.min()) if scores.size else 0.0,
                 "maximum": float(scores.max()) if scores.size else 0.0}
        return Targets([column], {k: v.astype(np.float32) for k, v in encoded.items()}, state)

    def encode_with(self, values: list[Any], label_names: list[str], state: dict[str, Any],
                    where: str) -> np.ndarray:
        return np.array([as_number(v, where, i, "file") for i, v in enumerate(values)], dtype=np.float32)

    def num_outputs(self, label_names: list[str]) -> int:
        return 1

    def strata(self, targets: np.ndarray) -> tuple[np.ndarray, int]:
        targets = np.asarray(targets, dtype=np.float64)
        if targets.size == 0:
            return np.zeros(0, dtype=np.int64), 1
        edges = np.unique(np.quantile(targets, np.linspace(0, 1, _BINS + 1)[1:-1]))
        strata = np.searchsorted(edges, targets, side="right")
        return strata.astype(np.int64), len(edges) + 1

    # ---------------------------------------------------------------- target scale
    @staticmethod
    def _scale(state: dict[str, Any]) -> tuple[float, float]:
        if not state.get("standardised"):
            return 0.0, 1.0
        return float(state.get("mean", 0.0)), float(state.get("std", 1.0))

    def training_targets(self, targets: np.ndarray, state: dict[str, Any]) -> np.ndarray:
        mean, std = self._scale(state)
        return ((np.asarray(targets, dtype=np.float64) - mean) / std).astype(np.float32)

    def user_units(self, values: np.ndarray, state: dict[str, Any]) -> np.ndarray:
        mean, std = self._scale(state)
        return np.asarray(values, dtype=np.float64) * std + mean

    def prepare_model(self, model: Any, state: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        if not state.get("standardised"):
            return state, []
        if output_layer(model, 1) is None:
            note = ("The model's regression head has no single output layer with a bias to hold the target scale; "
                    "scores are trained as they are (not standardised).")
            return {**state, "standardised": False}, [note]
        mean, std = self._scale(state)
        return state, [f"Scores are standardised for training (mean {mean:.4g}, standard deviation {std:.4g}); "
                       "metrics, predictions and checkpoints use the data's units."]

    @contextlib.contextmanager
    def saved_weights(self, model: Any, state: dict[str, Any]) -> Iterator[None]:
        import torch

        mean, std = self._scale(state)
        layer = output_layer(model, 1) if state.get("standardised") else None
        if layer is None:
            yield
            return
        weight, bias = layer.weight.detach().clone(), layer.bias.detach().clone()
        with torch.no_grad():
            layer.weight.mul_(std)
            layer.bias.mul_(std).add_(mean)
        try:
            yield
        finally:
            with torch.no_grad():  # the exact training-space values back, not an inverse that rounds
                layer.weight.copy_(weight)
                layer.bias.copy_(bias)

    def training_weights(self, model: Any, state: dict[str, Any], exact: dict[str, Any] | None = None) -> None:
        import torch

        mean, std = self._scale(state)
        layer = output_layer(model, 1) if state.get("standardised") else None
        if layer is None:
            return
        with torch.no_grad():
            if exact and "weight" in exact and "bias" in exact:
                layer.weight.copy_(exact["weight"])
                layer.bias.copy_(exact["bias"])
            else:
                layer.bias.sub_(mean).div_(std)
                layer.weight.div_(std)

    def exact_weights(self, model: Any, state: dict[str, Any]) -> dict[str, Any]:
        layer = output_layer(model, 1) if state.get("standardised") else None
        if layer is None:
            return {}
        return {"weight": layer.weight.detach().cpu().clone(), "bias": layer.bias.detach().cpu().clone()}

    # ---------------------------------------------------------------- evaluation and prediction
    def loss_sum(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        error = logits.float().reshape(-1) - targets.float().reshape(-1)
        return (error * error).sum()

    def evaluate(self, logits: np.ndarray, targets: np.ndarray, label_names: list[str],
                 state: dict[str, Any]) -> Outputs:
        predicted = self.user_units(np.asarray(logits).reshape(-1), state)
        truth = self.user_units(targets, state)
        return Outputs(regression_metrics(truth, predicted))

    def evaluate_checkpoint(self, logits: np.ndarray, targets: np.ndarray, label_names: list[str],
                            state: dict[str, Any]) -> Outputs:
        predicted = np.asarray(logits, dtype=np.float64).reshape(-1)
        truth = np.asarray(targets, dtype=np.float64).reshape(-1)
        # A sample of (true, predicted) points for the tester's scatter plot; capped to stay light.
        shown = np.random.default_rng(0).permutation(truth.size)[:_SCATTER_POINTS]
        return Outputs(regression_metrics(truth, predicted),
                       {"scatter": [[float(truth[i]), float(predicted[i])] for i in np.sort(shown)]})

    def predict(self, logits: np.ndarray, label_names: list[str], state: dict[str, Any]) -> list[dict[str, Any]]:
        # Checkpoints hold the folded head: their outputs are already in the user's units.
        name = label_names[0] if label_names else "score"
        return [{"label": name, "score": float(v), "value": float(v)} for v in np.asarray(logits).reshape(-1)]

    def summarize(self, targets: np.ndarray, label_names: list[str], state: dict[str, Any]) -> dict[str, Any]:
        values = np.asarray(targets, dtype=np.float64).reshape(-1)
        if values.size == 0:
            return {"kind": "scores", "rows": 0, "histogram": {"edges": [], "counts": []}}
        counts, edges = np.histogram(values, bins=min(30, max(5, int(np.sqrt(values.size)))))
        return {"kind": "scores", "rows": int(values.size), "mean": float(values.mean()),
                "std": float(values.std()), "min": float(values.min()), "median": float(np.median(values)),
                "max": float(values.max()), "histogram": {"edges": edges.tolist(), "counts": counts.tolist()}}

    def describe(self, summary: dict[str, Any]) -> str:
        if not summary["rows"]:
            return "no rows"
        return (f"scores mean {summary['mean']:.4g}, sd {summary['std']:.4g}, min {summary['min']:.4g}, "
                f"median {summary['median']:.4g}, max {summary['max']:.4g}")
