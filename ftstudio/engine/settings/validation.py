"""Checking a whole `TrainSettings`: the declared rules of each field, then the cross-field ones.

Type, range and choice checks are generated from each field's declaration (`SettingSpec.allows`
and `SettingSpec.refusal` word the message), so a new setting is checked the moment it is
declared. The rules that involve more than one value, or a syntax, are written out below.
Validation runs before any work, and its first refusal names the setting.
"""

from __future__ import annotations

from typing import Any

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.settings.declaration import has_type, specs_of
from ftstudio.engine.settings.strategy import strategy_problem

# validation_split + test_split must stay below this, so most of the data is left to train on.
HELD_OUT_LIMIT = 0.8


def validate_settings(settings: Any) -> None:
    """Raise SettingsError for the first setting that breaks its declaration or a cross-field rule."""
    for spec in specs_of(type(settings)):
        value = getattr(settings, spec.name)
        if not has_type(spec, value) or (value is not None and not spec.allows(value)):
            raise SettingsError(spec.refusal(value), spec.name)
    _check_cross_field_rules(settings)


def _check_cross_field_rules(settings: Any) -> None:
    problem = strategy_problem(settings.strategy)
    if problem:
        raise SettingsError(problem, "strategy")
    held_out = settings.validation_split + settings.test_split
    if not held_out < HELD_OUT_LIMIT:
        raise SettingsError(
            f"test_split: validation and test together must leave data to train on: validation_split + "
            f"test_split must stay below {HELD_OUT_LIMIT} (got {settings.validation_split} + {settings.test_split}).",
            "test_split")
