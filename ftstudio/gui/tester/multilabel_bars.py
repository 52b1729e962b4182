"""A multi-label answer: every label's probability, its threshold, and the labels chosen.

A multi-label model decides each label on its own: a label is chosen when its probability
reaches that label's threshold (0.5, or tuned per label during training). So every bar carries a
tick at its threshold, and the chosen labels' bars are in the highlight colour with their names
in bold: a bar that ends just short of its tick reads as "almost".
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from ftstudio.gui.tester.probability_bars import ProbabilityBars


class MultiLabelBars(ProbabilityBars):
    """Bars per label with each label's threshold marked and the chosen labels highlighted.

    `set_prediction(probabilities, thresholds, chosen, order)`; `rows()`, `thresholds()` and
    `chosen()` return what is shown. No signals.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thresholds: dict[str, float] = {}
        self._chosen: set[str] = set()
        self.setAccessibleName("Label probabilities and thresholds")

    def set_prediction(
        self,
        probabilities: dict[str, float],
        thresholds: dict[str, float] | None,
        chosen: list[str] | None,
        order: str = "sorted",
    ) -> None:
        self._thresholds = {str(k): float(v) for k, v in (thresholds or {}).items()}
        self._chosen = {str(n) for n in chosen or []}
        self._set_rows([(str(k), float(v)) for k, v in probabilities.items()], order)

    def clear(self) -> None:
        self._thresholds, self._chosen = {}, set()
        super().clear()

    def thresholds(self) -> dict[str, float]:
        return dict(self._thresholds)

    def chosen(self) -> list[str]:
        return [name for name, _ in self._rows if name in self._chosen]

    # ------------------------------------------------------------------ hooks
    def _highlighted(self, name: str) -> bool:
        return name in self._chosen

    def _bold(self, name: str) -> bool:
        return name in self._chosen

    def _tooltip_line(self, name: str, p: float) -> str:
        threshold = self._thresholds.get(name)
        if threshold is None:
            return super()._tooltip_line(name, p)
        verdict = "chosen" if name in self._chosen else "not chosen"
        return f"{name}: {p * 100:.2f}% (threshold {threshold * 100:.0f}%: {verdict})"

    def _paint_over_bar(self, painter: QPainter, bar: QRectF, name: str, text: QColor) -> None:
        threshold = self._thresholds.get(name)
        if threshold is None:
            return
        x = bar.x() + max(0.0, min(1.0, threshold)) * bar.width()
        pen = QPen(text)
        pen.setWidthF(2.0)
        painter.setPen(pen)
        # A tick a little taller than the bar, so it shows over a filled bar and an empty one.
        painter.drawLine(QPointF(x, bar.top() - 3), QPointF(x, bar.bottom() + 3))
