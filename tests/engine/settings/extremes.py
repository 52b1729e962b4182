"""Settings with every field at an extreme of its declared range: shared by the window's and the
CLI's tests, which must both load them unchanged (the check that would have caught the seed that
the settings allowed up to 2^32-1 and the window's spin box stopped at 2^31-1)."""

from __future__ import annotations

from typing import Any

from ftstudio.engine.settings import (
    FROZEN_LAYERS_RANGE,
    HELD_OUT_LIMIT,
    TrainSettings,
    setting_spec,
    setting_specs,
)


def extreme_settings(end: str) -> TrainSettings:
    """Every number at its lowest (end="min") or highest ("max") accepted value, choices at their
    first or last value, switches off or on, bottom-N at its smallest or largest N."""
    assert end in ("min", "max")
    values: dict[str, Any] = {}
    for spec in setting_specs():
        if spec.is_number:
            values[spec.name] = spec.lowest if end == "min" else spec.highest
        elif spec.choices:
            values[spec.name] = spec.choices[0 if end == "min" else -1]
        elif spec.value_type is bool:
            values[spec.name] = end == "max"
    values["strategy"] = f"bottom-{FROZEN_LAYERS_RANGE[0 if end == 'min' else 1]}"
    if end == "max":
        # The one cross-field rule: both held-out shares at their maximum would leave no training
        # data, so the validation share takes the largest value the rule leaves.
        spec = setting_spec("validation_split")
        values["validation_split"] = round(HELD_OUT_LIMIT - values["test_split"] - spec.resolution, spec.decimals)
        values.update(text_column="body", label_column="stars", extra={"view": {"zoom": None, "tabs": [1, "two"]}})
    return TrainSettings(**values)
