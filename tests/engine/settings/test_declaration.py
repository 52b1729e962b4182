"""The settings declaration: every field fully declared, and validation generated from it."""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any

import pytest

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.settings import (
    FROZEN_LAYERS_RANGE,
    HELD_OUT_LIMIT,
    TrainSettings,
    setting,
    setting_help,
    setting_spec,
    setting_specs,
)
from ftstudio.engine.settings.declaration import has_type, specs_of

NUMBERS = [spec for spec in setting_specs() if spec.is_number]
CHOICES = [spec for spec in setting_specs() if spec.choices]


def refusal(**changes: Any) -> str:
    """The message validation gives for the default settings with `changes`."""
    with pytest.raises(SettingsError) as caught:
        TrainSettings().replace(**changes).validate()
    return str(caught.value)


def test_every_field_is_declared_with_help_type_group_and_default():
    specs = setting_specs()
    assert [spec.name for spec in specs] == [field.name for field in dataclasses.fields(TrainSettings)]
    defaults = TrainSettings()
    for spec in specs:
        assert spec.help and "\n" not in spec.help, spec.name
        assert spec.group, spec.name
        assert spec.value_type in (str, int, float, bool, dict), spec.name
        assert spec.default == getattr(defaults, spec.name), spec.name
        assert has_type(spec, spec.default), spec.name
    assert setting_help() == {spec.name: spec.help for spec in specs}


def test_every_number_has_a_range_that_contains_its_default():
    for spec in NUMBERS:
        assert spec.lowest is not None and spec.highest is not None, spec.name
        assert spec.lowest <= spec.default <= spec.highest, spec.name
        assert spec.allows(spec.default) and spec.allows(spec.lowest) and spec.allows(spec.highest), spec.name
    for spec in CHOICES:
        assert spec.default in spec.choices, spec.name


def _outside(spec, end: str) -> float:
    """The nearest value beyond one end of the range: the excluded bound itself, one whole number
    further, or the next float beyond an inclusive float bound."""
    bound, excluded = (spec.minimum, spec.minimum_excluded) if end == "low" else (spec.maximum, spec.maximum_excluded)
    if excluded:
        return bound
    if spec.value_type is int:
        return bound - 1 if end == "low" else bound + 1
    return math.nextafter(bound, -math.inf if end == "low" else math.inf)


@pytest.mark.parametrize("spec", NUMBERS, ids=lambda spec: spec.name)
def test_generated_validation_accepts_the_bounds_and_refuses_just_outside(spec):
    TrainSettings().replace(**{spec.name: spec.lowest}).validate()
    TrainSettings().replace(**{spec.name: spec.highest}).validate()
    for end in ("low", "high"):
        value = _outside(spec, end)
        message = refusal(**{spec.name: value})
        # Names the setting, says what is allowed, and what it got.
        assert message.startswith(f"{spec.name}: must be {spec.allowed_text()} (got {value!r})"), message


@pytest.mark.parametrize("spec", CHOICES, ids=lambda spec: spec.name)
def test_generated_validation_checks_choices(spec):
    TrainSettings().replace(**{spec.name: spec.choices[-1]}).validate()
    message = refusal(**{spec.name: "nope"})
    assert message == f"{spec.name}: must be one of {', '.join(spec.choices)} (got 'nope')."


def test_messages_keep_their_hints_and_units():
    assert refusal(learning_rate=-1.0) == (
        "learning_rate: must be above 0 and at most 1 (got -1.0); 2e-5..1e-4 suits BERT-style encoders.")
    assert "2e-5..1e-4 suits BERT-style encoders" in refusal(learning_rate=math.nan)
    assert refusal(max_length=4) == "max_length: must be between 8 and 8192 tokens (got 4)."
    assert refusal(seed=2**32) == "seed: must be between 0 and 4294967295 (got 4294967296)."
    assert refusal(max_steps=-1) == "max_steps: must be between 0 (use epochs) and 10000000 steps (got -1)."
    assert refusal(layerwise_lr_decay=0.0).endswith("(got 0.0); 1 means off.")
    assert refusal(model=" ") == "model: must not be empty; give default, a folder or a Hub id."
    assert refusal(data="") == "data: must not be empty; give sample, a file or a Hub dataset."


def test_wrong_types_are_refused_by_name():
    assert refusal(epochs="3") == "epochs: must be a whole number (got '3')."
    assert refusal(epochs=True) == "epochs: must be a whole number (got True)."
    assert refusal(group_by_length=1) == "group_by_length: must be true or false (got 1)."
    assert refusal(text_column=3) == "text_column: must be text or nothing (got 3)."
    assert refusal(extra=[1]) == "extra: must be a table (got [1])."
    TrainSettings(learning_rate=1, max_grad_norm=0).validate()  # an int is a fine float


def test_cross_field_rules_stay_explicit():
    message = refusal(validation_split=0.4, test_split=0.4)
    assert message.startswith("test_split: validation and test together must leave data to train on")
    assert f"below {HELD_OUT_LIMIT}" in message and "0.4 + 0.4" in message
    TrainSettings(validation_split=0.4, test_split=0.399).validate()
    assert "bottom-N (e.g. bottom-4)" in refusal(strategy="middle")
    low, high = FROZEN_LAYERS_RANGE
    for strategy in ("full", "head", "embeddings", "gradual", f"bottom-{low}", f"bottom-{high}"):
        TrainSettings(strategy=strategy).validate()
    assert refusal(strategy=f"bottom-{high + 1}") == (
        f"strategy: bottom-N needs N between {low} and {high} layers (got 'bottom-{high + 1}').")


def test_the_declaration_needs_no_source_code(monkeypatch):
    """A packaged app may ship without .py sources: nothing may read them."""

    def no_source(*_args: Any) -> str:
        raise OSError("could not get source code")

    monkeypatch.setattr(inspect, "getsource", no_source)
    monkeypatch.setattr(inspect, "getsourcelines", no_source)
    specs_of.cache_clear()
    try:
        assert setting_help()["seed"] == setting_spec("seed").help
        assert setting_spec("epochs").explanation() == ["Passes over the training split.",
                                                        "Between 1 and 1000; default: 3."]
    finally:
        specs_of.cache_clear()


def test_a_bad_declaration_fails_at_once():
    @dataclasses.dataclass
    class Undeclared:
        epochs: int = 3

    @dataclasses.dataclass
    class DefaultOutside:
        epochs: int = setting(0, help="passes", group="g", minimum=1, maximum=10)

    @dataclasses.dataclass
    class OpenIntBound:
        epochs: int = setting(3, help="passes", group="g", above=0, maximum=10)

    @dataclasses.dataclass
    class OptionalWithDefault:
        column: str | None = setting("text", help="a column", group="g")

    for cls, problem in ((Undeclared, "not declared with setting()"), (DefaultOutside, "default must be allowed"),
                         (OpenIntBound, "excluded bounds"), (OptionalWithDefault, "defaults to None")):
        with pytest.raises(TypeError, match=problem):
            specs_of(cls)
