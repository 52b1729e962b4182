"""Watching the runs folder: one signal, debounced, when runs appear, change state or go away."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal, Slot

WATCH_LIMIT = 200  # run folders watched (newest first); inotify watches are a shared resource
REFRESH_DELAY_MS = 400  # one refresh for a burst of file events (a checkpoint is many renames)


class RunsFolderWatcher(QObject):
    """Watches the runs folder (for runs appearing and going) and each listed run folder (where
    status.json is atomically replaced).

    Signals:
      sig_changed(): something changed, REFRESH_DELAY_MS after the last of a burst of events.
    """

    sig_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._on_folder_changed)
        self._debounce = QTimer(self)
        self._debounce.setObjectName("runs-refresh-debounce")
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(REFRESH_DELAY_MS)
        self._debounce.timeout.connect(self.sig_changed)

    def watch(self, runs_dir: Path, summaries: list[Any]) -> None:
        """Watch `runs_dir` (or its parent, to see it appear) and the newest listed run folders."""
        self._debounce.stop()
        wanted = []
        if runs_dir.is_dir():
            wanted.append(str(runs_dir))
        elif runs_dir.parent.is_dir():
            wanted.append(str(runs_dir.parent))  # see the runs folder appear
        wanted += [str(s.run_dir) for s in summaries[:WATCH_LIMIT]]
        current = set(self._watcher.directories())
        stale = [p for p in current if p not in wanted]
        if stale:
            self._watcher.removePaths(stale)
        new = [p for p in wanted if p not in current]
        if new:
            self._watcher.addPaths(new)

    def stop(self) -> None:
        self._debounce.stop()
        paths = self._watcher.directories() + self._watcher.files()
        if paths:
            self._watcher.removePaths(paths)

    @Slot(str)
    def _on_folder_changed(self, _path: str) -> None:
        self._debounce.start()
