"""The object that waits for a training run on a worker QThread and speaks only in signals.

The run itself trains in a child process (engine.training.child_process: no GIL or heap shared
with the window). On this thread the worker starts the child and replays each event it reports
on a ForwardingReporter, whose every call becomes the matching signal of this worker (`on_step`
-> `sig_step`), queued by Qt to the main thread. Payloads are plain dicts and strings
(`events.to_plain`: event.to_dict()). Stop and pause go straight to the child from whichever
thread asks: this thread is busy reading the child's events.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

from ftstudio.engine.errors import user_message
from ftstudio.engine.events import FAILED, PREPARING, REPORTER_METHODS, ForwardingReporter, to_plain
from ftstudio.engine.training.child_process import SEE_THE_LOG, TRAINING_OUT_OF_MEMORY, TrainingProcess


def signal_name(method: str) -> str:
    """The worker's signal for a Reporter method: `on_step` -> `sig_step`."""
    return "sig_" + method.removeprefix("on_")


# One signal per Reporter method, in the same order (the session re-exposes exactly these).
REPORTER_SIGNALS: tuple[str, ...] = tuple(signal_name(method) for method in REPORTER_METHODS)


class RunEventSignals(QObject):
    """The signals of a training run's events, declared once for the worker that emits them and
    the session that re-emits them on the main thread. Each Reporter method `on_x` has its `sig_x`
    (REPORTER_SIGNALS), which a new method must add here (Qt signals are declared by hand):
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


class TrainingWorker(RunEventSignals):
    """Runs one training run (or resumes one) in a child process when `run()` is invoked on its thread.

    Its signals (RunEventSignals) are emitted from the worker thread and delivered queued to
    receivers elsewhere.
    """

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

    def _emit_call(self, method: str, args: tuple[Any, ...]) -> None:
        """One reporter call of the child -> the matching signal (cheap: one emit)."""
        plain = to_plain(method, args)
        if method == "on_status":
            self.last_status = plain[0]
        elif method == "on_info" and plain[0].get("run_dir"):
            self.run_dir = str(plain[0]["run_dir"])
        getattr(self, signal_name(method)).emit(*plain)

    @Slot()
    def run(self) -> None:
        """Train to the end; never raises: any failure becomes a `failed` status and result."""
        result: dict[str, Any]
        reporter = ForwardingReporter(self._emit_call)
        try:
            self.sig_status.emit(PREPARING, "")
            self.sig_log.emit("Starting the training process ...")
            self.process.start()
            result = self.process.relay(reporter)
            if result.get("run_dir"):
                self.run_dir = result["run_dir"]
            result["run_dir"] = self.run_dir
        except BaseException as exc:  # the window must hear about every failure, whatever its type
            # An OSError here is the child failing to start (the interpreter missing, no memory to fork).
            doing = "The training process could not start" if isinstance(exc, OSError) else "Unexpected error"
            message = user_message(exc, doing, advice=SEE_THE_LOG, out_of_memory=TRAINING_OUT_OF_MEMORY)
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
