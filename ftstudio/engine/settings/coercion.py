"""Turning values read from a file or typed on the command line into each setting's type.

A settings file may say `epochs = 3.0` or `"true"`, and `--set epochs=3` arrives as text; each
value is converted to its declared type or refused in one line naming the setting. Ranges are
not checked here: `validate()` does that, so a file can be loaded, shown and then corrected.
"""

from __future__ import annotations

from typing import Any

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.settings.declaration import TYPE_WORDS, SettingSpec, specs_of

_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")
_NOT_CONVERTED = object()


def settings_from_mapping(cls: type, data: Any, source: str, renamed: dict[str, str] | None = None) -> dict[str, Any]:
    """The values of `data` converted to their settings' types, ready for `cls(**values)`.

    `source` names where the data came from (a file, "command line") in messages; `renamed` maps
    a setting's old name to its new one, so older settings files and run folders still load.
    Unknown keys and values that cannot be converted raise SettingsError.
    """
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: expected a table of settings, got {type(data).__name__}.")
    data = _with_new_names(data, renamed or {}, source)
    specs = {spec.name: spec for spec in specs_of(cls)}
    unknown = sorted(set(data) - set(specs), key=str)
    if unknown:
        raise SettingsError(
            f"{source}: unknown setting '{unknown[0]}'. Known settings: {', '.join(sorted(specs))}.", str(unknown[0]))
    return {name: coerce_value(specs[name], value, source) for name, value in data.items()}


def _with_new_names(data: dict[Any, Any], renamed: dict[str, str], source: str) -> dict[Any, Any]:
    both = [old for old, new in renamed.items() if old in data and new in data]
    if both:
        raise SettingsError(f"{source}: give '{renamed[both[0]]}' only ('{both[0]}' is its old name).", renamed[both[0]])
    return {renamed.get(key, key) if isinstance(key, str) else key: value for key, value in data.items()}


def coerce_value(spec: SettingSpec, value: Any, source: str = "settings") -> Any:
    """`value` as the setting's type, or SettingsError saying what was expected."""
    if spec.optional and (value is None or value == ""):
        return None
    converted = _convert(spec.value_type, value)
    if converted is _NOT_CONVERTED:
        expected = TYPE_WORDS[spec.value_type]
        raise SettingsError(f"{source}: setting '{spec.name}' must be {expected}, got {value!r}.", spec.name)
    return converted


def _convert(kind: type, value: Any) -> Any:
    if kind is str or kind is dict:
        return value if isinstance(value, kind) else _NOT_CONVERTED
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        return _NOT_CONVERTED
    if isinstance(value, bool):  # True is an int to Python, but never a number of epochs
        return _NOT_CONVERTED
    try:
        if kind is int:
            if isinstance(value, int):
                return value
            if isinstance(value, float):
                return int(value) if value.is_integer() else _NOT_CONVERTED
            return int(value) if isinstance(value, str) else _NOT_CONVERTED
        if isinstance(value, (int, float, str)):
            return float(value)
    except (ValueError, OverflowError):  # "three", or an integer too large for a float
        pass
    return _NOT_CONVERTED
