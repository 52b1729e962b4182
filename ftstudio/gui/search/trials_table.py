"""The study's trials as a sortable table: number, state, value, duration, pruned at, a column per
searched setting and the trial's message; the best trial's row stands out.

Cells are worded by `engine.search.results` (format_value, format_duration, format_param,
pruned_at_text), as the CLI's summary words them; sorting uses the numbers behind them.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from ftstudio.engine.search.results import (
    TrialRow,
    format_duration,
    format_param,
    format_value,
    pruned_at_text,
)
from ftstudio.engine.tasks.metric_names import metric_label
from ftstudio.gui.search.charts import setting_label, state_color
from ftstudio.gui.style import colors, is_dark

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
NUMBER_ROLE = Qt.ItemDataRole.UserRole + 2  # the trial number of a row, in every column
FIXED_COLUMNS = ("#", "State", "Value", "Duration", "Pruned at")
STATE_ORDER = {"complete": 0, "running": 1, "pruned": 2, "waiting": 3, "failed": 4}
_Index = QModelIndex | QPersistentModelIndex


class TrialsTableModel(QAbstractTableModel):
    """The rows of `set_rows`; the parameters' columns follow the space's order."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[TrialRow] = []
        self.params: list[str] = []
        self.metric = ""
        self.best: int | None = None

    def set_rows(self, rows: list[TrialRow], params: list[str], metric: str, best: int | None) -> None:
        """Show `rows`; the model is updated in place when only values changed (a live study),
        so selection and scrolling stay where the user left them."""
        params = list(params) + [name for row in rows for name in row.params if name not in params]
        params = list(dict.fromkeys(params))
        same_shape = params == self.params and metric == self.metric and len(rows) >= len(self.rows) and \
            [r.number for r in rows[:len(self.rows)]] == [r.number for r in self.rows]
        if not same_shape:
            self.beginResetModel()
            self.rows, self.params, self.metric, self.best = list(rows), params, metric, best
            self.endResetModel()
            return
        old = len(self.rows)
        self.best = best
        self.rows[:old] = rows[:old]
        if old:
            self.dataChanged.emit(self.index(0, 0), self.index(old - 1, self.columnCount() - 1))
        if len(rows) > old:
            self.beginInsertRows(QModelIndex(), old, len(rows) - 1)
            self.rows.extend(rows[old:])
            self.endInsertRows()

    def headers(self) -> list[str]:
        return [*FIXED_COLUMNS[:2], metric_label(self.metric) if self.metric else "Value", *FIXED_COLUMNS[3:],
                *(setting_label(name) for name in self.params), "Message"]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(FIXED_COLUMNS) + len(self.params) + 1

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.headers()[section]
        if role == Qt.ItemDataRole.ToolTipRole and len(FIXED_COLUMNS) <= section < len(FIXED_COLUMNS) + len(self.params):
            return self.params[section - len(FIXED_COLUMNS)]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.message or row.run_dir or None
        if role == SORT_ROLE:
            return self._sort_key(row, column)
        if role == NUMBER_ROLE:
            return row.number
        if role == Qt.ItemDataRole.ForegroundRole and column == 1 and row.state in ("complete", "pruned", "failed"):
            return QBrush(QColor(state_color(row.state)))
        if row.number == self.best:
            if role == Qt.ItemDataRole.FontRole:
                font = QFont()
                font.setBold(True)
                return font
            if role == Qt.ItemDataRole.BackgroundRole:
                tint = QColor(colors()["ok"])
                tint.setAlpha(70 if is_dark() else 45)
                return QBrush(tint)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 2, 3):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _text(self, row: TrialRow, column: int) -> str:
        if column == 0:
            return f"★ {row.number}" if row.number == self.best else str(row.number)
        if column == 1:
            return row.state
        if column == 2:
            return "" if row.value is None else format_value(row.value)
        if column == 3:
            return format_duration(row.duration)
        if column == 4:
            return pruned_at_text(row)
        if column < len(FIXED_COLUMNS) + len(self.params):
            name = self.params[column - len(FIXED_COLUMNS)]
            return format_param(row.params[name]) if name in row.params else ""
        return row.message

    def _sort_key(self, row: TrialRow, column: int) -> Any:
        if column == 0:
            return row.number
        if column == 1:
            return STATE_ORDER.get(row.state, 9)
        if column == 2:
            return row.value if row.value is not None else float("-inf")
        if column == 3:
            return row.duration if row.duration is not None else -1.0
        if column == 4:
            return row.pruned_at_epoch if row.pruned_at_epoch is not None else float("inf")
        if column < len(FIXED_COLUMNS) + len(self.params):
            value = row.params.get(self.params[column - len(FIXED_COLUMNS)])
            return value if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
        return row.message


class TrialsSortProxy(QSortFilterProxyModel):
    """Sorts by SORT_ROLE; values of mixed kinds (a number and a text) compare as text."""

    def lessThan(self, left: _Index, right: _Index) -> bool:  # noqa: N802 - Qt override
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)
