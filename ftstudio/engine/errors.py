"""Typed engine errors whose message is written for the user, and the one place any exception
becomes words for the user.

The CLI prints `str(error)` on one line and exits with status 2; the window shows it in a dialog
or inline. So every message says what is wrong and how to fix it, without a traceback.
Exceptions nobody wrote words for (a bug, an odd file, a library's own error) go through
`user_message`, so the window, the CLI and the training child word them alike.
"""

from __future__ import annotations

import errno


class FtStudioError(Exception):
    """Base of every error the engine raises on purpose; the message is user-facing."""


class SettingsError(FtStudioError):
    """A setting is out of range, of the wrong type, or the settings file is malformed."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class DatasetError(FtStudioError):
    """The dataset cannot be read or is unusable for classification (columns, labels, splits)."""


class ModelError(FtStudioError):
    """The model cannot be found, downloaded or loaded for sequence classification."""


class CheckpointError(FtStudioError):
    """A checkpoint or run folder is missing, incomplete, or not of this task."""


class RunError(FtStudioError):
    """The run folder cannot be created or written (permissions, disk space)."""


class TrainingError(FtStudioError):
    """Training failed in a way the user can act on (NaN loss, out of memory, ...)."""


class StopRequested(Exception):
    """Raised at a step boundary when the user asked to stop; not an error."""


# Characters of an exception's own text quoted in a message, and of a whole message (a dialog,
# a status line, status.json): a library's error can be pages long.
DETAIL_LIMIT = 300
MESSAGE_LIMIT = 1000
# errno values that mean the disk is full (EDQUOT, over the user's quota, is not on every platform).
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
OUT_OF_MEMORY = "Out of memory. Close other programs, or work on less at once, and try again."


def one_line(text: str) -> str:
    """`text` as one line: its non-blank lines, stripped, joined by spaces. Messages may quote
    user data holding line breaks (a column name), and the CLI and status lines show one line."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text without its closing full stop, at most DETAIL_LIMIT
    characters (its type name when it has no text): the detail a message quotes after saying
    what failed, as in f"Cannot load the tokenizer of {name}: {first_line(exc)}."."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].rstrip(".")[:DETAIL_LIMIT]


def user_message(
    exc: BaseException | None,
    unexpected: str = "Unexpected error",
    *,
    advice: str = "",
    out_of_memory: str = OUT_OF_MEMORY,
) -> str:
    """What the user reads about `exc`, on one line.

    An ftstudio error is already written for the user: its own message. Running out of memory
    or disk space says so with what to do (`out_of_memory` lets a caller name its own remedy).
    Anything else is a bug or something nobody foresaw: `unexpected` (what was being done) with
    the exception's type and first line, then `advice` (e.g. where the traceback went), at most
    MESSAGE_LIMIT characters. With no exception at all, `unexpected` alone.
    """
    if exc is None:
        return unexpected
    text = str(exc).strip()
    if isinstance(exc, FtStudioError) and text:  # ours: never cut, its end says how to fix it
        return one_line(text)
    if isinstance(exc, MemoryError):
        return out_of_memory
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        where = f"holding {exc.filename} " if exc.filename else ""
        return f"The disk {where}is full. Free some space and try again."[:MESSAGE_LIMIT]
    message = f"{unexpected} ({type(exc).__name__}): {first_line(exc) if text else 'no details'}"
    return (f"{message}. {advice}" if advice else message)[:MESSAGE_LIMIT]
