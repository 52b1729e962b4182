"""The short most-recent-first lists of files and folders the pickers offer again, kept in QSettings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QComboBox

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


def add_recent_items(combo: QComboBox, key: str, exists: Callable[[Path], bool], prefix: str) -> None:
    """The recent paths under `key` that still pass `exists` as combo entries ("File: name",
    the full path as data and tooltip), after a separator; nothing when there are none."""
    recent = [p for p in recent_paths(key) if exists(Path(p))]
    if not recent:
        return
    combo.insertSeparator(combo.count())
    for path in recent:
        combo.addItem(f"{prefix}: {Path(path).name}", path)
        combo.setItemData(combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
