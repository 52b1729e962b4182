"""Start a run's processes on this machine through torch's elastic launcher (torchrun's engine).

`train(settings)` with `processes` > 1, outside a launched group, comes here (the CLI's
`--processes N`, the window's training child, a script calling the engine). The launcher starts N
workers (`ftstudio --group-worker`; rendezvous on localhost as `torchrun --standalone` does); each
joins the group and runs `train()` as any torchrun-launched process would. Rank 0 connects back to
this process over a local socket (with a one-time token) and speaks the training child's protocol:
one JSON line per reporter call, then its result; commands (stop, pause, resume) go the other way.
So the caller's reporter and control work exactly as with one process: the window's plots, Pause
and Stop, the CLI's lines.

The elastic agent watches the workers: when one dies, it ends the others (SIGTERM, then SIGKILL
after its grace period). A shutdown signal sent to this process is forwarded by the agent to every
worker, which stop at the same step and save it. When rank 0 itself died, this process writes the
run's failed status with what happened, so the run folder never claims to be training.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import FtStudioError, SettingsError, user_message
from ftstudio.engine.events import FAILED, FINAL_STATES, Reporter, TrainingControl

# The hidden first argument of the `ftstudio` entry point that makes it one worker of a group.
WORKER_ARGUMENT = "--group-worker"
REQUEST_ENV = "FTSTUDIO_GROUP_REQUEST"  # the run's request (JSON), for every worker
CHANNEL_ENV = "FTSTUDIO_GROUP_CHANNEL"  # host:port:token rank 0 reports to
CONNECT_SECONDS = 600  # how long the launcher waits for rank 0 to call (imports, data, model)
COMMAND_POLL_SECONDS = 0.1


def train_in_group(settings: Any, run_dir: str | Path | None, *, runs_dir: str | Path | None, reporter: Reporter,
                   control: TrainingControl, resume: bool, processes: int, checked: Any) -> Any:
    """Train on `processes` local processes; the TrainResult rank 0 reached (or the failure
    that ended the group). `checked` are the settings the run trains with (a resume's own),
    checked against this machine before anything starts."""
    from ftstudio.engine.training.outcome import TrainResult

    try:
        _check_machine(checked, processes)
    except FtStudioError as exc:
        message = user_message(exc)
        reporter.on_status(FAILED, message)
        return TrainResult(None, FAILED, message, input_error=True)
    request = {"settings": settings.to_dict() if settings is not None else None, "runs_dir": str(runs_dir or "") or None,
               "resume_run_dir": str(run_dir) if resume else None, "run_dir": None if resume else (
                   str(run_dir) if run_dir else None)}
    channel = _Channel(reporter, control)
    reporter.on_log(f"Starting {processes} training processes on this machine ...")
    failures: dict[int, Any] = {}
    stopped_by_signal = False
    with _worker_environment(request, channel.address, processes), _quiet_launcher(), _signals_kept():
        try:
            _launch(processes)
        except _child_failed_error() as exc:  # type: ignore[misc]
            failures = dict(exc.failures)
        except _signal_exception():  # type: ignore[misc]
            stopped_by_signal = True  # forwarded to the workers, which stopped and saved
        except Exception as exc:  # noqa: BLE001 - the launcher itself failed (rendezvous, spawning)
            message = user_message(exc, "The training processes could not be started")
            reporter.on_status(FAILED, message)
            return TrainResult(None, FAILED, message)
        finally:
            channel.finish()
    return _result(channel, failures, stopped_by_signal, processes, run_dir)


# ------------------------------------------------------------------ the launch
def _launch(processes: int) -> None:
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    with tempfile.TemporaryDirectory(prefix="ftstudio-group-") as logs:
        config = LaunchConfig(
            min_nodes=1, max_nodes=1, nproc_per_node=processes, run_id=str(uuid.uuid4()), role="ftstudio",
            rdzv_endpoint="127.0.0.1:0", rdzv_backend="c10d", max_restarts=0, monitor_interval=0.1,
            start_method="spawn", logs_specs=DefaultLogsSpecs(log_dir=logs),
        )
        entry, *args = worker_command()
        elastic_launch(config, entry)(*args)


def worker_command() -> list[str]:
    """How a worker is started with this installation's interpreter (or frozen app)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, WORKER_ARGUMENT]
    return [sys.executable, "-m", "ftstudio", WORKER_ARGUMENT]


def _check_machine(settings: Any, processes: int) -> None:
    """Refuse, before starting anything, a group this machine cannot hold."""
    from ftstudio.engine.distributed.capacity import processes_problem
    from ftstudio.engine.models.devices import resolve_device

    settings.validate()
    device = resolve_device(settings.device)
    gpus = 0
    if device.type == "cuda":
        import torch

        gpus = torch.cuda.device_count()
    problem = processes_problem(device.type, processes, gpus, os.cpu_count() or 1)
    if problem:
        raise SettingsError(problem, "processes")


@contextlib.contextmanager
def _worker_environment(request: dict[str, Any], address: str, processes: int):
    """What every worker inherits: the request, rank 0's channel, and its share of the cores
    (torchrun gives each worker one thread; a CPU run gets the cores split evenly)."""
    added = {REQUEST_ENV: json.dumps(request), CHANNEL_ENV: address}
    if "OMP_NUM_THREADS" not in os.environ:
        added["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // processes))
    before = {key: os.environ.get(key) for key in [*added, "TORCHELASTIC_SIGNALS_TO_HANDLE"]}
    os.environ.update(added)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _quiet_launcher():
    """The elastic agent logs every phase, and each worker that failed; the run's own log and
    our message (which process, how it ended) say what matters. Its loggers set their own
    levels, so each is quietened, not only their parent."""
    import torch.distributed.elastic.agent.server.api  # noqa: F401 - creates the agent's loggers
    import torch.distributed.launcher.api  # noqa: F401

    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name.startswith(("torch.distributed.elastic", "torch.distributed.launcher"))]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@contextlib.contextmanager
def _signals_kept():
    """The agent installs its own handlers (it forwards shutdown signals to the workers) and
    leaves them behind; the caller's are put back afterwards."""
    names = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")
    kept = {}
    if threading.current_thread() is threading.main_thread():
        kept = {sig: signal.getsignal(sig) for sig in (getattr(signal, n, None) for n in names) if sig is not None}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(sig, handler)


def _child_failed_error() -> type[BaseException]:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    return ChildFailedError


def _signal_exception() -> type[BaseException]:
    from torch.distributed.elastic.multiprocessing.api import SignalException

    return SignalException


# ------------------------------------------------------------------ rank 0's channel
class _Channel:
    """A local socket rank 0 calls: its events are replayed on `reporter`, and `control`'s
    requests are passed to it as commands."""

    def __init__(self, reporter: Reporter, control: TrainingControl) -> None:
        self.reporter = reporter
        self.control = control
        self.token = secrets.token_hex(16)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.5)
        host, port = self.server.getsockname()[:2]
        self.address = f"{host}:{port}:{self.token}"
        self.result: dict[str, Any] | None = None
        self.run_dir = ""
        self.last_status = ""
        self._done = threading.Event()
        self._connection: socket.socket | None = None
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._serve, name="ftstudio-group-events", daemon=True)
        self._commands = threading.Thread(target=self._forward_commands, name="ftstudio-group-commands", daemon=True)
        self._reader.start()
        self._commands.start()

    def finish(self) -> None:
        """The workers have ended: read what rank 0 left, then close."""
        self._done.set()
        self._reader.join(timeout=10)
        self._commands.join(timeout=2)
        with contextlib.suppress(OSError):
            self.server.close()
        with self._lock, contextlib.suppress(OSError):
            if self._connection is not None:
                self._connection.close()

    def _serve(self) -> None:
        from ftstudio.engine.training.child_process import replay

        connection = self._accept()
        if connection is None:
            return
        with connection.makefile("r", encoding="utf-8", errors="replace") as stream:
            if stream.readline().strip() != self.token:
                return
            for line in stream:
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if not isinstance(message, dict):
                    continue
                if "result" in message:
                    self.result = message["result"]
                    continue
                self._note(message)
                with contextlib.suppress(Exception):  # a reporter's failure must not stop the relay
                    replay(message, self.reporter)

    def _accept(self) -> socket.socket | None:
        deadline = time.monotonic() + CONNECT_SECONDS
        while not self._done.is_set() and time.monotonic() < deadline:
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return None
            connection.settimeout(None)
            with self._lock:
                self._connection = connection
            return connection
        return None

    def _note(self, message: dict[str, Any]) -> None:
        args = message.get("args") or []
        if message.get("call") == "on_info" and args and isinstance(args[0], dict) and args[0].get("run_dir"):
            self.run_dir = str(args[0]["run_dir"])
        elif message.get("call") == "on_status" and args:
            self.last_status = str(args[0])

    def _forward_commands(self) -> None:
        sent_stop, sent_pause = False, False
        while not self._done.wait(COMMAND_POLL_SECONDS):
            if self.control.stop_requested and not sent_stop:
                sent_stop = self._send("stop")
            elif not sent_stop and self.control.pause_requested != sent_pause:
                if self._send("pause" if self.control.pause_requested else "resume"):
                    sent_pause = self.control.pause_requested

    def _send(self, command: str) -> bool:
        with self._lock:
            if self._connection is None:
                return False
            try:
                self._connection.sendall((command + "\n").encode())
                return True
            except OSError:
                return False


