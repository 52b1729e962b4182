"""The Search tab: define a space over Setup's settings, run the study in the background, watch
its trials, and train with the best.

The fixed settings are Setup's (validated there); the space comes from the space editor and the
options from the study box. Start writes both into the study folder (settings.toml, space.toml)
and runs `ftstudio search` on them as a child process (process.py), so a study started here is
the one the command line would run, and continues there with `--resume`. While it runs, the
study's database is read every POLL_MS on the background runner (never on the UI thread, one
read at a time) and the results view refreshed. Open study… shows any study folder again;
Resume continues it. All search logic is the engine's: this panel only gathers and shows.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.errors import SettingsError, first_line
from ftstudio.engine.search.runner import study_folder_problem
from ftstudio.engine.search.space import SearchSpace
from ftstudio.gui.background import BackgroundRunner, BackgroundTask
from ftstudio.gui.search.options import StudyOptionsBox
from ftstudio.gui.search.process import (
    LOG_FILE,
    SETTINGS_FILE,
    SPACE_FILE,
    SearchProcess,
    ftstudio_command,
    last_line,
    resume_command,
    search_command,
)
from ftstudio.gui.search.results_view import StudyResults
from ftstudio.gui.search.space_editor import SpaceEditor
from ftstudio.gui.search.study_folder import log_tail, prepare_folder, read_study_view
from ftstudio.gui.style import set_role
from ftstudio.gui.train.log_view import LogView

POLL_MS = 1500


class SearchPanel(QWidget):
    """The space editor and study options on the left, the study's results and log on the right.

    `settings_source()` returns the fixed settings (validated) or None after showing why.

    Signals:
      sig_train_with(object settings, str words): "Train with these settings": TrainSettings of a
        trial, and a few words naming it, for the window to put on Setup.
      sig_open_in_tester(str run_dir): a trial's run folder to open on the Test tab.
      sig_running_changed(bool): a search started (True) or its process ended (False).
    """

    sig_train_with = Signal(object, str)
    sig_open_in_tester = Signal(str)
    sig_running_changed = Signal(bool)

    def __init__(self, runner: BackgroundRunner | None, settings_source: Callable[[], Any], runs_dir: str | Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner or BackgroundRunner(self)
        self._owns_runner = runner is None
        self.settings_source = settings_source
        self.runs_dir = Path(runs_dir)
        self.study_dir: Path | None = None
        self.process = SearchProcess(self)
        self.process.sig_output.connect(self._on_output)
        self.process.sig_finished.connect(self._on_finished)
        self._reading: BackgroundTask | None = None
        self._read_again = False  # a final read asked for while one was in flight
        self._adopt_record = False  # the next read fills the editor and options from the study (Open study)
        self._importances: dict[str, float] = {}
        self._importances_at = -1  # complete trials when importances were last computed
        self._shut_down = False
        self._running = False  # from the start until the end is handled (the process may be gone a moment sooner)
        self._poll_timer = QTimer(self)
        self._poll_timer.setInterval(POLL_MS)
        self._poll_timer.timeout.connect(self._poll_study)
        self._build()
        self._refresh_controls()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        heading = QLabel("Searched settings")
        set_role(heading, "heading")
        hint = QLabel("Tick the settings to search; every other setting is Setup's.")
        hint.setWordWrap(True)
        set_role(hint, "hint")
        self.space_editor = SpaceEditor()
        self.space_editor.sig_changed.connect(self._refresh_controls)
        self.options_box = StudyOptionsBox(self.runs_dir)
        self.options_box.sig_changed.connect(self._refresh_controls)
        self.start_button = QPushButton("Start search")
        self.start_button.setObjectName("startSearch")
        self.start_button.setToolTip("Run the study in the background: each trial trains Setup's settings with the "
                                     "searched ones drawn from the space.")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after saving the current trial (it runs again on Resume).")
        self.stop_button.clicked.connect(self.stop)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the study shown, up to its number of trials (or the Trials box's, "
                                      "if changed); interrupted trials run again.")
        self.resume_button.clicked.connect(self.resume)
        self.open_button = QPushButton("Open study…")
        self.open_button.setToolTip("Show a study folder written by an earlier search (here or by ftstudio search).")
        self.open_button.clicked.connect(self._on_open_study)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.resume_button, self.open_button):
            buttons.addWidget(button)
        self.status = QLabel()
        self.status.setObjectName("searchStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        left_layout.addWidget(heading)
        left_layout.addWidget(hint)
        left_layout.addWidget(self.space_editor, 1)
        left_layout.addWidget(self.options_box)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.status)

        self.results = StudyResults()
        self.results.sig_train_with.connect(self._on_train_with)
        self.results.sig_open_in_tester.connect(self.sig_open_in_tester)
        self.log = LogView(max_lines=2000)
        self.log.setObjectName("searchLog")
        self.log.setPlaceholderText("The search's output (search.log in the study folder) appears here.")
        right = QSplitter(Qt.Orientation.Vertical)
        right.setChildrenCollapsible(False)
        right.addWidget(self.results)
        right.addWidget(self.log)
        right.setStretchFactor(0, 5)
        right.setStretchFactor(1, 1)
        right.setSizes([600, 110])
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([470, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(split)

    # ------------------------------------------------------------------ public
    def is_running(self) -> bool:
        """A search was started and its end has not been handled yet."""
        return self._running

    @Slot()
    def start(self) -> bool:
        """Start a new study (or join the one in the chosen folder); False after saying why not."""
        if self.is_running():
            return False
        space = self.space_editor.space()
        if space is None:
            self._say(self.space_editor.problem() or "Tick a setting to search.", "error")
            return False
        settings = self.settings_source()
        if settings is None:
            self._say("Setup's settings have a problem: see the Setup tab.", "error")
            return False
        try:
            space.check_with(settings)
        except SettingsError as exc:
            self.space_editor.show_problem(str(exc), exc.setting)
            self._say(first_line(exc), "error")
            return False
        self.options_box.name_new_folder()
        options = self.options_box.options()
        study_dir = options.study_dir.expanduser().resolve()
        problem = study_folder_problem(study_dir)
        if problem:
            self._say(problem, "error")
            return False
        try:
            prepare_folder(study_dir)
            settings.save(study_dir / SETTINGS_FILE)
            space.save(study_dir / SPACE_FILE)
        except (OSError, SettingsError) as exc:
            self._say(f"Cannot write the study's inputs in {study_dir}: {first_line(exc)}", "error")
            return False
        options.study_dir = study_dir
        command = search_command(study_dir / SETTINGS_FILE, study_dir / SPACE_FILE, options)
        self.results.clear("Starting the search: its first trial appears here in a few seconds.")
        self.log.clear()
        return self._launch(command, study_dir)

    @Slot()
    def resume(self) -> bool:
        """Continue the study shown (`ftstudio search --resume`)."""
        if self.is_running() or self.study_dir is None:
            return False
        view = self.results.view
        trials = self.options_box.trials.value()
        budget = view.budget if view is not None else None
        return self._launch(resume_command(self.study_dir, trials if trials != budget else None), self.study_dir)

    @Slot()
    def stop(self) -> None:
        """Stop the search after the current trial has saved (killed if it takes over a minute)."""
        if self.is_running():
            self.process.stop()
            self._say("Stopping: the current trial saves and ends; Resume runs it again later.", "busy")
            self._refresh_controls()

    def open_study(self, study_dir: str | Path) -> None:
        """Show the study in `study_dir` (read in the background), its space and options too."""
        if self.is_running():
            return
        self.study_dir = Path(study_dir).expanduser().resolve()
        self._adopt_record = True
        self._importances_at, self._importances = -1, {}
        self.results.clear(f"Reading the study in {self.study_dir}…")
        self.log.clear()
        tail = log_tail(self.study_dir / LOG_FILE)
        if tail:
            self.log.append_line(tail)
        self._say("", "hint")
        self._poll_study(final=True)
        self._refresh_controls()

    def request_stop(self) -> None:
        """Ask a running search to stop without waiting (the window's shutdown starts with this)."""
        self.process.stop()

    def shutdown(self, timeout_s: float = 60.0) -> None:
        """Stop the search and wait for its process (killed after `timeout_s`), then the rest."""
        if self._shut_down:
            return
        self._shut_down = True
        self._poll_timer.stop()
        self.process.sig_finished.disconnect(self._on_finished)
        self.process.shutdown(timeout_s)
        self._running = False
        self.results.shutdown()
        if self._owns_runner:
            self._runner.shutdown()
        elif self._reading is not None:
            self._reading.cancel()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override; used alone (tests), not in the window
        self.shutdown()
        super().closeEvent(event)

    # ------------------------------------------------------------------ running
    def _launch(self, command: list[str], study_dir: Path) -> bool:
        env = dict(os.environ)
        env["FTSTUDIO_RUNS_DIR"] = str(self.runs_dir)
        try:
            self.process.start(command, study_dir / LOG_FILE, env)
        except OSError as exc:
            self._say(f"Cannot start the search: {first_line(exc)}", "error")
            return False
        self.study_dir = study_dir
        self._running = True
        self._adopt_record = False
        self._importances_at = -1
        self.log.append_line("Started: " + " ".join(command[len(ftstudio_command()):]))
        self._say(f"Searching… trials go to {study_dir}", "busy")
        self._poll_timer.start()
        self._refresh_controls()
        self.sig_running_changed.emit(True)
        return True

    @Slot(str)
    def _on_output(self, text: str) -> None:
        self.log.append_line(text)

    @Slot(int)
    def _on_finished(self, code: int) -> None:
        self._running = False
        self._poll_timer.stop()
        if code == 0:
            self._say("The search finished.", "ok")
        elif self.process.stop_requested:
            self._say("The search stopped. Resume continues it; the interrupted trial runs again.", "hint")
        else:
            said = last_line(log_tail(self.study_dir / LOG_FILE) if self.study_dir else "")
            self._say(said or f"The search ended with exit status {code}; see its log.", "error")
        self.options_box.forget_folder()
        self._poll_study(final=True)
        self._refresh_controls()
        self.sig_running_changed.emit(False)

    @Slot()
    def _poll_study(self, final: bool = False) -> None:
        """Read the study in the background; a read already in flight makes this one wait
        (a final read runs once that one is done) rather than stack up."""
        if self.study_dir is None or self._shut_down:
            return
        if self._reading is not None:
            self._read_again = self._read_again or final
            return
        complete = _complete(self.results.view)
        importances = final or complete != self._importances_at
        self._reading = self._runner.submit(read_study_view, self.study_dir, importances, name="read-study",
                                            on_result=self._on_study_read, on_error=self._on_read_failed,
                                            on_done=self._on_read_done)

    @Slot(object)
    def _on_study_read(self, result: tuple[Path, Any, bool]) -> None:
        study_dir, view, with_importances = result
        if study_dir != self.study_dir:
            return  # another study is shown now
        if with_importances:
            self._importances, self._importances_at = dict(view.importances), _complete(view)
        else:
            view.importances = dict(self._importances)
        if self._adopt_record:
            self._adopt_record = False
            self.space_editor.set_space(view.record.space)
            self.options_box.set_options(view.record.options)
            self._say(f"Opened the study in {study_dir}.", "ok")
        self.results.show_view(view)
        self._refresh_controls()

    @Slot(object)
    def _on_read_failed(self, exc: BaseException) -> None:
        if self._running:
            return  # the study is not created yet: the next poll sees it
        if self.results.view is None:
            self.results.clear("No study to show.")
        self._say(first_line(exc) if isinstance(exc, SettingsError) else f"Cannot read the study: {first_line(exc)}",
                  "error")

    @Slot()
    def _on_read_done(self) -> None:
        self._reading = None
        if self._read_again:
            self._read_again = False
            self._poll_study(final=True)

    # ------------------------------------------------------------------ actions
    @Slot(int)
    def _on_train_with(self, number: int) -> None:
        from ftstudio.engine.search.results import best_settings, format_value

        view = self.results.view
        row = next((row for row in view.rows if row.number == number), None) if view is not None else None
        if row is None:
            return
        try:
            settings = best_settings(view.record, row)
        except SettingsError as exc:
            self._say(first_line(exc), "error")
            return
        words = f"trial {number} of {view.study_name}"
        if row.value is not None:
            words += f" ({view.metric} {format_value(row.value)})"
        self.sig_train_with.emit(settings, words)

    @Slot()
    def _on_open_study(self) -> None:
        start = str(self.study_dir.parent if self.study_dir else self.runs_dir)
        folder = QFileDialog.getExistingDirectory(self, "Open a study folder", start)
        if folder:
            self.open_study(folder)

    # ------------------------------------------------------------------ state
    @Slot()
    def _refresh_controls(self) -> None:
        running = self.is_running()
        space = self.space_editor.space()
        grid_problem = self._show_grid(space)
        self.space_editor.set_editable(not running)
        self.options_box.setEnabled(not running)
        self.start_button.setEnabled(not running and space is not None and not grid_problem)
        self.stop_button.setEnabled(running and not self.process.stop_requested)
        self.resume_button.setEnabled(not running and self.results.view is not None)
        self.open_button.setEnabled(not running)

    def _show_grid(self, space: SearchSpace | None) -> bool:
        """The grid's size under the sampler when it is grid; True when the space has no grid."""
        options = self.options_box
        if options.sampler.currentData() != "grid" or space is None:
            options.set_grid_note("")
            return False
        try:
            size = SearchSpace.grid_size(space.grid())
        except SettingsError as exc:
            options.set_grid_note(first_line(exc), problem=True)
            return True
        trials = options.trials.value()
        if trials >= size:
            note = f"The grid has {size:,} points: the study tries each once ({size:,} trials)."
        else:
            note = f"The grid has {size:,} points: {trials:,} trials try {trials:,} of them."
        options.set_grid_note(note)
        return False

    def _say(self, text: str, role: str) -> None:
        self.status.setText(text)
        set_role(self.status, role)


def _complete(view: Any) -> int:
    return sum(row.state == "complete" for row in view.rows) if view is not None else 0
