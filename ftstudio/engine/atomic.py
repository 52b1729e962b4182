"""Writes that a kill at any instant cannot leave half-done.

A file is written to a temporary sibling, flushed to disk, then renamed over the target: readers
see the old content or the new, never a torn mix. Appends (the metrics log) are flushed per line;
a reader skips a torn last line (see runs.read_metrics).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import RunError

LOCK_FILE = ".lock"


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # mkstemp creates 0600 files; ours are ordinary user files


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            os.fchmod(handle.fileno(), _FILE_MODE) if hasattr(os, "fchmod") else None
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def append_json_line(path: Path, record: dict[str, Any], sync: bool = False) -> None:
    """Append one JSON object as a line. The line is written with a single write() call so a
    crash leaves at most one torn last line, which readers skip."""
    line = json.dumps(record, default=str, allow_nan=True) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        if sync:
            os.fsync(handle.fileno())


def replace_dir(src: Path, dst: Path) -> None:
    """Put the complete folder `src` at `dst`, replacing what was there.

    The old folder is first renamed aside (never deleted before the new one is in place), so at
    every instant either `dst` or its `.old` sibling holds a complete folder; `recover_dir`
    restores the sibling after a crash between the two renames.
    """
    src, dst = Path(src), Path(dst)
    old = dst.with_name(dst.name + ".old")
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
    if dst.exists():
        os.replace(dst, old)
    os.replace(src, dst)
    fsync_dir(dst.parent)
    shutil.rmtree(old, ignore_errors=True)


def recover_dir(dst: Path) -> None:
    """Undo a replace_dir that was cut between its two renames."""
    dst = Path(dst)
    old = dst.with_name(dst.name + ".old")
    if not dst.exists() and old.exists():
        os.replace(old, dst)
    elif old.exists():
        shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------------ the run lock
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
