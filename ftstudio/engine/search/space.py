"""The search space: which settings a study varies, and over what.

A space file is TOML with one `[space]` table, an entry per setting:

    [space]
    learning_rate = { low = 1e-5, high = 3e-4, log = true }   # a range (step = ... for a grid)
    strategy = ["full", "bottom-3"]                           # a list of choices
    batch_size = [16, 32]

Every name and value is checked against the setting's own declaration (its type, range and
choices) before a trial runs, so a typo or an empty range is refused in words, not found an hour
into a study. The space is plain data (no Optuna here): the window builds and shows it, the CLI
reads it, and `search/study.py` turns each entry into an Optuna distribution.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.settings import TrainSettings, format_number, setting_spec
from ftstudio.engine.settings.coercion import coerce_value
from ftstudio.engine.settings.declaration import TYPE_WORDS, SettingSpec
from ftstudio.engine.settings.strategy import strategy_problem
from ftstudio.engine.settings.train_settings import RENAMED_SETTINGS

# Settings a study must not vary, and why: where or how a run is launched says nothing of how
# well it learns; what is learnt and how it is judged must be the same for every trial, or
# their values could not be compared.
_LAUNCH = "says where or how a run is launched, not how it learns"
_PROBLEM = "defines what is learnt or how trials are judged, and trials must share it"
NOT_SEARCHABLE: dict[str, str] = {
    **dict.fromkeys(("extra", "device", "processes", "sharding", "collective_timeout", "trust_remote_code",
                     "allow_pickle"), _LAUNCH),
    **dict.fromkeys(("data", "task", "text_column", "text_pair_column", "label_column", "label_separator",
                     "tag_names", "metric_for_best", "validation_split", "test_split", "max_samples"), _PROBLEM),
}
RANGE_KEYS = ("low", "high", "log", "step")
# A grid of more points than this is surely a mistake (a step far too small).
MAX_GRID_POINTS = 10_000


@dataclass(frozen=True)
class Dimension:
    """One searched setting: a numeric range (`low`..`high`, maybe log-scaled or stepped) or a
    list of `choices`. Values are of the setting's own type."""

    name: str
    choices: tuple[Any, ...] = ()
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None

    @property
    def is_range(self) -> bool:
        return not self.choices

    @property
    def value_type(self) -> type:
        return setting_spec(self.name).value_type

    def grid_values(self) -> list[Any]:
        """The values a grid search tries: the choices, or a stepped range's points."""
        if not self.is_range:
            return list(self.choices)
        if self.step is None:
            if self.value_type is int and self.high - self.low < 20 and not self.log:
                return list(range(int(self.low), int(self.high) + 1))
            raise SettingsError(
                f"space: the grid sampler needs the values of '{self.name}' listed, or a range with a step "
                f"({self.name} = {{ low = {format_number(self.low)}, high = {format_number(self.high)}, step = ... }}).",
                self.name)
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        values = [self.low + index * self.step for index in range(count)]
        if self.value_type is int:
            return [int(round(value)) for value in values]
        decimals = max(0, -math.floor(math.log10(abs(self.step)))) + 6
        return [round(value, decimals) for value in values]

    def to_mapping(self) -> Any:
        """The entry as written in a space file."""
        if not self.is_range:
            return list(self.choices)
        entry: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            entry["log"] = True
        if self.step is not None:
            entry["step"] = self.step
        return entry

    def describe(self) -> str:
        """In words, for tables and logs: "1e-05 .. 0.0003 (log)", "full, bottom-3"."""
        if not self.is_range:
            return ", ".join(_shown(value) for value in self.choices)
        text = f"{format_number(self.low)} .. {format_number(self.high)}"
        if self.step is not None:
            text += f" step {format_number(self.step)}"
        return text + (" (log)" if self.log else "")


