"""One editor widget per setting, built from the setting's declaration, and reading/showing values.

The widget kind follows from the declared type: a check box for a switch, a combo for choices,
a spin box for a number with a resolution (range, step, decimals, special minimum and unit all
from the declaration), a text field for a float that spans orders of magnitude (a learning
rate, typed as 5e-5). Only presentation is decided here: labels and a few display rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QLocale
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget

from ftstudio.engine.settings import SettingSpec

_INT32_MAX = 2**31 - 1  # QSpinBox holds a C int
_GROUP_SEPARATOR_FROM = 100_000  # ranges this wide show 1,000,000 rather than 1000000


class WholeNumberSpinBox(QDoubleSpinBox):
    """A spin box for whole numbers beyond QSpinBox's 32-bit range (a seed up to 2^32-1).

    A double holds every whole number up to 2^53 exactly; zero decimals keep it whole.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(0)

    def whole_value(self) -> int:
        return int(round(self.value()))


def setting_tooltip(spec: SettingSpec) -> str:
    """The declaration's help, then what is allowed (range and unit, or choices) and the default."""
    return "\n".join(spec.explanation())


def make_editor(spec: SettingSpec, label: str, choice_labels: dict[str, str] | None = None,
                unit_suffix: bool = False) -> QWidget:
    """A widget editing `spec`, with its tooltip; `label` is shown by a check box, `choice_labels`
    name a combo's choices (the value itself where missing), `unit_suffix` shows the unit."""
    if spec.value_type is bool:
        widget: QWidget = QCheckBox(label)
    elif spec.choices:
        widget = QComboBox()
        for value in spec.choices:
            widget.addItem((choice_labels or {}).get(value, value), value)
    elif spec.value_type is int:
        widget = QSpinBox() if spec.highest <= _INT32_MAX else WholeNumberSpinBox()
        _configure_spin_box(widget, spec, unit_suffix)
    elif spec.value_type is float and spec.decimals is not None:
        widget = QDoubleSpinBox()
        widget.setDecimals(spec.decimals)
        _configure_spin_box(widget, spec, unit_suffix)
    elif spec.value_type is float:
        widget = QLineEdit()
        validator = QDoubleValidator(spec.lowest, spec.highest, 12, widget)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        validator.setLocale(QLocale.c())  # "5e-5" and "0.0001" whatever the system locale
        widget.setValidator(validator)
        widget.setPlaceholderText(f"e.g. {spec.default!r}")
    elif spec.value_type is str:
        widget = TextSettingEdit()
        widget.setPlaceholderText(str(spec.default or ""))
    else:  # pragma: no cover - a new kind of setting needs an editor here
        raise TypeError(f"no editor for setting {spec.name} ({spec.value_type.__name__})")
    widget.setToolTip(setting_tooltip(spec))
    widget.setObjectName(spec.name)
    return widget


def _configure_spin_box(widget: QSpinBox | QDoubleSpinBox, spec: SettingSpec, unit_suffix: bool) -> None:
    widget.setRange(spec.lowest, spec.highest)
    widget.setSingleStep(spec.step or spec.resolution)
    widget.setGroupSeparatorShown(spec.highest - spec.lowest >= _GROUP_SEPARATOR_FROM)
    if spec.at_minimum:
        widget.setSpecialValueText(spec.at_minimum)
    if unit_suffix and spec.unit:
        widget.setSuffix(f" {spec.unit}")
    widget.setKeyboardTracking(False)  # typing "128" is one change, not three


class TextSettingEdit(QLineEdit):
    """The editor of a free-text setting (LoRA's target modules): its text as typed, trimmed."""


def connect_edited(widget: QWidget, slot: Callable[[], None]) -> None:
    """Call `slot()` whenever the value of an editor made by `make_editor` changes (a text field:
    when editing is finished, not at each key)."""
    if isinstance(widget, QCheckBox):
        widget.toggled.connect(lambda _checked: slot())
    elif isinstance(widget, QComboBox):
        widget.currentIndexChanged.connect(lambda _index: slot())
    elif isinstance(widget, QSpinBox | QDoubleSpinBox):
        widget.valueChanged.connect(lambda _value: slot())
    elif isinstance(widget, QLineEdit):
        widget.editingFinished.connect(slot)
    else:
        raise TypeError(f"not a setting editor: {widget!r}")


def editor_value(widget: QWidget) -> Any:
    """The value an editor made by `make_editor` holds (NaN for an unreadable number, so that
    validation names the setting)."""
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, QComboBox):
        return widget.currentData()
    if isinstance(widget, WholeNumberSpinBox):
        return widget.whole_value()
    if isinstance(widget, QSpinBox | QDoubleSpinBox):
        return widget.value()
    if isinstance(widget, TextSettingEdit):
        return widget.text().strip()
    if isinstance(widget, QLineEdit):
        return parse_number(widget.text())
    raise TypeError(f"not a setting editor: {widget!r}")


def show_value(widget: QWidget, value: Any) -> None:
    """Show `value` in an editor made by `make_editor`."""
    if isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(widget, QComboBox):
        select_data(widget, value)
    elif isinstance(widget, QSpinBox | QDoubleSpinBox):
        widget.setValue(value)
    elif isinstance(widget, TextSettingEdit):
        widget.setText(str(value))
    elif isinstance(widget, QLineEdit):
        # repr: the shortest text that reads back as the same float (5e-05, 1.2345678e-05).
        widget.setText(repr(float(value)))
    else:
        raise TypeError(f"not a setting editor: {widget!r}")


def select_data(combo: QComboBox, value: Any) -> None:
    """Select the item whose data is `value` (unchanged when there is none)."""
    index = combo.findData(value)
    if index >= 0:
        combo.setCurrentIndex(index)


def parse_number(text: str) -> float:
    """A typed number ("3e-4", "0,001"), or NaN when it is not one."""
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        return float("nan")
