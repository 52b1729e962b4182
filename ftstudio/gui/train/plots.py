"""Live training curves: loss (raw, smoothed, validation), validation accuracy/F1, learning rate.

Points arrive as event dicts (live from the worker, or a past run's metrics.jsonl records) and are
appended to numpy buffers that grow by doubling; a single-shot timer redraws at most ~20 times a
second, only while something changed and the widget is visible, by calling setData on curves made
once. The paint that follows is Qt's own, later, of the changed regions only: the event loop gets a
turn between the two halves. Past runs can be overlaid as dashed curves to compare.
"""

from __future__ import annotations

import html
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Slot
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout, QWidget

from ftstudio.gui.train.plot_data import RunCurves, data_bounds, readout_text
from ftstudio.gui.train.plot_ranges import PADDING, next_x_range, next_y_range

REDRAW_MS = 50  # at most ~20 redraws per second, however fast events come
DRAW_BUDGET = 0.2  # and at most this share of the GUI thread: slow redraws space themselves out
MAX_REDRAW_MS = 2000
# (light background, dark background): the same hue, a shade that reads on each.
COLORS = {
    "raw": ("#9ab8d8", "#4f6f8f"),
    "train": ("#1f5fa8", "#6fb0ff"),
    "val": ("#c0392b", "#ff7b6b"),
    "accuracy": ("#1e8449", "#5fd38d"),
    "f1": ("#8e44ad", "#c792ea"),
    "lr": ("#b9770e", "#f5b041"),
}
OVERLAY_COLORS = (("#555555", "#bbbbbb"), ("#16a085", "#48e0c0"), ("#d35400", "#ffa45c"), ("#7f8c8d", "#95a5a6"))


class _TimedCanvas(pg.GraphicsLayoutWidget):
    """pyqtgraph's canvas, remembering how long its last paint took (for the redraw budget)."""

    last_paint_ms = 0.0

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        started = time.perf_counter()
        super().paintEvent(event)
        self.last_paint_ms = (time.perf_counter() - started) * 1000.0


