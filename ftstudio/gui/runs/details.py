"""How runs are shown: a row of the runs table, and one run in full (curves, settings, checkpoints).

Everything shown is read from the run folder through `ftstudio.engine.runs.folder`, so a run trained
by the CLI, by another window or before a crash looks the same as one trained here.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRectF, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QLabel,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ftstudio.gui.style import error_color, muted_color
from ftstudio.gui.train.checkpoints_table import CheckpointsTable
from ftstudio.gui.train.plots import TrainingPlots


def describe_best(summary: Any) -> str:
    """'f1 0.873' (or '—' before the first evaluation)."""
    if summary.best_value is None:
        return "—"
    return f"{summary.best_metric} {summary.best_value:.3f}"


def short_source(spec: str) -> str:
    """A model or data spec as a user recognises it: a file or folder by its name."""
    text = str(spec).rstrip("/\\")
    return Path(text).name if ("/" in text or "\\" in text) and Path(text).name else text


COLUMNS = ("Status", "Run", "Model", "Data", "Best", "Steps", "Started")
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
            return {"Model": run.model, "Data": run.data, "Run": str(run.run_dir)}.get(
                column, self._text(run, column)
            )
        if role == Qt.ItemDataRole.TextAlignmentRole and column in ("Best", "Steps"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(run: Any, column: str) -> str:
        if column == "Status":
            return run.status
        if column == "Run":
            return run.run_id
        if column == "Model":
            return short_source(run.model)
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
            # Loss is better when lower: sort on "goodness" so descending means best first.
            if run.best_value is None:
                return float("-inf")
            return -run.best_value if run.best_metric == "loss" else run.best_value
        if column == "Steps":
            return run.step
        if column == "Started":
            return run.created
        return RunsTableModel._text(run, column).lower()


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


class RunDetails(QWidget):
    """The selected run: a header (status, model, data, best), then Curves, Settings and
    Checkpoints tabs. `show_run(summary)`, `set_overlays(summaries)`, `clear()`, `shutdown()`.
    Emits no signals.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary: Any = None
        self.overlay_ids: list[str] = []
        self.title = QLabel("Select a run to see its curves, settings and checkpoints.")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts = QLabel("")
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()

        self.plots = TrainingPlots()
        self.settings_table = QTableWidget(0, 2)
        self.settings_table.setHorizontalHeaderLabels(["Setting", "Value"])
        self.settings_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.settings_table.verticalHeader().setVisible(False)
        self.settings_table.setAlternatingRowColors(True)
        header = self.settings_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.checkpoints = CheckpointsTable()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.plots, "Curves")
        self.tabs.addTab(self.settings_table, "Settings")
        self.tabs.addTab(self.checkpoints, "Checkpoints")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.facts)
        layout.addWidget(self.message)
        layout.addWidget(self.tabs, 1)
        self.tabs.setEnabled(False)

    # ------------------------------------------------------------------ public
    def show_run(self, summary: Any) -> None:
        """Show a run (an `engine.runs.listing.RunSummary`), reading its metrics and settings from disk."""
        from ftstudio.engine.runs import folder as runs

        self.summary = summary
        self.tabs.setEnabled(True)
        self.title.setText(summary.run_id)
        created = datetime.fromtimestamp(summary.created).strftime("%Y-%m-%d %H:%M")
        steps = f"{summary.step} / {summary.total_steps}" if summary.total_steps else str(summary.step)
        esc = html.escape
        self.facts.setText(
            f"<b>{esc(summary.status)}</b> · model <b>{esc(short_source(summary.model))}</b> · data "
            f"<b>{esc(short_source(summary.data))}</b> · best {esc(describe_best(summary))} · steps {steps} · "
            f"started {created}"
        )
        self.facts.setToolTip(f"Model: {summary.model}\nData: {summary.data}\nFolder: {summary.run_dir}")
        self._show_message(summary)
        self.plots.load_records(runs.read_metrics(summary.run_dir))
        self._fill_settings(summary)
        self.checkpoints.set_run(summary.run_dir)

    def set_overlays(self, summaries: list[Any]) -> None:
        """Overlay these runs' curves (dashed) on the shown run's, replacing earlier overlays."""
        from ftstudio.engine.runs import folder as runs

        self.plots.clear_overlays()
        self.overlay_ids = []
        for other in summaries:
            self.plots.add_overlay(runs.read_metrics(other.run_dir), other.run_id)
            self.overlay_ids.append(other.run_id)

    def clear(self) -> None:
        self.summary = None
        self.overlay_ids = []
        self.title.setText("Select a run to see its curves, settings and checkpoints.")
        self.facts.setText("")
        self.message.hide()
        self.plots.clear_overlays()
        self.plots.load_records([])
        self.settings_table.setRowCount(0)
        self.checkpoints.clear()
        self.tabs.setEnabled(False)

    def settings_rows(self) -> list[tuple[str, str]]:
        table = self.settings_table
        return [(table.item(r, 0).text(), table.item(r, 1).text()) for r in range(table.rowCount())]

    def shutdown(self) -> None:
        """Stop the plots' timer and free pyqtgraph's context menus now, on this (main) thread.

        pyqtgraph's menus are parentless Python-owned QMenus inside reference cycles: left to
        the cycle collector they can be freed while a worker thread runs the collection, which
        shiboken then defers to the main thread, and that deferred delete has deadlocked the
        GUI tests against pooled threads. Deleting them here makes their end deterministic.
        """
        import shiboken6

        self.plots.shutdown()
        for plot in (self.plots.loss_plot, self.plots.metric_plot, self.plots.lr_plot):
            menus = (plot.vb.menu, plot.ctrlMenu)
            plot.setMenuEnabled(False)  # pyqtgraph forgets the view box menu; right-click is a no-op
            plot.ctrlMenu = None  # PlotItem.close() treats None as "already shut down"
            for menu in menus:
                if menu is not None and shiboken6.isValid(menu):
                    shiboken6.delete(menu)

    # ------------------------------------------------------------------ internals
    def _show_message(self, summary: Any) -> None:
        if not summary.message:
            self.message.hide()
            return
        failed = summary.status == "failed"
        color = error_color() if failed else muted_color()
        self.message.setStyleSheet(f"color: {color};")
        self.message.setText(summary.message)
        self.message.show()

    def _fill_settings(self, summary: Any) -> None:
        from ftstudio.engine.settings import setting_help

        help_by_name = setting_help()  # the same one-liners as the setup panel's tooltips
        rows = [(key, _fmt_value(value)) for key, value in summary.settings.items() if key != "extra"]
        self.settings_table.setRowCount(len(rows))
        for r, (key, value) in enumerate(rows):
            for c, text in enumerate((key, value)):
                item = QTableWidgetItem(text)
                item.setToolTip(help_by_name.get(key, "") if c == 0 else text)
                self.settings_table.setItem(r, c, item)


def _fmt_value(value: Any) -> str:
    if value is None:
        return "auto"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