@dataclass(frozen=True)
class SearchSpace:
    """The searched settings, in the order they were given."""

    dimensions: tuple[Dimension, ...]

    @property
    def names(self) -> list[str]:
        return [dimension.name for dimension in self.dimensions]

    def dimension(self, name: str) -> Dimension:
        for dimension in self.dimensions:
            if dimension.name == name:
                return dimension
        raise KeyError(name)

    def grid(self) -> dict[str, list[Any]]:
        """Every dimension's grid values by name (raises for a range without a step)."""
        grid = {dimension.name: dimension.grid_values() for dimension in self.dimensions}
        if self.grid_size(grid) > MAX_GRID_POINTS:
            raise SettingsError(f"space: the grid has {self.grid_size(grid):,} points, more than {MAX_GRID_POINTS:,}; "
                                "use fewer values or larger steps, or the tpe or random sampler.")
        return grid

    @staticmethod
    def grid_size(grid: dict[str, list[Any]]) -> int:
        return math.prod(len(values) for values in grid.values())

    def grid_points(self) -> list[dict[str, Any]]:
        """Every point of the grid, as parameter mappings (the window shows how many)."""
        grid = self.grid()
        return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]

    def to_mapping(self) -> dict[str, Any]:
        """As a space file's `[space]` table."""
        return {dimension.name: dimension.to_mapping() for dimension in self.dimensions}

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps({"space": self.to_mapping()})

    def save(self, path: str | Path) -> None:
        from ftstudio.engine.runs.atomic import atomic_write_text

        atomic_write_text(Path(path), self.to_toml())

    def apply(self, settings: TrainSettings, params: dict[str, Any]) -> TrainSettings:
        """`settings` with a trial's parameters in place of the fixed values."""
        return settings.replace(**{name: _as_setting_type(name, value) for name, value in params.items()})

    def check_with(self, settings: TrainSettings) -> None:
        """Raise SettingsError when a value of the space cannot train with the fixed `settings`
        (each choice, and each end of each range, validated with the rest of the settings)."""
        for dimension in self.dimensions:
            values = dimension.choices if not dimension.is_range else (dimension.low, dimension.high)
            for value in values:
                try:
                    settings.replace(**{dimension.name: value}).validate()
                except SettingsError as exc:
                    raise SettingsError(f"space: {dimension.name} = {_shown(value)} cannot train with the other "
                                        f"settings: {exc}", dimension.name) from None


def parse_space(data: Any, source: str = "space") -> SearchSpace:
    """The space of a space file's parsed contents (`{"space": {...}}`), checked in full."""
    if not isinstance(data, dict) or "space" not in data:
        raise SettingsError(f"{source}: expected a [space] table, one entry per searched setting, e.g. "
                            "learning_rate = { low = 1e-5, high = 3e-4, log = true }.")
    others = sorted(set(data) - {"space"})
    if others:
        raise SettingsError(f"{source}: unknown table '{others[0]}'; a space file holds only [space] (the fixed "
                            "settings come from --config and the train flags).")
    table = data["space"]
    if not isinstance(table, dict) or not table:
        raise SettingsError(f"{source}: [space] is empty; give at least one setting to search.")
    dimensions = [parse_dimension(name, entry, source) for name, entry in table.items()]
    names = [dimension.name for dimension in dimensions]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SettingsError(f"{source}: '{repeated[0]}' is given twice (once under its old name).", repeated[0])
    return SearchSpace(tuple(dimensions))


def load_space(path: str | Path) -> SearchSpace:
    """Read and check a space file (.toml)."""
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"Space file not found: {path}. Check the path given to --space.")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"Cannot read space file {path}: {exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"Space file {path.name} is not valid TOML: {exc}.") from None
    return parse_space(data, source=path.name)


def parse_dimension(name: Any, entry: Any, source: str = "space") -> Dimension:
    """One `[space]` entry: a list of choices or a { low, high, log, step } table."""
    spec = _searchable_spec(str(name), source)
    where = f"{source}: {spec.name}"
    if isinstance(entry, list):
        return _choices(spec, entry, where)
    if isinstance(entry, dict):
        return _range(spec, entry, where)
    if spec.value_type is bool:
        hint = "[true, false]"
    elif spec.is_number:
        hint = "{ low = ..., high = ... } or a list of values"
    else:
        hint = "a list of values"
    raise SettingsError(f"{where}: expected {hint}, got {entry!r}.", spec.name)


