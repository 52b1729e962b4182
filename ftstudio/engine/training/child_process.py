"""A training run in a child process of its own, spoken to over pipes (Qt-free).

Why a process and not a thread of the window: training in the window's interpreter shares its
GIL and its heap, so every Python-level step of the loop (and every import, collection and
allocation it makes) competes with the UI thread painting plots; the run was measurably slower
than the headless engine and the event loop stalled. A child process trains exactly as
`ftstudio train` does, on its own main thread. It also keeps the window alive when a run dies
hard (the out-of-memory killer, a native crash) and gives every byte of RAM and GPU memory back
when the run ends.

Protocol (JSON, one object a line):
  parent -> child stdin: first the request {"settings": {...}, "runs_dir": str|null,
    "resume_run_dir": str|null, "run_dir": str|null (a new run's own folder)}, then commands
    "stop", "pause", "resume". End of input (the window went away) is a stop: the run ends at its
    next safe point with its checkpoint kept.
  child stdout -> parent: {"call": <Reporter method>, "args": [...]} for every reporter call
    (step/eval/checkpoint events as their to_dict()), then {"result": {run_dir, status, message,
    best, input_error}} last. Anything else the child or its libraries print goes to its stderr,
    never into this stream. Rank 0 of a group speaks the same protocol to its launcher
    (engine/distributed/launch.py).
Shutdown: SIGTERM, SIGHUP, SIGBREAK and Ctrl-C stop the run at its next step, saved
(training/shutdown.py). A window killed hard closes the pipes: end of input stops the run, and a
write to the dead reader stops the forwarding (fds 1 and 2 then point at the null device) instead
of killing the child before it saves.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from ftstudio.engine.errors import user_message
from ftstudio.engine.events import (
    FAILED,
    PREPARING,
    REPORTER_METHODS,
    STOPPED,
    ForwardingReporter,
    Reporter,
    TrainingControl,
    from_plain,
    to_plain,
)
from ftstudio.engine.training.shutdown import INTERRUPT_STOPS, ShutdownHandlers

# The hidden first argument of the `ftstudio` entry point that makes it the training child
# (works for `python -m ftstudio` and for a frozen PyInstaller build alike).
CHILD_ARGUMENT = "--training-process"
COMMANDS = ("stop", "pause", "resume")
# Lines of the child's stderr kept to explain a child that died without a result.
STDERR_LINES_KEPT = 40
# What a failure nobody foresaw adds to its message: the traceback goes to the run's log.
SEE_THE_LOG = "See the log for the traceback."
TRAINING_OUT_OF_MEMORY = "Out of memory. Lower the batch size or the maximum length and try again."
# The stop reason when the window went away (its end of the pipes closed: killed or crashed).
WINDOW_GONE = "the window going away"


def child_command() -> list[str]:
    """How to start the training child with this installation's interpreter."""
    if getattr(sys, "frozen", False):  # a PyInstaller build: the executable is the app itself
        return [sys.executable, CHILD_ARGUMENT]
    return [sys.executable, "-m", "ftstudio", CHILD_ARGUMENT]


