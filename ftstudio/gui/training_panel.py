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

from PySide6.QtCore import Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from ftstudio.engine.events import FAILED, FINAL_STATES, FINISHED, PAUSED, PREPARING, STOPPED, STOPPING
from ftstudio.gui.checkpoints_table import CheckpointsTable
from ftstudio.gui.log_view import LogView
from ftstudio.gui.training_plots import TrainingPlots

IDLE, PAUSING = "ready", "pausing"
PROGRESS_MS = 200  # the progress row shows the newest step at most 5 times a second
RUNNING_STATES = ("preparing", "training", "evaluating", "saving")
# Used only when the application style sheet (style.qss) does not style the badge already.
BADGE_COLORS = {"preparing": "#3f7fd6", "training": "#2e9d4f", "evaluating": "#2a8f8f", "saving": "#2a8f8f",
                "paused": "#c98a12", "pausing": "#c98a12", "stopping": "#c9651a", "stopped": "#7a7f87",
                "finished": "#2563c9", "failed": "#c62f2f", "ready": "#7a7f87"}


class TrainingPanel(QWidget):
    """Controls and live view of one training run at a time.

    Signals:
      sig_run_started(str run_dir): the run's folder is known (the engine reported its info).
      sig_run_finished(dict): how the run ended: {run_dir, status, message, best}.
      sig_state_changed(str state): the badge changed (ready, preparing, training, evaluating,
        saving, pausing, paused, stopping, stopped, finished, failed), for toolbars to mirror.

    `show_dialogs` (default True) shows failures in a message box besides the inline banner;
    `open_folders` (default True) lets "Open run folder" launch the file manager. Tests turn
    both off.
    """

    sig_run_started = Signal(str)
    sig_run_finished = Signal(object)
    sig_state_changed = Signal(str)

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
        self._epochs = 0
        self._latest_step: dict | None = None
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_MS)
        self._progress_timer.timeout.connect(self._apply_latest_step)
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
        self.run_label = QLabel("No run yet")
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.resume_button, self.stop_button):
            buttons.addWidget(button)
        buttons.addSpacing(16)
        buttons.addWidget(self.run_label, 1)
        buttons.addWidget(self.open_run_button)

        self.badge = QLabel()
        self.badge.setObjectName("stateBadge")
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.badge.setMinimumWidth(110)
        self.progress = QProgressBar()
        self.progress.setFormat("step %v / %m")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.epoch_label, self.speed_label, self.elapsed_label, self.eta_label = (QLabel() for _ in range(4))
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.badge)
        progress_row.addWidget(self.progress, 1)
        for label in (self.epoch_label, self.speed_label, self.elapsed_label, self.eta_label):
            label.setMinimumWidth(90)
            progress_row.addWidget(label)

        self.phase_label = QLabel()
        self.phase_progress = QProgressBar()
        self.phase_progress.setMaximumHeight(12)
        self.phase_progress.setTextVisible(False)
        self._phase_row = QWidget()
        phase_row = QHBoxLayout(self._phase_row)
        phase_row.setContentsMargins(0, 0, 0, 0)
        phase_row.addWidget(self.phase_label)
        phase_row.addWidget(self.phase_progress, 1)
        # Shown and hidden at every evaluation: keeping its place stops the plots below from being
        # resized, re-laid out and fully repainted each time (a stall of the UI thread).
        policy = self._phase_row.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self._phase_row.setSizePolicy(policy)
        self._phase_row.setVisible(False)

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
        layout.addLayout(progress_row)
        layout.addWidget(self._phase_row)
        layout.addWidget(self.banner)
        layout.addWidget(body, 1)
        self._reset_progress()

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
        from ftstudio.engine.runs import read_metrics

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
        self._progress_timer.stop()
        self.plots.shutdown()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._progress_timer.stop()
        self._apply_latest_step()  # hidden widgets do not repaint: cheap to apply now
        super().hideEvent(event)

    # ------------------------------------------------------------------ run lifecycle
    def _begin(self, settings, resume_dir: Path | None, first_line: str) -> bool:
        self.plots.clear()
        self.log.clear()
        self.checkpoints.clear()
        self.banner.setVisible(False)
        self._reset_progress()
        self._progress_timer.stop()
        self._latest_step = None
        self.run_dir = None
        self.run_label.setText("Preparing a run ...")
        self._stop_requested = self._pause_requested = False
        self._engine_state = PREPARING
        if not self.session.start(settings, self.runs_dir, resume_dir):
            self._show_banner("A run is already in progress.", "error")
            return False
        self.log.append_line(first_line)
        self._set_state(PREPARING)
        return True

    def _set_run_dir(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.run_label.setText(f"Run: {Path(run_dir).name}")
        self.run_label.setToolTip(run_dir)
        self._update_buttons()

    def _set_state(self, state: str) -> None:
        self._state = state
        self.badge.setText({STOPPING: "Stopping...", PAUSING: "Pausing..."}.get(state, state.capitalize()))
        self.badge.setProperty("state", PAUSED if state == PAUSING else state)
        app_sheet = QApplication.instance().styleSheet() if QApplication.instance() else ""
        if "stateBadge" not in app_sheet:
            color = BADGE_COLORS.get(state, "#7a7f87")
            self.badge.setStyleSheet(f"QLabel {{ color: white; font-weight: 700; border-radius: 9px;"
                                     f" padding: 2px 12px; background: {color}; }}")
        else:
            self.badge.style().unpolish(self.badge)
            self.badge.style().polish(self.badge)
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

    def _reset_progress(self) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.epoch_label.setText("epoch —")
        self.speed_label.setText("— samples/s")
        self.elapsed_label.setText("elapsed —")
        self.eta_label.setText("ETA —")
        self._phase_row.setVisible(False)

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
            self._phase_row.setVisible(False)
            return
        if status == PAUSED:
            self._pause_requested = False
            self.log.append_line("Paused. Resume to continue from this step.")
        if status != PREPARING and status != "evaluating":
            self._phase_row.setVisible(False)
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
        self.phase_label.setText(f"{phase.capitalize()}: {done:,} / {total:,}" if total else phase.capitalize())
        self.phase_progress.setRange(0, max(total, 0))
        self.phase_progress.setValue(min(done, total) if total else 0)
        self._phase_row.setVisible(not total or done < total)

    @Slot(object)
    def _on_info(self, info: dict) -> None:
        run_dir = str(info.get("run_dir") or "")
        total = int(info.get("total_steps") or 0)
        self._epochs = int(info.get("epochs") or 0)
        self.progress.setRange(0, max(total, 1))
        resumed = info.get("resumed_from_step")
        if resumed is not None and run_dir:
            # The engine has cut the metrics log back to the checkpoint; show exactly that much.
            from ftstudio.engine.runs import read_metrics

            self.plots.load_records([r for r in read_metrics(run_dir) if int(r.get("step", 0) or 0) <= resumed])
            self.progress.setValue(int(resumed))
        if run_dir:
            self._set_run_dir(run_dir)
            self.checkpoints.set_run(run_dir)
            self.sig_run_started.emit(run_dir)

    @Slot(object)
    def _on_step(self, event: dict) -> None:
        self.plots.add_step(event)
        # QProgressBar.setValue repaints synchronously (milliseconds, on the GUI thread, holding the
        # GIL the training thread needs): show the latest step at most every PROGRESS_MS instead.
        self._latest_step = event
        if not self.isVisible():
            self._apply_latest_step()
        elif not self._progress_timer.isActive():
            self._progress_timer.start()

    @Slot()
    def _apply_latest_step(self) -> None:
        event, self._latest_step = self._latest_step, None
        if event is None:
            return
        total = int(event.get("total_steps") or 0)
        if total and self.progress.maximum() != total:
            self.progress.setRange(0, total)
        self.progress.setValue(int(event.get("step") or 0))
        epochs = f" / {self._epochs}" if self._epochs else ""
        self.epoch_label.setText(f"epoch {float(event.get('epoch') or 0):.2f}{epochs}")
        self.speed_label.setText(f"{float(event.get('samples_per_second') or 0):,.1f} samples/s")
        self.elapsed_label.setText(f"elapsed {_hms(event.get('elapsed'))}")
        self.eta_label.setText(f"ETA {_hms(event.get('eta'))}")

    @Slot(object)
    def _on_eval(self, event: dict) -> None:
        self.plots.add_eval(event)
        split = event.get("split", "validation")
        self.log.append_line(
            f"{split.capitalize()} at step {event.get('step')}: accuracy {float(event.get('accuracy', 0)):.4f}, "
            f"macro F1 {float(event.get('f1', 0)):.4f}, loss {float(event.get('loss', 0)):.4f}"
        )

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
        self._progress_timer.stop()
        self._apply_latest_step()
        if result.get("run_dir"):
            self._set_run_dir(str(result["run_dir"]))
            self.checkpoints.set_run(result["run_dir"])
        self._set_state(status)
        self._phase_row.setVisible(False)
        self.plots.flush()
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
            self.eta_label.setText("ETA 0:00")
            best = result.get("best") or {}
            summary = "Finished."
            if best:
                summary += f" Best {best.get('metric')} {float(best.get('value') or 0):.4f} at step {best.get('step')}."
            if message:
                summary += f" {message}"
            self._show_banner(summary, "ok")
            self.log.append_line(summary)
        self.sig_run_finished.emit(dict(result))

    @Slot()
    def _on_open_run_clicked(self) -> None:
        if self.run_dir and self.open_folders:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.run_dir))


def _hms(seconds: Any) -> str:
    try:
        total = max(0, int(round(float(seconds))))
    except (TypeError, ValueError):
        return "—"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