# ------------------------------------------------------------------ the outcome
def _result(channel: _Channel, failures: dict[int, Any], stopped_by_signal: bool, processes: int,
            run_dir: str | Path | None) -> Any:
    """The run's TrainResult: rank 0's, unless a process died; then the failure in words, also
    written to the run folder when rank 0 could not write it."""
    from ftstudio.engine.training.outcome import TrainResult

    result = channel.result
    folder = (result or {}).get("run_dir") or channel.run_dir or (str(run_dir) if run_dir else "")
    died = {rank: failure for rank, failure in failures.items() if _died(failure)}
    if result is not None and not died:
        cause = _first_cause(result, failures, processes)
        if cause:  # rank 0 only saw the group fall apart; another rank knows why
            if folder:
                _mark_failed(Path(folder), cause)
            channel.reporter.on_status(FAILED, cause)
            return TrainResult(Path(folder) if folder else None, FAILED, cause, result.get("best"))
        return TrainResult(Path(result["run_dir"]) if result.get("run_dir") else None, result["status"],
                           result.get("message", ""), result.get("best"), bool(result.get("input_error")))
    if result is None and not died and stopped_by_signal:
        message = "Stopped by a shutdown signal before the training processes reported."
        return TrainResult(Path(folder) if folder else None, "stopped", message)
    message = describe_failures(died or failures, processes) if (died or failures) else (
        "The training processes ended without a result.")
    if folder:
        _mark_failed(Path(folder), message)
    channel.reporter.on_status(FAILED, message)
    return TrainResult(Path(folder) if folder else None, FAILED, message, (result or {}).get("best"))


