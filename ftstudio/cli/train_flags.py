"""The `train` command's setting flags, generated from the settings declaration.

Every setting gets a flag named after it (`learning_rate` -> `--learning-rate`), typed, with its
choices, and a help line saying what it does, what is allowed and its default; switches come as
`--x/--no-x`. Flags are grouped under the declaration's headings in `ftstudio train --help`.
Only the short spellings scripts already use are written here; nothing about a setting's type,
range or default is.
"""

from __future__ import annotations

import argparse
from typing import Any

from ftstudio.engine.settings import SettingSpec, setting_specs

# Older spellings, kept working beside the generated names.
ALIASES: dict[str, tuple[str, ...]] = {
    "learning_rate": ("--lr",),
    "classifier_dropout": ("--dropout",),
    "early_stopping_patience": ("--patience",),
    "strategy": ("--freeze",),  # the strategy's name before LoRA joined the freezing strategies
}
# Short placeholders in --help ("--epochs N"); text settings keep argparse's (--model MODEL).
_METAVARS: dict[type, str] = {int: "N", float: "X"}
# Free-form data the window keeps with a run: a table, not something typed on a command line.
WITHOUT_FLAG = ("extra",)


def flag_of(name: str) -> str:
    """A setting's flag: `--learning-rate` for `learning_rate`."""
    return "--" + name.replace("_", "-")


def flag_specs() -> list[SettingSpec]:
    """The settings that have a flag, in declaration order."""
    return [spec for spec in setting_specs() if spec.name not in WITHOUT_FLAG]


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per setting (plus its aliases) to `parser`, grouped by the setting's group.

    Each flag's default is None, so `flag_values()` can tell a flag given from one left out and
    a settings file's value is only overridden by what was typed.
    """
    groups: dict[str, Any] = {}
    for spec in flag_specs():
        if spec.group not in groups:
            groups[spec.group] = parser.add_argument_group(f"{spec.group} settings")
        names = [flag_of(spec.name), *ALIASES.get(spec.name, ())]
        # argparse expands %-formats in help: a literal % must be doubled.
        help_text = " ".join(spec.explanation()).replace("%", "%%")
        if spec.value_type is bool:
            groups[spec.group].add_argument(*names, dest=spec.name, action=argparse.BooleanOptionalAction,
                                            default=None, help=help_text)
        else:
            groups[spec.group].add_argument(*names, dest=spec.name, type=spec.value_type, default=None,
                                            choices=spec.choices or None, metavar=_METAVARS.get(spec.value_type),
                                            help=help_text)


def add_settings_sources(parser: argparse.ArgumentParser, which: str = "") -> None:
    """--config, --set and every setting's flag: the settings of `train`, and the fixed settings of
    `job` and `search` (`which` says so in the help: "fixed "), read by cli.main.settings_from_args."""
    parser.add_argument("--config", help=f"{which}settings file (.json or .toml); flags override it")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help=f"a {which}setting by its name, e.g. --set metric_for_best=accuracy (flags override it)")
    add_setting_flags(parser)


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags on this command line, by setting name."""
    return {spec.name: getattr(args, spec.name) for spec in flag_specs()
            if getattr(args, spec.name, None) is not None}
