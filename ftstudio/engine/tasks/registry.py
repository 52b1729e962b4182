"""The task types ftstudio knows, by the name settings use, and the task of a saved checkpoint."""

from __future__ import annotations

from typing import Any

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.models.objectives import LANGUAGE_MODEL_HEADS
from ftstudio.engine.tasks.base import Task
from ftstudio.engine.tasks.language_modeling import LANGUAGE_MODEL_TASKS
from ftstudio.engine.tasks.multi_label import MultiLabelTask
from ftstudio.engine.tasks.regression import RegressionTask
from ftstudio.engine.tasks.single_label import SingleLabelTask
from ftstudio.engine.tasks.token_classification import TokenClassificationTask

# `pretrain` is one task with two objectives: the registry holds the masked one, and
# `Task.for_model` gives the one a model trains with.
TASKS: dict[str, Task] = {task.name: task for task in (SingleLabelTask(), MultiLabelTask(), RegressionTask(),
                                                       TokenClassificationTask(), LANGUAGE_MODEL_TASKS["masked"])}
TASK_CHOICES = ("auto", *TASKS)
# Every metric any task reports: what metric_for_best may name before the task is known.
ALL_METRICS = tuple(dict.fromkeys(("auto", "loss", *(m for t in TASKS.values() for m in t.metric_names))))


def get_task(name: str) -> Task:
    """The task type called `name`; SettingsError for an unknown one."""
    try:
        return TASKS[name]
    except KeyError:
        raise SettingsError(f"task: unknown task '{name}'; choose one of {', '.join(TASK_CHOICES)}.", "task") from None


def task_of_config(config: Any, saved: dict[str, Any] | None = None) -> Task:
    """The task of a checkpoint: as ftstudio saved it, else from its architecture (a token
    classifier, a language model) or transformers' problem_type (a checkpoint from elsewhere),
    else single-label."""
    name = (saved or {}).get("name")
    architectures = [str(a) for a in getattr(config, "architectures", None) or []]
    if isinstance(name, str) and name in TASKS:
        return TASKS[name].for_model(config)
    if any(a.endswith(LANGUAGE_MODEL_HEADS) for a in architectures):
        return TASKS["pretrain"].for_model(config)
    if any(a.endswith("ForTokenClassification") for a in architectures):
        return TASKS["token-classification"]
    problem = getattr(config, "problem_type", None)
    for task in TASKS.values():
        if task.problem_type == problem:
            return task
    if getattr(config, "num_labels", 2) == 1:
        return TASKS["regression"]
    return TASKS["single-label"]
