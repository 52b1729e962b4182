"""A multi-label file test, label by label: precision, recall, F1, support and threshold.

Micro and macro F1 summarise; this table shows which labels the model has learnt and which it
misses (a rare label with F1 0 pulls macro F1 down). The F1 cell is tinted by its value, from the
palette, so the table reads in light and dark themes; support is how many rows have the label,
predicted how many rows the model gave it. For token classification (`entity_types=True`) the
rows are entity types, counted in entities, on their type's colour, with no threshold column.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ftstudio.gui.entity_colours import entity_colours
from ftstudio.gui.style import blend

COLUMNS = ("Label", "Precision", "Recall", "F1", "Support", "Predicted", "Threshold")
_TIPS = {
    "Precision": "Of the rows the model gave this label, the share that have it.",
    "Recall": "Of the rows that have this label, the share the model found.",
    "F1": "The harmonic mean of precision and recall.",
    "Support": "Rows of the file that have this label.",
    "Predicted": "Rows the model gave this label.",
    "Threshold": "The label is chosen when its probability reaches this value.",
}
ENTITY_COLUMNS = ("Type", "Precision", "Recall", "F1", "Support", "Predicted")
_ENTITY_TIPS = {
    "Precision": "Of the entities the model found of this type, the share that are true (same words, same type).",
    "Recall": "Of the true entities of this type, the share the model found exactly.",
    "F1": "The harmonic mean of precision and recall.",
    "Support": "Entities of this type in the file.",
    "Predicted": "Entities of this type the model found.",
}


class PerLabelTable(QTableWidget):
    """One row per label (or entity type, with `entity_types=True`); `set_rows(per_label,
    thresholds, label_names)` fills it from the engine's evaluation details, `rows()` returns the
    numbers shown. No signals."""

    def __init__(self, parent: QWidget | None = None, entity_types: bool = False) -> None:
        columns, tips = (ENTITY_COLUMNS, _ENTITY_TIPS) if entity_types else (COLUMNS, _TIPS)
        super().__init__(0, len(columns), parent)
        self._entity_types = entity_types
        self.setHorizontalHeaderLabels(list(columns))
        for i, name in enumerate(columns):
            tip = tips.get(name)
            if tip:
                self.horizontalHeaderItem(i).setToolTip(tip)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setMinimumSectionSize(72)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        self.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Maximum)
        self._rows: list[dict] = []

    def set_rows(self, per_label: dict[str, dict], thresholds: list[float] | dict | None,
                 label_names: list[str]) -> None:
        names = [n for n in label_names if n in per_label] + [n for n in per_label if n not in label_names]
        if isinstance(thresholds, dict):
            by_name = {str(k): float(v) for k, v in thresholds.items()}
        else:
            by_name = {n: float(t) for n, t in zip(label_names, thresholds or [], strict=False)}
        self._rows = [{"label": n, **per_label[n], "threshold": by_name.get(n)} for n in names]
        self.setRowCount(len(self._rows))
        highlight = self.palette().color(QPalette.ColorRole.Highlight)
        base = self.palette().color(QPalette.ColorRole.Base)
        for r, row in enumerate(self._rows):
            threshold = row["threshold"]
            cells = (
                row["label"],
                f"{row.get('precision', 0.0):.3f}",
                f"{row.get('recall', 0.0):.3f}",
                f"{row.get('f1', 0.0):.3f}",
                f"{int(row.get('support', 0)):,}",
                f"{int(row.get('predicted', 0)):,}",
                f"{threshold:.2f}" if threshold is not None else "–",
            )
            for c, text in enumerate(cells[: self.columnCount()]):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(r, c, item)
            f1 = max(0.0, min(1.0, float(row.get("f1", 0.0))))
            self.item(r, 3).setBackground(blend(base, highlight, 0.08 + 0.5 * f1))
            if self._entity_types:
                background, foreground = entity_colours(row["label"])
                self.item(r, 0).setBackground(QColor(background))
                self.item(r, 0).setForeground(QColor(foreground))

    def rows(self) -> list[dict]:
        return [dict(row) for row in self._rows]
