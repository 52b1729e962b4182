"""Writes that a kill at any instant cannot leave half-done.

A file is written to a temporary sibling, flushed to disk, then renamed over the target: readers
see the old content or the new, never a torn mix. Appends (the metrics log) are flushed per line;
a reader skips a torn last line (see folder.read_metrics).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


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
