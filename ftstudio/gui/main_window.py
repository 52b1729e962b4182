"""The studio window: Setup (model, data, settings, layers), Train, Test, Runs and Search tabs, a
toolbar mirroring the training controls, and a state badge that is always visible in the status bar.

The window wires the panels together and owns the shared pieces (the background runner, the
training session); every decision about data, models or settings is the engine's. Closing while a
run trains or a search runs asks first, then stops them (`TrainingSession.shutdown()`, the search's
child process) before anything is destroyed, so no thread or process is ever left running.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.errors import SettingsError, first_line
from ftstudio.engine.settings import TrainSettings
from ftstudio.gui.background import BackgroundRunner
from ftstudio.gui.setup.page import SetupPage
from ftstudio.gui.state_badge import StateBadge
from ftstudio.gui.style import app_icon, control_icon
from ftstudio.gui.train.session import TrainingSession

if TYPE_CHECKING:
    from ftstudio.gui.runs.panel import RunsPanel
    from ftstudio.gui.search.panel import SearchPanel
    from ftstudio.gui.tester.panel import TesterPanel
    from ftstudio.gui.train.panel import TrainingPanel

SETTINGS_FILTER = "Settings (*.json *.toml);;All files (*)"
SEARCH_TAB = 4  # Setup, Train, Test, Runs, Search


class MainWindow(QMainWindow):
    """The whole studio in one window.

    The Train, Test and Runs panels (and pyqtgraph, which they need) are built just after the
    window first shows, their modules imported on the background runner meanwhile, so the
    window appears fast; reading `training_panel`, `tester_panel` or `runs_panel` builds them
    at once if they are not there yet. The Search panel is built when its tab is first shown
    (or `search_panel` is read); optuna is imported only by the work it starts.
    `confirm_close` (a callable returning bool) asks whether to stop a running training (or
    search) when the window closes; `open_folders` lets File > Open run folder launch the file manager. Tests
    replace the first and turn the second off. No signals of its own: the panels carry them.
    """

    def __init__(self, runs_dir: str | Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ftstudio.engine.runs.folder import default_runs_dir

        self.runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
        self.confirm_close = self._ask_close
        self.open_folders = True
        self._shut_down = False
        self.setWindowTitle("Fine-Tuning Studio")
        self.setWindowIcon(app_icon())
        self.runner = BackgroundRunner(self, max_threads=4)
        self.session = TrainingSession(self)
        self._run_panels: tuple[TrainingPanel, TesterPanel, RunsPanel] | None = None
        self._search_panel: SearchPanel | None = None
        self._build_panels()
        self._build_actions()
        self._wire()
        self._restore()
        self.tabs.currentChanged.connect(self._on_tab_changed)
        # After the first show: import the run panels' modules off the UI thread, then build them.
        QTimer.singleShot(0, self._prepare_run_panels)

    def _prepare_run_panels(self) -> None:
        if not self._shut_down and self._run_panels is None:
            self.runner.submit(_import_run_panels, name="import-run-panels",
                               on_result=self._on_run_modules_ready, on_error=self._on_run_modules_ready)

    @Slot(object)
    def _on_run_modules_ready(self, _result: object) -> None:
        if not self._shut_down:
            self._ensure_run_panels()

    # ------------------------------------------------------------------ building
    def _build_panels(self) -> None:
        self.setup = SetupPage(self.runner)
        # The Setup tab's panels, reachable from the window as well (tests, scripts).
        self.model_panel, self.data_panel = self.setup.model_panel, self.setup.data_panel
        self.settings_panel, self.layers_view = self.setup.settings_panel, self.setup.layers_view
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.setup, "Setup")
        self._tab_pages = []  # Train, Test, Runs, Search: the panels move in when built
        for title in ("Train", "Test", "Runs", "Search"):
            page = QWidget()
            QVBoxLayout(page).setContentsMargins(0, 0, 0, 0)
            self._tab_pages.append(page)
            self.tabs.addTab(page, title)
        self.setCentralWidget(self.tabs)
        self.badge = StateBadge()
        self.statusBar().addPermanentWidget(self.badge)
        self._fit_to_screen()

    def _fit_to_screen(self) -> None:
        """A first size (before any remembered one): 1280x800, more on a large screen."""
        screen = QApplication.primaryScreen()
        area = screen.availableGeometry() if screen is not None else None
        if area is None or area.width() < 1000:
            self.resize(1280, 800)
            return
        self.resize(min(max(1280, int(area.width() * 0.85)), 1600, area.width()),
                    min(max(800, int(area.height() * 0.85)), 1000, area.height()))

    def _build_actions(self) -> None:
        def action(text: str, slot: Any, shortcut: Any = None, icon: Any = None, tip: str = "") -> QAction:
            act = QAction(control_icon(icon), text, self) if icon is not None else QAction(text, self)
            if shortcut is not None:
                act.setShortcut(QKeySequence(shortcut))
            act.setToolTip(tip or text)
            act.setStatusTip(tip)
            act.triggered.connect(slot)
            return act

        self.start_action = action("Start", lambda: self.training_panel.start(), "Ctrl+R", "start",
                                   "Train with the settings of the Setup tab (Ctrl+R)")
        self.pause_action = action("Pause", lambda: self.training_panel.pause(), None, "pause",
                                   "Pause at the next step")
        self.resume_action = action("Resume", lambda: self.training_panel.resume(), None, "resume",
                                    "Continue the paused run")
        self.stop_action = action("Stop", lambda: self.training_panel.stop(), None, "stop",
                                  "Stop at the next step and save a checkpoint you can resume from (Ctrl+. or Esc)")
        self.stop_action.setShortcuts([QKeySequence("Ctrl+."), QKeySequence(Qt.Key.Key_Escape)])
        # Window, not application, shortcuts: with focus anywhere in the window they work; while a
        # dialog, a menu or a combo's list is open (their own windows) Esc closes that, not the run.
        # A disabled action takes no key, so Esc without a run stays the widgets' own.
        for act in (self.start_action, self.stop_action):
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        toolbar = QToolBar("Training")
        toolbar.setObjectName("trainingToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for act in (self.start_action, self.pause_action, self.resume_action, self.stop_action):
            toolbar.addAction(act)
        self.addToolBar(toolbar)

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(action("Load settings...", self._on_load_settings, QKeySequence.StandardKey.Open))
        file_menu.addAction(action("Save settings...", self._on_save_settings, QKeySequence.StandardKey.Save))
        file_menu.addAction(action("Reset to defaults", self.reset_to_defaults, None, None,
                                   "Default model, the embedded sample and default settings"))
        file_menu.addAction(action("Export job...", self._on_export_job, None, None,
                                   "Write these settings as a cluster job: torchrun and SLURM scripts"))
        file_menu.addSeparator()
        file_menu.addAction(action("Open run folder", self._on_open_run_folder, None, None,
                                   "Open the current run's folder (or the runs folder) in the file manager"))
        file_menu.addSeparator()
        file_menu.addAction(action("Quit", self.close, QKeySequence.StandardKey.Quit))
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(action("About Fine-Tuning Studio", self._on_about))
        for act in (self.pause_action, self.resume_action, self.stop_action):
            act.setEnabled(False)

    def _wire(self) -> None:
        self.setup.sig_problem.connect(self._on_setup_problem)
        self.session.sig_started.connect(lambda: self.tabs.setCurrentIndex(1))

    # ------------------------------------------------------------------ the run panels
    @property
    def training_panel(self) -> TrainingPanel:
        return self._ensure_run_panels()[0]

    @property
    def tester_panel(self) -> TesterPanel:
        return self._ensure_run_panels()[1]

    @property
    def runs_panel(self) -> RunsPanel:
        return self._ensure_run_panels()[2]

    def _ensure_run_panels(self) -> tuple[TrainingPanel, TesterPanel, RunsPanel]:
        if self._run_panels is None:
            from ftstudio.gui.runs.panel import RunsPanel
            from ftstudio.gui.tester.panel import TesterPanel
            from ftstudio.gui.train.panel import TrainingPanel

            training = TrainingPanel(self.session, self.current_settings, self.runs_dir)
            tester, runs = TesterPanel(self.runs_dir), RunsPanel(self.runs_dir)
            self._run_panels = (training, tester, runs)
            for page, panel in zip(self._tab_pages[:3], self._run_panels, strict=True):
                page.layout().addWidget(panel)
            self.session.sig_checkpoint.connect(lambda _event: tester.refresh_checkpoints())
            training.sig_state_changed.connect(self._on_state_changed)
            training.sig_run_started.connect(self._on_run_started)
            training.sig_run_finished.connect(self._on_run_finished)
            runs.sig_resume_requested.connect(self._on_resume_requested)
            runs.sig_open_in_tester.connect(self._on_open_in_tester)
            runs.sig_finetune_from.connect(self.finetune_from)
            training.sig_finetune_from.connect(self.finetune_from)
            self._on_state_changed(training.state())
        return self._run_panels

    @property
    def search_panel(self) -> SearchPanel:
        if self._search_panel is None:
            from ftstudio.gui.search.panel import SearchPanel

            panel = SearchPanel(self.runner, self.current_settings, self.runs_dir)
            self._search_panel = panel
            self._tab_pages[SEARCH_TAB - 1].layout().addWidget(panel)
            panel.sig_train_with.connect(self._on_train_with)
            panel.sig_open_in_tester.connect(self._on_open_in_tester)
        return self._search_panel

    @Slot(int)
    def _on_tab_changed(self, index: int) -> None:
        self._ensure_run_panels()
        if index == SEARCH_TAB:
            _ = self.search_panel

    def search_running(self) -> bool:
        return self._search_panel is not None and self._search_panel.is_running()

    # ------------------------------------------------------------------ settings
    def current_settings(self) -> TrainSettings | None:
        """Everything chosen on the Setup tab, validated; None after showing what is wrong there
        (the offending field outlined). Valid choices are remembered for the next start."""
        settings = self.setup.current_settings()
        if settings is not None:
            self._remember()
        return settings

    def gathered_settings(self) -> TrainSettings:
        """The Setup tab's choices as TrainSettings, not validated."""
        return self.setup.gathered_settings()

    def load_settings_file(self, path: str | Path) -> bool:
        try:
            settings = TrainSettings.load(path).validate()
        except SettingsError as exc:
            self.setup.show_problem(str(exc).replace("--config", "File > Load settings"), exc.setting)
            return False
        self.setup.apply_settings(settings)
        # A widget that cannot show a value (bottom-N beyond this model's layers, say) would
        # silently clamp it; say so instead of training with something the file did not ask for.
        shown = self.gathered_settings().to_dict()
        for name, value in settings.to_dict().items():
            if name not in ("extra", "model", "data") and shown.get(name) != value:
                self.setup.show_problem(
                    f"{name}: {value!r} from {Path(path).name} cannot be used with this model or data "
                    f"(the window shows {shown.get(name)!r}); check it before starting.", name)
                return False
        self.statusBar().showMessage(f"Loaded settings from {path}", 5000)
        return True

    def save_settings_file(self, path: str | Path) -> bool:
        settings = self.gathered_settings()
        try:
            settings.validate()
            settings.save(path)
        except (SettingsError, OSError) as exc:
            self.setup.show_problem(f"Cannot save settings: {first_line(exc)}.", getattr(exc, "setting", None))
            return False
        self.statusBar().showMessage(f"Saved settings to {path}", 5000)
        return True

    @Slot()
    def reset_to_defaults(self) -> None:
        """Default model, the embedded sample, default settings."""
        self.setup.apply_settings(TrainSettings())

    # ------------------------------------------------------------------ slots
    @Slot(str)
    def _on_setup_problem(self, text: str) -> None:
        if text:
            self.tabs.setCurrentIndex(0)
            self.statusBar().showMessage(text, 10000)

    @Slot(str)
    def _on_state_changed(self, state: str) -> None:
        self.badge.show_state(state)
        panel = self.training_panel
        for act, button in ((self.start_action, panel.start_button), (self.pause_action, panel.pause_button),
                            (self.resume_action, panel.resume_button), (self.stop_action, panel.stop_button)):
            act.setEnabled(button.isEnabled())

    @Slot(str)
    def _on_run_started(self, run_dir: str) -> None:
        self.tester_panel.set_run(run_dir)
        self.runs_panel.set_active_run(run_dir)
        self.runs_panel.refresh()

    @Slot(object)
    def _on_run_finished(self, _result: Any) -> None:
        self.runs_panel.set_active_run(None)
        self.runs_panel.refresh()
        self.tester_panel.refresh_checkpoints()
        self._on_state_changed(self.training_panel.state())

    @Slot(str)
    def _on_resume_requested(self, run_dir: str) -> None:
        if self.training_panel.start_resume(run_dir):
            self.tabs.setCurrentIndex(1)

    @Slot(str)
    def _on_open_in_tester(self, run_dir: str) -> None:
        self.tester_panel.set_run(run_dir)
        self.tabs.setCurrentIndex(2)

    @Slot(object, str)
    def _on_train_with(self, settings: TrainSettings, words: str) -> None:
        """"Train with these settings" (Search tab): a trial's settings become Setup's."""
        self.setup.apply_settings(settings)
        self.tabs.setCurrentIndex(0)
        self.statusBar().showMessage(f"Setup has the settings of {words}. Check them, then Start to train.", 20000)

    @Slot(str)
    def finetune_from(self, checkpoint: str) -> None:
        """"Fine-tune from this" (Runs or Train tab): a pre-training run's checkpoint becomes Setup's model."""
        from ftstudio.engine.runs.lineage import describe_checkpoint, finetune_settings

        self.setup.apply_settings(finetune_settings(self.gathered_settings(), checkpoint))
        self.tabs.setCurrentIndex(0)
        self.statusBar().showMessage(f"Fine-tuning from {describe_checkpoint(checkpoint)}: it is Setup's model now. "
                                     "Choose labelled data, then Start.", 20000)

    @Slot()
    def _on_load_settings(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load settings", "", SETTINGS_FILTER)
        if path:
            self.load_settings_file(path)

    @Slot()
    def _on_save_settings(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save settings", "ftstudio-settings.json", SETTINGS_FILTER)
        if path:
            self.save_settings_file(path)

    @Slot()
    def _on_export_job(self) -> None:
        from ftstudio.gui.job_dialog import JobDialog

        JobDialog(self.gathered_settings(), self).open()  # window-modal; deletes itself when closed

    @Slot()
    def _on_open_run_folder(self) -> None:
        run_dir = self._run_panels[0].run_dir if self._run_panels else None
        folder = Path(run_dir or self.runs_dir)
        if self.open_folders and folder.is_dir():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
        elif not folder.is_dir():
            self.statusBar().showMessage(f"No run folder yet ({folder} does not exist).", 5000)

    @Slot()
    def _on_about(self) -> None:
        from ftstudio import __version__

        QMessageBox.about(self, "About Fine-Tuning Studio",
                          f"<b>Fine-Tuning Studio</b> {__version__}<p>Point-and-click fine-tuning of pretrained "
                          "transformer encoders for text classification.</p><p>Runs are saved in "
                          f"<code>{self.runs_dir}</code>; each checkpoint loads in stock transformers.</p>")

    # ------------------------------------------------------------------ remembering
    def _remember(self) -> None:
        store = QSettings()
        self.setup.remember(store)
        store.setValue("window/geometry", self.saveGeometry())

    def _restore(self) -> None:
        store = QSettings()
        geometry = store.value("window/geometry")
        if isinstance(geometry, QByteArray | bytes) and geometry:
            self.restoreGeometry(geometry)
        self.setup.restore(store)

    # ------------------------------------------------------------------ closing
    def _ask_close(self) -> bool:
        if self.session.is_running():
            title, text = "Training is running", ("A run is training. Stop it (a checkpoint is saved, so it can be "
                                                  "resumed later) and quit?")
        else:
            title, text = "A search is running", ("A hyperparameter search is running. Stop it (the current trial is "
                                                  "saved and runs again when the study is resumed) and quit?")
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    @Slot(int)
    def close_for_shutdown(self, signum: int) -> None:
        """A shutdown signal (SIGTERM, SIGHUP, ...; gui/shutdown_signals.py) reached the window:
        stop the run through its session (the training child saves a checkpoint), ask nobody,
        and close."""
        self.confirm_close = lambda: True
        if self.session.is_running() or self.search_running():
            self.statusBar().showMessage("Shutdown signal: stopping the run and saving a checkpoint...")
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if (self.session.is_running() or self.search_running()) and not self.confirm_close():
            event.ignore()
            return
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop training (waiting for its thread), a search (waiting for its process), background
        work and timers; remember choices."""
        if self._shut_down:
            return
        self._shut_down = True
        self._remember()
        searching = self.search_running()
        if self.session.is_running() or searching:
            self.statusBar().showMessage("Stopping the run and saving a checkpoint...")
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            if searching:  # asked first, so that it saves while the training run stops too
                self.search_panel.request_stop()
            # Returns at once without a run; otherwise waits for the worker to save and end.
            self.session.shutdown(60000)
            if self._search_panel is not None:
                self._search_panel.shutdown(60.0)  # waits for the search's process to end
        finally:
            if QApplication.overrideCursor() is not None:
                QApplication.restoreOverrideCursor()
        self.setup.shutdown()
        if self._run_panels is not None:
            training, tester, runs = self._run_panels
            training.shutdown()
            runs.shutdown()
            tester.shutdown(10000)
        # Cancelled work stops at its next check; an import cannot be interrupted, so the closing
        # window does not wait long for one (the runner keeps such a thread referenced).
        self.runner.shutdown(2000)
        self.statusBar().clearMessage()  # also ends the status bar's own timeout timer


def _import_run_panels() -> None:
    """Import the run panels' modules (pyqtgraph included) off the UI thread; building them is
    then quick. Only modules are loaded here: no widget is created off the main thread."""
    import importlib

    for name in ("ftstudio.gui.train.panel", "ftstudio.gui.tester.panel", "ftstudio.gui.runs.panel",
                 "ftstudio.gui.search.panel"):
        importlib.import_module(name)
