"""One past run in full: its curves (with other runs overlaid), settings and checkpoints.

Everything shown is read from the run folder through `ftstudio.engine.runs`, so a run trained
by the CLI, by another window or before a crash looks the same as one trained here.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ftstudio.gui.checkpoints_table import CheckpointsTable
from ftstudio.gui.probability_bars import error_color, muted_color
from ftstudio.gui.training_plots import TrainingPlots


def describe_best(summary: Any) -> str:
    """'f1 0.873' (or '—' before the first evaluation)."""
    if summary.best_value is None:
        return "—"
    return f"{summary.best_metric} {summary.best_value:.3f}"


def short_source(spec: str) -> str:
    """A model or data spec as a user recognises it: a file or folder by its name."""
    text = str(spec).rstrip("/\\")
    return Path(text).name if ("/" in text or "\\" in text) and Path(text).name else text


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
        """Show a run (an `engine.runs.RunSummary`), reading its metrics and settings from disk."""
        from ftstudio.engine import runs

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
        from ftstudio.engine import runs

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
        self.plots.shutdown()

    # ------------------------------------------------------------------ internals
    def _show_message(self, summary: Any) -> None:
        if not summary.message:
            self.message.hide()
            return
        failed = summary.status == "failed"
        color = error_color(self.palette()) if failed else muted_color(self.palette())
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
