"""One prediction, shown so it reads at a glance: the label, big, and a bar per class.

`ProbabilityBars` paints its bars from the palette (highlight for the winning class, a blend of
text and base for the others) so they stay readable in light and dark themes. `PredictionColumn`
frames one model's answer: a title naming the model, its state ("loading model…"), the predicted
label, the bars, and errors in words.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QFont, QPainter, QPalette
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ftstudio.gui.style import blend, error_color, muted_color

ROW_HEIGHT = 24


class ProbabilityBars(QWidget):
    """A horizontal bar and a percentage for every class's probability.

    `set_probabilities(probabilities, order)` with order "sorted" (most likely first) or
    "labels" (the model's label order, stable while typing). `rows()` returns what is shown.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[str, float]] = []
        self._top: str | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Class probabilities")

    def set_probabilities(self, probabilities: dict[str, float], order: str = "sorted") -> None:
        rows = [(str(k), float(v)) for k, v in probabilities.items()]
        self._top = max(rows, key=lambda r: r[1])[0] if rows else None
        if order == "sorted":
            rows.sort(key=lambda r: -r[1])
        self._rows = rows
        self.setToolTip("\n".join(f"{name}: {p * 100:.2f}%" for name, p in rows))
        self.updateGeometry()
        self.update()

    def clear(self) -> None:
        self._rows, self._top = [], None
        self.setToolTip("")
        self.updateGeometry()
        self.update()

    def rows(self) -> list[tuple[str, float]]:
        return list(self._rows)

    def sizeHint(self) -> QSize:
        return QSize(320, max(1, len(self._rows)) * ROW_HEIGHT)

    def minimumSizeHint(self) -> QSize:
        return QSize(160, len(self._rows) * ROW_HEIGHT)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if not self._rows:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.Text)
        base = pal.color(QPalette.ColorRole.Base)
        track = blend(base, text, 0.08)
        other = blend(base, text, 0.35)
        top = pal.color(QPalette.ColorRole.Highlight)
        metrics = painter.fontMetrics()
        width = self.width()
        label_w = min(int(width * 0.38), max(metrics.horizontalAdvance(n) for n, _ in self._rows) + 20)
        pct_w = metrics.horizontalAdvance("100.0%") + 8
        bar_x, bar_w = label_w, max(10, width - label_w - pct_w)
        for i, (name, p) in enumerate(self._rows):
            y = i * ROW_HEIGHT
            painter.setPen(text)
            shown = metrics.elidedText(name, Qt.TextElideMode.ElideRight, label_w - 10)
            painter.drawText(
                QRectF(0, y, label_w - 10, ROW_HEIGHT),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                shown,
            )
            bar = QRectF(bar_x, y + 5, bar_w, ROW_HEIGHT - 10)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(track)
            painter.drawRoundedRect(bar, 3, 3)
            filled = QRectF(bar.x(), bar.y(), max(0.0, min(1.0, p)) * bar.width(), bar.height())
            if filled.width() > 0.5:
                painter.setBrush(top if name == self._top else other)
                painter.drawRoundedRect(filled, 3, 3)
            painter.setPen(text)
            painter.drawText(
                QRectF(bar_x + bar_w, y, pct_w, ROW_HEIGHT),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                f"{p * 100:.1f}%",
            )
        painter.end()


class PredictionColumn(QFrame):
    """One model's answer: title, state, predicted label, confidence, bars, or an error in words.

    No signals: the tester panel feeds it through `show_busy`, `show_prediction` and `show_error`.
    """

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(title)
        self.title.setWordWrap(True)
        bold = self.title.font()
        bold.setBold(True)
        self.title.setFont(bold)
        self.state = QLabel("")
        self.state.setWordWrap(True)
        self.state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label = QLabel("")
        big = QFont(self.label.font())
        big.setPointSizeF(big.pointSizeF() * 2.2)
        big.setBold(True)
        self.label.setFont(big)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setAccessibleName("Predicted label")
        self.confidence = QLabel("")
        self.bars = ProbabilityBars()
        for label in (self.title, self.state, self.label, self.confidence):
            label.setTextFormat(Qt.TextFormat.PlainText)  # labels and messages are data, not markup
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.state)
        layout.addWidget(self.label)
        layout.addWidget(self.confidence)
        layout.addWidget(self.bars)
        layout.addStretch(1)
        self._probabilities: dict[str, float] = {}
        self.show_idle("Type a sentence and press Enter.")

    def set_title(self, title: str) -> None:
        self.title.setText(title)

    def predicted_label(self) -> str:
        return self.label.text()

    def show_idle(self, hint: str) -> None:
        self._set_state(hint, muted=True)

    def show_busy(self, stage: str) -> None:
        """While a model loads (seconds) the previous answer stays visible, greyed."""
        if stage == "loading":
            self._set_state("Loading model… (first use of a checkpoint takes a few seconds)", muted=True)
            self.label.setEnabled(False)
            self.bars.setEnabled(False)

    def show_prediction(self, prediction: dict, order: str = "sorted") -> None:
        self._set_state("", muted=True)
        self._probabilities = dict(prediction.get("probabilities") or {})
        self.label.setEnabled(True)
        self.bars.setEnabled(True)
        self.label.setText(str(prediction.get("label", "")))
        score = prediction.get("score")
        self.confidence.setText(f"{float(score) * 100:.1f}% confidence" if score is not None else "")
        self.bars.set_probabilities(self._probabilities, order)

    def set_order(self, order: str) -> None:
        if self._probabilities:
            self.bars.set_probabilities(self._probabilities, order)

    def show_error(self, message: str) -> None:
        self.clear()
        self._set_state(message, muted=False)

    def clear(self) -> None:
        self._probabilities = {}
        self.label.setText("")
        self.confidence.setText("")
        self.bars.clear()

    def _set_state(self, text: str, muted: bool) -> None:
        color = muted_color() if muted else error_color()
        self.state.setStyleSheet(f"color: {color};")
        self.state.setText(text)
        self.state.setVisible(bool(text))
