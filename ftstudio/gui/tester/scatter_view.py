"""A regression file test as a picture: each row's predicted score against its true score.

Points on the dashed y = x line are perfect predictions; a cloud flatter than the line is a model
that hedges towards the mean, one shifted off it a model that is biased. Both axes share one
range so the line is a true diagonal. pyqtgraph is imported when the first points arrive, so the
tester opens without it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ftstudio.gui.style import colors, muted_color


class ScatterView(QWidget):
    """Predicted against true, with the y = x line; `set_points(points, name)` with points as
    the engine gives them ([[true, predicted], ...]). `points()` returns what is shown.

    No signals. Call `shutdown()` before the owner goes away (frees pyqtgraph's menus on the
    main thread; see runs/details.py for why).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.plot: Any = None
        self._scatter: Any = None
        self._line: Any = None
        self._points: list[tuple[float, float]] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self.caption)
        self.caption.setStyleSheet(f"color: {muted_color()};")
        self.setMinimumHeight(240)

    def set_points(self, points: list, name: str = "score") -> None:
        import pyqtgraph as pg

        self._points = [(float(t), float(p)) for t, p in points]
        plot = self._ensure_plot()
        palette = colors()
        truth = [t for t, _ in self._points]
        predicted = [p for _, p in self._points]
        self._scatter.setData(
            truth, predicted, brush=pg.mkBrush(palette["bar"] + "99"), pen=None, size=7, symbol="o"
        )
        everything = truth + predicted
        lo, hi = (min(everything), max(everything)) if everything else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 1.0, hi + 1.0
        pad = (hi - lo) * 0.05
        self._line.setData([lo - pad, hi + pad], [lo - pad, hi + pad])
        plot.setXRange(lo - pad, hi + pad, padding=0)
        plot.setYRange(lo - pad, hi + pad, padding=0)
        plot.setLabel("bottom", f"true {name}")
        plot.setLabel("left", f"predicted {name}")
        self.caption.setText(
            f"Predicted against true {name}, {len(self._points):,} rows: points on the dashed line are exact."
        )

    def points(self) -> list[tuple[float, float]]:
        return list(self._points)

    def shutdown(self) -> None:
        """Delete pyqtgraph's context menus now, on this (main) thread."""
        if self.plot is None:
            return
        import shiboken6

        item = self.plot.getPlotItem()
        menus = (item.vb.menu, item.ctrlMenu)
        item.setMenuEnabled(False)
        item.ctrlMenu = None  # PlotItem.close() treats None as "already shut down"
        for menu in menus:
            if menu is not None and shiboken6.isValid(menu):
                shiboken6.delete(menu)

    def _ensure_plot(self) -> Any:
        if self.plot is not None:
            return self.plot
        import pyqtgraph as pg

        palette = colors()
        self.plot = pg.PlotWidget(background=palette["plot_bg"])
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen(palette["plot_fg"])
            self.plot.getAxis(axis).setPen(palette["plot_fg"])
        self.plot.setAspectLocked(False)
        pen = pg.mkPen(palette["plot_fg"], width=1.5, style=Qt.PenStyle.DashLine)
        self._line = self.plot.plot([], [], pen=pen)
        self._scatter = pg.ScatterPlotItem()
        self.plot.addItem(self._scatter)
        self._layout.addWidget(self.plot, 1)
        return self.plot
