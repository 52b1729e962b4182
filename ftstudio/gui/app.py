"""Start the studio window: QApplication, identity for QSettings, theme, icon, `MainWindow`.

Only PySide6 and our light modules load before the window shows; torch, transformers and
datasets load later, off the UI thread, when a panel first needs them.
"""

from __future__ import annotations

import os
import sys

ORGANIZATION = "ftstudio"
APPLICATION = "Fine-Tuning Studio"


def main(argv: list[str] | None = None) -> int:
    """Open the window and run until it closes; returns the exit status.

    Options (for testing looks): `--dark` / `--light` force a theme (also FTSTUDIO_THEME).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    theme = "dark" if "--dark" in args else "light" if "--light" in args else None
    # Inside the app nobody reads tqdm bars on a console; the engine reports progress itself.
    from ftstudio.engine.library_output import quiet_progress_bars_early

    quiet_progress_bars_early()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from ftstudio.engine.speed.cpu_runtime import configure_cpu_runtime

    configure_cpu_runtime()  # before a background task loads torch (the cli did it already)

    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QGuiApplication.setApplicationDisplayName(APPLICATION)
    QGuiApplication.setDesktopFileName("ftstudio")
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "ftstudio"])

    from ftstudio import __version__
    from ftstudio.gui.style import app_icon, apply_theme

    app.setApplicationVersion(__version__)
    app.setWindowIcon(app_icon())
    apply_theme(app, theme)

    from ftstudio.gui.background import wait_for_stranded
    from ftstudio.gui.main_window import MainWindow
    from ftstudio.gui.train.session import GuiThreadCollector

    # Background threads (training, prediction, data loading) allocate constantly; an automatic
    # garbage collection running there could destroy Qt objects off the GUI thread (a crash).
    # For the app's whole life, collections happen on the GUI thread from a timer instead.
    collector = GuiThreadCollector(app)
    collector.activate()
    from ftstudio.gui.shutdown_signals import ShutdownSignals

    window = MainWindow()
    # SIGTERM/SIGHUP (SIGBREAK): stop the run (its child saves), close without asking.
    signals = ShutdownSignals(app)
    signals.sig_received.connect(window.close_for_shutdown)
    signals.install()
    window.show()
    try:
        status = int(app.exec())
    finally:
        signals.restore()
        collector.deactivate()
    wait_for_stranded()
    # Closed by a shutdown signal: 128 + its number, as the CLI reports it (143 for SIGTERM).
    return 128 + signals.received if signals.received is not None else status


if __name__ == "__main__":
    raise SystemExit(main())
