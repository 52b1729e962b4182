"""Typed engine errors whose message is written for the user.

The CLI prints `str(error)` on one line and exits with status 2; the window shows it in a dialog
or inline. So every message says what is wrong and how to fix it, without a traceback.
"""

from __future__ import annotations


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
