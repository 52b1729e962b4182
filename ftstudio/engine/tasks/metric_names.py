"""How metrics are named for people: one table for the CLI, the plots, the Runs view and the tester."""

from __future__ import annotations

METRIC_LABELS = {
    "loss": "loss",
    "accuracy": "accuracy",
    "precision": "macro precision",
    "recall": "macro recall",
    "f1": "macro F1",
    "micro_f1": "micro F1",
    "macro_f1": "macro F1",
    "micro_precision": "micro precision",
    "micro_recall": "micro recall",
    "macro_precision": "macro precision",
    "macro_recall": "macro recall",
    "subset_accuracy": "subset accuracy",
    "mse": "MSE",
    "rmse": "RMSE",
    "mae": "MAE",
    "pearson": "Pearson r",
    "spearman": "Spearman ρ",
    "r2": "R²",
    "entity_f1": "entity F1",
    "entity_precision": "entity precision",
    "entity_recall": "entity recall",
    "token_accuracy": "token accuracy",
}


def metric_label(name: str) -> str:
    """'micro_f1' -> 'micro F1'; unknown names as they are."""
    return METRIC_LABELS.get(name, name.replace("_", " "))
