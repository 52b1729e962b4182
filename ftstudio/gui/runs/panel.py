"""Past runs: a sortable table read from the runs folder, and the selected run's details.

The table lists `engine.runs.listing.list_runs()`; a file-system watcher on the runs folder (and each run
folder, where status.json is atomically replaced) refreshes it when runs appear, change state or
go away, and while a listed run is live (this window's, another process's, or another machine's
on a shared folder) the panel re-reads it every few seconds as long as it is shown. Selecting a run shows it; Ctrl/Shift-selecting more overlays their curves on the first,
those of the first one's task only (a regression's RMSE and a classifier's F1 do not compare):
the hint under the table names the runs left out and why.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ftstudio.gui.runs.actions import finetune_action, overlay_hint, resume_action
from ftstudio.gui.runs.details import RunDetails
from ftstudio.gui.runs.table import COLUMNS, SORT_ROLE, RunsSortProxy, RunsTableModel, StatusBadgeDelegate
from ftstudio.gui.runs.watch import RunsFolderWatcher
from ftstudio.gui.style import error_color, muted_color


class RunsPanel(QWidget):
    """The runs table, actions on the selected run, and its details below.

    Signals:
      sig_resume_requested(str run_dir): Resume was clicked (the main window starts training).
      sig_open_in_tester(str run_dir): Open in tester was clicked.
      sig_run_deleted(str run_dir): a run folder was deleted (views showing it should let go).
      sig_finetune_from(str checkpoint): Fine-tune from this was clicked on a pre-training run;
        the checkpoint folder (its best/, else last/) becomes the model of a new fine-tune.

    `confirm(title, text) -> bool` and `open_folder(path)` are attributes so tests (and embedders)
    can answer the delete question and skip the file manager (`confirm = None`: ask in a dialog).
    """

    sig_resume_requested = Signal(str)
    sig_open_in_tester = Signal(str)
    sig_run_deleted = Signal(str)
    sig_finetune_from = Signal(str)

    def __init__(self, runs_dir: str | Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ftstudio.engine.runs.folder import default_runs_dir

        self.runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
        # Injectable; None means the real dialog. (Not `= self._ask`: a bound method stored on
        # self is a reference cycle, and Qt objects freed by the cycle collector may be freed on
        # a worker thread.)
        self.confirm: Callable[[str, str], bool] | None = None
        self.open_folder: Callable[[Path], None] = lambda p: QDesktopServices.openUrl(
            QUrl.fromLocalFile(str(p))
        )
        self.active_run: Path | None = None
        self._picked: list[Path] = []  # selected run folders, in the order they were selected
        self._shown: tuple = ()
        self._sized = False
        self._shown_once = False  # the first show needs no catch-up: __init__ has just listed
        self._watcher = RunsFolderWatcher(self)
        self._watcher.sig_changed.connect(self.refresh)
        self._build()
        self.refresh()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.model = RunsTableModel(self)
        self.proxy = RunsSortProxy(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COLUMNS.index("Started"), Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setItemDelegateForColumn(0, StatusBadgeDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Run"), QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.table.doubleClicked.connect(lambda _i: self._on_open_in_tester())

        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter runs (id, task, model, data, status)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.resume_button = QPushButton("Resume")
        self.resume_button.clicked.connect(self._on_resume)
        self.tester_button = QPushButton("Open in tester")
        self.tester_button.clicked.connect(self._on_open_in_tester)
        self.finetune_button = QPushButton("Fine-tune from this")
        self.finetune_button.clicked.connect(self._on_finetune)
        self.folder_button = QPushButton("Open folder")
        self.folder_button.clicked.connect(self._on_open_folder)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(self._on_delete)
        bar = QHBoxLayout()
        bar.addWidget(self.filter, 1)
        bar.addWidget(self.refresh_button)
        bar.addSpacing(16)
        for button in (self.resume_button, self.tester_button, self.finetune_button, self.folder_button,
                       self.delete_button):
            bar.addWidget(button)
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.PlainText)

        self.details = RunDetails()
        self.details.sig_ancestor_clicked.connect(self._on_ancestor_clicked)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addLayout(bar)
        top_layout.addWidget(self.table, 1)
        top_layout.addWidget(self.hint)
        self.splitter = splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    # ------------------------------------------------------------------ public
    @Slot()
    def refresh(self) -> None:
        """Re-read the runs folder, keeping the selection and the shown run where they still exist."""
        from ftstudio.engine.runs.listing import list_runs

        picked = list(self._picked)
        summaries = list_runs(self.runs_dir)
        self.table.selectionModel().blockSignals(True)
        self.model.set_runs(summaries)
        self._picked = []
        for run_dir in picked:
            self._select(run_dir, add=True)
        self.table.selectionModel().blockSignals(False)
        self._sync_details()
        self._watcher.watch(self.runs_dir, summaries)

    def select_run(self, run_dir: str | Path, add: bool = False) -> bool:
        """Select a run (with `add`, also keep the current selection: its curves are overlaid)."""
        if not add:
            self._picked = []
        found = self._select(Path(run_dir), add=add)
        self._sync_details()
        return found

    def set_active_run(self, run_dir: str | Path | None) -> None:
        """The run this window is training now: it cannot be resumed or deleted meanwhile."""
        self.active_run = Path(run_dir) if run_dir else None
        self._update_actions()

    def selected_runs(self) -> list[Path]:
        return list(self._picked)

    def summaries(self) -> list[Any]:
        return self.model.summaries()

    def shutdown(self) -> None:
        """Stop the refresh timer, the watcher and the plots' redraw timer."""
        self._watcher.stop()
        self.details.shutdown()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self._watcher.set_polling(False)  # folder events still refresh; showEvent catches up
        super().hideEvent(event)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.shutdown()
        super().closeEvent(event)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self._shown_once:
            self.refresh()  # catch up with what live runs wrote while the tab was hidden
        self._shown_once = True
        self._watcher.set_polling(True)
        if not self._sized:
            # Stretch factors only share space beyond the size hints, and the plots' hint is
            # large; give the table a usable share (about 6 rows) the first time we are shown.
            self._sized = True
            total = sum(self.splitter.sizes())
            if total > 0:
                self.splitter.setSizes([int(total * 0.38), total - int(total * 0.38)])

    # ------------------------------------------------------------------ selection
    def _select(self, run_dir: Path, add: bool) -> bool:
        from PySide6.QtCore import QItemSelectionModel

        for row, summary in enumerate(self.model.summaries()):
            if _same(summary.run_dir, run_dir):
                index = self.proxy.mapFromSource(self.model.index(row, 0))
                if not index.isValid():
                    return False  # filtered out
                flags = QItemSelectionModel.SelectionFlag.Rows | (
                    QItemSelectionModel.SelectionFlag.Select
                    if add
                    else QItemSelectionModel.SelectionFlag.ClearAndSelect
                )
                blocked = self.table.selectionModel().blockSignals(True)
                self.table.selectionModel().select(index, flags)
                self.table.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)
                self.table.selectionModel().blockSignals(blocked)
                if summary.run_dir not in self._picked:
                    self._picked.append(summary.run_dir)
                return True
        return False

    @Slot(object, object)
    def _on_selection_changed(self, _selected, _deselected) -> None:
        rows = {self.proxy.mapToSource(i).row() for i in self.table.selectionModel().selectedRows()}
        now = {self.model.summary(r).run_dir for r in rows}
        # Keep the order of selection: the first picked run is shown, later ones overlaid.
        self._picked = [p for p in self._picked if p in now] + sorted(now - set(self._picked))
        self._sync_details()

    def _by_dir(self) -> dict[Path, Any]:
        return {s.run_dir: s for s in self.model.summaries()}

    def _sync_details(self) -> None:
        by_dir = self._by_dir()
        self._picked = [p for p in self._picked if p in by_dir]
        runs = [by_dir[p] for p in self._picked]
        # Re-read the shown run only when it changed on disk (refresh happens on every file event).
        shown = tuple((r.run_dir, r.status, r.step, r.updated) for r in runs)
        if shown != self._shown:
            primary_changed = shown[:1] != self._shown[:1]
            self._shown = shown
            if not runs:
                self.details.clear()
            else:
                if primary_changed:
                    self.details.show_run(runs[0], listed=list(by_dir))
                self.details.set_overlays(runs[1:])
        self._update_actions()

    # ------------------------------------------------------------------ actions
    def _primary(self) -> Any:
        return self._by_dir().get(self._picked[0]) if self._picked else None

    def _update_actions(self) -> None:
        run = self._primary()
        resumable, why = resume_action(run, run is not None and _same(run.run_dir, self.active_run))
        self.resume_button.setEnabled(resumable)
        self.resume_button.setToolTip(why)
        for button in (self.tester_button, self.folder_button):
            button.setEnabled(run is not None)
        source, why = finetune_action(run)
        self.finetune_button.setEnabled(source is not None)
        self.finetune_button.setToolTip(why)
        self.delete_button.setEnabled(
            bool(self._picked) and not any(_same(p, self.active_run) for p in self._picked)
        )
        if len(self._picked) > 1:
            self._set_hint(overlay_hint(run, self.details.overlay_ids, self.details.skipped))
        elif not self.model.rowCount():
            self._set_hint(f"No runs yet in {self.runs_dir}. Train one on the Train tab.")
        else:
            self._set_hint(
                "Ctrl+click (or Shift+click) more runs to overlay their curves on the selected one."
            )

    def _set_hint(self, text: str, error: bool = False) -> None:
        color = error_color() if error else muted_color()
        self.hint.setStyleSheet(f"color: {color};")
        self.hint.setText(text)

    @Slot()
    def _on_resume(self) -> None:
        run = self._primary()
        if run is not None and self.resume_button.isEnabled():
            self.sig_resume_requested.emit(str(run.run_dir))

    @Slot()
    def _on_open_in_tester(self) -> None:
        run = self._primary()
        if run is not None:
            self.sig_open_in_tester.emit(str(run.run_dir))

    @Slot()
    def _on_finetune(self) -> None:
        source, _why = finetune_action(self._primary())
        if source is not None:
            self.sig_finetune_from.emit(str(source))

    @Slot(str)
    def _on_ancestor_clicked(self, run_dir: str) -> None:
        """Select a run named in the shown run's lineage (clearing a filter that hides it)."""
        if not any(_same(s.run_dir, Path(run_dir)) for s in self.summaries()):
            self._set_hint(f"Run {Path(run_dir).name} is no longer in {self.runs_dir}.", error=True)
        elif not self.select_run(run_dir):  # hidden by the filter
            self.filter.clear()
            self.select_run(run_dir)

    @Slot()
    def _on_open_folder(self) -> None:
        run = self._primary()
        if run is not None:
            self.open_folder(run.run_dir)

    @Slot()
    def _on_delete(self) -> None:
        from ftstudio.engine.errors import FtStudioError, user_message
        from ftstudio.engine.runs.listing import delete_run

        targets = [p for p in self._picked if not _same(p, self.active_run)]
        if not targets:
            return
        names = "\n".join(f"  {p.name}" for p in targets)
        what = "this run" if len(targets) == 1 else f"these {len(targets)} runs"
        if not (self.confirm or self._ask)(
            "Delete runs", f"Delete {what} and all their checkpoints?\n\n{names}\n\nThis cannot be undone."
        ):
            return
        for run_dir in targets:
            try:
                delete_run(run_dir)
            except (FtStudioError, OSError) as exc:
                self.refresh()
                self._set_hint(user_message(exc, f"Could not delete {run_dir.name}"), error=True)
                return
            self.sig_run_deleted.emit(str(run_dir))
        self.refresh()

    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(
            self,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes


def _same(a: Path | None, b: Path | None) -> bool:
    """One run folder, however its path was spelled (relative, symlinked, trailing slash)."""
    if a is None or b is None:
        return False
    return a == b or Path(a).resolve() == Path(b).resolve()
