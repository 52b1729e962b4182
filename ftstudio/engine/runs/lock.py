"""The run lock: an exclusive `flock` on `<run>/.lock`, held by the process that trains the run.

The kernel drops the lock however the process ends, so whether it is held tells a run being
trained from one whose process died; that is how the runs list shows "interrupted".
"""

from __future__ import annotations

import errno
import time
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import RunError

LOCK_FILE = ".lock"

class RunLock:
    """An exclusive advisory lock on `<run>/.lock`, held by the process training the run.

    The kernel drops it when the process ends, however it ends (SIGKILL included), so "locked"
    means "a live process owns this run": readers then leave half-published folders alone
    (repairing them would race the writer), a second trainer is refused, and a run whose status
    still says training but whose lock is free was interrupted. Where `fcntl` is missing
    (Windows) the lock is a no-op and runs are never reported live.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._handle: Any = None

    def acquire(self, timeout: float = 2.0) -> None:
        """Take the lock or raise RunError; retries briefly because `is_live` probes take it."""
        try:
            import fcntl
        except ImportError:
            return
        try:
            handle = open(self.path, "a")  # noqa: SIM115 - held open for the whole run
        except OSError as exc:
            raise RunError(f"Cannot write to the run folder {self.path.parent}: {exc.strerror}.") from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._handle = handle
                return
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    handle.close()  # a filesystem without locks (some network mounts): go on unlocked
                    return
                if time.monotonic() >= deadline:
                    handle.close()
                    raise RunError(
                        f"Run {self.path.parent.name} is being trained by another process (or window). "
                        "Stop it there first, or wait for it to end."
                    ) from None
                time.sleep(0.05)

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the descriptor releases the flock
            self._handle = None


class HeldLock:
    """The run lock one train() call holds, if any: taken once, released however the call ends."""

    def __init__(self) -> None:
        self.lock: RunLock | None = None

    def lock_run(self, run_dir: Path) -> None:
        if self.lock is None:
            lock = RunLock(run_dir)
            lock.acquire()
            self.lock = lock

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def locks_supported() -> bool:
    """Whether run locks work here (POSIX flock); without them no run can be told live or dead."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return False
    return True


def is_live(run_dir: str | Path) -> bool:
    """True while some process (this one included) holds the run's lock."""
    try:
        import fcntl
    except ImportError:
        return False
    path = Path(run_dir) / LOCK_FILE
    if not path.is_file():
        return False
    try:
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except OSError:
        return False
    return False
