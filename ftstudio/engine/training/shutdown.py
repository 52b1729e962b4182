"""Shutdown signals: a run asked to end by the system stops at its next step and saves it.

One place for what `ftstudio train` (the CLI) and the window's training child do when the
system or the user ends them politely: SIGTERM (`kill`, systemd, Docker, a batch scheduler's
preemption, a machine shutting down), SIGHUP (the terminal closed, the SSH session dropped) and,
on Windows, SIGBREAK, which the C runtime raises for Ctrl-Break and for the console's close,
logoff and shutdown events (Windows ends a console process about 5 s after a close event, so the
save has to fit in that). Each becomes `control.request_stop(...)`: the loop stops at its next
safe point, saves a checkpoint of that step, writes the run as stopped with a message naming the
signal, and the process exits, usually within a second or two of the signal (the usual grace
before SIGKILL is 10 s).

A second shutdown signal while stopping is ignored (announced, never raised): the checkpoint
being written finishes, and nothing can be cut in the middle of a write by an exception. Ctrl-C
(SIGINT) is handled only when asked: the CLI's first Ctrl-C stops like SIGTERM and a second one
quits at once (KeyboardInterrupt); the atomic writes (runs/atomic.py) then keep the previous
complete checkpoint readable. The training child treats Ctrl-C (sent to the window's whole
process group from a terminal) as one more stop.

Exit status after such a stop: 128 + the signal's number, as a shell reports a process ended by
that signal (143 for SIGTERM, 129 for SIGHUP, 130 for Ctrl-C), so schedulers see "stopped by a
signal" while the run folder holds a resumable checkpoint.

Python runs signal handlers on the main thread between bytecodes, so `install` must be called
from the main thread; a step in native code finishes before the stop is seen.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

from ftstudio.engine.events import TrainingControl

# The polite "please end" signals, by name; those the platform lacks are skipped.
SHUTDOWN_SIGNAL_NAMES = ("SIGTERM", "SIGHUP", "SIGBREAK")
# What Ctrl-C does: left alone, a stop like the others, or stop first and quit at the second.
INTERRUPT_UNTOUCHED, INTERRUPT_STOPS, INTERRUPT_STOPS_THEN_QUITS = "untouched", "stops", "stops-then-quits"


def shutdown_signals() -> list[signal.Signals]:
    """The shutdown signals this platform has (SIGTERM, SIGHUP on POSIX, SIGBREAK on Windows)."""
    return [getattr(signal, name) for name in SHUTDOWN_SIGNAL_NAMES if hasattr(signal, name)]


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def stop_reason(signum: int) -> str:
    """How a stop caused by `signum` is described in the run's status message."""
    if signum == signal.SIGINT:
        return "Ctrl-C (SIGINT)"
    return f"a shutdown signal ({signal_name(signum)})"


def exit_status(signum: int) -> int:
    """128 + the signal number: what a shell shows for a process ended by that signal."""
    return 128 + int(signum)


def _say(text: str) -> None:
    # A handler must never raise into the code it interrupted: stderr may be a closed pipe or
    # a terminal that has gone away (SIGHUP) by now.
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        pass


def install_handlers(signums: list[int], handler: Callable[[int, Any], None]) -> dict[int, Any]:
    """Point each of `signums` at `handler` (main thread only); returns the handlers replaced,
    for `restore_handlers`. A signal that cannot be set here is skipped."""
    previous: dict[int, Any] = {}
    for signum in signums:
        try:
            previous[int(signum)] = signal.signal(signum, handler)
        except (OSError, ValueError):  # not settable here (or not the main thread)
            continue
    return previous


def restore_handlers(previous: dict[int, Any]) -> None:
    """Put back the handlers `install_handlers` replaced (the default where there was none), and
    forget them."""
    for signum, handler in previous.items():
        try:
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    previous.clear()


class ShutdownHandlers:
    """Signal handlers that turn shutdown signals into `control.request_stop(reason)`.

    `install()` (main thread only) replaces the handlers and remembers the previous ones;
    `restore()` puts them back. `received` is the signal that asked for the stop (None if none
    did). Also a context manager.
    """

    def __init__(self, control: TrainingControl, *, interrupt: str = INTERRUPT_UNTOUCHED,
                 say: Callable[[str], None] = _say) -> None:
        self.control = control
        self.interrupt = interrupt
        self.say = say
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def signals(self) -> list[int]:
        handled = [int(s) for s in shutdown_signals()]
        if self.interrupt != INTERRUPT_UNTOUCHED:
            handled.append(int(signal.SIGINT))
        return handled

    def install(self) -> ShutdownHandlers:
        self._previous = install_handlers(self.signals(), self._handle)
        return self

    def restore(self) -> None:
        restore_handlers(self._previous)

    def __enter__(self) -> ShutdownHandlers:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.control.stop_requested:
            if signum == signal.SIGINT and self.interrupt == INTERRUPT_STOPS_THEN_QUITS:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                raise KeyboardInterrupt
            self.say(f"\n{signal_name(signum)}: already stopping; the checkpoint is being saved.")
            return
        self.received = signum
        again = " (Ctrl-C again to quit now)" if self.interrupt == INTERRUPT_STOPS_THEN_QUITS else ""
        self.say(f"\n{signal_name(signum)}: stopping at the next step and saving a checkpoint{again}...")
        self.control.request_stop(stop_reason(signum))
