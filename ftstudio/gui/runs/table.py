"""The runs list as a table: one row per run (status badge, run, task, model, data, best value,
steps, start), sort keys that put the best runs first, and the status badge's painting."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRectF,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from ftstudio.gui.train.task_metrics import describe_metric, goodness, task_title


def describe_best(summary: Any) -> str:
    """'macro F1 0.873', 'RMSE 12.74' (or '—' before the first evaluation)."""
    if summary.best_value is None:
        return "—"
    return describe_metric(summary.best_metric, summary.best_value)


def best_key(summary: Any) -> tuple[str, float]:
    """Sorts runs on their best value: those of one metric together, better values later (lower
    is better for RMSE or loss), runs without an evaluation first."""
    if summary.best_value is None:
        return (summary.best_metric, float("-inf"))
    return (summary.best_metric, goodness(summary.best_metric, summary.best_value))


def short_source(spec: str) -> str:
    """A model or data spec as a user recognises it: a file or folder by its name."""
    text = str(spec).rstrip("/\\")
    return Path(text).name if ("/" in text or "\\" in text) and Path(text).name else text


def model_text(summary: Any) -> str:
    """The run's model as the list shows it: another run's checkpoint reads 'from <run id>' (its
    folder name, best, says nothing), anything else by its name."""
    parent = getattr(summary, "parent_run", "")
    return f"from {parent}" if parent else short_source(summary.model)


COLUMNS = ("Status", "Run", "Task", "Model", "Data", "Best", "Steps", "Started")
SORT_ROLE = Qt.ItemDataRole.UserRole
# The training panel's state-badge colours (resources/style.qss): white text reads on each.
STATUS_COLORS = {
    "preparing": "#3f7fd6",
    "training": "#2e9d4f",
    "evaluating": "#2a8f8f",
    "saving": "#2a8f8f",
    "paused": "#c98a12",
    "stopping": "#c9651a",
    "stopped": "#7a7f87",
    "finished": "#2563c9",
    "failed": "#c62f2f",
}
_ROOT = QModelIndex()
_Index = QModelIndex | QPersistentModelIndex


class RunsTableModel(QAbstractTableModel):
    """One row per `RunSummary`; display text, raw sort keys (SORT_ROLE) and tooltips."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._runs: list[Any] = []

    def set_runs(self, runs: list[Any]) -> None:
        self.beginResetModel()
        self._runs = list(runs)
        self.endResetModel()

    def summary(self, row: int) -> Any:
        return self._runs[row]

    def summaries(self) -> list[Any]:
        return list(self._runs)

    def rowCount(self, parent: _Index = _ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._runs)

    def columnCount(self, parent: _Index = _ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        run, column = self._runs[index.row()], COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(run, column)
        if role == SORT_ROLE:
            return self._key(run, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == "Status" and run.message:
                return f"{run.status}: {run.message}"
            return {"Model": run.model, "Data": run.data, "Run": str(run.run_dir), "Task": task_title(run.task),
                    "Best": _best_tip(run)}.get(column, self._text(run, column))
        if role == Qt.ItemDataRole.TextAlignmentRole and column in ("Best", "Steps"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(run: Any, column: str) -> str:
        if column == "Status":
            return run.status
        if column == "Run":
            return run.run_id
        if column == "Task":
            return run.task
        if column == "Model":
            return model_text(run)
        if column == "Data":
            return short_source(run.data)
        if column == "Best":
            return describe_best(run)
        if column == "Steps":
            return f"{run.step} / {run.total_steps}" if run.total_steps else str(run.step)
        return datetime.fromtimestamp(run.created).strftime("%Y-%m-%d %H:%M")

    @staticmethod
    def _key(run: Any, column: str) -> Any:
        if column == "Best":
            # Lower is better for RMSE or loss: sort on "goodness" so descending means best first
            # (RunsSortProxy also keeps runs of one metric together).
            return best_key(run)[1]
        if column == "Steps":
            return run.step
        if column == "Started":
            return run.created
        return RunsTableModel._text(run, column).lower()


class RunsSortProxy(QSortFilterProxyModel):
    """Sorts the runs table on SORT_ROLE, except the Best column: there runs compare by their
    best metric first (an RMSE and an F1 are no more or less than each other), then best first
    within each metric (`best_key`)."""

    def lessThan(self, left, right) -> bool:  # noqa: N802 - Qt override
        source = self.sourceModel()
        if COLUMNS[left.column()] == "Best" and isinstance(source, RunsTableModel):
            return best_key(source.summary(left.row())) < best_key(source.summary(right.row()))
        return super().lessThan(left, right)


class StatusBadgeDelegate(QStyledItemDelegate):
    """Paints the status as a coloured badge, matching the training panel's state badge."""

    def paint(self, painter: QPainter, option, index) -> None:
        status = str(index.data() or "")
        # The cell as usual (selection and alternate-row background) minus its text...
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        # ...then the badge on top.
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        metrics = option.fontMetrics
        width = metrics.horizontalAdvance(status) + 16
        height = metrics.height() + 4
        rect = QRectF(option.rect.x() + 4, option.rect.center().y() - height / 2 + 1, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(STATUS_COLORS.get(status, "#7a7f87")))
        painter.drawRoundedRect(rect, height / 2, height / 2)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, status)
        painter.restore()

    def sizeHint(self, option, index):  # noqa: N802
        size = super().sizeHint(option, index)
        size.setWidth(option.fontMetrics.horizontalAdvance(str(index.data() or "")) + 28)
        return size


def _best_tip(run: Any) -> str:
    if run.best_value is None:
        return "No evaluation yet"
    better = "lower" if goodness(run.best_metric, 1.0) < 0 else "higher"
    return f"The best {describe_best(run)} of the run's evaluations ({better} is better)"
