"""What a data path is, decided with `os.stat` before anything opens it.

Opening a named pipe for reading blocks until a writer appears, and a device such as /dev/zero
never ends, so a data path that is not a regular file (or a folder) is refused in words here,
before any reader touches it. A symbolic link that loops is named as such rather than "not found".
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ftstudio.engine.errors import DatasetError


def data_path_kind(path: Path) -> str:
    """'file' (a regular file, through symlinks), 'folder', or 'missing'; anything else is refused."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DatasetError(
                f"{path} is a symbolic link that loops (it points back to itself); give the real data file."
            ) from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "missing"
        raise DatasetError(f"Cannot read {path}: {exc.strerror or exc}. Check the path and its permissions.") from None
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISREG(mode):
        return "file"
    raise DatasetError(f"{path} is {_special_kind(mode)}, not a data file: save the data to a file and give that file.")


def check_regular_file(path: Path) -> None:
    """Refuse anything but an existing regular file (called again right before a file is read)."""
    kind = data_path_kind(path)
    if kind == "missing":
        raise DatasetError(f"Data file not found: {path}. Check the path.")
    if kind == "folder":
        raise DatasetError(f"{path} is a folder where a data file was expected.")


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def read_head(path: Path, size: int) -> bytes:
    """The first `size` bytes of a data file (its magic number), or a DatasetError in words."""
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError as exc:
        raise DatasetError(f"{path.name} cannot be read ({exc.strerror or exc}).") from None
