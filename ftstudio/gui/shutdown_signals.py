"""Shutdown signals to the window's process (SIGTERM, SIGHUP; SIGBREAK on Windows) as a Qt signal.

Python runs a signal handler only when the interpreter gets control, and a window idle in Qt's
event loop runs no Python for as long as nothing happens: the signal would wait for the next
mouse move. `signal.set_wakeup_fd` makes the C-level handler write a byte to a socket; a
`QSocketNotifier` on the other end wakes the event loop, the Python handler runs, and
`sig_received` is delivered from the event loop (queued), never from inside the interrupted code.
The window connects it to `MainWindow.close_for_shutdown`: the run is stopped through its session
(the training child saves a checkpoint), nobody is asked, and the window closes.
"""

from __future__ import annotations

import signal
import socket
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, Qt, Signal, Slot

from ftstudio.engine.training.shutdown import install_handlers, restore_handlers, shutdown_signals


class ShutdownSignals(QObject):
    """Installs handlers for the shutdown signals; `restore()` puts the previous ones back.

    Signals: sig_received(int signum), once, for the first shutdown signal (a second one while
    the window closes is ignored: the run is already stopping and saving).
    """

    sig_received = Signal(int)
    _sig_pending = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._previous_wakeup_fd = -1
        self._sockets: tuple[socket.socket, socket.socket] | None = None
        self._notifier: QSocketNotifier | None = None
        self._sig_pending.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def install(self) -> ShutdownSignals:
        """Call on the main thread, with the QApplication made."""
        try:
            reader, writer = socket.socketpair()
            reader.setblocking(False)
            writer.setblocking(False)
            self._previous_wakeup_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
            self._sockets = (reader, writer)
            self._notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, self)
            self._notifier.activated.connect(self._on_wakeup)
        except (OSError, ValueError):  # no wakeup fd here: the handlers still run at the next event
            self._close_sockets()
        self._previous = install_handlers(shutdown_signals(), self._handle)
        return self

    def restore(self) -> None:
        restore_handlers(self._previous)
        if self._sockets is not None:
            try:
                signal.set_wakeup_fd(self._previous_wakeup_fd)
            except (OSError, ValueError):
                pass
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        self._close_sockets()

    def _close_sockets(self) -> None:
        for sock in self._sockets or ():
            sock.close()
        self._sockets = None

    def _handle(self, signum: int, frame: Any) -> None:
        # Runs between two bytecodes of whatever the main thread was doing: only note it.
        if self.received is None:
            self.received = signum
            self._sig_pending.emit()

    @Slot()
    def _on_wakeup(self) -> None:
        # Entering Python here is what runs the pending handler; drain the bytes it left.
        if self._sockets is None:
            return
        try:
            while self._sockets[0].recv(64):
                pass
        except OSError:
            pass

    @Slot()
    def _deliver(self) -> None:
        if self.received is not None:
            self.sig_received.emit(self.received)
