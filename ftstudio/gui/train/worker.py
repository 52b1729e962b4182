"""The object that waits for a training run on a worker QThread and speaks only in signals.

The run itself trains in a child process (engine.training_process: no GIL or heap shared with
the window). On this thread the worker starts the child and replays each event it reports on a
`_SignalReporter`, which turns it into a signal of this worker, queued by Qt to the main thread.
Payloads are plain dicts and strings (event.to_dict()). Stop and pause go straight to the child
from whichever thread asks: this thread is busy reading the child's events.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

from ftstudio.engine.events import FAILED, PREPARING, Reporter
from ftstudio.engine.training.child_process import TrainingProcess, readable_error


class _SignalReporter(Reporter):
    """Engine reporter that re-emits every callback as a signal of `worker` (cheap: one emit)."""

    def __init__(self, worker: TrainingWorker) -> None:
        self._worker = worker

    def on_status(self, status: str, message: str = "") -> None:
        self._worker.last_status = status
        self._worker.sig_status.emit(status, message or "")

    def on_log(self, message: str) -> None:
        self._worker.sig_log.emit(str(message))

    def on_progress(self, phase: str, done: int, total: int) -> None:
        self._worker.sig_progress.emit(str(phase), int(done), int(total))

    def on_info(self, info: dict[str, Any]) -> None:
        if info.get("run_dir"):
            self._worker.run_dir = str(info["run_dir"])
        self._worker.sig_info.emit(dict(info))

    def on_step(self, event) -> None:
        self._worker.sig_step.emit(event.to_dict())

    def on_eval(self, event) -> None:
        self._worker.sig_eval.emit(event.to_dict())

    def on_checkpoint(self, event) -> None:
        self._worker.sig_checkpoint.emit(event.to_dict())


class TrainingWorker(QObject):
    """Runs one training run (or resumes one) in a child process when `run()` is invoked on its thread.

    Signals (all emitted from the worker thread, delivered queued to receivers elsewhere):
      sig_status(str status, str message): the run changed state (events.PREPARING ... FAILED).
      sig_log(str line): a human-readable log line.
      sig_progress(str phase, int done, int total): progress inside tokenizing/evaluating/saving.
      sig_info(dict): facts known before training (total_steps, device, label_names, ...).
      sig_step(dict): StepEvent.to_dict().
      sig_eval(dict): EvalEvent.to_dict().
      sig_checkpoint(dict): CheckpointEvent.to_dict().
      sig_finished(dict): {run_dir, status, message, best}; always emitted last, exactly once.
    """

    sig_status = Signal(str, str)
    sig_log = Signal(str)
    sig_progress = Signal(str, int, int)
    sig_info = Signal(object)
    sig_step = Signal(object)
    sig_eval = Signal(object)
    sig_checkpoint = Signal(object)
    sig_finished = Signal(object)

    def __init__(self, settings, runs_dir: str | Path | None, resume_run_dir: str | Path | None = None) -> None:
        super().__init__()
        self.process = TrainingProcess(settings, runs_dir, resume_run_dir)
        self.last_status = ""
        self.run_dir = str(resume_run_dir or "")  # known once on_info arrives; kept for failures

    # --- requests from any thread: straight to the child (queued until it has started)
    def request_stop(self) -> None:
        self.process.send("stop")

    def request_pause(self) -> None:
        self.process.send("pause")

    def request_resume(self) -> None:
        self.process.send("resume")

    def kill(self) -> None:
        """End the child at once, when a stop was not honoured in time (closing the window)."""
        self.process.kill()

    @Slot()
    def run(self) -> None:
        """Train to the end; never raises: any failure becomes a `failed` status and result."""
        result: dict[str, Any]
        reporter = _SignalReporter(self)
        try:
            self.sig_status.emit(PREPARING, "")
            self.sig_log.emit("Starting the training process ...")
            self.process.start()
            result = self.process.relay(reporter)
            if result.get("run_dir"):
                self.run_dir = result["run_dir"]
            result["run_dir"] = self.run_dir
        except BaseException as exc:  # the window must hear about every failure, whatever its type
            message = readable_error(exc)
            if isinstance(exc, OSError):
                message = f"The training process could not start: {exc}"
            self.sig_log.emit("Training failed:\n" + "".join(traceback.format_exception(exc)).rstrip())
            if self.last_status != FAILED:
                self.sig_status.emit(FAILED, message)
            result = {"run_dir": self.run_dir, "status": FAILED, "message": message, "best": None}
        # Hand the worker back to the main thread before the last signal, so the session can
        # deleteLater() it there once this thread has ended (a finished thread runs no deletes).
        app = QCoreApplication.instance()
        if app is not None:
            self.moveToThread(app.thread())
        self.sig_finished.emit(result)
