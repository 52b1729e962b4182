"""Run a plain function off the UI thread and get its result (or exception) back as a signal.

The setup panels use this for everything that can take more than a blink: loading and tokenizing
data, reading a model's config, listing the Hugging Face cache, downloading from the Hub. The
function never sees a widget; it receives only its arguments (and, when asked, the task itself,
for its cancel flag and progress reports), as in Orange3's `concurrent.py`.

A private QThreadPool (not the global one) so `shutdown()` can wait for exactly our work and the
window can close without leaving a thread behind.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from ftstudio.engine.errors import StopRequested
from ftstudio.engine.events import TrainingControl

log = logging.getLogger(__name__)
# Pools and tasks whose work outlived shutdown(); kept referenced so none is destroyed mid-task.
_STRANDED: list[QObject] = []


class BackgroundTask(QObject):
    """One submitted call. Lives on the main thread; its signals are emitted from the pool thread
    and therefore delivered (queued) on the main thread.

    Signals:
      sig_result(object): the function's return value (not emitted once cancelled).
      sig_error(object): the exception it raised (StopRequested and cancelled tasks are silent).
      sig_progress(object): whatever the function passed to `report_progress` (e.g. a dict).
      sig_done(): always last, result or error or cancelled; used to release the task.
    """

    sig_result = Signal(object)
    sig_error = Signal(object)
    sig_progress = Signal(object)
    sig_done = Signal()
    # Emitted on the pool thread, received here on the main thread, where a cancel that came
    # after the emission (but before delivery) is still honoured.
    _sig_raw_result = Signal(object)
    _sig_raw_error = Signal(object)
    _sig_raw_progress = Signal(object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._sig_raw_result.connect(self._deliver_result)
        self._sig_raw_error.connect(self._deliver_error)
        self._sig_raw_progress.connect(self._deliver_progress)
        # The engine's own cancel token: prepare_data and friends poll it between chunks.
        self.control = TrainingControl()
        self._cancelled = False

    def cancel(self) -> None:
        """Ask the function to stop (if it polls `control`) and drop whatever it returns."""
        self._cancelled = True
        self.control.request_stop()

    def is_cancelled(self) -> bool:
        return self._cancelled

    def report_progress(self, payload: Any) -> None:
        """Thread-safe: callable from the function; ignored after cancel."""
        if not self._cancelled:
            _emit(self._sig_raw_progress, payload)

    @Slot(object)
    def _deliver_result(self, result: Any) -> None:
        if not self._cancelled:
            self.sig_result.emit(result)

    @Slot(object)
    def _deliver_error(self, exc: Any) -> None:
        if not self._cancelled:
            self.sig_error.emit(exc)

    @Slot(object)
    def _deliver_progress(self, payload: Any) -> None:
        if not self._cancelled:
            self.sig_progress.emit(payload)


class _Runnable(QRunnable):
    def __init__(self, task: BackgroundTask, call: Callable[[], Any]) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._task, self._call = task, call

    def run(self) -> None:  # pool thread
        task = self._task
        try:
            result = self._call()
        except StopRequested:
            pass
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the UI as a message
            if not task.is_cancelled():
                if not _is_user_error(exc):
                    log.error("background task %s failed:\n%s", task.objectName(), traceback.format_exc())
                _emit(task._sig_raw_error, exc)
        else:
            if not task.is_cancelled():
                _emit(task._sig_raw_result, result)
        finally:
            _emit(task.sig_done)


def _emit(signal: Any, *args: Any) -> None:
    """Emit unless the receiver side is gone (the app quit while this task was still running)."""
    try:
        signal.emit(*args)
    except RuntimeError:
        pass


def _is_user_error(exc: BaseException) -> bool:
    from ftstudio.engine.errors import FtStudioError

    return isinstance(exc, FtStudioError)


def wait_for_stranded(timeout_ms: int = 30000) -> bool:
    """Let work that outlived its window finish before the interpreter shuts down (called by
    `main()` after the event loop): Python finalising under a running import spews errors or
    crashes. The window is already gone, so this wait is invisible. True when all finished."""
    pools = [obj for obj in _STRANDED if isinstance(obj, QThreadPool)]
    return all(pool.waitForDone(timeout_ms) for pool in pools)


class BackgroundRunner(QObject):
    """Submits functions to a private thread pool and keeps their tasks alive until delivered.

    `submit(fn, *args, on_result=, on_error=, on_progress=, on_done=, pass_task=False, **kwargs)`
    returns a `BackgroundTask`; with `pass_task=True` the function is called as `fn(task, ...)`.
    Callers that start a newer task for the same purpose cancel the older one, so stale results
    never overwrite fresh ones.
    """

    def __init__(self, parent: QObject | None = None, max_threads: int = 2) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._tasks: set[BackgroundTask] = set()
        self._closed = False

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        on_done: Callable[[], None] | None = None,
        pass_task: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> BackgroundTask:
        task = BackgroundTask(name or getattr(fn, "__name__", "task"), self)
        if on_result is not None:
            task.sig_result.connect(on_result)
        if on_error is not None:
            task.sig_error.connect(on_error)
        if on_progress is not None:
            task.sig_progress.connect(on_progress)
        if on_done is not None:  # connected before the start: a fast task must not finish unheard
            task.sig_done.connect(on_done)
        task.sig_done.connect(self._on_task_done)
        if self._closed:
            task.cancel()
            return task
        self._tasks.add(task)

        def call() -> Any:
            return fn(task, *args, **kwargs) if pass_task else fn(*args, **kwargs)

        self._pool.start(_Runnable(task, call))
        return task

    def busy(self) -> bool:
        return bool(self._tasks)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel everything and wait for the pool's threads to end; True when none is left."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        self._pool.clear()  # queued but not started: never run
        done = self._pool.waitForDone(timeout_ms)
        if done:
            self._tasks.clear()
        else:
            # A download that ignores cancel is still running: detach the pool so deleting this
            # runner does not block the UI in QThreadPool's destructor; the thread ends with it.
            self._pool.setParent(None)
            _STRANDED.append(self._pool)
            for task in self._tasks:  # their runnables still hold them; keep them alive too
                task.setParent(None)
                _STRANDED.append(task)
        return done

    @Slot()
    def _on_task_done(self) -> None:
        task = self.sender()
        if isinstance(task, BackgroundTask) and task in self._tasks:
            self._tasks.discard(task)
            task.deleteLater()
