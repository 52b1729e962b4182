"""The checkpoints of one run (step folders plus best/ and last/), with their validation metrics:
the headline metrics of the run's task (accuracy and macro F1; micro F1, macro F1 and subset
accuracy; RMSE, Pearson r and R²) and the loss.

Rows come from disk (`engine.runs.listing.list_checkpoints`), re-read whenever a checkpoint event says
something changed: the engine prunes old step folders and moves best/ before it reports, so the
folder is the truth and a live run and a reopened past run look the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.tasks.metric_names import metric_label
from ftstudio.gui.train.task_metrics import DEFAULT_TASK, format_metric, headline_metrics, task_name


def columns_for(metrics: tuple[str, ...]) -> tuple[str, ...]:
    """The table's headers with `metrics` (names) as its metric columns."""
    return ("Checkpoint", "Step", *(_capitalized(metric_label(m)) for m in metrics), "Loss", "Best", "Folder")


def _capitalized(label: str) -> str:
    return label[:1].upper() + label[1:]


COLUMNS = columns_for(headline_metrics(DEFAULT_TASK))  # a single-label run's


class CheckpointsTable(QWidget):
    """A table of the run's checkpoints; double-click or "Open folder" shows one in the file manager.

    Signals:
      sig_open_requested(str path): a checkpoint folder is about to be opened (tests set
        `open_folders = False` to only get the signal).
    """

    sig_open_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.open_folders = True
        self._rows: list[dict[str, Any]] = []
        self.metrics = headline_metrics(DEFAULT_TASK)  # the metric columns, by name
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a path's ends say the most
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.doubleClicked.connect(self._on_double_clicked)
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        self._open = QPushButton("Open folder")
        self._open.setEnabled(False)
        self._open.clicked.connect(self._on_open_clicked)
        self._empty = QLabel("No checkpoints yet.")
        row = QHBoxLayout()
        row.addWidget(QLabel("Checkpoints"))
        row.addStretch(1)
        row.addWidget(self._open)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self._empty)

    # ------------------------------------------------------------------ data in
    def clear(self) -> None:
        self.run_dir = None
        self._fill([])

    def set_task(self, task: str | None, metrics: list[str] | tuple[str, ...] = ()) -> None:
        """Show the headline metrics of `task` (None: single-label, as runs made before task
        types); `metrics` are the names the run's info record lists, for a task not known here."""
        wanted = headline_metrics(task_name(task), metrics)
        if wanted != self.metrics:
            self.metrics = wanted
            headers = columns_for(wanted)
            self.table.setColumnCount(len(headers))
            self.table.setHorizontalHeaderLabels(headers)
            self._fill(self._rows)

    def headers(self) -> list[str]:
        return [self.table.horizontalHeaderItem(c).text() for c in range(self.table.columnCount())]

    def set_run(self, run_dir: str | Path | None) -> None:
        """Show `run_dir`'s checkpoints as they are on disk now."""
        self.run_dir = Path(run_dir) if run_dir else None
        self.refresh()

    def refresh(self) -> None:
        self._fill(self._read_rows() if self.run_dir else [])

    @Slot(object)
    def add_checkpoint(self, event: dict[str, Any]) -> None:
        """A live CheckpointEvent dict: re-read the run's folder (its run is found from the path)."""
        path = Path(str(event.get("path", "")))
        if self.run_dir is None and path.parent.name == "checkpoints":
            self.run_dir = path.parent.parent
        rows = self._read_rows() if self.run_dir else []
        if not any(r["step"] == event.get("step") and r["name"].startswith("step-") for r in rows):
            # Not listed (a path outside checkpoints/, or a read raced the writer): show the event.
            rows.append({"name": path.name, "step": event.get("step"), "metrics": event.get("metrics") or {},
                         "is_best": bool(event.get("is_best")), "path": str(path)})
        self._fill(rows)

    def rows(self) -> list[dict[str, Any]]:
        """What the table shows, one dict a row (name, step, metrics, is_best, path)."""
        return list(self._rows)

    # ------------------------------------------------------------------ internals
    def _read_rows(self) -> list[dict[str, Any]]:
        from ftstudio.engine.runs.listing import list_checkpoints, read_checkpoint_step

        assert self.run_dir is not None
        rows = [{"name": c.path.name, "step": c.step, "metrics": c.metrics, "is_best": c.is_best,
                 "path": str(c.path)} for c in list_checkpoints(self.run_dir)]
        for name in ("best", "last"):
            folder = self.run_dir / name
            step = read_checkpoint_step(folder)
            if step is not None:
                rows.append({"name": f"{name}/", "step": step, "metrics": _metrics_of(folder),
                             "is_best": name == "best", "path": str(folder)})
        return rows

    def _fill(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            metrics = row["metrics"]
            cells = (row["name"], _fmt_int(row["step"]), *(format_metric(m, metrics.get(m)) for m in self.metrics),
                     format_metric("loss", metrics.get("loss")), "★" if row["is_best"] else "", row["path"])
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if 1 <= c < len(cells) - 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setToolTip(row["path"])
                self.table.setItem(r, c, item)
        self._empty.setVisible(not rows)
        self._on_selection_changed()

    def _selected_path(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self._rows[rows[0].row()]["path"] if rows else None

    @Slot()
    def _on_selection_changed(self) -> None:
        self._open.setEnabled(self._selected_path() is not None)

    @Slot(object)
    def _on_double_clicked(self, index) -> None:
        if 0 <= index.row() < len(self._rows):
            self.open_folder(self._rows[index.row()]["path"])

    @Slot()
    def _on_open_clicked(self) -> None:
        path = self._selected_path()
        if path:
            self.open_folder(path)

    def open_folder(self, path: str) -> None:
        self.sig_open_requested.emit(path)
        if self.open_folders:
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))


def _metrics_of(folder: Path) -> dict[str, float]:
    try:
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state.get("metrics") or {} if isinstance(state, dict) else {}


def _fmt_int(value: Any) -> str:
    return str(int(value)) if isinstance(value, (int, float)) else "—"
