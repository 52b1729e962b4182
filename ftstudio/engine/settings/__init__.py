"""Every training setting, declared once; validation, CLI flags, widgets and files derive from it.

- `declaration.py`: `setting(...)` (a dataclass field with its rules) and `SettingSpec`.
- `train_settings.py`: `TrainSettings`, the declaration itself, and the spec accessors.
- `validation.py`: the generated per-setting checks plus the few cross-field rules.
- `coercion.py`: values from files and the command line converted to each setting's type.
- `files.py`: JSON and TOML settings files (and how TOML keeps None and `extra`).
- `strategy.py`: the `strategy` setting's syntax, `parse_strategy`.
"""

from __future__ import annotations

from ftstudio.engine.settings.declaration import SettingSpec, format_number, setting
from ftstudio.engine.settings.strategy import FROZEN_LAYERS_RANGE, MAX_LAYERS, STRATEGY_KINDS, parse_strategy
from ftstudio.engine.settings.train_settings import (
    BEST_METRICS,
    DEVICES,
    MAX_STEPS,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULERS,
    TrainSettings,
    setting_help,
    setting_spec,
    setting_specs,
)
from ftstudio.engine.settings.validation import HELD_OUT_LIMIT

__all__ = [
    "BEST_METRICS", "DEVICES", "STRATEGY_KINDS", "FROZEN_LAYERS_RANGE", "HELD_OUT_LIMIT", "MAX_LAYERS", "MAX_STEPS",
    "OPTIMIZERS", "PRECISIONS", "SCHEDULERS", "SettingSpec", "TrainSettings", "format_number", "parse_strategy",
    "setting", "setting_help", "setting_spec", "setting_specs",
]
