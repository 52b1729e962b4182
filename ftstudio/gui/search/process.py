"""The study's worker as a child process: `ftstudio search ...`, as a user would type it.

The child writes its output to STUDY_DIR/search.log (shown as it grows) and its trials to the
study's database (which the panel reads). It runs in a process group of its own, so Stop can
interrupt it alone: SIGINT (Ctrl-Break on Windows), which `ftstudio search` turns into a stop of
the current trial, saved and recorded as interrupted (run again by Resume). A child that has not
ended STOP_GRACE_S later is killed, group and all; the window's shutdown waits likewise, so no
process is ever left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from ftstudio.gui.search.options import SearchOptions

LOG_FILE = "search.log"
SETTINGS_FILE = "settings.toml"
SPACE_FILE = "space.toml"
POLL_MS = 300
STOP_GRACE_S = 60.0  # a trial saving its checkpoint: give it this long before killing
IS_WINDOWS = sys.platform == "win32"


def ftstudio_command() -> list[str]:
    """How to run the ftstudio command line with this installation's interpreter."""
    if getattr(sys, "frozen", False):  # a PyInstaller build: the executable is the app itself
        return [sys.executable]
    return [sys.executable, "-m", "ftstudio"]


def search_command(config: Path, space: Path, options: SearchOptions) -> list[str]:
    """A new study (or joining one): the fixed settings from `config`, the space from `space`."""
    return [*ftstudio_command(), "search", "--config", str(config), "--space", str(space),
            *options.cli_arguments(), "--quiet"]


def resume_command(study_dir: Path, trials: int | None = None) -> list[str]:
    """Continue the study in `study_dir` (its own settings and space); `trials`: a new budget."""
    command = [*ftstudio_command(), "search", "--resume", "--output", str(study_dir), "--quiet"]
    if trials is not None:
        command += ["--trials", str(trials)]
    return command


def last_line(text: str) -> str:
    """The last non-empty line (the CLI's one-line error), without its "ftstudio: error:" prefix."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line:
            return line.removeprefix("ftstudio: error:").strip()
    return ""


class SearchProcess(QObject):
    """One `ftstudio search` child at a time.

    Signals:
      sig_output(str): text the child added to its log since the last poll.
      sig_finished(int): the child ended with this exit status (negative: killed by a signal).
    """

    sig_output = Signal(str)
    sig_finished = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: subprocess.Popen | None = None
        self._log_path: Path | None = None
        self._offset = 0
        self._stop_deadline: float | None = None
        self.stop_requested = False
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, command: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        """Start the child, its output appended to `log_path` (OSError when it cannot start)."""
        if self.is_running():
            raise RuntimeError("a search is running already")
        environment = dict(os.environ if env is None else env)
        environment["PYTHONUNBUFFERED"] = "1"
        environment.setdefault("PYTHONIOENCODING", "utf-8")
        log_path = Path(log_path)
        self._offset = log_path.stat().st_size if log_path.is_file() else 0
        self._log_path, self._stop_deadline, self.stop_requested = log_path, None, False
        with open(log_path, "ab") as log:  # the child keeps its own handle
            kwargs: dict = {"start_new_session": True}
            if IS_WINDOWS:
                kwargs = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                             env=environment, cwd=str(log_path.parent), **kwargs)
        self._timer.start()

    def stop(self) -> None:
        """Ask the child to stop (the current trial saves); killed if still alive STOP_GRACE_S later."""
        if not self.is_running():
            return
        self.stop_requested = True
        if self._stop_deadline is None:
            self._stop_deadline = time.monotonic() + STOP_GRACE_S
            self._signal(interrupt=True)

    def kill(self) -> None:
        """End the child and its group at once (the trial it ran is retried on Resume)."""
        if self.is_running():
            self.stop_requested = True
            self._signal(interrupt=False)

    def shutdown(self, timeout_s: float = STOP_GRACE_S) -> None:
        """Stop the child and wait for it (killing it after `timeout_s`); the timer stops. Blocks."""
        self._timer.stop()
        process = self._process
        if process is not None and process.poll() is None:
            self.stop()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._signal(interrupt=False)
                process.wait(10)
        self._read_log()

    # ------------------------------------------------------------------ internals
    def _signal(self, interrupt: bool) -> None:
        process = self._process
        if process is None:
            return
        try:
            if IS_WINDOWS:
                if interrupt:
                    process.send_signal(signal.CTRL_BREAK_EVENT)  # the CLI's SIGBREAK: a stop
                else:
                    process.kill()
            else:
                os.killpg(process.pid, signal.SIGINT if interrupt else signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass  # it ended meanwhile

    @Slot()
    def _poll(self) -> None:
        self._read_log()
        process = self._process
        if process is None:
            self._timer.stop()
            return
        code = process.poll()
        if code is None:
            if self._stop_deadline is not None and time.monotonic() > self._stop_deadline:
                self._signal(interrupt=False)
            return
        self._timer.stop()
        self._read_log()
        self.sig_finished.emit(code)

    def _read_log(self) -> None:
        if self._log_path is None:
            return
        try:
            with open(self._log_path, "rb") as log:
                log.seek(self._offset)
                data = log.read()
        except OSError:
            return
        if data:
            # Only whole lines: a line half written now is read whole at the next poll.
            end = data.rfind(b"\n") + 1 if self.is_running() else len(data)
            if end:
                self._offset += end
                self.sig_output.emit(data[:end].decode("utf-8", errors="replace"))
