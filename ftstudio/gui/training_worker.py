"""The object that runs `engine.train.train` on a worker QThread and speaks only in signals.

The engine calls a `Reporter` on the training thread; `_SignalReporter` turns each call into a
signal of this worker, which Qt queues to the main thread. Payloads are plain dicts and strings
(event.to_dict()), so no engine object is shared across threads. Stop and pause go straight to the
thread-safe `TrainingControl`: the worker thread is busy inside train() and would never get to a
queued slot.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

from ftstudio.engine.events import FAILED, PREPARING, Reporter, TrainingControl


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
    """Runs one training run (or resumes one) when `run()` is invoked on its thread.

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
        self.settings = settings
        self.runs_dir = Path(runs_dir) if runs_dir else None
        self.resume_run_dir = Path(resume_run_dir) if resume_run_dir else None
        self.control = TrainingControl()
        self.last_status = ""
        self.run_dir = str(self.resume_run_dir or "")  # known once on_info arrives; kept for failures

    # --- requests from any thread: straight to the thread-safe control
    def request_stop(self) -> None:
        self.control.request_stop()

    def request_pause(self) -> None:
        self.control.request_pause()

    def request_resume(self) -> None:
        self.control.request_resume()

    @Slot()
    def run(self) -> None:
        """Train to the end; never raises: any exception becomes a `failed` status and result."""
        result: dict[str, Any]
        reporter = _SignalReporter(self)
        try:
            # Before torch runs anything on this thread, so the OpenMP threads it starts inherit it:
            # the window's thread then gets a core at once when it has something to draw.
            from ftstudio.engine.speed import lower_thread_priority

            lower_thread_priority()
            # The first run imports torch and transformers here: say so, it can take seconds.
            self.sig_status.emit(PREPARING, "")
            self.sig_log.emit("Loading the training libraries ...")
            quiet_progress_bars()
            from ftstudio.engine.train import train  # lazy: torch/transformers load here, off the GUI thread

            outcome = train(
                self.settings,
                run_dir=self.resume_run_dir,
                runs_dir=self.runs_dir,
                reporter=reporter,
                control=self.control,
                resume=self.resume_run_dir is not None,
            )
            result = {
                "run_dir": str(outcome.run_dir) if outcome.run_dir else "",
                "status": outcome.status,
                "message": outcome.message or "",
                "best": outcome.best,
            }
        except BaseException as exc:  # the window must hear about every failure, whatever its type
            message = _readable(exc)
            self.sig_log.emit("Training failed:\n" + "".join(traceback.format_exception(exc)).rstrip())
            if self.last_status != FAILED:
                self.sig_status.emit(FAILED, message)
            result = {
                "run_dir": self.run_dir,
                "status": FAILED,
                "message": message,
                "best": None,
            }
        # Hand the worker back to the main thread before the last signal, so the session can
        # deleteLater() it there once this thread has ended (a finished thread runs no deletes).
        app = QCoreApplication.instance()
        if app is not None:
            self.moveToThread(app.thread())
        self.sig_finished.emit(result)


def _readable(exc: BaseException) -> str:
    """One line for the user: engine errors are already written for them; others get their type."""
    from ftstudio.engine.errors import FtStudioError

    text = str(exc).strip()
    if isinstance(exc, FtStudioError) and text:
        return text
    if isinstance(exc, MemoryError):
        return "Out of memory. Lower the batch size or the maximum length and try again."
    return f"Unexpected error ({type(exc).__name__}): {text or 'no details'}. See the log for the traceback."


def quiet_progress_bars_early() -> None:
    """The cheap part, for the main thread at startup (before any data or model work): env
    switches read by HF libraries on import, and no tqdm monitor thread (tqdm imports fast)."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    try:
        import tqdm

        tqdm.tqdm.monitor_interval = 0
    except ImportError:
        pass


def quiet_progress_bars() -> None:
    """Silence tqdm bars and tqdm's monitor thread in HF libraries: the reporter is our progress.

    Called on the worker thread just before training, where the heavy imports happen anyway.
    """
    quiet_progress_bars_early()
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:
        pass
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
