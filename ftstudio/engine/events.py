"""The engine's callback interface and its stop/pause control, free of Qt.

Training code calls a `Reporter` (the CLI prints, the window's worker turns each call into a Qt
signal, tests record) and polls a `TrainingControl` at every step boundary, and inside long
tokenization and evaluation loops, so stop and pause take effect promptly wherever the run is.

Whatever passes events on (the run recorder, the training child's stream, the window's worker)
is a `ForwardingReporter`: every call becomes (method name, arguments) for one function, and
`to_plain`/`from_plain` carry the arguments as plain data across a pipe or a Qt signal.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import threading
import time
import typing
from collections.abc import Callable, Sequence
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
    """Validation (or test) results at a given step: the loss, the task's scalar metrics
    (accuracy and macro F1; micro F1 and subset accuracy; RMSE and Pearson; ...) and details
    (confusion matrix, per-class or per-label tables, thresholds).

    As a record (`to_dict`, one line of metrics.jsonl) metrics and details sit beside step and
    loss, as they always have: `{"event": "eval", "step": 40, "loss": 0.5, "f1": 0.8, ...}`.
    """

    step: int
    epoch: float
    loss: float
    metrics: dict[str, float] = field(default_factory=dict)
    split: str = "validation"
    details: dict[str, Any] = field(default_factory=dict)
    task: str = "single-label"

    def value(self, name: str) -> float:
        """A metric by name; 'loss' included."""
        return self.loss if name == "loss" else self.metrics[name]

    def to_dict(self) -> dict[str, Any]:
        return {"event": "eval", "step": self.step, "epoch": self.epoch, "split": self.split, "task": self.task,
                "loss": self.loss, **self.metrics, **self.details}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> EvalEvent:
        """The inverse of `to_dict`: numbers are metrics, everything else details."""
        fixed = {"event", "step", "epoch", "split", "task", "loss"}
        metrics = {k: v for k, v in record.items() if k not in fixed and isinstance(v, (int, float))
                   and not isinstance(v, bool)}
        details = {k: v for k, v in record.items() if k not in fixed and k not in metrics}
        return cls(step=int(record["step"]), epoch=float(record.get("epoch", 0.0)), loss=float(record["loss"]),
                   metrics=metrics, split=str(record.get("split", "validation")), details=details,
                   task=str(record.get("task", "single-label")))


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


# Every event method of Reporter in declaration order, read off the class once: the one list that
# the forwarders below, the training child's protocol and the window's signals all follow, so a
# method added to Reporter needs adding nowhere else.
REPORTER_METHODS: tuple[str, ...] = tuple(
    name for name, value in vars(Reporter).items() if name.startswith("on_") and callable(value)
)

# What a forwarder hands each call to: the method's name and its arguments, all positional.
ReporterCall = Callable[[str, tuple[Any, ...]], None]


class ForwardingReporter(Reporter):
    """A Reporter that turns every call into `sink(method_name, args)`.

    The pass-throughs (the run recorder to its inner reporter, the training child to its output
    stream, the window's worker to its signals) are all this one class, its methods generated
    from Reporter's own signatures, so none can miss a method. `args` are always positional with
    defaults filled in: `on_status("failed", message="x")` and `on_status("failed", "x")` reach the
    sink alike. A subclass that acts on one call overrides that method and calls super() to pass
    it on.
    """

    def __init__(self, sink: ReporterCall) -> None:
        self._sink = sink


def _forwarding_method(name: str) -> Callable[..., None]:
    # Generated rather than written out: seven hand-written pass-throughs per forwarder were how
    # a method could be forgotten in one of them.
    original = getattr(Reporter, name)
    signature = inspect.signature(original)
    arity = len(signature.parameters) - 1  # without self

    def forward(self: ForwardingReporter, *args: Any, **kwargs: Any) -> None:
        if kwargs or len(args) != arity:  # binding is only needed for keywords and defaults
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            args = tuple(bound.arguments.values())[1:]
        self._sink(name, args)

    return functools.update_wrapper(forward, original)  # Reporter's name, docstring and signature


for _name in REPORTER_METHODS:
    setattr(ForwardingReporter, _name, _forwarding_method(_name))


def deliver_to(reporter: Reporter) -> ReporterCall:
    """A sink that makes each call it is handed on `reporter`: what a forwarder that passes the
    events on to another reporter (the run recorder) forwards to."""

    def deliver(name: str, args: tuple[Any, ...]) -> None:
        getattr(reporter, name)(*args)

    return deliver


def _argument_types(method: Callable[..., Any]) -> tuple[Any, ...]:
    hints = typing.get_type_hints(method)  # the annotations resolved (they are strings here)
    return tuple(hints.get(name, Any) for name in list(inspect.signature(method).parameters)[1:])


# The declared type of each argument of each Reporter method, which says how it travels as
# plain data: events as their to_dict(), text, numbers, dicts.
_ARGUMENT_TYPES = {name: _argument_types(getattr(Reporter, name)) for name in REPORTER_METHODS}


def to_plain(name: str, args: Sequence[Any]) -> list[Any]:
    """A Reporter call's arguments as plain values, as the window's signals and the training
    child's JSON lines carry them: events as their `to_dict()`, the rest coerced to the type the
    method declares (a numpy count becomes an int, a missing message an empty string)."""
    return [_plain(value, kind) for value, kind in zip(args, _ARGUMENT_TYPES[name])]


def from_plain(name: str, args: Sequence[Any]) -> tuple[Any, ...]:
    """The inverse of `to_plain`: each dict the method declares as an event becomes that event."""
    return tuple(_event(value, kind) for value, kind in zip(args, _ARGUMENT_TYPES[name]))


def _plain(value: Any, kind: Any) -> Any:
    if dataclasses.is_dataclass(kind):
        return value.to_dict()
    if kind is str:
        return "" if value is None else str(value)
    if kind in (int, float):
        return kind(value)
    if typing.get_origin(kind) is dict:
        return dict(value)
    return value


def _event(value: Any, kind: Any) -> Any:
    if dataclasses.is_dataclass(kind) and isinstance(value, dict):
        if hasattr(kind, "from_dict"):
            return kind.from_dict(value)
        return kind(**{key: item for key, item in value.items() if key != "event"})
    return value


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
        self.stop_reason = ""  # who asked for the stop, when not the user's Stop (e.g. "a shutdown signal (SIGTERM)")
        self.save_on_stop = True  # False: the run is not to be continued (a pruned trial), so no checkpoint at the stop

    # requests, from any thread
    def request_stop(self, reason: str = "", save: bool = True) -> None:
        """Stop at the next safe point; `reason` (the first one given) goes into the status
        message. `save=False` (when this is the first stop asked): end without the checkpoint a
        stop normally writes, for a run nobody will continue."""
        if not self._stop.is_set():
            self.save_on_stop = save
        if reason and not self.stop_reason:
            self.stop_reason = reason
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
