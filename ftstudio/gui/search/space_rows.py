"""The editor of one searched setting, as a row of the space editor: a range, ticks, or a list.

A number setting gets a range: low and high in the very editors Setup uses for it (spin boxes
with its range and decimals, the learning rate's text field), a "log" tick and an optional step.
A setting with choices, or a switch, gets a tick per allowed value; a free-text setting (the
strategy, LoRA's targets) a typed list. Each row only gathers what is typed, as a `[space]`
entry; `engine.search.space` judges it. Presets are what a practitioner tries first.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QWidget

from ftstudio.engine.search.results import format_param
from ftstudio.engine.settings import SettingSpec
from ftstudio.gui.setup.setting_editors import connect_edited, editor_value, make_editor, show_value
from ftstudio.gui.setup.setting_labels import CHOICE_LABELS, STRATEGY_CHOICES
from ftstudio.gui.style import set_invalid

# Ranges offered when a setting is first ticked (else: from its minimum to its default).
PRESET_RANGES: dict[str, dict[str, Any]] = {
    "learning_rate": {"low": 1e-5, "high": 3e-4, "log": True},
    "epochs": {"low": 1, "high": 5},
    "batch_size": {"low": 8, "high": 64, "log": True},
    "grad_accum": {"low": 1, "high": 4},
    "max_length": {"low": 64, "high": 256, "log": True},
    "warmup_ratio": {"low": 0.0, "high": 0.2},
    "weight_decay": {"low": 0.0, "high": 0.1},
    "momentum": {"low": 0.8, "high": 0.99},
    "max_grad_norm": {"low": 0.5, "high": 2.0},
    "classifier_dropout": {"low": 0.0, "high": 0.3},
    "reinit_top_layers": {"low": 0, "high": 2},
    "layerwise_lr_decay": {"low": 0.8, "high": 1.0},
    "lora_rank": {"low": 4, "high": 32, "log": True},
    "lora_alpha": {"low": 8.0, "high": 64.0},
    "lora_dropout": {"low": 0.0, "high": 0.2},
    "mlm_probability": {"low": 0.1, "high": 0.2},
}
# Free-text settings searched as a typed list: (separator, preset, example). LoRA's targets may
# hold commas themselves (query,value), so their values are separated by semicolons.
TEXT_LISTS: dict[str, tuple[str, list[str], str]] = {
    "strategy": (",", ["full", "bottom-3"], "e.g. full, head, bottom-3, lora"),
    "lora_targets": (";", ["auto"], "e.g. auto; query,value"),
}


class SpaceRow(QWidget):
    """The editor of one setting's `[space]` entry. Signals: sig_changed() on any edit."""

    sig_changed = Signal()

    def __init__(self, spec: SettingSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def entry(self) -> Any:
        """The entry as a space file holds it: a {low, high, log, step} table or a list."""
        raise NotImplementedError

    def set_entry(self, entry: Any) -> None:
        raise NotImplementedError

    def editors(self) -> list[QWidget]:
        """The fields outlined when the engine refuses this entry."""
        raise NotImplementedError

    def mark_invalid(self, invalid: bool) -> None:
        for widget in self.editors():
            set_invalid(widget, invalid)

    def _emit(self) -> None:
        self.sig_changed.emit()

    def _watch(self, widget: QWidget) -> None:
        # A text field reports each key: its number is judged as typed, not only once complete.
        if isinstance(widget, QLineEdit):
            widget.textChanged.connect(lambda _text: self._emit())
        else:
            connect_edited(widget, self._emit)


class RangeRow(SpaceRow):
    """low .. high in the setting's own editors, a log tick, an optional step; or, with "list",
    the values to try typed out (batch sizes 16, 32, 64), read as the setting's type by the engine."""

    def __init__(self, spec: SettingSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.low, self.high = make_editor(spec, "low"), make_editor(spec, "high")
        self.low.setObjectName(f"{spec.name}_low")
        self.high.setObjectName(f"{spec.name}_high")
        self.log = QCheckBox("log")
        self.log.setToolTip("Draw on a log scale: as many tries between 1e-5 and 1e-4 as between 1e-4 and 1e-3.")
        self.use_step = QCheckBox("step")
        self.use_step.setToolTip("Only multiples of the step above low (the grid sampler needs one for a range).")
        self.step = make_editor(spec, "step")
        self.step.setObjectName(f"{spec.name}_step")
        self.listed = QCheckBox("list")
        self.listed.setToolTip("Give the values to try instead of a range.")
        self.values = QLineEdit()
        self.values.setObjectName(f"{spec.name}_values")
        self.values.setPlaceholderText("values separated by commas, e.g. 16, 32, 64" if spec.value_type is int
                                       else "values separated by commas, e.g. 0.1, 0.2")
        for widget in (self.low, self.high, self.step, self.values):
            widget.setMinimumWidth(60)
            self._watch(widget)
        self.log.toggled.connect(lambda _on: self._emit())
        self.use_step.toggled.connect(self._on_step_toggled)
        self.listed.toggled.connect(self._on_listed_toggled)
        # Two lines, so that the form fits a narrow column: low to high, then log and step.
        self._to = QLabel("to")
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.addWidget(self.low, 0, 0)
        grid.addWidget(self._to, 0, 1)
        grid.addWidget(self.high, 0, 2)
        grid.addWidget(self.values, 0, 0, 1, 3)
        extras = QHBoxLayout()
        for widget in (self.log, self.use_step):
            extras.addWidget(widget)
        extras.addWidget(self.step, 1)
        extras.addWidget(self.listed)
        grid.addLayout(extras, 1, 0, 1, 3)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(2, 1)
        self._layout.addLayout(grid, 1)
        self.set_entry(preset_range(spec))

    def entry(self) -> Any:
        if self.listed.isChecked():
            return [part.strip() for part in self.values.text().split(",") if part.strip()]
        entry: dict[str, Any] = {"low": editor_value(self.low), "high": editor_value(self.high)}
        if self.log.isChecked():
            entry["log"] = True
        if self.use_step.isChecked():
            entry["step"] = editor_value(self.step)
        return entry

    def set_entry(self, entry: Any) -> None:
        widgets = (self.low, self.high, self.step, self.log, self.use_step, self.listed, self.values)
        for widget in widgets:
            widget.blockSignals(True)
        try:
            if isinstance(entry, list | tuple):
                self.listed.setChecked(True)
                self.values.setText(", ".join(format_param(value) for value in entry))
            else:
                self.listed.setChecked(False)
                show_value(self.low, entry["low"])
                show_value(self.high, entry["high"])
                self.log.setChecked(bool(entry.get("log", False)))
                self.use_step.setChecked(entry.get("step") is not None)
                step = entry.get("step")
                show_value(self.step, step if step is not None else _default_step(self.spec, entry))
        finally:
            for widget in widgets:
                widget.blockSignals(False)
        self._show_mode()
        self._emit()

    def editors(self) -> list[QWidget]:
        return [self.values] if self.listed.isChecked() else [self.low, self.high, self.step]

    def _on_step_toggled(self, on: bool) -> None:
        self.step.setEnabled(on)
        self._emit()

    def _on_listed_toggled(self, _on: bool) -> None:
        self._show_mode()
        self._emit()

    def _show_mode(self) -> None:
        listed = self.listed.isChecked()
        for widget in (self.low, self._to, self.high, self.log, self.use_step, self.step):
            widget.setVisible(not listed)
        self.values.setVisible(listed)
        self.step.setEnabled(self.use_step.isChecked())


class ChoicesRow(SpaceRow):
    """A tick per allowed value (a switch: on and off), every value ticked at first."""

    def __init__(self, spec: SettingSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        values: tuple[Any, ...] = (True, False) if spec.value_type is bool else spec.choices
        labels = CHOICE_LABELS.get(spec.name, {})
        self.ticks: list[tuple[Any, QCheckBox]] = []
        for value in values:
            text = ("on" if value else "off") if isinstance(value, bool) else labels.get(value, value)
            tick = QCheckBox(text)
            tick.setObjectName(f"{spec.name}_{value}")
            tick.setChecked(True)
            tick.toggled.connect(lambda _on: self._emit())
            self.ticks.append((value, tick))
            self._layout.addWidget(tick)
        self._layout.addStretch(1)

    def entry(self) -> list[Any]:
        return [value for value, tick in self.ticks if tick.isChecked()]

    def set_entry(self, entry: Any) -> None:
        chosen = list(entry) if isinstance(entry, list | tuple) else []
        for value, tick in self.ticks:
            tick.blockSignals(True)
            tick.setChecked(value in chosen)
            tick.blockSignals(False)
        self._emit()

    def editors(self) -> list[QWidget]:
        return [tick for _value, tick in self.ticks]


class TextListRow(SpaceRow):
    """Values typed as a list ("full, head, bottom-3")."""

    def __init__(self, spec: SettingSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.separator, preset, example = TEXT_LISTS.get(spec.name, (",", [str(spec.default)], ""))
        self.text = QLineEdit()
        self.text.setObjectName(f"{spec.name}_values")
        self.text.setPlaceholderText(example or f"values separated by '{self.separator}'")
        tip = f"The values to try, separated by '{self.separator}'."
        if spec.name == "strategy":
            tip += " " + "; ".join(f"{kind}: {words[0]}" for kind, words in STRATEGY_CHOICES.items()) + \
                   "; bottom-N: the lowest N layers frozen."
        self.text.setToolTip(tip)
        self._watch(self.text)
        self._layout.addWidget(self.text, 1)
        self.set_entry(preset)

    def entry(self) -> list[str]:
        return [part.strip() for part in self.text.text().split(self.separator) if part.strip()]

    def set_entry(self, entry: Any) -> None:
        values = entry if isinstance(entry, list | tuple) else [entry]
        joiner = f"{self.separator} "
        self.text.setText(joiner.join(str(value) for value in values))

    def editors(self) -> list[QWidget]:
        return [self.text]


def make_row(spec: SettingSpec) -> SpaceRow:
    """The row kind the setting's declaration calls for."""
    if spec.value_type is bool or spec.choices:
        return ChoicesRow(spec)
    if spec.is_number:
        return RangeRow(spec)
    return TextListRow(spec)


def preset_range(spec: SettingSpec) -> dict[str, Any]:
    """The range offered first: a known good one, else the setting's minimum up to its default."""
    if spec.name in PRESET_RANGES:
        return dict(PRESET_RANGES[spec.name])
    low = spec.lowest if spec.lowest is not None else 0
    high = spec.default if isinstance(spec.default, int | float) and spec.default > low else None
    if high is None:
        high = low + (10 if spec.value_type is int else 1)
        if spec.highest is not None:
            high = min(high, spec.highest)
    return {"low": low, "high": high}


def _default_step(spec: SettingSpec, entry: dict[str, Any]) -> float | int:
    """A step that gives a handful of grid points over the range."""
    if spec.value_type is int:
        return max(1, int((entry["high"] - entry["low"]) // 4))
    span = float(entry["high"]) - float(entry["low"])
    if span <= 0:
        return spec.resolution or 0.01
    step = 10 ** math.floor(math.log10(span / 4))
    if spec.decimals is not None:
        step = max(step, 10.0 ** -spec.decimals)
    return round(step, 12)
