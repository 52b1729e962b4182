"""A confusion matrix as a heatmap table: counts in cells, label names on both axes.

Rows are the true label, columns the predicted one (the engine's convention). A cell's colour
is its share of its row (so a rare class's mistakes show as clearly as a common one's): correct
cells tint towards the palette's highlight, mistakes towards red, both blended from the palette's
base colour so the map reads in light and dark themes; the count's colour flips to keep contrast.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ftstudio.gui.style import blend, muted_color

_MISTAKE = QColor("#e0483d")
CAPTION = "Rows: true label · Columns: predicted label · Colour: share of the row"
_Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


def _luminance(color: QColor) -> float:
    return 0.2126 * color.redF() + 0.7152 * color.greenF() + 0.0722 * color.blueF()


class ConfusionModel(QAbstractTableModel):
    """Counts of (true, predicted) label pairs, with heatmap colours and explanatory tooltips."""

    def __init__(self, palette: QPalette, parent=None) -> None:
        super().__init__(parent)
        self._palette = palette
        self._labels: list[str] = []
        self._matrix: list[list[int]] = []

    def set_matrix(self, matrix: list[list[int]], labels: list[str]) -> None:
        self.beginResetModel()
        self._matrix = [[int(v) for v in row] for row in matrix]
        n = len(self._matrix)
        self._labels = [str(x) for x in labels][:n] + [str(i) for i in range(len(labels), n)]
        self.endResetModel()

    def set_palette(self, palette: QPalette) -> None:
        self._palette = palette
        if self._matrix:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._matrix) - 1, len(self._matrix) - 1))

    def rowCount(self, parent: _Index = _ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._matrix)

    def columnCount(self, parent: _Index = _ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._matrix)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self._labels):
            return self._labels[section]
        if role == Qt.ItemDataRole.ToolTipRole and 0 <= section < len(self._labels):
            axis = "Predicted" if orientation == Qt.Orientation.Horizontal else "True"
            return f"{axis} label: {self._labels[section]}"
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r, c = index.row(), index.column()
        count = self._matrix[r][c]
        row_total = sum(self._matrix[r])
        share = count / row_total if row_total else 0.0
        if role == Qt.ItemDataRole.DisplayRole:
            return str(count)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.BackgroundRole:
            return self._cell_color(r == c, share)
        if role == Qt.ItemDataRole.ForegroundRole:
            return (
                QColor("#000000") if _luminance(self._cell_color(r == c, share)) > 0.5 else QColor("#ffffff")
            )
        if role == Qt.ItemDataRole.ToolTipRole:
            what = "correct" if r == c else f"predicted as {self._labels[c]}"
            return f"True {self._labels[r]}, {what}: {count} of {row_total} ({share * 100:.1f}%)"
        return None

    def _cell_color(self, correct: bool, share: float) -> QColor:
        base = self._palette.color(QPalette.ColorRole.Base)
        hue = self._palette.color(QPalette.ColorRole.Highlight) if correct else _MISTAKE
        # Never fully zero: an empty cell stays the base colour, a 1-count cell already shows.
        strength = 0.0 if share <= 0 else 0.12 + 0.88 * share
        return blend(base, hue, strength)


class ConfusionView(QWidget):
    """The matrix with its axis captions; `set_matrix(matrix, labels)` fills it.

    Signals:
      sig_cell_clicked(str, str): a cell was clicked: its true (row) and predicted (column) label.
    `matrix()` and `labels()` expose what is shown (for tests and copying).
    """

    sig_cell_clicked = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ConfusionModel(self.palette(), self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setShowGrid(True)
        self.table.clicked.connect(self._on_clicked)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setMinimumSectionSize(64)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 14)
        # As big as the matrix (scrolling only when it does not fit), not a big empty grid.
        self.table.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.table.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Maximum)
        self.caption = QLabel(CAPTION)
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.table, 0, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout.addStretch(1)
        self._style_caption()

    def set_matrix(self, matrix: list[list[int]], labels: list[str], caption: str = CAPTION) -> None:
        """Show `matrix` (rows true, columns predicted) over `labels`, under `caption`."""
        self.model.set_matrix(matrix, labels)
        self.caption.setText(caption)

    def _on_clicked(self, index: QModelIndex) -> None:
        labels = self.labels()
        if 0 <= index.row() < len(labels) and 0 <= index.column() < len(labels):
            self.sig_cell_clicked.emit(labels[index.row()], labels[index.column()])

    def matrix(self) -> list[list[int]]:
        return [list(row) for row in self.model._matrix]

    def labels(self) -> list[str]:
        return list(self.model._labels)

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        # Follow a live theme switch: cell colours are derived from the palette.
        if event.type() == event.Type.PaletteChange:
            self.model.set_palette(self.palette())
            self._style_caption()
        super().changeEvent(event)

    def _style_caption(self) -> None:
        self.caption.setStyleSheet(f"color: {muted_color()};")
