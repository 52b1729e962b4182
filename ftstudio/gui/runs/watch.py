"""Watching the runs folder: one signal, debounced, when runs appear, change state or go away,
and every few seconds while a listed run is live.

Folder events say when a run appears, goes, or atomically replaces its status.json; they do not
say when a live run appends to its metrics.jsonl (a step, an evaluation), and on a shared folder
that another machine writes into (NFS and the like) they say nothing at all. So while a listed run
is live and the runs are on screen, the watcher also polls: a re-list costs a few stats per run
(the engine re-reads only the runs whose files changed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal, Slot

WATCH_LIMIT = 200  # run folders watched (newest first); inotify watches are a shared resource
REFRESH_DELAY_MS = 400  # one refresh for a burst of file events (a checkpoint is many renames)
LIVE_POLL_MS = 2000  # how often a live run is re-read while the runs are shown


class RunsFolderWatcher(QObject):
    """Watches the runs folder (for runs appearing and going) and each listed run folder (where
    status.json is atomically replaced); polls while a listed run is live and polling is on.

    Signals:
      sig_changed(): something changed, REFRESH_DELAY_MS after the last of a burst of events,
        or a poll is due (every LIVE_POLL_MS while a run is live).
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
        self._poll = QTimer(self)
        self._poll.setObjectName("runs-live-poll")
        self._poll.setInterval(LIVE_POLL_MS)
        self._poll.timeout.connect(self.sig_changed)
        self._live = False  # a listed run is live (training, paused, ... in its status.json, lock held)
        self._polling = False  # the owner wants polls (the runs are on screen)

    def watch(self, runs_dir: Path, summaries: list[Any]) -> None:
        """Watch `runs_dir` (or its parent, to see it appear) and the newest listed run folders;
        poll while one of `summaries` is live."""
        from ftstudio.engine.runs.folder import LIVE_STATUSES

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
        self._live = any(s.status in LIVE_STATUSES for s in summaries)
        self._update_poll()

    def set_polling(self, on: bool) -> None:
        """Poll live runs (on while the runs are shown; off, folder events alone refresh)."""
        self._polling = on
        self._update_poll()

    def is_polling(self) -> bool:
        return self._poll.isActive()

    def stop(self) -> None:
        self._debounce.stop()
        self._polling = False
        self._poll.stop()
        paths = self._watcher.directories() + self._watcher.files()
        if paths:
            self._watcher.removePaths(paths)

    def _update_poll(self) -> None:
        if not (self._live and self._polling):
            self._poll.stop()
        elif not self._poll.isActive():
            self._poll.start()

    @Slot(str)
    def _on_folder_changed(self, _path: str) -> None:
        self._debounce.start()
