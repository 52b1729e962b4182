"""Which metrics the Train and Runs tabs show for a run's task, grouped into plots, and how their
values read. No Qt here.

The task comes from the run's records: the info event and every evaluation carry it; a run made
before task types existed has none and is single-label. The metrics shown are the task's headline
ones (`Task.headline`: accuracy and macro F1; micro F1, macro F1 and subset accuracy; RMSE,
Pearson r and R²). Errors (lower is better, in the data's units for regression) and scores
(accuracy, F1, correlations: at most 1) get separate plots, so each axis fits its numbers.

Pre-training's perplexity is an error with two twists, declared here rather than tested for in
the plots: it has a training curve too (the exponential of the training loss), and it is drawn
on a log axis, because a fresh language-model head starts in the thousands and ends near ten.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ftstudio.engine.tasks.base import LOWER_IS_BETTER
from ftstudio.engine.tasks.metric_names import metric_label

DEFAULT_TASK = "single-label"  # what a run whose records name no task is
SCORES, ERRORS = "scores", "errors"
HEADINGS = {SCORES: "Validation", ERRORS: "Validation error"}
# Metrics whose plot has a log y axis (their values span orders of magnitude in one run).
LOG_SCALE = frozenset({"perplexity"})
# Metrics that also have a training curve, computed from the training loss as the engine defines
# them on the validation loss (perplexity = exp(loss)); a plot of one is headed with its name.
FROM_TRAINING_LOSS = {"perplexity": "exp"}


@dataclass(frozen=True)
class MetricPlot:
    """One plot of validation metrics: SCORES or ERRORS, its heading and its metrics in order."""

    kind: str
    heading: str
    metrics: tuple[str, ...]
    log: bool = False  # a log y axis (LOG_SCALE)
    training: tuple[str, ...] = ()  # metrics drawn for the training steps too (FROM_TRAINING_LOSS)


def task_name(value: Any) -> str:
    """The task a record or setting names; none (an older run) or 'auto' is single-label."""
    return value if isinstance(value, str) and value and value != "auto" else DEFAULT_TASK


def _task(name: str) -> Any:
    from ftstudio.engine.errors import SettingsError
    from ftstudio.engine.tasks.registry import get_task

    try:
        return get_task(name)
    except SettingsError:
        return None


def headline_metrics(task: str, metrics: Iterable[str] = ()) -> tuple[str, ...]:
    """The task's headline metrics; for a task this version does not know, the first three of
    `metrics` (the names its info record listed)."""
    found = _task(task_name(task))
    return tuple(found.headline) if found is not None else tuple(metrics)[:3]


def task_metrics(task: str, metrics: Iterable[str] = ()) -> tuple[str, ...]:
    """Every scalar metric of the task, in display order (or `metrics` for an unknown task)."""
    found = _task(task_name(task))
    return tuple(found.metric_names) if found is not None else tuple(metrics)


def task_title(task: str) -> str:
    """'Regression', 'Multi-label classification', ... (the name itself for an unknown task)."""
    found = _task(task_name(task))
    return found.title if found is not None else task_name(task)


def is_error(metric: str) -> bool:
    """Lower is better (loss, RMSE, MAE, MSE)."""
    return metric in LOWER_IS_BETTER


def metric_plots(task: str, metrics: Iterable[str] = ()) -> tuple[MetricPlot, ...]:
    """The validation plots of a task's headline metrics: scores and errors apart, in the order
    their first metric has in the headline (regression: RMSE first, then Pearson r and R²)."""
    groups: dict[str, list[str]] = {}
    for metric in headline_metrics(task, metrics):
        groups.setdefault(ERRORS if is_error(metric) else SCORES, []).append(metric)
    return tuple(_plot(kind, tuple(names)) for kind, names in groups.items())


def _plot(kind: str, names: tuple[str, ...]) -> MetricPlot:
    """A plot of `names`; one with a training curve is headed with its metric ("Perplexity"):
    it is not only validation."""
    training = tuple(name for name in names if name in FROM_TRAINING_LOSS)
    heading = _capitalized(metric_label(training[0])) if training else HEADINGS[kind]
    return MetricPlot(kind, heading, names, log=bool(names) and all(n in LOG_SCALE for n in names),
                      training=training)


def _capitalized(label: str) -> str:
    return label[:1].upper() + label[1:]


def from_training_loss(metric: str, loss: np.ndarray) -> np.ndarray:
    """The training curve of a FROM_TRAINING_LOSS metric, from training-loss values (perplexity:
    exp(loss), capped where it would overflow)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(np.minimum(loss, _MAX_EXP)) if FROM_TRAINING_LOSS.get(metric) == "exp" else loss


_MAX_EXP = 700.0  # exp(709) is the largest float64


def best_text(metric: str, value: Any = None) -> str:
    """How a best-checkpoint metric reads with its direction: 'perplexity 12.34 (lower is
    better)'; without a value, 'perplexity (lower is better)'. Scores say nothing: higher is
    what everyone expects of accuracy or F1."""
    text = describe_metric(metric, value) if value is not None else metric_label(metric)
    return f"{text} (lower is better)" if is_error(metric) and metric != "loss" else text


def format_metric(metric: str, value: Any) -> str:
    """A value as the tables and readouts show it: scores with three decimals, the loss with four,
    errors (any size, in the data's units) with four significant digits; '—' when missing."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "—"
    if metric == "loss":
        return f"{value:.4f}"
    if not is_error(metric):
        return f"{value:.3f}"
    # Four significant digits, trailing zeros kept so values of one size line up: 1.660, 12.50, 1235.
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    return f"{value:.{min(max(3 - magnitude, 0), 8)}f}"


def describe_metric(metric: str, value: Any) -> str:
    """'macro F1 0.873', 'RMSE 12.74'."""
    return f"{metric_label(metric)} {format_metric(metric, value)}"


def goodness(metric: str, value: float) -> float:
    """A number that is larger when `value` is better for `metric` (for sorting best first)."""
    return -value if is_error(metric) else value