# ------------------------------------------------------------------ parent side
class TrainingProcess:
    """The window's handle on one training child: start it, send it commands, read its events.

    `start()` and `relay()` are called on the thread that waits for the run (the window's worker
    thread); `send()` and `kill()` may be called from any thread.
    """

    def __init__(self, settings: Any, runs_dir: str | Path | None, resume_run_dir: str | Path | None) -> None:
        self.request = {
            "settings": settings.to_dict() if settings is not None else None,
            "runs_dir": str(runs_dir) if runs_dir else None,
            "resume_run_dir": str(resume_run_dir) if resume_run_dir else None,
        }
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES_KEPT)
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._pending: list[str] = []  # commands sent before the child existed
        self._stderr_thread: threading.Thread | None = None

    def start(self) -> None:
        """Spawn the child and hand it the request (raises OSError when it cannot start)."""
        process = subprocess.Popen(
            child_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=_child_environment(), text=True, encoding="utf-8", errors="replace", bufsize=1,
            # Windows: no console window pops up beside a windowed app for its training child.
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
        self._stderr_thread = threading.Thread(target=self._drain_stderr, args=(process.stderr,),
                                               name="ftstudio-training-stderr", daemon=True)
        self._stderr_thread.start()
        with self._lock:
            self._process = process
            self._write(json.dumps(self.request))
            for command in self._pending:
                self._write(command)
            self._pending.clear()

    def send(self, command: str) -> None:
        """Pass stop/pause/resume to the child; queued until it has started; ignored once it ended."""
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}")
        with self._lock:
            if self._process is None:
                self._pending.append(command)
            else:
                self._write(command)

    def kill(self) -> None:
        """End the child at once (a last resort: the run is left as interrupted, resumable)."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                self._process.kill()

    def messages(self) -> Iterator[dict[str, Any]]:
        """The child's protocol lines as they arrive, until it closes its output."""
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                self.stderr_tail.append(line)  # cannot happen by design; kept for the post-mortem
                continue
            if isinstance(message, dict):
                yield message

    def relay(self, reporter: Reporter) -> dict[str, Any]:
        """Replay every event on `reporter` until the child ends; the run's result. A child that
        ends without one (killed, crashed) gives a failed result that says how it ended."""
        result: dict[str, Any] | None = None
        for message in self.messages():
            if "result" in message:
                result = message["result"]
            else:
                replay(message, reporter)
        assert self._process is not None
        code = self._process.wait()
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=5)
        self._close_pipes()
        if result is not None:
            return result
        message = ended_unexpectedly(code)
        tail = "\n".join(self.stderr_tail)
        reporter.on_log("The training process ended without a result." + (f" Its last output:\n{tail}" if tail else ""))
        reporter.on_status(FAILED, message)
        return {"run_dir": "", "status": FAILED, "message": message, "best": None}

    def _close_pipes(self) -> None:
        # Now, not whenever the garbage collector gets to them: a window that trains all day
        # starts many children, and each left three pipe ends open until then.
        with self._lock:
            process = self._process
            for stream in (process.stdin, process.stdout, process.stderr) if process else ():
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass

    def _write(self, line: str) -> None:
        process = self._process
        if process is None or process.stdin is None or process.poll() is not None:
            return
        try:
            process.stdin.write(line + "\n")
            process.stdin.flush()
        except (OSError, ValueError):  # the child has just ended: nothing left to tell it
            pass

    def _drain_stderr(self, stream: IO[str]) -> None:
        # Read to the end so the child never blocks on a full pipe; keep the tail for failures,
        # and pass it on to our own stderr, where a developer running from a terminal looks.
        for line in stream:
            self.stderr_tail.append(line.rstrip("\n"))
            try:
                sys.stderr.write(line)
            except (OSError, ValueError, AttributeError):  # no console (a windowed build)
                pass


def replay(message: dict[str, Any], reporter: Reporter) -> None:
    """One protocol line -> the matching reporter call (events rebuilt as their dataclasses);
    a call that is not a Reporter method is ignored, never looked up on `reporter`."""
    call = message.get("call")
    if call not in REPORTER_METHODS:
        return
    getattr(reporter, call)(*from_plain(call, message.get("args", [])))


def ended_unexpectedly(code: int) -> str:
    """What the user reads when the child died without reporting its end."""
    if code < 0:  # killed by a signal (POSIX)
        hint = " The system may have run out of memory." if code == -9 else ""
        return (f"The training process was killed (signal {-code}).{hint} The last checkpoint is kept: "
                "resume the run from the Runs tab.")
    return (f"The training process ended unexpectedly (exit code {code}). See the log; the last checkpoint "
            "is kept: resume the run from the Runs tab.")


def _child_environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


# ------------------------------------------------------------------ child side
class StreamReporter(ForwardingReporter):
    """The child's reporter: each call becomes one JSON line {"call": name, "args": [...]} for the
    parent, its arguments as `to_plain` gives them. It also remembers the run's last status and
    folder, which the failed result of a crash needs.

    A reader that has gone (the window was killed: the pipe's other end is closed) is no error:
    the first write that fails calls `on_lost` once (the child stops and saves) and nothing more is
    forwarded; the run folder, written before each event is passed on, stays the truth."""

    def __init__(self, stream: IO[str], on_lost: Callable[[], None] | None = None) -> None:
        super().__init__(self._send_call)
        self._stream = stream
        self._lock = threading.Lock()
        self._on_lost = on_lost
        self.reader_lost = False
        self.last_status = ""
        self.run_dir = ""

    def send(self, message: dict[str, Any]) -> None:
        """Write one protocol line (a call, or the final result); safe from any thread."""
        line = json.dumps(message, default=str)
        with self._lock:
            if self.reader_lost:
                return
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
                return
            except (OSError, ValueError):  # EPIPE (SIGPIPE is ignored by Python), or closed
                self.reader_lost = True
        if self._on_lost is not None:
            self._on_lost()

    def close(self) -> None:
        """Close the stream; a dead reader's unflushable buffer is dropped, not raised."""
        try:
            self._stream.close()
        except (OSError, ValueError):
            pass

    def _send_call(self, name: str, args: tuple[Any, ...]) -> None:
        self.send({"call": name, "args": to_plain(name, args)})

    def on_status(self, status: str, message: str = "") -> None:
        self.last_status = status
        super().on_status(status, message)

    def on_info(self, info: dict[str, Any]) -> None:
        if info.get("run_dir"):
            self.run_dir = str(info["run_dir"])
        super().on_info(info)


