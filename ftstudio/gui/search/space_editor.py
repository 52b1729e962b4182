"""The search space as a form: every searchable setting, grouped as on Setup, ticked to search it.

Ticking a setting enables its row (space_rows.py); the ticked rows' entries make a `[space]`
table that `engine.search.space.parse_space` checks at each edit. Its message is shown in red
under the form, the refused row outlined; while the space is refused `space()` is None and the
panel keeps Start disabled. Settings left unticked keep Setup's values.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QGroupBox, QLabel, QScrollArea, QVBoxLayout, QWidget

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.search.space import NOT_SEARCHABLE, SearchSpace, parse_space
from ftstudio.gui.search.space_rows import SpaceRow, make_row
from ftstudio.gui.setup.setting_editors import setting_tooltip
from ftstudio.gui.setup.setting_labels import FORM_LABELS, form_groups
from ftstudio.gui.style import set_role

# Ticked when the tab opens: the setting that matters most in a fine-tune.
SEARCHED_AT_FIRST = ("learning_rate",)
INDENT = 24  # a ticked setting's editors, under its name


def searchable_groups() -> list[tuple[str, list[Any]]]:
    """Setup's groups of settings, less those a study cannot vary."""
    groups = []
    for title, specs in form_groups():
        kept = [spec for spec in specs if spec.name not in NOT_SEARCHABLE]
        if kept:
            groups.append((title, kept))
    return groups


class SpaceEditor(QWidget):
    """Tick a setting to search it and give its range or values; the message line says what the
    engine makes of the whole. Signals: sig_changed() after any edit (valid or not)."""

    sig_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: dict[str, SpaceRow] = {}
        self.ticks: dict[str, QCheckBox] = {}
        self._space: SearchSpace | None = None
        self._problem = ""
        self._problem_setting: str | None = None
        self._building = True
        self._build()
        self._building = False
        self._revalidate()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(4, 0, 4, 4)
        for title, specs in searchable_groups():
            box = QGroupBox(title)
            lines = QVBoxLayout(box)
            lines.setSpacing(3)
            for spec in specs:
                tick = QCheckBox(FORM_LABELS.get(spec.name, spec.name))
                tick.setObjectName(f"search_{spec.name}")
                tick.setToolTip(f"Search {spec.name}; unticked, it keeps Setup's value.\n\n{setting_tooltip(spec)}")
                # The editors of a ticked setting, under its name: the column stays narrow.
                row = make_row(spec)
                row.layout().setContentsMargins(INDENT, 0, 0, 4)
                row.setVisible(False)
                tick.toggled.connect(lambda on, r=row: self._on_ticked(r, on))
                row.sig_changed.connect(self._revalidate)
                lines.addWidget(tick)
                lines.addWidget(row)
                self.rows[spec.name], self.ticks[spec.name] = row, tick
            column.addWidget(box)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.message = QLabel()
        self.message.setObjectName("spaceMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.message)
        for name in SEARCHED_AT_FIRST:
            self.ticks[name].setChecked(True)

    # ------------------------------------------------------------------ public
    def space(self) -> SearchSpace | None:
        """The space ticked, as the engine parsed it; None while it is refused."""
        return self._space

    def problem(self) -> str:
        """The engine's message for the space ("" when it is fine)."""
        return self._problem

    def searched(self) -> list[str]:
        return [name for name, tick in self.ticks.items() if tick.isChecked()]

    def set_searched(self, name: str, on: bool = True) -> None:
        self.ticks[name].setChecked(on)

    def row(self, name: str) -> SpaceRow:
        return self.rows[name]

    def table(self) -> dict[str, Any]:
        """The ticked rows' entries, as a space file's [space] table."""
        return {name: self.rows[name].entry() for name in self.searched()}

    def set_space(self, table: dict[str, Any]) -> None:
        """Show a study's space: its settings ticked with their entries, the others not."""
        self._building = True
        try:
            for name, tick in self.ticks.items():
                if name in table:
                    self.rows[name].set_entry(table[name])
                tick.setChecked(name in table)
        finally:
            self._building = False
        self._revalidate()

    def show_problem(self, text: str, setting: str | None = None) -> None:
        """A problem found beyond the space itself (a value that cannot train with Setup's
        settings): shown like the engine's own until the next edit."""
        self._set_problem(text, setting)

    def set_editable(self, editable: bool) -> None:
        """Frozen while a study runs (its space is fixed in the study)."""
        for name, tick in self.ticks.items():
            tick.setEnabled(editable)
            self.rows[name].setEnabled(editable)

    # ------------------------------------------------------------------ checking
    def _on_ticked(self, row: SpaceRow, on: bool) -> None:
        row.setVisible(on)
        self._revalidate()

    def _revalidate(self) -> None:
        if self._building:
            return
        try:
            self._space = parse_space({"space": self.table()}, "space")
        except SettingsError as exc:
            self._space = None
            self._set_problem(str(exc), exc.setting)
        else:
            self._set_problem("", None)
        self.sig_changed.emit()

    def _set_problem(self, text: str, setting: str | None) -> None:
        if self._problem_setting in self.rows:
            self.rows[self._problem_setting].mark_invalid(False)
        self._problem, self._problem_setting = text, setting
        if setting in self.rows and text:
            self.rows[setting].mark_invalid(True)
        if text:
            self.message.setText(text)
            set_role(self.message, "error")
        else:
            self.message.setText(self._summary())
            set_role(self.message, "hint")

    def _summary(self) -> str:
        if self._space is None:
            return ""
        parts = [f"{FORM_LABELS.get(d.name, d.name)} {d.describe()}" for d in self._space.dimensions]
        count = len(parts)
        return f"Searching {count} setting{'s' if count != 1 else ''}: " + "; ".join(parts)
