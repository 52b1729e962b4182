"""The studio window: Setup (model, data, settings, layers), Train, Test and Runs tabs, a toolbar
mirroring the training controls, and a state badge that is always visible in the status bar.

The window wires the panels together and owns the shared pieces (the background runner, the
training session); every decision about data, models or settings is the engine's. Closing while a
run trains asks first, then stops it through `TrainingSession.shutdown()` before anything is
destroyed, so no thread is ever left running.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStyle,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.errors import SettingsError
from ftstudio.engine.settings import TrainSettings
from ftstudio.gui.background import BackgroundRunner
from ftstudio.gui.data_panel import DataPanel
from ftstudio.gui.layers_view import LayersView
from ftstudio.gui.model_panel import ModelPanel
from ftstudio.gui.settings_panel import SettingsPanel
from ftstudio.gui.style import app_icon, set_role
from ftstudio.gui.training_session import TrainingSession

if TYPE_CHECKING:
    from ftstudio.gui.runs_panel import RunsPanel
    from ftstudio.gui.tester_panel import TesterPanel
    from ftstudio.gui.training_panel import TrainingPanel

SETTINGS_FILTER = "Settings (*.json *.toml);;All files (*)"
STATE_TEXT = {"ready": "Ready", "stopping": "Stopping...", "pausing": "Pausing..."}


class MainWindow(QMainWindow):
    """The whole studio in one window.

    The Train, Test and Runs panels (and pyqtgraph, which they need) are built just after the
    window first shows, their modules imported on the background runner meanwhile, so the
    window appears fast; reading `training_panel`, `tester_panel` or `runs_panel` builds them
    at once if they are not there yet. `confirm_close` (a callable returning bool) asks whether to stop a running training when the
    window closes; `open_folders` lets File > Open run folder launch the file manager. Tests
    replace the first and turn the second off. No signals of its own: the panels carry them.
    """

    def __init__(self, runs_dir: str | Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ftstudio.engine.runs import default_runs_dir

        self.runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
        self.confirm_close = self._ask_close
        self.open_folders = True
        self._shut_down = False
        self.setWindowTitle("Fine-Tuning Studio")
        self.setWindowIcon(app_icon())
        self.runner = BackgroundRunner(self, max_threads=3)
        self.session = TrainingSession(self)
        self._run_panels: tuple[TrainingPanel, TesterPanel, RunsPanel] | None = None
        self._build_panels()
        self._build_actions()
        self._wire()
        self._restore()
        self.tabs.currentChanged.connect(lambda _i: self._ensure_run_panels())
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
        self.model_panel = ModelPanel(self.runner)
        self.data_panel = DataPanel(self.runner)
        self.settings_panel = SettingsPanel(self.runner)
        self.layers_view = LayersView()

        self.setup_problem = QLabel()
        self.setup_problem.setObjectName("setupProblem")
        self.setup_problem.setWordWrap(True)
        self.setup_problem.setVisible(False)
        set_role(self.setup_problem, "error")
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.model_panel)
        left.addWidget(self.data_panel)
        left.setStretchFactor(1, 1)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.settings_panel)
        right.addWidget(self.layers_view)
        right.setSizes([480, 300])
        self.setup_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.setup_splitter.addWidget(left)
        self.setup_splitter.addWidget(right)
        self.setup_splitter.setStretchFactor(0, 3)
        self.setup_splitter.setStretchFactor(1, 2)
        for splitter in (left, right, self.setup_splitter):
            splitter.setChildrenCollapsible(False)
        setup = QWidget()
        column = QVBoxLayout(setup)
        column.setContentsMargins(6, 6, 6, 6)
        column.addWidget(self.setup_problem)
        column.addWidget(self.setup_splitter, 1)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self._tab_pages = [QWidget() for _ in range(3)]  # the run panels move in when built
        for widget, title in ((setup, "Setup"), *zip(self._tab_pages, ("Train", "Test", "Runs"), strict=True)):
            if widget is not setup:
                QVBoxLayout(widget).setContentsMargins(0, 0, 0, 0)
            self.tabs.addTab(widget, title)
        self.setCentralWidget(self.tabs)
        self.badge = QLabel("Ready")
        self.badge.setObjectName("stateBadge")
        self.badge.setProperty("state", "ready")
        self.statusBar().addPermanentWidget(self.badge)
        self.resize(1280, 800)

    def _build_actions(self) -> None:
        style = self.style()

        def action(text: str, slot: Any, shortcut: Any = None, icon: Any = None, tip: str = "") -> QAction:
            act = QAction(style.standardIcon(icon), text, self) if icon is not None else QAction(text, self)
            if shortcut is not None:
                act.setShortcut(QKeySequence(shortcut))
            act.setToolTip(tip or text)
            act.setStatusTip(tip)
            act.triggered.connect(slot)
            return act

        sp = QStyle.StandardPixmap
        self.start_action = action("Start", lambda: self.training_panel.start(), "Ctrl+R", sp.SP_MediaPlay,
                                   "Train with the settings of the Setup tab")
        self.pause_action = action("Pause", lambda: self.training_panel.pause(), None, sp.SP_MediaPause,
                                   "Pause at the next step")
        self.resume_action = action("Resume", lambda: self.training_panel.resume(), None, sp.SP_MediaSeekForward,
                                    "Continue the paused run")
        self.stop_action = action("Stop", lambda: self.training_panel.stop(), None, sp.SP_MediaStop,
                                  "Stop at the next step and save a checkpoint you can resume from")
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
        self.model_panel.sig_model_changed.connect(self._on_model_changed)
        self.settings_panel.sig_changed.connect(self._on_settings_changed)
        self.data_panel.sig_data_changed.connect(self._on_data_changed)
        self.session.sig_started.connect(lambda: self.tabs.setCurrentIndex(1))
        self._on_settings_changed("*")

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
            from ftstudio.gui.runs_panel import RunsPanel
            from ftstudio.gui.tester_panel import TesterPanel
            from ftstudio.gui.training_panel import TrainingPanel

            training = TrainingPanel(self.session, self.current_settings, self.runs_dir)
            tester, runs = TesterPanel(self.runs_dir), RunsPanel(self.runs_dir)
            self._run_panels = (training, tester, runs)
            for page, panel in zip(self._tab_pages, self._run_panels, strict=True):
                page.layout().addWidget(panel)
            self.session.sig_checkpoint.connect(lambda _event: tester.refresh_checkpoints())
            training.sig_state_changed.connect(self._on_state_changed)
            training.sig_run_started.connect(self._on_run_started)
            training.sig_run_finished.connect(self._on_run_finished)
            runs.sig_resume_requested.connect(self._on_resume_requested)
            runs.sig_open_in_tester.connect(self._on_open_in_tester)
            self._on_state_changed(training.state())
        return self._run_panels

    # ------------------------------------------------------------------ settings
    def current_settings(self) -> TrainSettings | None:
        """Everything chosen on the Setup tab, validated; None after showing what is wrong."""
        self.settings_panel.clear_invalid()
        settings = self.gathered_settings()
        problem, field = "", None
        if self.model_panel.error():
            problem, field = f"Model: {self.model_panel.error()}", "model"
        elif self.data_panel.error():
            problem, field = f"Data: {self.data_panel.error()}", "data"
        elif self.layers_view.problem():
            problem, field = self.layers_view.problem(), "freeze"
        elif self.settings_panel.hardware_problem():
            problem, field = self.settings_panel.hardware_problem(), "device"
        else:
            try:
                settings.validate()
            except SettingsError as exc:
                problem, field = str(exc), exc.setting
        if problem:
            self.show_setup_problem(problem, field)
            return None
        self.show_setup_problem("")
        self._remember()
        return settings

    def gathered_settings(self) -> TrainSettings:
        """The Setup tab's choices as TrainSettings, not validated."""
        base = TrainSettings(model=self.model_panel.model_spec(), data=self.data_panel.data_spec(),
                             text_column=self.data_panel.text_column(), label_column=self.data_panel.label_column())
        return self.settings_panel.settings(base)

    def apply_settings(self, settings: TrainSettings) -> None:
        """Show `settings` on the Setup tab: model, data, columns and every training setting."""
        self.settings_panel.set_settings(settings)
        if settings.model != self.model_panel.model_spec():
            self.model_panel.set_model_spec(settings.model)
        if (settings.data, settings.text_column, settings.label_column) != (
                self.data_panel.data_spec(), self.data_panel.text_column(), self.data_panel.label_column()):
            self.data_panel.set_data(settings.data, settings.text_column, settings.label_column)

    def load_settings_file(self, path: str | Path) -> bool:
        try:
            settings = TrainSettings.load(path)
        except SettingsError as exc:
            self.show_setup_problem(str(exc), None)
            return False
        self.apply_settings(settings)
        self.show_setup_problem("")
        self.statusBar().showMessage(f"Loaded settings from {path}", 5000)
        return True

    def save_settings_file(self, path: str | Path) -> bool:
        settings = self.gathered_settings()
        try:
            settings.validate()
            settings.save(path)
        except (SettingsError, OSError) as exc:
            self.show_setup_problem(f"Cannot save settings: {exc}", getattr(exc, "setting", None))
            return False
        self.statusBar().showMessage(f"Saved settings to {path}", 5000)
        return True

    @Slot()
    def reset_to_defaults(self) -> None:
        self.apply_settings(TrainSettings())
        self.show_setup_problem("")

    def show_setup_problem(self, text: str, field: str | None = None) -> None:
        """The Setup tab's red line; with a field, that editor is outlined and focused."""
        self.setup_problem.setText(text)
        self.setup_problem.setVisible(bool(text))
        if not text:
            return
        self.tabs.setCurrentIndex(0)
        self.statusBar().showMessage(text, 10000)
        if field:
            self.settings_panel.mark_invalid(field)

    # ------------------------------------------------------------------ slots
    @Slot(object)
    def _on_model_changed(self, info: Any) -> None:
        self.layers_view.set_model(info)
        self.settings_panel.set_layer_count(info.num_layers if info is not None else 0)
        if info is not None:
            self.data_panel.set_model_spec(self.model_panel.model_spec())
            if self.setup_problem.text().startswith("Model:"):
                self.show_setup_problem("")

    @Slot(str)
    def _on_settings_changed(self, _name: str) -> None:
        settings = self.settings_panel.settings()
        self.data_panel.set_settings(settings)
        self.layers_view.set_strategy(settings.freeze, settings.reinit_top_layers, settings.epochs)

    @Slot(object)
    def _on_data_changed(self, prepared: Any) -> None:
        if prepared is not None:
            self.layers_view.set_num_labels(prepared.num_labels)
            if self.setup_problem.text().startswith("Data:"):
                self.show_setup_problem("")

    @Slot(str)
    def _on_state_changed(self, state: str) -> None:
        self.badge.setText(STATE_TEXT.get(state, state.capitalize()))
        self.badge.setProperty("state", "paused" if state == "pausing" else state)
        self.badge.style().unpolish(self.badge)
        self.badge.style().polish(self.badge)
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
        store.setValue("choices/model", self.model_panel.model_spec())
        store.setValue("choices/data", self.data_panel.data_spec())
        store.setValue("choices/text_column", self.data_panel.text_column() or "")
        store.setValue("choices/label_column", self.data_panel.label_column() or "")
        fields = self.settings_panel.settings().to_dict()
        for name in ("model", "data", "text_column", "label_column", "extra"):
            fields.pop(name, None)
        store.setValue("choices/settings", json.dumps(fields))
        store.setValue("window/geometry", self.saveGeometry())
        store.setValue("window/setup_splitter", self.setup_splitter.saveState())

    def _restore(self) -> None:
        store = QSettings()
        geometry = store.value("window/geometry")
        if isinstance(geometry, QByteArray | bytes) and geometry:
            self.restoreGeometry(geometry)
        splitter = store.value("window/setup_splitter")
        if isinstance(splitter, QByteArray | bytes) and splitter:
            self.setup_splitter.restoreState(splitter)
        try:
            saved = json.loads(str(store.value("choices/settings", "") or "{}"))
            settings = TrainSettings.from_dict(saved, source="saved choices")
        except (ValueError, SettingsError):
            settings = TrainSettings()  # a newer or damaged entry: start from defaults
        settings = settings.replace(
            model=str(store.value("choices/model", "default") or "default"),
            data=str(store.value("choices/data", "sample") or "sample"),
            text_column=str(store.value("choices/text_column", "") or "") or None,
            label_column=str(store.value("choices/label_column", "") or "") or None)
        self.settings_panel.set_settings(settings)
        self.model_panel.set_model_spec(settings.model)
        self.data_panel.set_data(settings.data, settings.text_column, settings.label_column)

    # ------------------------------------------------------------------ closing
    def _ask_close(self) -> bool:
        answer = QMessageBox.question(
            self, "Training is running",
            "A run is training. Stop it (a checkpoint is saved, so it can be resumed later) and quit?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if self.session.is_running() and not self.confirm_close():
            event.ignore()
            return
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop training (waiting for its thread), background work and timers; remember choices."""
        if self._shut_down:
            return
        self._shut_down = True
        self._remember()
        if self.session.is_running():
            self.statusBar().showMessage("Stopping the run and saving a checkpoint...")
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            # Returns at once without a run; otherwise waits for the worker to save and end.
            self.session.shutdown(60000)
        finally:
            if QApplication.overrideCursor() is not None:
                QApplication.restoreOverrideCursor()
        for panel in (self.model_panel, self.data_panel, self.settings_panel):
            panel.shutdown()
        if self._run_panels is not None:
            training, tester, runs = self._run_panels
            training.shutdown()
            runs.shutdown()
            tester.shutdown(10000)
        self.runner.shutdown(10000)


def _import_run_panels() -> None:
    """Import the run panels' modules (pyqtgraph included) off the UI thread; building them is
    then quick. Only modules are loaded here: no widget is created off the main thread."""
    import importlib

    for name in ("ftstudio.gui.training_panel", "ftstudio.gui.tester_panel", "ftstudio.gui.runs_panel"):
        importlib.import_module(name)
