"""The engine's callback interface and its stop/pause control, free of Qt.

Training code calls a `Reporter` (the CLI prints, the window's worker turns each call into a Qt
signal, tests record) and polls a `TrainingControl` at every step boundary, and inside long
tokenization and evaluation loops, so stop and pause take effect promptly wherever the run is.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ftstudio.engine.errors import StopRequested

# Run states, in the order a run may pass through them.
PREPARING = "preparing"
TRAINING = "training"
EVALUATING = "evaluating"
SAVING = "saving"
PAUSED = "paused"
STOPPING = "stopping"
STOPPED = "stopped"
FINISHED = "finished"
FAILED = "failed"
FINAL_STATES = (STOPPED, FINISHED, FAILED)


@dataclass
class StepEvent:
    """Training progress, reported every `log_steps` optimizer steps."""

    step: int  # optimizer steps done
    total_steps: int
    epoch: float  # fractional epoch, e.g. 1.5 = half way through the second epoch
    loss: float  # mean training loss over the steps since the last report
    learning_rate: float
    samples_per_second: float
    elapsed: float  # seconds of training so far (pauses excluded)
    eta: float  # seconds left at the current pace

    def to_dict(self) -> dict[str, Any]:
        return {"event": "step", **asdict(self)}


@dataclass
class EvalEvent:
    """Validation (or test) metrics at a given step."""

    step: int
    epoch: float
    loss: float
    accuracy: float
    precision: float  # macro
    recall: float  # macro
    f1: float  # macro
    confusion: list[list[int]]  # rows: true label, columns: predicted label
    split: str = "validation"
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"event": "eval", **asdict(self)}


@dataclass
class CheckpointEvent:
    """A checkpoint folder was written completely."""

    step: int
    path: str
    is_best: bool
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"event": "checkpoint", **asdict(self)}


class Reporter:
    """Receives the run's events. Subclass and override what you need; every method is a no-op.

    Methods are called from the training thread; implementations must be quick and must not
    touch GUI objects directly (the window's worker re-emits them as signals).
    """

    def on_status(self, status: str, message: str = "") -> None:
        """The run changed state (see the constants above); `message` explains failures."""

    def on_log(self, message: str) -> None:
        """A human-readable line for the run's log panel or the console."""

    def on_progress(self, phase: str, done: int, total: int) -> None:
        """Progress inside a long phase (loading, tokenizing, evaluating, saving)."""

    def on_info(self, info: dict[str, Any]) -> None:
        """Facts known before training: parameter counts, device, data summary, total steps."""

    def on_step(self, event: StepEvent) -> None:
        """Training loss and throughput."""

    def on_eval(self, event: EvalEvent) -> None:
        """Validation metrics."""

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        """A checkpoint landed on disk."""


class MultiReporter(Reporter):
    """Fans each event out to several reporters (e.g. console + recorder)."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = [r for r in reporters if r is not None]

    def _each(self, name: str, *args: Any) -> None:
        for reporter in self.reporters:
            getattr(reporter, name)(*args)

    def on_status(self, status: str, message: str = "") -> None:
        self._each("on_status", status, message)

    def on_log(self, message: str) -> None:
        self._each("on_log", message)

    def on_progress(self, phase: str, done: int, total: int) -> None:
        self._each("on_progress", phase, done, total)

    def on_info(self, info: dict[str, Any]) -> None:
        self._each("on_info", info)

    def on_step(self, event: StepEvent) -> None:
        self._each("on_step", event)

    def on_eval(self, event: EvalEvent) -> None:
        self._each("on_eval", event)

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        self._each("on_checkpoint", event)


class TrainingControl:
    """Thread-safe stop and pause requests, polled by the engine at safe points.

    `check()` raises StopRequested when a stop was asked for and blocks while paused (reporting
    the paused state once), so every loop that calls it honours both requests.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self.paused_seconds = 0.0  # total time spent paused, excluded from throughput and ETA

    # requests, from any thread
    def request_stop(self) -> None:
        self._stop.set()
        self._resume.set()  # wake a paused loop so it can stop

    def request_pause(self) -> None:
        if not self._stop.is_set():
            self._resume.clear()

    def request_resume(self) -> None:
        self._resume.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def pause_requested(self) -> bool:
        return not self._resume.is_set()

    # polling, from the training thread
    def check(self, reporter: Reporter | None = None, resume_status: str = TRAINING) -> None:
        """Raise StopRequested if asked to stop; if paused, wait (reporting paused/resumed)."""
        if self._stop.is_set():
            raise StopRequested()
        if not self._resume.is_set():
            started = time.perf_counter()
            if reporter is not None:
                reporter.on_status(PAUSED, "")
            while not self._resume.wait(0.1):
                pass
            self.paused_seconds += time.perf_counter() - started
            if self._stop.is_set():
                raise StopRequested()
            if reporter is not None:
                reporter.on_status(resume_status, "")
