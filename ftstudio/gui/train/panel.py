"""The Train tab: start, pause, resume and stop a run, and watch it (state, progress, curves, log,
checkpoints).

Everything shown comes from the `TrainingSession`'s signals; the panel keeps only display state.
The state badge follows the engine's statuses, except that after Stop it reads "stopping..." until
the worker confirms how the run ended, and after Pause "pausing..." until the loop has paused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.events import FAILED, FINAL_STATES, FINISHED, PAUSED, PREPARING, STOPPED, STOPPING
from ftstudio.gui.train.checkpoints_table import CheckpointsTable
from ftstudio.gui.train.log_view import LogView
from ftstudio.gui.train.plots import TrainingPlots
from ftstudio.gui.train.progress import RunProgress, group_facts, run_note
from ftstudio.gui.train.task_metrics import (
    DEFAULT_TASK,
    best_text,
    describe_metric,
    headline_metrics,
    task_name,
)

IDLE, PAUSING = "ready", "pausing"
RUNNING_STATES = ("preparing", "training", "evaluating", "saving")


class TrainingPanel(QWidget):
    """Controls and live view of one training run at a time.

    Signals:
      sig_run_started(str run_dir): the run's folder is known (the engine reported its info).
      sig_run_finished(dict): how the run ended: {run_dir, status, message, best}.
      sig_state_changed(str state): the badge changed (ready, preparing, training, evaluating,
        saving, pausing, paused, stopping, stopped, finished, failed), for toolbars to mirror.
      sig_finetune_from(str checkpoint): "Fine-tune from this" was clicked after a pre-training run.

    `show_dialogs` (default True) shows failures in a message box besides the inline banner;
    `open_folders` (default True) lets "Open run folder" launch the file manager. Tests turn
    both off.
    """

    sig_run_started = Signal(str)
    sig_run_finished = Signal(object)
    sig_state_changed = Signal(str)
    sig_finetune_from = Signal(str)

    def __init__(self, session, settings_provider: Callable[[], Any], runs_dir: str | Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.settings_provider = settings_provider
        self.runs_dir = Path(runs_dir) if runs_dir else None
        self.show_dialogs = True
        self.open_folders = True
        self.run_dir: str | None = None
        self._state = IDLE
        self._engine_state = IDLE  # the last status the engine reported (badge may say more)
        self._stop_requested = self._pause_requested = False
        self._task, self._task_metrics = DEFAULT_TASK, []  # the run's, from its info event
        self._build()
        for name, slot in (("sig_status", self._on_status), ("sig_log", self._on_log),
                           ("sig_progress", self._on_progress), ("sig_info", self._on_info),
                           ("sig_step", self._on_step), ("sig_eval", self._on_eval),
                           ("sig_checkpoint", self._on_checkpoint), ("sig_finished", self._on_finished)):
            getattr(session, name).connect(slot)
        self._set_state(IDLE)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        icon = self.style().standardIcon
        self.start_button = QPushButton(icon(QStyle.StandardPixmap.SP_MediaPlay), "Start")
        self.pause_button = QPushButton(icon(QStyle.StandardPixmap.SP_MediaPause), "Pause")
        self.resume_button = QPushButton(icon(QStyle.StandardPixmap.SP_MediaSeekForward), "Resume")
        self.stop_button = QPushButton(icon(QStyle.StandardPixmap.SP_MediaStop), "Stop")
        self.open_run_button = QPushButton(icon(QStyle.StandardPixmap.SP_DirOpenIcon), "Open run folder")
        self.start_button.setToolTip("Train with the settings of the Setup tab")
        self.pause_button.setToolTip("Pause at the next step; nothing is lost")
        self.stop_button.setToolTip("Stop at the next step and save a checkpoint you can resume from")
        for button, slot in ((self.start_button, self.start), (self.pause_button, self.pause),
                             (self.resume_button, self.resume), (self.stop_button, self.stop),
                             (self.open_run_button, self._on_open_run_clicked)):
            button.clicked.connect(slot)
        # Offered once a pre-training run has a checkpoint to fine-tune from (engine's finetune_checkpoint).
        self.finetune_button = QPushButton("Fine-tune from this")
        self.finetune_button.clicked.connect(self._on_finetune_clicked)
        self.finetune_button.hide()
        self.run_label = QLabel("No run yet")
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # How the run is spread: "2 processes · global batch 32" (empty for one process).
        self.group_label = QLabel()
        self.group_label.setObjectName("runGroup")
        self.group_label.setToolTip("Training processes (one per GPU, or gloo processes on a CPU) and the texts "
                                    "per optimizer step: batch size x processes x accumulation")
        self.group_label.setVisible(False)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.resume_button, self.stop_button):
            buttons.addWidget(button)
        buttons.addSpacing(16)
        buttons.addWidget(self.run_label)
        buttons.addWidget(self.group_label)
        buttons.addStretch(1)
        buttons.addWidget(self.finetune_button)
        buttons.addWidget(self.open_run_button)

        self.run_progress = RunProgress()
        self.badge, self.progress = self.run_progress.badge, self.run_progress.bar

        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.setVisible(False)

        self.plots = TrainingPlots()
        self.log = LogView()
        self.checkpoints = CheckpointsTable()
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.log)
        bottom.addWidget(self.checkpoints)
        bottom.setSizes([600, 500])
        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(self.plots)
        body.addWidget(bottom)
        body.setStretchFactor(0, 3)
        body.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.run_progress)
        layout.addWidget(self.banner)
        layout.addWidget(body, 1)

    # ------------------------------------------------------------------ public controls
    def state(self) -> str:
        return self._state

    def start(self) -> bool:
        """Start a new run with the settings the provider gives; False when it could not start."""
        if self.session.is_running():
            return False
        settings = self.settings_provider()
        if settings is None:  # the provider has already said why
            return False
        from ftstudio.engine.errors import SettingsError

        try:
            settings.validate()
        except SettingsError as exc:
            self._show_banner(str(exc), "error")
            return False
        return self._begin(settings, None, f"Starting: model {settings.model}, data {settings.data}.")

    def start_resume(self, run_dir: str | Path) -> bool:
        """Continue the run in `run_dir` from its last checkpoint (settings come from the folder)."""
        if self.session.is_running():
            return False
        from ftstudio.engine.runs.folder import read_metrics

        if not self._begin(None, Path(run_dir), f"Resuming {Path(run_dir).name}."):
            return False
        self.plots.load_records(read_metrics(run_dir))
        self._set_run_dir(str(run_dir))
        return True

    @Slot()
    def pause(self) -> None:
        if self.session.is_running() and not self._stop_requested and self._state in RUNNING_STATES:
            self._pause_requested = True
            self.session.pause()
            self._set_state(PAUSING)

    @Slot()
    def resume(self) -> None:
        if self.session.is_running() and not self._stop_requested and self._state in (PAUSED, PAUSING):
            self._pause_requested = False
            self.session.resume()
            # The engine reports the resumed state itself; show the last one meanwhile (a pause
            # that had not taken effect yet produces no status at all).
            self._set_state(self._engine_state if self._engine_state != PAUSED else "training")

    @Slot()
    def stop(self) -> None:
        if self.session.is_running() and not self._stop_requested:
            self._stop_requested = True
            self.session.stop()
            self.log.append_line("Stop requested: finishing the current step and saving a checkpoint ...")
            self._set_state(STOPPING)

    def shutdown(self) -> None:
        """Stop the panel's timers (the main window calls this, after the session's shutdown)."""
        self.run_progress.stop()
        self.plots.shutdown()

    # ------------------------------------------------------------------ run lifecycle
    def _begin(self, settings, resume_dir: Path | None, first_line: str) -> bool:
        self.plots.clear()
        self.log.clear()
        self.checkpoints.clear()
        self.banner.setVisible(False)
        self.finetune_button.hide()
        self.run_progress.reset()
        self.run_dir = None
        self.run_label.setText("Preparing a run ...")
        self._show_group({})
        self._stop_requested = self._pause_requested = False
        self._engine_state = PREPARING
        if not self.session.start(settings, self.runs_dir, resume_dir):
            self._show_banner("A run is already in progress.", "error")
            return False
        self.log.append_line(first_line)
        self._set_state(PREPARING)
        return True

    def _show_group(self, info: dict) -> None:
        text = group_facts(info)
        self.group_label.setText(f"· {text}" if text else "")
        self.group_label.setVisible(bool(text))

    def _set_run_dir(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.run_label.setText(f"Run: {Path(run_dir).name}")
        self.run_label.setToolTip(run_dir)
        self._update_buttons()

    def _set_state(self, state: str) -> None:
        self._state = state
        self.badge.show_state(state)
        self._update_buttons()
        self.sig_state_changed.emit(state)

    def _update_buttons(self) -> None:
        running = self.session.is_running()
        state = self._state
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running and state in RUNNING_STATES and not self._stop_requested)
        self.resume_button.setEnabled(running and state in (PAUSED, PAUSING) and not self._stop_requested)
        self.stop_button.setEnabled(running and not self._stop_requested)
        self.open_run_button.setEnabled(bool(self.run_dir) and Path(self.run_dir).is_dir())

    def _show_banner(self, text: str, role: str) -> None:
        from ftstudio.gui.style import colors, set_role

        self.banner.setText(text)
        set_role(self.banner, role)
        if "role" not in (QApplication.instance().styleSheet() or ""):  # panel used without the app's sheet
            self.banner.setStyleSheet(f"color: {colors().get(role, colors()['hint'])}; font-weight: 600;")
        self.banner.setVisible(True)

    # ------------------------------------------------------------------ session signals
    @Slot(str, str)
    def _on_status(self, status: str, message: str) -> None:
        self._engine_state = status
        if status in FINAL_STATES:
            self._stop_requested = self._pause_requested = False
            self._set_state(status)
            self.run_progress.hide_phase()
            return
        if status == PAUSED:
            self._pause_requested = False
            self.log.append_line("Paused. Resume to continue from this step.")
        if status != PREPARING and status != "evaluating":
            self.run_progress.hide_phase()
        # After Stop or Pause the badge keeps saying so until the engine confirms the outcome.
        if self._stop_requested or status == STOPPING:
            self._stop_requested = True
            self._set_state(STOPPING)
        elif self._pause_requested and status != PAUSED:
            self._set_state(PAUSING)
        else:
            self._set_state(status)

    @Slot(str)
    def _on_log(self, line: str) -> None:
        self.log.append_line(line)

    @Slot(str, int, int)
    def _on_progress(self, phase: str, done: int, total: int) -> None:
        self.run_progress.show_phase(phase, done, total)

    @Slot(object)
    def _on_info(self, info: dict) -> None:
        run_dir = str(info.get("run_dir") or "")
        resumed = info.get("resumed_from_step")
        resumed = int(resumed) if resumed is not None and run_dir else None
        self.run_progress.set_plan(int(info.get("total_steps") or 0), int(info.get("epochs") or 0), resumed)
        self.run_progress.set_note(run_note(info))
        self._show_group(info)
        self._task = task_name(info.get("task"))
        self._task_metrics = [str(m) for m in info.get("metrics") or []]
        if resumed is not None:
            # The engine has cut the metrics log back to the checkpoint; show exactly that much.
            from ftstudio.engine.runs.folder import read_metrics

            self.plots.load_records([r for r in read_metrics(run_dir) if int(r.get("step", 0) or 0) <= resumed])
        self.plots.add_info(info)  # the validation plots of the run's task
        self.checkpoints.set_task(self._task, self._task_metrics)
        if run_dir:
            self._set_run_dir(run_dir)
            self.checkpoints.set_run(run_dir)
            self.sig_run_started.emit(run_dir)

    @Slot(object)
    def _on_step(self, event: dict) -> None:
        self.plots.add_step(event)
        self.run_progress.add_step(event)

    @Slot(object)
    def _on_eval(self, event: dict) -> None:
        self.plots.add_eval(event)
        split = str(event.get("split", "validation"))
        task = task_name(event.get("task") or self._task)
        shown = [describe_metric(name, event.get(name)) for name in (*headline_metrics(task, self._task_metrics), "loss")]
        self.log.append_line(f"{split.capitalize()} at step {event.get('step')}: {', '.join(shown)}")

    @Slot(object)
    def _on_checkpoint(self, event: dict) -> None:
        self.checkpoints.add_checkpoint(event)
        best = " (best so far)" if event.get("is_best") else ""
        self.log.append_line(f"Checkpoint saved: {Path(str(event.get('path', ''))).name}{best}")
        self._update_buttons()

    @Slot(object)
    def _on_finished(self, result: dict) -> None:
        status, message = result.get("status", FAILED), result.get("message", "")
        self._stop_requested = self._pause_requested = False
        self._engine_state = status
        self.run_progress.apply_latest_step()
        if result.get("run_dir"):
            self._set_run_dir(str(result["run_dir"]))
            self.checkpoints.set_run(result["run_dir"])
        self._set_state(status)
        self.run_progress.hide_phase()
        self.plots.flush()
        self._offer_finetune(result.get("run_dir"), status)
        if status == FAILED:
            text = message or "Training failed for an unknown reason; see the log."
            self._show_banner(f"Training failed: {text}", "error")
            self.log.append_line(f"Failed: {text}")
            if self.show_dialogs:
                box = QMessageBox(QMessageBox.Icon.Critical, "Training failed", text, parent=self)
                box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
                box.open()  # not exec(): no nested event loop inside a signal delivery
        elif status == STOPPED:
            self._show_banner(message or "Stopped.", "hint")
            self.log.append_line(message or "Stopped.")
        elif status == FINISHED:
            self.run_progress.eta_label.setText("ETA 0:00")
            best = result.get("best") or {}
            summary = "Finished."
            if best:
                metric = str(best.get("metric"))
                summary += f" Best {best_text(metric, best.get('value'))} at step {best.get('step')}."
            if message:
                summary += f" {message}"
            self._show_banner(summary, "ok")
            self.log.append_line(summary)
        self.sig_run_finished.emit(dict(result))

    def _offer_finetune(self, run_dir: Any, status: str) -> None:
        from ftstudio.engine.runs.lineage import finetune_checkpoint

        source = finetune_checkpoint(run_dir, status, self._task) if run_dir else None
        self.finetune_button.setProperty("source", str(source or ""))
        self.finetune_button.setToolTip(f"Use {source} as Setup's model for a fine-tune on labelled data")
        self.finetune_button.setVisible(source is not None)

    @Slot()
    def _on_finetune_clicked(self) -> None:
        self.sig_finetune_from.emit(str(self.finetune_button.property("source") or ""))

    @Slot()
    def _on_open_run_clicked(self) -> None:
        if self.run_dir and self.open_folders:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.run_dir))

