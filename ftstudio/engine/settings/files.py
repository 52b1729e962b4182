"""Settings files, JSON and TOML: a TOML save keeps exactly what a JSON save keeps.

TOML has no null, so two rules make it hold everything JSON does:

- A setting whose value is None is left out. Only optional settings may be None, and those
  default to None (the declaration refuses anything else), so loading restores the same value.
- `extra`, free-form data that may hold null anywhere inside, is written as JSON text
  (`extra = '{"view": null}'`), left out when empty. Reading accepts that text or a plain
  `[extra]` table written by hand.

Writing uses tomli-w and reading tomllib (tomli before Python 3.11): libraries made for it,
not string formatting.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.settings.declaration import SettingSpec

_TOML_NOTE = "# `extra` is JSON text: TOML cannot hold the null values it may contain.\n"


def load_settings(path: str | Path) -> tuple[dict[str, Any], str]:
    """(values, source) read from a .json or .toml file, for `TrainSettings.from_dict`.

    A run folder's settings.json wraps the settings with provenance; both shapes are accepted.
    """
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"Settings file not found: {path}. Check the path given to --config.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"Cannot read settings file {path}: {exc}.") from None
    data = _parse_toml(text, path) if _is_toml(path) else _parse_json(text, path)
    if isinstance(data, dict) and isinstance(data.get("settings"), dict):
        data = data["settings"]
    return data, str(path)


def save_settings(values: dict[str, Any], specs: Iterable[SettingSpec], path: str | Path) -> None:
    """Write `values` (a `to_dict()`) as TOML when the name ends in .toml, else JSON; atomically."""
    from ftstudio.engine.runs.atomic import atomic_write_text

    path = Path(path)
    if _is_toml(path):
        atomic_write_text(path, settings_to_toml(values, specs))
    else:
        atomic_write_text(path, json.dumps(values, indent=2) + "\n")


def settings_to_toml(values: dict[str, Any], specs: Iterable[SettingSpec]) -> str:
    """The TOML text of `values` under the two rules in this module's docstring."""
    import tomli_w

    defaults = {spec.name: spec.default for spec in specs}
    table: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            if defaults.get(name) is not None:  # loading would give the default, not None
                raise SettingsError(f"{name}: None cannot be saved as TOML; give a value or save as JSON.", name)
            continue
        if name == "extra":
            if value:
                table[name] = json.dumps(value)
            continue
        table[name] = value
    return (_TOML_NOTE if "extra" in table else "") + tomli_w.dumps(table)


def _is_toml(path: Path) -> bool:
    return path.suffix.lower() == ".toml"


def _parse_toml(text: str, path: Path) -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"Settings file {path} is not valid TOML: {exc}.") from None
    table = data.get("settings", data) if isinstance(data.get("settings"), dict) else data
    if isinstance(table.get("extra"), str):
        try:
            table["extra"] = json.loads(table["extra"])
        except json.JSONDecodeError as exc:
            raise SettingsError(
                f"Settings file {path}: extra must be JSON text or a table ({exc.msg} at column {exc.colno}).",
                "extra") from None
    return data


def _parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"Settings file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
