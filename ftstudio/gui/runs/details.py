"""One run in full: its facts (status, task, model, data, the metrics of its best evaluation),
where its model came from (its lineage, when it started from another run), then its curves,
settings and checkpoints.

Everything shown is read from the run folder through `ftstudio.engine.runs.folder`, so a run trained
by the CLI, by another window or before a crash looks the same as one trained here.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
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

from ftstudio.gui.runs.table import describe_best, model_text, short_source
from ftstudio.gui.style import error_color, muted_color
from ftstudio.gui.train.checkpoints_table import CheckpointsTable
from ftstudio.gui.train.plots import TrainingPlots
from ftstudio.gui.train.task_metrics import describe_metric, task_metrics, task_title


class RunDetails(QWidget):
    """The selected run: a header (status, task, model, data, best, and every metric of the task
    at the best evaluation), its lineage, then Curves, Settings and Checkpoints tabs.
    `show_run(summary, listed)`, `set_overlays(summaries)` (runs of the shown run's task only:
    another task's metrics do not compare), `clear()`, `shutdown()`.

    Signals:
      sig_ancestor_clicked(str run_dir): a run named in the lineage was clicked (only runs of
        `listed` are links).
    """

    sig_ancestor_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary: Any = None
        # The shown run's metrics.jsonl lines already in its curves, and the last of them: a
        # resume cuts the log back, after which the same line count holds other records.
        self._records_shown: tuple[int, list[dict[str, Any]]] = (0, [])
        self.chain: list[Any] = []  # the shown run's lineage (engine.runs.lineage.Ancestor)
        self.overlay_ids: list[str] = []
        self.skipped: list[Any] = []  # runs asked to be overlaid but of another task
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
        self.best_metrics = QLabel("")
        self.best_metrics.setWordWrap(True)
        self.best_metrics.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.lineage = QLabel("")
        self.lineage.setObjectName("runLineage")
        self.lineage.setWordWrap(True)
        self.lineage.setTextFormat(Qt.TextFormat.RichText)
        self.lineage.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.lineage.linkActivated.connect(self._on_lineage_link)
        self.lineage.hide()
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
        layout.addWidget(self.lineage)
        layout.addWidget(self.best_metrics)
        layout.addWidget(self.message)
        layout.addWidget(self.tabs, 1)
        self.tabs.setEnabled(False)

    # ------------------------------------------------------------------ public
    def show_run(self, summary: Any, listed: Iterable[Path] = ()) -> None:
        """Show a run (an `engine.runs.listing.RunSummary`), reading its metrics and settings from
        disk; runs of its lineage that are in `listed` (run folders) become links. The run shown
        already (a live run re-read) has only its new records added to its curves, so a zoomed
        view stays."""
        from ftstudio.engine.runs import folder as runs

        same_run = self.summary is not None and self.summary.run_dir == summary.run_dir
        self.summary = summary
        self.tabs.setEnabled(True)
        self.title.setText(summary.run_id)
        created = datetime.fromtimestamp(summary.created).strftime("%Y-%m-%d %H:%M")
        steps = f"{summary.step} / {summary.total_steps}" if summary.total_steps else str(summary.step)
        esc = html.escape
        strategy = strategy_text(summary)
        self.facts.setText(
            f"<b>{esc(summary.status)}</b> · {esc(task_title(summary.task).lower())} · model "
            f"<b>{esc(model_text(summary))}</b>{' · ' + esc(strategy) if strategy else ''} · data "
            f"<b>{esc(short_source(summary.data))}</b> · best {esc(describe_best(summary))} · steps {steps} · "
            f"started {created}"
        )
        self.facts.setToolTip(f"Model: {summary.model}\nData: {summary.data}\nFolder: {summary.run_dir}")
        self._show_lineage(summary, listed)
        self._show_message(summary)
        records = runs.read_metrics(summary.run_dir)
        self.best_metrics.setText(best_evaluation_text(summary, records))
        shown, last = self._records_shown
        if same_run and len(records) >= shown and records[:shown][-1:] == last:
            self.plots.append_records(records[shown:])
        else:  # another run, or this one resumed (its log cut back to the checkpoint)
            self.plots.load_records(records)
        self._records_shown = (len(records), records[-1:])
        self._fill_settings(summary)
        info = next((r for r in records if r.get("event") == "info"), {})
        self.checkpoints.set_task(summary.task, info.get("metrics") or ())
        self.checkpoints.set_run(summary.run_dir)

    def set_overlays(self, summaries: list[Any]) -> None:
        """Overlay these runs' curves (dashed) on the shown run's, replacing earlier overlays; runs
        of another task than the shown run's are left out (listed in `skipped`)."""
        from ftstudio.engine.runs import folder as runs

        self.plots.clear_overlays()
        self.overlay_ids = []
        task = self.summary.task if self.summary is not None else None
        self.skipped = [other for other in summaries if other.task != task]
        for other in summaries:
            if other.task == task:
                self.plots.add_overlay(runs.read_metrics(other.run_dir), other.run_id)
                self.overlay_ids.append(other.run_id)

    def clear(self) -> None:
        self.summary = None
        self._records_shown = (0, [])
        self.overlay_ids = []
        self.skipped = []
        self.title.setText("Select a run to see its curves, settings and checkpoints.")
        self.facts.setText("")
        self.best_metrics.setText("")
        self.chain = []
        self.lineage.hide()
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
        """Stop the plots' timer and free pyqtgraph's context menus now, on this (main) thread
        (TrainingPlots.release_menus says why)."""
        self.plots.shutdown()
        self.plots.release_menus()

    def lineage_text(self) -> str:
        """The lineage line as shown, without markup ("" when the run started from a base model)."""
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setHtml(self.lineage.text())
        return doc.toPlainText() if self.lineage.isVisibleTo(self) else ""

    # ------------------------------------------------------------------ internals
    def _show_lineage(self, summary: Any, listed: Iterable[Path]) -> None:
        """'Started from: run X (continued pre-training on corpus.txt) ← base model', shown only
        for a run whose model came from another run (a base model is in the facts already)."""
        from ftstudio.engine.runs.lineage import RUN, ancestor_label, ancestor_note, lineage, started_from_run

        self.chain = lineage(summary.run_dir)
        if not started_from_run(self.chain):
            self.lineage.hide()
            return
        known = {_resolved(p) for p in listed}
        parts = []
        for index, ancestor in enumerate(self.chain):
            label = html.escape(ancestor_label(ancestor))
            if ancestor.kind == RUN and _resolved(ancestor.run_dir) in known:
                label = f'<a href="{index}">{label}</a>'
            note = ancestor_note(ancestor)
            parts.append(f"{label} <span style='color: {muted_color()};'>{html.escape(note)}</span>" if note else label)
        self.lineage.setText("Started from: " + " ← ".join(parts))
        self.lineage.setToolTip("\n".join(f"{ancestor_label(a)}: {a.checkpoint or a.run_dir or a.spec}"
                                          for a in self.chain))
        self.lineage.show()

    @Slot(str)
    def _on_lineage_link(self, href: str) -> None:
        try:
            ancestor = self.chain[int(href)]
        except (ValueError, IndexError):
            return
        if ancestor.run_dir is not None:
            self.sig_ancestor_clicked.emit(str(ancestor.run_dir))

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


def strategy_text(summary: Any) -> str:
    """How the run trained, when not every weight: 'LoRA rank 8 · adapter 1.2 MB' (the size of
    its adapter file, best/'s, else last/'s or the newest step folder's; without a size before
    the first checkpoint), 'strategy head'; '' for full fine-tuning."""
    settings = summary.settings or {}
    strategy = str(settings.get("strategy") or settings.get("freeze") or "full")  # (freeze: older runs)
    if strategy == "full":
        return ""
    if strategy != "lora":
        return f"strategy {strategy}"
    rank = settings.get("lora_rank")
    size = adapter_bytes(Path(summary.run_dir))
    return "LoRA" + (f" rank {rank}" if rank else "") + (f" · adapter {_size(size)}" if size is not None else "")


def adapter_bytes(run_dir: Path) -> int | None:
    """The size of a LoRA run's adapter file (best/'s, else last/'s, else the newest step
    folder's); None when it has none yet."""
    from ftstudio.engine.models.adapters import ADAPTER_DIR, ADAPTER_WEIGHTS
    from ftstudio.engine.runs.listing import list_checkpoints

    candidates = [run_dir / "best" / ADAPTER_DIR, run_dir / "last" / ADAPTER_DIR,
                  *(c.path for c in reversed(list_checkpoints(run_dir)))]
    for folder in candidates:
        try:
            return (folder / ADAPTER_WEIGHTS).stat().st_size
        except OSError:
            continue
    return None


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def best_evaluation_text(summary: Any, records: list[dict[str, Any]]) -> str:
    """Every metric of the run's task at its best evaluation, named for people, the one that
    picks the best in bold: 'Best evaluation, step 40: <b>RMSE 12.74</b> · MAE 10.72 · ...'."""
    evals = [r for r in records if r.get("event") == "eval" and r.get("split", "validation") == "validation"]
    if not evals:
        return ""
    best = next((r for r in evals if summary.best_value is not None and r.get(summary.best_metric) == summary.best_value),
                None)
    record, what = (best, "Best evaluation") if best is not None else (evals[-1], "Last evaluation")
    info = next((r for r in records if r.get("event") == "info"), {})
    parts = []
    for name in (*task_metrics(summary.task, info.get("metrics") or ()), "loss"):
        if name in record:
            text = html.escape(describe_metric(name, record[name]))
            parts.append(f"<b>{text}</b>" if name == summary.best_metric else text)
    return f"{what}, step {record.get('step')}: " + " · ".join(parts)


def _resolved(path: Any) -> Path | None:
    try:
        return Path(path).resolve() if path is not None else None
    except OSError:
        return Path(path)


def _fmt_value(value: Any) -> str:
    if value is None:
        return "auto"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
