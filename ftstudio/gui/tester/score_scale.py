"""A regression answer on the scale of the training data.

A bare number ("3.42") says little until one knows the scores run from 1 to 5 and average 2.5.
`ScoreScale` draws the training scores' range as a track, the mean and one standard deviation
either side of it, and a marker at the prediction; a prediction outside the training range
stretches the scale and says so, since the model is then extrapolating.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QPainter, QPalette, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from ftstudio.gui.style import blend

_TRACK_TOP, _TRACK_HEIGHT = 14, 12  # the training range's track, below the marker's pointer
_MARGIN = 10  # room at both ends for the marker and the end labels


def format_score(value: float, span: float | None = None) -> str:
    """A score with as many decimals as its scale needs: 3.42 on a 1-5 scale, 1,234 on a
    0-10,000 one, 0.031 on a 0-0.1 one."""
    if not math.isfinite(value):
        return str(value)
    span = abs(span) if span else abs(value)
    decimals = 2 if span <= 0 else max(0, min(6, 2 - math.floor(math.log10(span))))
    return f"{value:,.{decimals}f}"


class ScoreScale(QWidget):
    """The training range (minimum to maximum), its mean and ±1 standard deviation, and the
    predicted value's marker.

    `set_scale(minimum, maximum, mean, std)` once per model, `set_value(value)` per prediction;
    `value()`, `scale()` and `outside()` report what is shown. No signals.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scale: dict[str, float] = {}
        self._value: float | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Predicted score on the training scale")

    def set_scale(self, minimum: float, maximum: float, mean: float | None = None,
                  std: float | None = None) -> None:
        scale = {"minimum": float(minimum), "maximum": float(maximum)}
        if mean is not None:
            scale["mean"] = float(mean)
        if std is not None:
            scale["std"] = float(std)
        self._scale = scale
        self._refresh()

    def set_value(self, value: float | None) -> None:
        self._value = None if value is None else float(value)
        self._refresh()

    def clear(self) -> None:
        self._scale, self._value = {}, None
        self._refresh()

    def value(self) -> float | None:
        return self._value

    def scale(self) -> dict[str, float]:
        return dict(self._scale)

    def outside(self) -> bool:
        """Whether the prediction lies outside the training scores' range."""
        if self._value is None or not self._scale:
            return False
        return not self._scale["minimum"] <= self._value <= self._scale["maximum"]

    def sizeHint(self) -> QSize:
        return QSize(320, self._height())

    def minimumSizeHint(self) -> QSize:
        return QSize(160, self._height())

    # ------------------------------------------------------------------ drawing
    def _height(self) -> int:
        return _TRACK_TOP + _TRACK_HEIGHT + 2 * self.fontMetrics().height() + 8

    def _refresh(self) -> None:
        self.setToolTip(self._tooltip())
        self.updateGeometry()
        self.update()

    def _span(self) -> float:
        return (self._scale["maximum"] - self._scale["minimum"]) if self._scale else 0.0

    def _tooltip(self) -> str:
        if not self._scale:
            return ""
        def fmt(value: float) -> str:
            return format_score(value, self._span())

        lines = [f"Training scores: {fmt(self._scale['minimum'])} to {fmt(self._scale['maximum'])}"]
        if "mean" in self._scale:
            std = f", standard deviation {fmt(self._scale['std'])}" if "std" in self._scale else ""
            lines.append(f"Mean {fmt(self._scale['mean'])}{std} (the shaded band is ±1 standard deviation)")
        if self._value is not None:
            outside = " (outside the training range)" if self.outside() else ""
            lines.append(f"Predicted: {fmt(self._value)}{outside}")
        return "\n".join(lines)

    def _bounds(self) -> tuple[float, float]:
        """The drawn range: the training range, stretched to hold a prediction outside it."""
        lo, hi = self._scale["minimum"], self._scale["maximum"]
        if self._value is not None and math.isfinite(self._value):
            lo, hi = min(lo, self._value), max(hi, self._value)
        if hi - lo <= 0:
            lo, hi = lo - 1.0, hi + 1.0
        return lo, hi

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if not self._scale:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.Text)
        base = pal.color(QPalette.ColorRole.Base)
        mark = pal.color(QPalette.ColorRole.Highlight)
        lo, hi = self._bounds()
        left, width = float(_MARGIN), max(10.0, self.width() - 2.0 * _MARGIN)

        def x_of(v: float) -> float:
            return left + (v - lo) / (hi - lo) * width

        top, bottom = _TRACK_TOP, _TRACK_TOP + _TRACK_HEIGHT
        x_min, x_max = x_of(self._scale["minimum"]), x_of(self._scale["maximum"])
        painter.setPen(Qt.PenStyle.NoPen)
        # Outside the training range (only when a prediction stretched the scale): an outline.
        if x_min > left + 0.5 or x_max < left + width - 0.5:
            painter.setPen(QPen(blend(base, text, 0.3), 1, Qt.PenStyle.DotLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(left, top, width, _TRACK_HEIGHT), 3, 3)
            painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(blend(base, text, 0.10))
        painter.drawRoundedRect(QRectF(x_min, top, max(1.0, x_max - x_min), _TRACK_HEIGHT), 3, 3)
        mean, std = self._scale.get("mean"), self._scale.get("std")
        if mean is not None and std:
            a = x_of(max(self._scale["minimum"], mean - std))
            b = x_of(min(self._scale["maximum"], mean + std))
            painter.setBrush(blend(base, text, 0.22))
            painter.drawRect(QRectF(a, top, max(1.0, b - a), _TRACK_HEIGHT))
        if mean is not None:
            painter.setPen(QPen(text, 1.5, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(x_of(mean), top - 3), QPointF(x_of(mean), bottom + 3))
        self._paint_labels(painter, x_of, bottom)
        if self._value is not None and math.isfinite(self._value):
            self._paint_marker(painter, x_of(self._value), top, bottom, mark, base)
        painter.end()

    def _paint_labels(self, painter: QPainter, x_of, bottom: float) -> None:
        """Minimum and maximum under the track's ends, the mean under its tick where it fits."""
        metrics = painter.fontMetrics()
        line = metrics.height()
        span = self._span()
        painter.setPen(self.palette().color(QPalette.ColorRole.Text))
        y = bottom + 4
        placed: list[tuple[float, float]] = []

        def draw(x: float, words: str, align: str) -> None:
            w = metrics.horizontalAdvance(words)
            x0 = {"left": x, "right": x - w, "center": x - w / 2}[align]
            x0 = max(0.0, min(self.width() - w, x0))
            if any(x0 < b + 8 and a < x0 + w + 8 for a, b in placed):
                return  # would overlap a label already drawn: the tooltip still has it
            placed.append((x0, x0 + w))
            painter.drawText(QRectF(x0, y, w + 1, line), Qt.AlignmentFlag.AlignLeft, words)

        draw(x_of(self._scale["minimum"]), f"min {format_score(self._scale['minimum'], span)}", "left")
        draw(x_of(self._scale["maximum"]), f"max {format_score(self._scale['maximum'], span)}", "right")
        if "mean" in self._scale:
            draw(x_of(self._scale["mean"]), f"mean {format_score(self._scale['mean'], span)}", "center")

    def _paint_marker(self, painter: QPainter, x: float, top: float, bottom: float, mark, base) -> None:
        """A pointer above the track and a line through it at the prediction."""
        painter.setPen(QPen(mark, 3))
        painter.drawLine(QPointF(x, top - 2), QPointF(x, bottom + 2))
        painter.setPen(QPen(base, 1))
        painter.setBrush(mark)
        painter.drawPolygon(QPolygonF([QPointF(x - 7, 0), QPointF(x + 7, 0), QPointF(x, top - 1)]))
