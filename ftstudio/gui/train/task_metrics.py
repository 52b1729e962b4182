"""Which metrics the Train and Runs tabs show for a run's task, grouped into plots, and how their
values read. No Qt here.

The task comes from the run's records: the info event and every evaluation carry it; a run made
before task types existed has none and is single-label. The metrics shown are the task's headline
ones (`Task.headline`: accuracy and macro F1; micro F1, macro F1 and subset accuracy; RMSE,
Pearson r and R²). Errors (lower is better, in the data's units for regression) and scores
(accuracy, F1, correlations: at most 1) get separate plots, so each axis fits its numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ftstudio.engine.tasks.base import LOWER_IS_BETTER
from ftstudio.engine.tasks.metric_names import metric_label

DEFAULT_TASK = "single-label"  # what a run whose records name no task is
SCORES, ERRORS = "scores", "errors"
HEADINGS = {SCORES: "Validation", ERRORS: "Validation error"}


@dataclass(frozen=True)
class MetricPlot:
    """One plot of validation metrics: SCORES or ERRORS, its heading and its metrics in order."""

    kind: str
    heading: str
    metrics: tuple[str, ...]


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
    return tuple(MetricPlot(kind, HEADINGS[kind], tuple(names)) for kind, names in groups.items())


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
