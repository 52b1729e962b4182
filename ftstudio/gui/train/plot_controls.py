"""The row above the training plots: x axis (steps or epochs), smoothing of the training loss,
and the readout of the values under the cursor."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSlider, QWidget


class PlotControls(QWidget):
    """The plots' controls; the owner connects to `x_axis.currentIndexChanged` and
    `smoothing.valueChanged` and writes `readout`. Emits no signals of its own."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.x_axis = QComboBox()
        self.x_axis.addItems(["Steps", "Epochs"])
        self.x_axis.setToolTip("Plot against optimizer steps or epochs")
        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(60)
        self.smoothing.setFixedWidth(120)
        self.smoothing.setToolTip("Exponential moving average of the training loss (0: raw)")
        self.smoothing_label = QLabel("0.60")
        self.smoothing.valueChanged.connect(lambda value: self.smoothing_label.setText(f"{value / 100:.2f}"))
        self.readout = QLabel("Hover a plot to read values")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # A long readout must not widen the window; it is cut at the edge instead.
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("X axis:"))
        row.addWidget(self.x_axis)
        row.addSpacing(12)
        row.addWidget(QLabel("Smoothing:"))
        row.addWidget(self.smoothing)
        row.addWidget(self.smoothing_label)
        row.addSpacing(12)
        row.addWidget(self.readout, 1)
