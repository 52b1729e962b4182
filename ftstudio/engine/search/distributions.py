"""A space's dimension as an Optuna suggestion: the one place the space meets Optuna's API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

    from ftstudio.engine.search.space import Dimension


def suggest(trial: optuna.Trial, dimension: Dimension) -> Any:
    """The trial's value for `dimension` (drawn by the sampler, or fixed for a retried trial)."""
    if not dimension.is_range:
        return trial.suggest_categorical(dimension.name, list(dimension.choices))
    if dimension.value_type is int:
        return trial.suggest_int(dimension.name, int(dimension.low), int(dimension.high),
                                 step=int(dimension.step or 1), log=dimension.log)
    return trial.suggest_float(dimension.name, float(dimension.low), float(dimension.high),
                               step=dimension.step, log=dimension.log)
