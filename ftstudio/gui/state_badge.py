"""The coloured pill that names a run's state (Training, Paused, Finished, ...), in the Train tab
and in the window's status bar."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QWidget

# Shown text where the state name alone would read wrong; others are the state capitalised.
STATE_TEXT = {"ready": "Ready", "stopping": "Stopping...", "pausing": "Pausing..."}
# Used only when the application style sheet (style.qss) does not style the badge already
# (a panel shown on its own, as in tests and benchmarks).
BADGE_COLORS = {"preparing": "#3f7fd6", "training": "#2e9d4f", "evaluating": "#2a8f8f", "saving": "#2a8f8f",
                "paused": "#c98a12", "pausing": "#c98a12", "stopping": "#c9651a", "stopped": "#7a7f87",
                "finished": "#2563c9", "failed": "#c62f2f", "ready": "#7a7f87"}


class StateBadge(QLabel):
    """A QLabel named `stateBadge` whose `state` property picks its colour in style.qss."""

    def __init__(self, state: str = "ready", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stateBadge")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.show_state(state)

    def show_state(self, state: str) -> None:
        self.setText(STATE_TEXT.get(state, state.capitalize()))
        self.setProperty("state", "paused" if state == "pausing" else state)  # same colour
        app = QApplication.instance()
        if "stateBadge" in (app.styleSheet() if app else ""):
            self.style().unpolish(self)  # re-read the sheet for the new property value
            self.style().polish(self)
        else:
            self.setStyleSheet(f"QLabel {{ color: white; font-weight: 700; border-radius: 9px;"
                               f" padding: 2px 12px; background: {BADGE_COLORS.get(state, '#7a7f87')}; }}")
