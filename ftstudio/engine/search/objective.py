"""What a study optimises: the validation metric that picks each run's best checkpoint, and
whether higher or lower is better.

The metric must be known when the study is created (Optuna fixes the direction then). With
`metric_for_best = auto` it is the task's natural metric; when the task is `auto` too, the data
is read once to settle the task, exactly as the trials will.
"""

from __future__ import annotations

from ftstudio.engine.settings import TrainSettings


def study_metric(settings: TrainSettings) -> tuple[str, str]:
    """(metric, "maximize" or "minimize") for trials trained with `settings`."""
    from ftstudio.engine.tasks.base import LOWER_IS_BETTER
    from ftstudio.engine.tasks.registry import get_task

    metric = settings.metric_for_best
    if metric == "auto":
        metric = get_task(_task_name(settings)).best_metric
    return metric, "minimize" if metric in LOWER_IS_BETTER else "maximize"


def _task_name(settings: TrainSettings) -> str:
    if settings.task != "auto":
        return settings.task
    from ftstudio.engine.data.prepare import prepare_data

    return prepare_data(settings).task.name