class TrainingPlots(QWidget):
    """Three linked plots of a run's metrics, an x-axis toggle (steps/epochs), a smoothing slider
    and a readout of the values under the cursor. Emits no signals."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._run = RunCurves()
        self._overlays: list[tuple[RunCurves, list[pg.PlotDataItem]]] = []
        self._dirty = False
        self._x_label = ""
        self._follow = True  # False once the user zooms or pans; back on a new run or x-axis switch
        self._live = False  # points arrive one by one (room is left ahead) vs. a finished run shown whole
        self._x_range: tuple[float, float] | None = None
        self._ranges: dict[int, tuple[float, float]] = {}  # y range per plot
        self.last_redraw_ms = 0.0  # the last redraw's flush plus the canvas's last paint, for diagnostics
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._on_redraw_timer)
        self._build()
        self._apply_theme()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self._x_axis = QComboBox()
        self._x_axis.addItems(["Steps", "Epochs"])
        self._x_axis.setToolTip("Plot against optimizer steps or epochs")
        self._x_axis.currentIndexChanged.connect(self._on_x_axis_changed)
        self._smoothing = QSlider(Qt.Orientation.Horizontal)
        self._smoothing.setRange(0, 99)
        self._smoothing.setValue(60)
        self._smoothing.setFixedWidth(120)
        self._smoothing.setToolTip("Exponential moving average of the training loss (0: raw)")
        self._smoothing.valueChanged.connect(self._on_smoothing_changed)
        self._smoothing_label = QLabel("0.60")
        self.readout = QLabel("Hover a plot to read values")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # A long readout must not widen the window; it is cut at the edge instead.
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("X axis:"))
        controls.addWidget(self._x_axis)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Smoothing:"))
        controls.addWidget(self._smoothing)
        controls.addWidget(self._smoothing_label)
        controls.addSpacing(12)
        controls.addWidget(self.readout, 1)

        self._canvas = _TimedCanvas()
        self._canvas.setMinimumHeight(220)
        self.loss_plot = self._canvas.addPlot()
        self.metric_plot = self._canvas.addPlot()
        self.lr_plot = self._canvas.addPlot()
        self._headings = {id(self.loss_plot): "Loss", id(self.metric_plot): "Validation",
                          id(self.lr_plot): "Learning rate"}
        self._plots = (self.loss_plot, self.metric_plot, self.lr_plot)
        self._cursors = []
        for plot in self._plots:
            plot.showGrid(x=True, y=True, alpha=0.2)
            for side in ("left", "bottom"):
                # Grid lines at labelled ticks only: the minor levels tripled the paint time.
                plot.getAxis(side).setStyle(maxTickLevel=0)
            plot.getViewBox().setDefaultPadding(PADDING)  # points at the extremes stay whole
            plot.getViewBox().sigRangeChangedManually.connect(self._on_range_changed_by_user)
            plot.getAxis("left").setWidth(64)  # equal plot areas, whatever the tick labels' widths
            if plot is not self.loss_plot:
                plot.setXLink(self.loss_plot)  # zoom and pan all three together
            cursor = pg.InfiniteLine(angle=90, movable=False)
            cursor.setVisible(False)
            plot.addItem(cursor, ignoreBounds=True)
            self._cursors.append(cursor)
        # The key of each plot is in its title (coloured names): an in-plot legend always ends up
        # covering some run's points.
        self._curves = {
            "raw": self._curve(self.loss_plot, "─ train", "raw"),
            "smooth": self._curve(self.loss_plot, "━ smoothed", "train", width=2),
            "val_loss": self._curve(self.loss_plot, "● validation", "val", width=2, symbol="o"),
            "accuracy": self._curve(self.metric_plot, "● accuracy", "accuracy", width=2, symbol="o"),
            "f1": self._curve(self.metric_plot, "▼ macro F1", "f1", width=2, symbol="t"),
            "lr": self._curve(self.lr_plot, None, "lr", width=2),
        }
        for plot in self._plots:
            plot.disableAutoRange()
        self._canvas.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._canvas.installEventFilter(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self._canvas, 1)

    def _curve(self, plot, key: str | None, color, width: float = 1, symbol: str | None = None, style=None):
        """A curve made once and fed by setData; `key` is its entry in the plot's title."""
        curve = plot.plot([], [], symbol=symbol, symbolSize=6)
        curve._ft_style = (color, width, style, symbol)  # re-coloured by _apply_theme
        curve._ft_key = key
        curve._ft_plot = plot
        # Downsample long runs to the pixels available; no clipToView: it hides points outside the
        # current range, so auto-range never grows to show new ones.
        curve.setDownsampling(auto=True, method="peak")
        return curve

    # ------------------------------------------------------------------ theme
    def _dark(self) -> bool:
        return self.palette().color(QPalette.ColorRole.Base).lightness() < 128

    def _apply_theme(self) -> None:
        """Background, axes and curve shades from the palette, so light and dark themes both read."""
        background = self.palette().color(QPalette.ColorRole.Base)
        foreground = self.palette().color(QPalette.ColorRole.Text)
        pg.setConfigOptions(background=background, foreground=foreground)
        self._canvas.setBackground(background)
        shade = 1 if self._dark() else 0
        keys: dict[int, list[str]] = {id(plot): [] for plot in self._plots}
        for plot in self._plots:
            for side in ("left", "bottom"):
                plot.getAxis(side).setPen(foreground)
                plot.getAxis(side).setTextPen(foreground)
        for cursor in self._cursors:
            cursor.setPen(pg.mkPen(foreground, width=1, style=Qt.PenStyle.DotLine))
        for curve in self._all_curves():
            color, width, style, symbol = curve._ft_style
            hex_color = COLORS[color][shade] if color in COLORS else color[shade]
            pen = pg.mkPen(hex_color, width=width, style=style or Qt.PenStyle.SolidLine)
            curve.setPen(pen)
            if symbol:
                curve.setSymbolPen(pen)
                curve.setSymbolBrush(pg.mkBrush(hex_color))
            if curve._ft_key:
                keys[id(curve._ft_plot)].append(f'<span style="color:{hex_color}">{html.escape(curve._ft_key)}</span>')
        for plot in self._plots:
            heading = f'<span style="color:{foreground.name()}"><b>{self._headings[id(plot)]}</b></span>'
            plot.setTitle("&nbsp;&nbsp;".join([heading, *keys[id(plot)]]), size="10pt")

    def _all_curves(self):
        yield from self._curves.values()
        for _run, curves in self._overlays:
            yield from curves

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_theme()
        super().changeEvent(event)

    # ------------------------------------------------------------------ data in
    def clear(self) -> None:
        """Forget the current run's points (overlays stay)."""
        self._run = RunCurves()
        self.readout.setText("Hover a plot to read values")
        self._start_following()

    @Slot(object)
    def add_step(self, event: dict) -> None:
        self._live = True
        self._run.add_step(event, self.smoothing())
        self._mark_dirty()

    @Slot(object)
    def add_eval(self, event: dict) -> None:
        self._live = True
        self._run.add_eval(event)
        self._mark_dirty()

    def load_records(self, records: list[dict]) -> None:
        """Show a past run from its metrics.jsonl records (replacing the current points)."""
        self._live = False
        self._run = RunCurves()
        self._run.load(records, self.smoothing())
        self._start_following()

    def add_overlay(self, records: list[dict], name: str) -> None:
        """Draw another run's curves dashed, in their own colour, to compare with this one."""
        run = RunCurves()
        run.load(records, self.smoothing())
        color = OVERLAY_COLORS[len(self._overlays) % len(OVERLAY_COLORS)]
        dash, dot = Qt.PenStyle.DashLine, Qt.PenStyle.DotLine
        # Dashed: training loss and accuracy; dotted: validation loss and F1.
        curves = [
            self._curve(self.loss_plot, f"╌ {name}", color, 2, None, dash),
            self._curve(self.loss_plot, None, color, 1, None, dot),
            self._curve(self.metric_plot, f"╌ {name}", color, 2, None, dash),
            self._curve(self.metric_plot, None, color, 1, None, dot),
            self._curve(self.lr_plot, f"╌ {name}", color, 1, None, dash),
        ]
        self._overlays.append((run, curves))
        self._apply_theme()
        self._mark_dirty()

    def clear_overlays(self) -> None:
        for _run, curves in self._overlays:
            for curve in curves:
                curve._ft_plot.removeItem(curve)
        self._overlays.clear()
        self._apply_theme()  # drop their title keys
        self._mark_dirty()

    def smoothing(self) -> float:
        return self._smoothing.value() / 100.0

    def x_is_epochs(self) -> bool:
        return self._x_axis.currentIndex() == 1

    def set_x_epochs(self, epochs: bool) -> None:
        self._x_axis.setCurrentIndex(1 if epochs else 0)

    def point_counts(self) -> dict[str, int]:
        """How many training-loss and evaluation points the current run has (for tests, status)."""
        return {"steps": self._run.steps.size, "evals": self._run.evals.size}

    def curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The data a live curve was last given (raw, smooth, val_loss, accuracy, f1, lr); what is
        painted may be downsampled."""
        x, y = self._curves[name].getOriginalDataset()
        return (np.array([]) if x is None else x), (np.array([]) if y is None else y)

    # ------------------------------------------------------------------ redraw
    def _mark_dirty(self) -> None:
        self._dirty = True
        if self.isVisible() and not self._timer.isActive():
            self._timer.start()

    @Slot()
    def _on_redraw_timer(self) -> None:
        """Hand the new points to the curves now; the scene repaints what changed on its own a
        moment later. No synchronous repaint: it painted the whole canvas (axes and grids
        included) in this one event and the scene's update then painted the curves again, 15-30
        ms of the GUI thread at a time against ~3 ms here and a 4-6 ms partial paint after. The
        next redraw waits long enough to keep both within DRAW_BUDGET of the GUI thread."""
        started = time.perf_counter()
        self.flush()
        cost_ms = (time.perf_counter() - started) * 1000.0 + self._canvas.last_paint_ms
        self.last_redraw_ms = cost_ms
        self._timer.setInterval(int(min(MAX_REDRAW_MS, max(REDRAW_MS, cost_ms / DRAW_BUDGET))))

    def flush(self) -> None:
        """Redraw now if anything changed (the timer calls this; tests may too)."""
        if not self._dirty:
            return
        self._dirty = False
        x_name = "epoch" if self.x_is_epochs() else "step"
        run = self._run
        sx, ex = run.steps.column(x_name), run.evals.column(x_name)
        c = self._curves
        c["raw"].setData(sx, run.steps.column("loss"))
        c["smooth"].setData(sx, run.steps.column("smooth"))
        c["lr"].setData(sx, run.steps.column("learning_rate"))
        c["val_loss"].setData(ex, run.evals.column("loss"))
        c["accuracy"].setData(ex, run.evals.column("accuracy"))
        c["f1"].setData(ex, run.evals.column("f1"))
        for other, curves in self._overlays:
            osx, oex = other.steps.column(x_name), other.evals.column(x_name)
            columns = ((osx, other.steps.column("smooth")), (oex, other.evals.column("loss")),
                       (oex, other.evals.column("accuracy")), (oex, other.evals.column("f1")),
                       (osx, other.steps.column("learning_rate")))
            for curve, (x, y) in zip(curves, columns, strict=True):
                curve.setData(x, y)
        if self._follow:
            self._follow_data()
        label = "Epoch" if self.x_is_epochs() else "Step"
        if label != self._x_label:
            # Only on change: a new axis label re-lays the whole canvas out (tens of ms).
            self._x_label = label
            for plot in self._plots:
                plot.setLabel("bottom", label)

    # ------------------------------------------------------------------ ranges
    def following(self) -> bool:
        """True while the plots fit their ranges to the data (until the user zooms or pans)."""
        return self._follow

    def _start_following(self) -> None:
        self._follow = True
        self._x_range = None
        self._ranges.clear()
        for plot in self._plots:
            plot.disableAutoRange()  # ours instead (plot_ranges.py); pyqtgraph's "A" button turns it back on
        self._mark_dirty()

    @Slot(object)
    def _on_range_changed_by_user(self, *_args) -> None:
        self._follow = False  # the user's view stays; a new run or the x-axis switch refits

    def _follow_data(self) -> None:
        """Fit the ranges to the curves, moving them only when the data need it. The x axes are
        linked, so they share one range: the furthest point of any plot."""
        bounds = {id(plot): data_bounds(c for c in self._all_curves() if c._ft_plot is plot) for plot in self._plots}
        ends = [b[0] for b in bounds.values() if b is not None]
        if not ends:
            return
        x_range = next_x_range(self._x_range, max(ends), self._live)
        if x_range is not None:
            self._x_range = x_range
            self.loss_plot.getViewBox().setXRange(*x_range, padding=0)
        for plot in self._plots:
            if bounds[id(plot)] is None:
                continue
            _, y_lo, y_hi = bounds[id(plot)]
            y_range = next_y_range(self._ranges.get(id(plot)), y_lo, y_hi)
            if y_range is not None:
                self._ranges[id(plot)] = y_range
                plot.getViewBox().setYRange(*y_range, padding=0)

    def shutdown(self) -> None:
        """Stop the redraw timer (the owner calls this before it goes away)."""
        self._timer.stop()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._dirty:
            self._timer.start()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._timer.stop()  # nothing to see: points keep buffering, one redraw on show
        super().hideEvent(event)

    # ------------------------------------------------------------------ controls
    @Slot(int)
    def _on_x_axis_changed(self, _index: int) -> None:
        for cursor in self._cursors:
            cursor.setVisible(False)  # its position was in the other unit
        self._start_following()
        self.flush()

    @Slot(int)
    def _on_smoothing_changed(self, value: int) -> None:
        self._smoothing_label.setText(f"{value / 100:.2f}")
        self._run.resmooth(self.smoothing())
        for other, _curves in self._overlays:
            other.resmooth(self.smoothing())
        self._mark_dirty()

    # ------------------------------------------------------------------ hover readout
    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if obj is self._canvas and event.type() == QEvent.Type.Leave:
            for cursor in self._cursors:
                cursor.setVisible(False)
        return super().eventFilter(obj, event)

    @Slot(object)
    def _on_mouse_moved(self, pos) -> None:
        for plot in self._plots:
            if plot.sceneBoundingRect().contains(pos):
                self.show_readout_at(plot.vb.mapSceneToView(pos).x())
                return

    def show_readout_at(self, x: float) -> None:
        """Put the cursor line at `x` and write the nearest training and validation values."""
        for cursor in self._cursors:
            cursor.setPos(x)
            cursor.setVisible(True)
        x_name = "epoch" if self.x_is_epochs() else "step"
        self.readout.setText(readout_text(self._run, x_name, x))