def _first_cause(result: dict[str, Any], failures: dict[int, Any], processes: int) -> str:
    """When rank 0 failed only because it lost the group, the message of another rank that
    failed with one ("" otherwise)."""
    from ftstudio.engine.distributed.group import LOST_CONTACT

    if result.get("status") != FAILED or not str(result.get("message", "")).startswith(LOST_CONTACT):
        return ""
    for rank, failure in sorted(failures.items()):
        if rank > 0 and failure.message and not str(failure.message).startswith(LOST_CONTACT):
            return f"Training process {rank + 1} of {processes} (rank {rank}) failed: {failure.message}"
    return ""


def _died(failure: Any) -> bool:
    """Killed by a signal, or ended without reporting (not one of our own exit statuses)."""
    return failure.exitcode < 0 or failure.exitcode not in (0, 1, 2)


def describe_failures(failures: dict[int, Any], processes: int) -> str:
    """'Training process 2 of 2 (rank 1) was killed by SIGKILL ...' for the process that ended
    the group. The agent stops the others with SIGTERM and they lose contact: consequences."""
    rank, failure = min(failures.items(), key=lambda item: (_is_consequence(item[1]), item[0]))
    if failure.exitcode < 0:
        how = f"was killed by {failure.signal_name()}"
        if failure.signal_name() == "SIGKILL":
            how += " (the system may have run out of memory)"
    else:
        how = f"ended with exit code {failure.exitcode}"
    return (f"Training process {rank + 1} of {processes} (rank {rank}) {how}; the other processes were stopped. "
            "The last checkpoint is kept: resume the run to continue.")


def _is_consequence(failure: Any) -> bool:
    """Ended because another process did: stopped by the agent's SIGTERM, or failed after
    losing contact with the group."""
    from ftstudio.engine.distributed.group import LOST_CONTACT

    return failure.exitcode == -int(signal.SIGTERM) or str(failure.message or "").startswith(LOST_CONTACT)


def _mark_failed(run_dir: Path, message: str) -> None:
    """The run's status says what ended the group, unless rank 0 already wrote a final state
    other than a failure (a rank that died after the run finished changes nothing)."""
    from ftstudio.engine.runs.folder import read_status, write_status

    try:
        status = read_status(run_dir)
    except Exception:  # noqa: BLE001 - no status yet: the folder may not even be a run
        status = {}
    if status.get("status") in FINAL_STATES and status.get("status") != FAILED:
        return
    with contextlib.suppress(OSError):
        write_status(run_dir, FAILED, message, status.get("step"))
