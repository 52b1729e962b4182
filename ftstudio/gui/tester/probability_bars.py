"""A bar per class: how sure a classifier is of each of its labels.

`ProbabilityBars` paints its bars from the palette (highlight for the winning class, a blend of
text and base for the others) so they stay readable in light and dark themes. Subclasses
change which bars are highlighted and draw on top of each bar (`MultiLabelBars` marks every
label's threshold); `PredictionColumn` (prediction_column.py) frames one model's answer.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from ftstudio.gui.style import blend

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
        self._set_rows(rows, order)

    def clear(self) -> None:
        self._top = None
        self._set_rows([], "labels")

    def _set_rows(self, rows: list[tuple[str, float]], order: str) -> None:
        if order == "sorted":
            rows = sorted(rows, key=lambda r: -r[1])
        self._rows = rows
        self.setToolTip("\n".join(self._tooltip_line(name, p) for name, p in rows))
        self.updateGeometry()
        self.update()

    # ------------------------------------------------------------------ hooks for subclasses
    def _highlighted(self, name: str) -> bool:
        """Whether `name`'s bar is drawn in the highlight colour (here: the most likely class)."""
        return name == self._top

    def _bold(self, name: str) -> bool:
        """Whether `name` is written in bold (here: never; the multi-label view bolds its picks)."""
        return False

    def _tooltip_line(self, name: str, p: float) -> str:
        return f"{name}: {p * 100:.2f}%"

    def _paint_over_bar(self, painter: QPainter, bar: QRectF, name: str, text: QColor) -> None:
        """Draw on top of `name`'s bar after it is filled (nothing here)."""

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
        plain = painter.font()
        bold = QFont(plain)
        bold.setBold(True)
        metrics = QFontMetrics(bold)  # room for the widest name, bold or not
        width = self.width()
        label_w = min(int(width * 0.38), max(metrics.horizontalAdvance(n) for n, _ in self._rows) + 20)
        pct_w = metrics.horizontalAdvance("100.0%") + 8
        bar_x, bar_w = label_w, max(10, width - label_w - pct_w)
        for i, (name, p) in enumerate(self._rows):
            y = i * ROW_HEIGHT
            painter.setPen(text)
            painter.setFont(bold if self._bold(name) else plain)
            shown = painter.fontMetrics().elidedText(name, Qt.TextElideMode.ElideRight, label_w - 10)
            painter.drawText(
                QRectF(0, y, label_w - 10, ROW_HEIGHT),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                shown,
            )
            painter.setFont(plain)
            bar = QRectF(bar_x, y + 5, bar_w, ROW_HEIGHT - 10)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(track)
            painter.drawRoundedRect(bar, 3, 3)
            filled = QRectF(bar.x(), bar.y(), max(0.0, min(1.0, p)) * bar.width(), bar.height())
            if filled.width() > 0.5:
                painter.setBrush(top if self._highlighted(name) else other)
                painter.drawRoundedRect(filled, 3, 3)
            self._paint_over_bar(painter, bar, name, text)
            painter.setPen(text)
            painter.drawText(
                QRectF(bar_x + bar_w, y, pct_w, ROW_HEIGHT),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                f"{p * 100:.1f}%",
            )
        painter.end()
