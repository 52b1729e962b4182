"""A line of advice above the Setup tab's panels, with the one click that follows it.

Today it says when the planned run has too few optimizer steps for its learning rate (the
engine's `learning_rate_advice`, which the run also logs at its start) and offers the learning
rate that suits it. Hidden when there is nothing to say.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from ftstudio.engine.training.advice import LearningRateAdvice
from ftstudio.gui.style import set_role


class AdviceBar(QWidget):
    """The advice's sentence and its button.

    Signals:
      sig_learning_rate(float): the user accepted the advice's learning rate.
    """

    sig_learning_rate = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("setupAdvice")
        self._advice: LearningRateAdvice | None = None
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        set_role(self.text, "hint")
        self.button = QPushButton()
        self.button.setToolTip("Set the learning rate to the advised value (Training settings, Optimisation).")
        self.button.clicked.connect(self._on_use)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.text, 1)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.setVisible(False)

    def advice(self) -> LearningRateAdvice | None:
        return self._advice

    def show_advice(self, advice: LearningRateAdvice | None) -> None:
        """Show `advice`, or hide the bar when None."""
        self._advice = advice
        self.text.setText(advice.message if advice else "")
        self.button.setText(advice.action if advice else "")
        self.setVisible(advice is not None)

    @Slot()
    def _on_use(self) -> None:
        if self._advice is not None:
            self.sig_learning_rate.emit(self._advice.learning_rate)
