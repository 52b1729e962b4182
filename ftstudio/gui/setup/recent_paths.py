"""The short most-recent-first lists of files and folders the pickers offer again, kept in QSettings."""

from __future__ import annotations

from PySide6.QtCore import QSettings

MAX_RECENT = 8


def recent_paths(key: str) -> list[str]:
    """The list stored under `key`, newest first (it may name paths that are gone since)."""
    value = QSettings().value(key, [])
    if isinstance(value, str):  # QSettings returns a lone string for a one-item list
        value = [value]
    return [str(v) for v in (value or [])]


def remember_path(key: str, path: str) -> None:
    """Put `path` first in the list under `key`, once, keeping the newest MAX_RECENT."""
    recent = [path] + [p for p in recent_paths(key) if p != path]
    QSettings().setValue(key, recent[:MAX_RECENT])
