"""A read-only, timestamped, length-capped log of a run, that follows new lines unless scrolled up."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QPlainTextEdit, QWidget

MAX_LINES = 5000  # older lines drop off the top; the run folder keeps the full record


class LogView(QPlainTextEdit):
    """The run's log lines, each stamped with the time it arrived. Emits no signals.

    Autoscroll only while the view is at the bottom, so reading older lines is not interrupted.
    The context menu adds "Copy all" and "Clear" to the usual copy/select.
    """

    def __init__(self, parent: QWidget | None = None, max_lines: int = MAX_LINES) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(max_lines)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setPlaceholderText("The run's log appears here.")
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._on_context_menu)

    @Slot(str)
    def append_line(self, text: str) -> None:
        """Add `text` (several lines allowed) under one timestamp."""
        bar = self.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 2
        stamp = datetime.now().strftime("%H:%M:%S")
        lines = str(text).rstrip("\n").splitlines() or [""]
        indent = " " * (len(stamp) + 2)
        self.appendPlainText(f"{stamp}  {lines[0]}" + "".join(f"\n{indent}{line}" for line in lines[1:]))
        if at_bottom:
            bar.setValue(bar.maximum())

    def text(self) -> str:
        return self.toPlainText()

    @Slot()
    def copy_all(self) -> None:
        QGuiApplication.clipboard().setText(self.toPlainText())

    @Slot(object)
    def _on_context_menu(self, pos) -> None:
        menu = self.createStandardContextMenu()
        menu.addSeparator()
        copy_all = QAction("Copy all", menu)
        copy_all.triggered.connect(self.copy_all)
        clear = QAction("Clear", menu)
        clear.triggered.connect(self.clear)
        menu.addAction(copy_all)
        menu.addAction(clear)
        menu.exec(self.mapToGlobal(pos))
        menu.deleteLater()