def read_commands(stream: IO[str], control: TrainingControl) -> None:
    """The child's command loop (a daemon thread): commands to `control`; end of input is a stop,
    so a child whose window has gone away ends at its next safe point instead of training on."""
    try:
        for line in stream:
            command = line.strip()
            if command == "stop":
                control.request_stop()
            elif command == "pause":
                control.request_pause()
            elif command == "resume":
                control.request_resume()
    except (OSError, ValueError):  # a broken input reads as its end
        pass
    control.request_stop(WINDOW_GONE)


def _silence_output() -> None:
    """Point fds 1 and 2 at the null device: with the window gone, a write to its stderr pipe
    would fail (EPIPE) in whatever code made it, and a failed flush at exit changes the status."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
    except OSError:
        pass


def run_request(request: dict[str, Any], reporter: StreamReporter, control: TrainingControl) -> dict[str, Any]:
    """Train as the request says; never raises: any exception becomes a failed result."""
    resume_dir = request.get("resume_run_dir")
    reporter.run_dir = resume_dir or ""
    try:
        reporter.on_status(PREPARING, "")
        # Stopped before anything started: nothing to load or save. (A group's worker goes on to
        # join its group, where every rank learns of the stop: one leaving alone would keep the
        # others waiting for it.)
        if control.stop_requested and not request.get("in_group"):
            reporter.on_status(STOPPED, "")
            return {"run_dir": reporter.run_dir, "status": STOPPED, "message": "", "best": None}
        reporter.on_log("Loading the training libraries ...")
        from ftstudio.engine.settings import TrainSettings
        from ftstudio.engine.training.train import train

        settings = TrainSettings.from_dict(request["settings"]) if request.get("settings") is not None else None
        outcome = train(settings, run_dir=resume_dir or request.get("run_dir"), runs_dir=request.get("runs_dir"),
                        reporter=reporter, control=control, resume=resume_dir is not None)
        return {"run_dir": str(outcome.run_dir) if outcome.run_dir else "", "status": outcome.status,
                "message": outcome.message or "", "best": outcome.best, "input_error": outcome.input_error}
    except BaseException as exc:  # the window must hear about every failure, whatever its type
        message = user_message(exc, advice=SEE_THE_LOG, out_of_memory=TRAINING_OUT_OF_MEMORY)
        reporter.on_log("Training failed:\n" + "".join(traceback.format_exception(exc)).rstrip())
        if reporter.last_status != FAILED:
            reporter.on_status(FAILED, message)
        return {"run_dir": reporter.run_dir, "status": FAILED, "message": message, "best": None}


def child_main() -> int:
    """Entry point of the training child (`ftstudio --training-process`)."""
    import faulthandler
    import warnings

    # The protocol gets a private copy of stdout; fd 1 then points at stderr, so nothing a library
    # prints (Python or native) can break a protocol line. File descriptors, not sys.stdout: a
    # windowed build may have no Python-level stdout at all.
    if sys.stdout is not None:
        sys.stdout.flush()
    events = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    if sys.stderr is None:
        sys.stderr = os.fdopen(2, "w", encoding="utf-8", buffering=1)
    sys.stdout = sys.stderr
    commands = sys.stdin if sys.stdin is not None else os.fdopen(0, "r", encoding="utf-8")
    faulthandler.enable()  # a native crash leaves its Python stack on stderr, which the window shows
    warnings.filterwarnings("ignore")  # advisory library warnings would only drown the log
    from ftstudio.engine.library_output import quiet_training_libraries
    from ftstudio.engine.speed.cpu_runtime import lower_thread_priority

    # Before torch starts a thread: the whole run then yields the CPU to the window's UI thread.
    lower_thread_priority()
    try:
        request = json.loads(commands.readline())
    except json.JSONDecodeError:
        print("ftstudio: the training process expects its request on stdin.", file=sys.stderr)
        return 2
    control = TrainingControl()
    # SIGTERM/SIGHUP/SIGBREAK (and Ctrl-C reaching the window's process group): stop and save.
    ShutdownHandlers(control, interrupt=INTERRUPT_STOPS).install()
    threading.Thread(target=read_commands, args=(commands, control), name="ftstudio-commands", daemon=True).start()

    def reader_lost() -> None:  # the window died: save and stop; keep writes from failing
        _silence_output()
        control.request_stop(WINDOW_GONE)

    reporter = StreamReporter(events, on_lost=reader_lost)
    quiet_training_libraries()  # imports datasets and transformers: seconds, with stop already heard
    result = run_request(request, reporter, control)
    reporter.send({"result": result})
    reporter.close()
    return 0
