"""One training run at a time, waited for on its own QThread, with a shutdown that never strands
the thread nor leaves the training process (engine.training.child_process) running.

The session owns the thread and the worker (one owner per thread),
re-exposes the worker's signals on the main thread, and releases both only after the thread has
ended, so Qt never prints "QThread: Destroyed while thread is still running".
"""

from __future__ import annotations

import gc
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from ftstudio.engine.library_output import quiet_progress_bars_early
from ftstudio.gui.train.worker import REPORTER_SIGNALS, RunEventSignals, TrainingWorker

# Threads still running are kept here so garbage collection of a session (or of its window) can
# never destroy a QThread mid-run; each leaves the set when it has finished.
_LIVE_THREADS: set[QThread] = set()
# Often enough that each collection finds only a few thousand young objects (a few ms on the GUI
# thread); every 500 ms it found up to 90,000 while a run prepared and took 30-45 ms.
GC_INTERVAL_MS = 100
# How long after a run's end its leftovers are collected (see GuiThreadCollector.release_frozen).
RELEASE_DELAY_MS = 300
# After a stop that timed out and a kill: how long the end of the child may take to be noticed.
KILL_WAIT_MS = 5000


class GuiThreadCollector(QObject):
    """Keeps Python's cyclic garbage collection on the GUI thread while a run trains.

    The worker thread allocates for every event it reads from the training process, so an
    automatic collection could run there, and if the garbage holds Qt widgets (a closed dialog,
    removed plot items) they would be destroyed off the GUI thread: a segfault (seen in the test suite). While active, automatic
    collection is off and a GUI-thread timer collects by the usual thresholds instead, as
    pyqtgraph's GarbageCollector does. Does nothing if someone else has already disabled gc.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(GC_INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer)
        self._owns_gc = False

    def activate(self) -> None:
        # No collection here: with torch loaded a full one takes 150-200 ms of the GUI thread.
        # Turning automatic collection off is enough to keep the worker thread from collecting.
        if self._owns_gc or not gc.isenabled():
            return
        gc.disable()
        self._owns_gc = True
        self._timer.start()

    @staticmethod
    def freeze_existing() -> None:
        """Exempt every object alive now from collections until `release_frozen` (cheap: no
        collection). Called when a run starts: a collection during training then scans only what
        the window makes as it goes (milliseconds) instead of every object of Qt, pyqtgraph and
        torch where the window has loaded it (150-200 ms on the GUI thread)."""
        gc.freeze()

    @staticmethod
    def release_frozen() -> None:
        """Undo `freeze_existing` and collect everything once, when a run has ended: the garbage
        held back since Start is freed before the next run instead of being frozen along with it,
        and the full scan falls at a moment of our choosing rather than at whatever keystroke the
        next automatic collection would have picked."""
        gc.unfreeze()
        gc.collect()

    def deactivate(self) -> None:
        self._timer.stop()
        if self._owns_gc:
            self._owns_gc = False
            gc.enable()

    @Slot()
    def _on_timer(self) -> None:
        threshold0, threshold1, threshold2 = gc.get_threshold()
        count0, count1, count2 = gc.get_count()
        if count0 > threshold0:
            generation = 2 if count2 > threshold2 else 1 if count1 > threshold1 else 0
            gc.collect(generation)


class TrainingSession(RunEventSignals):
    """Starts, pauses, resumes and stops training runs; at most one runs at a time.

    Signals (delivered on the main thread; payloads are plain dicts/str): the worker's
    RunEventSignals, re-emitted (sig_finished once per run, after its last event), and
      sig_started(): a run was started (the thread is running).
    """

    sig_started = Signal()

    _FORWARDED = (*REPORTER_SIGNALS, "sig_finished")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._done = True  # the worker has reported sig_finished (its thread is about to end)
        self._collector = GuiThreadCollector(self)
        self._closing = False  # shutdown() was called: no deferred work any more
        self._release_timer = QTimer(self)
        self._release_timer.setSingleShot(True)
        self._release_timer.setInterval(RELEASE_DELAY_MS)
        self._release_timer.timeout.connect(self._release_frozen)
        quiet_progress_bars_early()

    # ------------------------------------------------------------------ state
    def is_running(self) -> bool:
        """True from start() until the run has reported its end (sig_finished)."""
        return self._thread is not None and not self._done

    # ------------------------------------------------------------------ control
    def start(self, settings, runs_dir: str | Path | None, resume_run_dir: str | Path | None = None) -> bool:
        """Begin a run (or resume `resume_run_dir`); returns False, doing nothing, while one runs."""
        if self.is_running():
            return False
        if self._thread is not None:
            self._thread.wait()  # the last run has reported its end; its thread is only exiting
        self._release()
        thread = QThread()
        thread.setObjectName("ftstudio-training")
        worker = TrainingWorker(settings, runs_dir, resume_run_dir)
        worker.moveToThread(thread)
        # Connected before the forwards so is_running() is already False in sig_finished receivers.
        worker.sig_finished.connect(self._on_worker_finished)
        for name in self._FORWARDED:
            getattr(worker, name).connect(getattr(self, name))
        thread.started.connect(worker.run)
        # Direct: quit() is thread-safe and must not wait for the main loop (shutdown() blocks it).
        worker.sig_finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker, self._done = thread, worker, False
        self._closing = False
        _LIVE_THREADS.add(thread)
        self._collector.activate()
        self._collector.freeze_existing()
        thread.start()
        self.sig_started.emit()
        return True

    def pause(self) -> None:
        if self._worker is not None:
            self._worker.request_pause()

    def resume(self) -> None:
        if self._worker is not None:
            self._worker.request_resume()

    def stop(self) -> None:
        """Ask the run to stop at its next safe point; sig_status/sig_finished confirm it."""
        if self._worker is not None:
            self._worker.request_stop()

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Stop the run and wait for its thread; True when no thread is left running.

        Order: request stop, wait for the thread to end, then release. On timeout the
        thread stays referenced (never destroyed while running) and False is returned.
        """
        self._closing = True
        if self._release_timer.isActive():  # free the last run's leftovers now
            self._release_frozen()
        thread = self._thread
        if thread is None:
            return True
        self.stop()
        if not thread.wait(max(0, int(timeout_ms))):
            # The child did not reach a safe point in time: end it (its run stays resumable from
            # the last checkpoint) rather than leave a training process behind the closed window.
            if self._worker is not None:
                self._worker.kill()
            if not thread.wait(KILL_WAIT_MS):
                return False
        self._release()
        return True

    # ------------------------------------------------------------------ cleanup
    @Slot(object)
    def _on_worker_finished(self, _result: object) -> None:
        self._done = True
        self._collector.deactivate()
        if self._closing:  # shutdown() waited for this run; nothing will be drawn any more
            gc.unfreeze()
            return
        # Once the window has drawn the outcome (receivers of sig_finished run after this slot):
        # the user sees the run's end first, then the window pauses once (~0.2-0.3 s) to collect.
        self._release_timer.start()

    @Slot()
    def _release_frozen(self) -> None:
        self._release_timer.stop()
        if not self.is_running():  # a new run started meanwhile has frozen its own start state
            self._collector.release_frozen()

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self._thread
        if thread is not None and thread.isFinished():
            self._release()

    def _release(self) -> None:
        """Drop the finished thread and worker; both are deleted by Qt on the main thread."""
        thread, worker = self._thread, self._worker
        if thread is None or thread.isRunning():
            return
        thread.wait()  # returns at once: the run loop has ended; makes isFinished() certain
        self._collector.deactivate()
        self._thread = self._worker = None
        self._done = True
        _LIVE_THREADS.discard(thread)
        if worker is not None:
            worker.deleteLater()
        thread.deleteLater()
