"""How a setting is declared: one `setting(...)` per dataclass field, read back as a `SettingSpec`.

A training setting is a dataclass field whose metadata holds its rules: one-line help, group,
unit, allowed range or choices, and the resolution it is meant with. Validation, the CLI's
flags, the window's editors and tooltips, and settings files all read them from `specs_of()`
instead of restating them, so they can no longer drift apart. The declaration holds facts about
a setting, never presentation: labels, widget kinds and flag aliases belong to the window and
the CLI.

The metadata is plain data (no source parsing), so it works in a packaged app without sources.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_SPEC_KEY = "ftstudio.setting"
_VALUE_TYPES = (str, int, float, bool, dict)
# How a type reads in a message: "must be a whole number".
TYPE_WORDS = {str: "text", int: "a whole number", float: "a number", bool: "true or false", dict: "a table"}


@dataclass(frozen=True)
class SettingSpec:
    """Everything known about one setting, declared once on its `TrainSettings` field.

    `name`, `value_type`, `optional` and `default` come from the field itself (its annotation
    and default); the rest from `setting(...)`. Bounds are inclusive unless `*_excluded`;
    `decimals` is the resolution a float is meant with (spin boxes show that many digits, and
    an excluded bound's nearest allowed value is one step of it away); a float without
    `decimals` spans orders of magnitude (a learning rate) and is typed as text, any float
    being meant as written.
    """

    name: str
    value_type: type  # str, int, float, bool or dict
    optional: bool  # None is allowed (it means "detect")
    default: Any
    help: str  # one line, lower case, no final period: it becomes a tooltip and a flag's help
    group: str  # a heading: the window's form and `ftstudio train --help` group by it
    unit: str = ""  # what a number counts ("tokens", "steps"), when it counts something
    minimum: float | None = None
    maximum: float | None = None
    minimum_excluded: bool = False
    maximum_excluded: bool = False
    choices: tuple[str, ...] = ()
    step: float | None = None  # a sensible increment for a spin box (1, or 10^-decimals, if None)
    decimals: int | None = None
    at_minimum: str = ""  # what the minimum means when it is special ("off", "all rows")
    hint: str = ""  # advice added to a refusal ("2e-5..1e-4 suits BERT-style encoders")
    required: bool = False  # text that must not be empty

    # ------------------------------------------------------------------ derived facts
    @property
    def is_number(self) -> bool:
        return self.value_type in (int, float)

    @property
    def resolution(self) -> float | None:
        """The smallest meaningful difference: 1 for whole numbers, 10^-decimals for floats
        (None for a float typed as text: any float is meant as written)."""
        if self.value_type is int:
            return 1
        return 10.0 ** -self.decimals if self.decimals is not None else None

    @property
    def lowest(self) -> float | None:
        """The smallest value accepted, at the setting's resolution (None: no lower bound)."""
        if self.minimum is None or not self.minimum_excluded:
            return self.minimum
        if self.decimals is None:
            return math.nextafter(self.minimum, math.inf)
        return round(self.minimum + self.resolution, self.decimals)

    @property
    def highest(self) -> float | None:
        """The largest value accepted, at the setting's resolution (None: no upper bound)."""
        if self.maximum is None or not self.maximum_excluded:
            return self.maximum
        if self.decimals is None:
            return math.nextafter(self.maximum, -math.inf)
        return round(self.maximum - self.resolution, self.decimals)

    def allows(self, value: Any) -> bool:
        """Whether `value` (already of the right type) lies in the range and among the choices."""
        if self.choices:
            return value in self.choices
        if self.required and not str(value).strip():
            return False
        if not self.is_number:
            return True
        if isinstance(value, float) and not math.isfinite(value):
            return False
        low_ok = self.minimum is None or (value > self.minimum if self.minimum_excluded else value >= self.minimum)
        high_ok = self.maximum is None or (value < self.maximum if self.maximum_excluded else value <= self.maximum)
        return low_ok and high_ok

    # ------------------------------------------------------------------ words
    def allowed_text(self) -> str:
        """The allowed values in words, for messages, tooltips and --help ("" when anything goes).

        e.g. "between 8 and 8192 tokens", "above 0 and at most 1", "one of linear, cosine, constant".
        """
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if not self.is_number or (self.minimum is None and self.maximum is None):
            return ""
        unit = f" {self.unit}" if self.unit else ""
        special = f" ({self.at_minimum})" if self.at_minimum else ""
        low = high = ""
        if self.minimum is not None:
            low = f"above {format_number(self.minimum)}" if self.minimum_excluded else (
                f"{format_number(self.minimum)}{special}")
        if self.maximum is not None:
            high = f"below {format_number(self.maximum)}" if self.maximum_excluded else format_number(self.maximum)
        if low and high:
            if not self.minimum_excluded and not self.maximum_excluded:
                return f"between {low} and {high}{unit}"
            low = low if self.minimum_excluded else f"at least {low}"
            high = high if self.maximum_excluded else f"at most {high}"
            return f"{low} and {high}{unit}"
        if low:
            return (low if self.minimum_excluded else f"{low} or more") + unit
        return (high if self.maximum_excluded else f"at most {high}") + unit

    def refusal(self, value: Any) -> str:
        """The message for a value this setting does not allow: it names the setting, says what
        is allowed and what was given, plus the hint."""
        if not has_type(self, value):
            expected = TYPE_WORDS[self.value_type] + (" or nothing" if self.optional else "")
            return f"{self.name}: must be {expected} (got {value!r})."
        hint = f"; {self.hint}" if self.hint else ""
        if self.required and not str(value).strip():
            return f"{self.name}: must not be empty{hint}."
        return f"{self.name}: must be {self.allowed_text()} (got {value!r}){hint}."

    def explanation(self) -> list[str]:
        """The help line, then what is allowed and the default: a tooltip's lines, or --help's."""
        facts = [text for text in (self.allowed_text(), self._default_text()) if text]
        lines = [_sentence(self.help)]
        if facts:
            lines.append(_sentence("; ".join(facts)))
        return lines

    def _default_text(self) -> str:
        if self.default is None or self.value_type is dict:
            return ""
        if self.value_type is bool:
            return f"default: {'on' if self.default else 'off'}"
        if self.is_number and self.default == self.minimum and self.at_minimum:
            return f"default: {format_number(self.default)} ({self.at_minimum})"
        return f"default: {format_number(self.default) if self.is_number else self.default}"


def setting(default: Any = dataclasses.MISSING, *, help: str, group: str, unit: str = "",
            minimum: float | None = None, maximum: float | None = None,
            above: float | None = None, below: float | None = None, choices: tuple[str, ...] = (),
            step: float | None = None, decimals: int | None = None, at_minimum: str = "", hint: str = "",
            required: bool = False, default_factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field declaring one setting. `minimum`/`maximum` are inclusive bounds,
    `above`/`below` exclusive ones (give one of each pair at most)."""
    if minimum is not None and above is not None or maximum is not None and below is not None:
        raise ValueError("setting(): give minimum or above, maximum or below, not both")
    rules = SettingSpec(
        name="", value_type=object, optional=False, default=None,  # filled in by specs_of()
        help=help, group=group, unit=unit,
        minimum=above if above is not None else minimum, maximum=below if below is not None else maximum,
        minimum_excluded=above is not None, maximum_excluded=below is not None, choices=tuple(choices),
        step=step, decimals=decimals, at_minimum=at_minimum, hint=hint, required=required)
    metadata = {_SPEC_KEY: rules}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@functools.cache
def specs_of(cls: type) -> tuple[SettingSpec, ...]:
    """The complete spec of every field of a settings dataclass, in declaration order.

    Raises TypeError for a field declared without `setting()` or inconsistently (a default
    outside its own range, say): a programming error, caught by the first import in any test.
    """
    hints = typing.get_type_hints(cls)
    specs = []
    for field in dataclasses.fields(cls):
        rules = field.metadata.get(_SPEC_KEY)
        if rules is None:
            raise TypeError(f"{cls.__name__}.{field.name} is not declared with setting()")
        value_type, optional = _unpack_type(hints[field.name], field.name)
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        spec = dataclasses.replace(rules, name=field.name, value_type=value_type, optional=optional,
                                   default=default)
        _check_declaration(spec)
        specs.append(spec)
    return tuple(specs)


def format_number(value: float) -> str:
    """A number as a person writes it: 8192, 0.1, 5e-5 (no trailing zeros, no float noise)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    return re.sub(r"e([+-])0+(\d)", r"e\1\2", f"{value:g}")  # 5e-05 -> 5e-5


def has_type(spec: SettingSpec, value: Any) -> bool:
    """Whether `value` is of the setting's type (None only for optional settings). bool is not a
    number here (True is an int to Python), and an int is a fine float."""
    if value is None:
        return spec.optional
    if spec.value_type is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if spec.value_type is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, spec.value_type)


# ------------------------------------------------------------------ internals
def _unpack_type(hint: Any, name: str) -> tuple[type, bool]:
    """(value type, optional) from an annotation such as `int`, `str | None`, `dict[str, Any]`."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        kinds = [arg for arg in args if arg is not type(None)]
        if len(kinds) == 1 and len(args) == 2:
            return _unpack_type(kinds[0], name)[0], True
    base = typing.get_origin(hint) or hint
    if base in _VALUE_TYPES:
        return base, False
    raise TypeError(f"setting {name}: unsupported type {hint!r}")


def _check_declaration(spec: SettingSpec) -> None:
    def need(ok: bool, problem: str) -> None:
        if not ok:
            raise TypeError(f"setting {spec.name}: {problem}")

    excluded = spec.minimum_excluded or spec.maximum_excluded
    need(not excluded or spec.value_type is float, "only floats may have excluded bounds (above/below)")
    need(not spec.at_minimum or (spec.minimum is not None and not spec.minimum_excluded),
         "at_minimum needs an inclusive minimum")
    need(not spec.optional or spec.default is None, "an optional setting defaults to None (files omit None)")
    need(not (spec.choices or spec.required) or spec.value_type is str, "choices and required are for text")
    need(spec.is_number or (spec.minimum is None and spec.maximum is None), "a range needs a number")
    need(spec.help.strip() != "" and "\n" not in spec.help and not spec.help.endswith("."),
         "help is one line without a final period")
    if spec.default is not None:
        need(has_type(spec, spec.default) and spec.allows(spec.default), "the default must be allowed")


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")
