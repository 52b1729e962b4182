"""GUI test guards: a test fails if it leaves a QThread running or a QTimer active.

Threads and timers created from Python during a test are tracked by wrapping their constructors
(cheap: one WeakSet insert each). Widgets are deliberately not scanned: wrapping every object of
QApplication.allWidgets() during teardown touches half-destroyed widgets and crashed the suite.
A thread that is merely finishing (its worker already reported the end) gets a short grace
period to exit.
"""

from __future__ import annotations

import gc
import weakref

import pytest

THREAD_GRACE_MS = 5000
_REPORTED: weakref.WeakSet = weakref.WeakSet()  # each leaked timer fails one test, not every later one


def _valid(obj) -> bool:
    import shiboken6

    return shiboken6.isValid(obj)


@pytest.fixture(autouse=True)
def no_leftover_threads_or_timers(request):
    from PySide6.QtCore import QThread, QTimer

    threads: weakref.WeakSet = weakref.WeakSet()
    timers: weakref.WeakSet = weakref.WeakSet()
    thread_init, timer_init = QThread.__init__, QTimer.__init__

    def tracking_thread_init(self, *args, **kwargs):
        thread_init(self, *args, **kwargs)
        threads.add(self)

    def tracking_timer_init(self, *args, **kwargs):
        timer_init(self, *args, **kwargs)
        timers.add(self)

    QThread.__init__, QTimer.__init__ = tracking_thread_init, tracking_timer_init
    try:
        yield
    finally:
        QThread.__init__, QTimer.__init__ = thread_init, timer_init
        # Collect this test's garbage (closed widgets in reference cycles) here, on the GUI thread;
        # left for later, a collection triggered on some worker thread destroys them there: segfault.
        gc.collect()

    problems = []
    for thread in list(threads):
        if _valid(thread) and thread.isRunning() and not thread.wait(THREAD_GRACE_MS):
            problems.append(f"QThread {thread.objectName() or thread!r} still running")
    for timer in [t for t in timers if _valid(t) and t.isActive()]:
        if timer in _REPORTED:
            continue
        _REPORTED.add(timer)
        parent = timer.parent()
        owner = type(parent).__name__ if parent is not None else "no parent"
        problems.append(f"QTimer {timer.objectName() or ''} (parent {owner}, {timer.interval()} ms) still active")
    if problems:
        pytest.fail("Test left Qt work running:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def temp_qsettings(tmp_path):
    """A throwaway organisation and settings folder (recent files, window state) for one test."""
    import uuid

    from PySide6.QtCore import QCoreApplication, QSettings

    before = QCoreApplication.organizationName(), QCoreApplication.applicationName()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    QCoreApplication.setOrganizationName(f"ftstudio-test-{uuid.uuid4().hex[:8]}")
    QCoreApplication.setApplicationName("Fine-Tuning Studio tests")
    yield
    QCoreApplication.setOrganizationName(before[0])
    QCoreApplication.setApplicationName(before[1])


def quiet_main_window(qtbot, runs_dir, *, confirm_close: bool = False):
    """The studio window as the GUI tests drive it: no folders opened, no dialogs from the Train
    tab, owned by qtbot; `confirm_close` answers "yes" to the close-while-training question."""
    from ftstudio.gui.main_window import MainWindow

    win = MainWindow(runs_dir=runs_dir)
    win.open_folders = False
    win.training_panel.show_dialogs = False
    win.training_panel.open_folders = False
    if confirm_close:
        win.confirm_close = lambda: True
    qtbot.addWidget(win)
    return win