def _searchable_spec(name: str, source: str) -> SettingSpec:
    name = RENAMED_SETTINGS.get(name, name)
    try:
        spec = setting_spec(name)
    except KeyError:
        from ftstudio.engine.settings import setting_specs

        known = ", ".join(spec.name for spec in setting_specs() if spec.name not in NOT_SEARCHABLE)
        raise SettingsError(f"{source}: unknown setting '{name}'. Settings that can be searched: {known}.",
                            name) from None
    if name in NOT_SEARCHABLE:
        raise SettingsError(f"{source}: '{name}' {NOT_SEARCHABLE[name]}; set it as a fixed setting instead of "
                            "searching it.", name)
    return spec


def _choices(spec: SettingSpec, entry: list[Any], where: str) -> Dimension:
    if not entry:
        raise SettingsError(f"{where}: the list of values is empty; give at least one.", spec.name)
    values = []
    for raw in entry:
        if isinstance(raw, (dict, list)):
            raise SettingsError(f"{where}: each value must be {TYPE_WORDS[spec.value_type]}, got {raw!r}.", spec.name)
        value = coerce_value(spec, raw, where.split(":")[0])
        _check_allowed(spec, value, where)
        if value in values:
            raise SettingsError(f"{where}: {_shown(value)} is listed twice.", spec.name)
        values.append(value)
    return Dimension(spec.name, choices=tuple(values))


def _range(spec: SettingSpec, entry: dict[str, Any], where: str) -> Dimension:
    if not spec.is_number:
        raise SettingsError(f"{where}: a range needs a number setting; list the values instead, "
                            f"e.g. {spec.name} = [{_example_choices(spec)}].", spec.name)
    unknown = sorted(set(entry) - set(RANGE_KEYS))
    if unknown:
        raise SettingsError(f"{where}: unknown key '{unknown[0]}' in the range; use low, high, log and step.", spec.name)
    missing = [key for key in ("low", "high") if key not in entry]
    if missing:
        raise SettingsError(f"{where}: the range needs '{missing[0]}'.", spec.name)
    low, high = (_number(spec, entry[key], where, key) for key in ("low", "high"))
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise SettingsError(f"{where}: log must be true or false, got {log!r}.", spec.name)
    step = _number(spec, entry["step"], where, "step") if "step" in entry else None
    if not low < high:
        raise SettingsError(f"{where}: the range is empty: low ({format_number(low)}) must be below high "
                            f"({format_number(high)}).", spec.name)
    if log and low <= 0:
        raise SettingsError(f"{where}: a log range needs low above 0, got {format_number(low)}.", spec.name)
    for value in (low, high):
        _check_allowed(spec, value, where)
    if step is not None:
        if log:
            raise SettingsError(f"{where}: give log or step, not both (a log range has no fixed step).", spec.name)
        if step <= 0 or step > high - low:
            raise SettingsError(f"{where}: step must be above 0 and at most high - low "
                                f"({format_number(high - low)}), got {format_number(step)}.", spec.name)
    return Dimension(spec.name, low=low, high=high, log=log, step=step)


def _number(spec: SettingSpec, raw: Any, where: str, key: str) -> float | int:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise SettingsError(f"{where}: {key} must be {TYPE_WORDS[spec.value_type]}, got {raw!r}.", spec.name)
    if spec.value_type is int:
        if isinstance(raw, float) and not raw.is_integer():
            raise SettingsError(f"{where}: {key} must be a whole number, got {raw!r}.", spec.name)
        return int(raw)
    if not math.isfinite(raw):
        raise SettingsError(f"{where}: {key} must be a finite number, got {raw!r}.", spec.name)
    return float(raw)


def _check_allowed(spec: SettingSpec, value: Any, where: str) -> None:
    problem = strategy_problem(value) if spec.name == "strategy" else None
    if problem is None and not spec.allows(value):
        problem = f"{_shown(value)} is not allowed: {spec.name} must be {spec.allowed_text() or 'valid'}"
    if problem is not None:
        raise SettingsError(f"{where}: {problem.rstrip('.')}.", spec.name)


def _example_choices(spec: SettingSpec) -> str:
    if spec.choices:
        return ", ".join(f'"{choice}"' for choice in spec.choices[:2])
    return "true, false" if spec.value_type is bool else '"a", "b"'


def _as_setting_type(name: str, value: Any) -> Any:
    """An Optuna parameter as its setting's type (a float range stored 3.0 for an int, say)."""
    return coerce_value(setting_spec(name), value, "trial parameters")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format_number(value)
    return str(value)
