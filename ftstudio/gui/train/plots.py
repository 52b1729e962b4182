"""Live training curves: loss (raw, smoothed, validation), the task's validation metrics,
learning rate.

Points arrive as event dicts (live from the worker, or a past run's metrics.jsonl records) and are
appended to numpy buffers that grow by doubling; a single-shot timer redraws at most ~20 times a
second, only while something changed and the widget is visible, by calling setData on curves made
once. The paint that follows is Qt's own, later, of the changed regions only: the event loop gets a
turn between the two halves. Past runs can be overlaid as dashed curves to compare.

The validation plots follow the run's task (its info record, or the task its evaluations name):
the task's headline metrics, scores (accuracy, F1, correlations) in one plot and errors (RMSE, in
the data's units) in another, so each axis fits its numbers. Their curves are made again only
when the task changes, i.e. between runs. Pre-training's perplexity plot has a training curve
(exp of the smoothed training loss) besides the validation points, the step-0 evaluation (the
"before" perplexity) among them, on a log axis: a fresh head starts in the thousands.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Slot
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ftstudio.gui.train.plot_canvas import PlotCanvas
from ftstudio.gui.train.plot_controls import PlotControls
from ftstudio.gui.train.plot_data import RunCurves, data_bounds, readout_text
from ftstudio.gui.train.plot_ranges import limits_of, log10_bounds, next_x_range, next_y_range
from ftstudio.gui.train.plot_style import (
    OVERLAY_COLORS,
    OVERLAY_TIP,
    make_curve,
    metric_curves,
    overlay_curves,
    overlay_legend,
    release_menus,
    style_plots,
)
from ftstudio.gui.train.task_metrics import DEFAULT_TASK, MetricPlot, metric_plots

REDRAW_MS = 50  # at most ~20 redraws per second, however fast events come
DRAW_BUDGET = 0.2  # and at most this share of the GUI thread: slow redraws space themselves out
MAX_REDRAW_MS = 2000
FIXED_CURVES = ("raw", "smooth", "val_loss", "lr")


class _Overlay:
    """Another run drawn over this one: its buffers, name, colour and (curve, table, column) feeds."""

    def __init__(self, run: RunCurves, name: str, color) -> None:
        self.run, self.name, self.color = run, name, color
        self.feeds: list[tuple[pg.PlotDataItem, str, str]] = []


class TrainingPlots(QWidget):
    """Linked plots of a run's metrics (loss, the task's validation metrics in one or two plots,
    learning rate), an x-axis toggle (steps/epochs), a smoothing slider and a readout of the
    values under the cursor. Emits no signals."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._run = RunCurves()
        self._overlays: list[_Overlay] = []
        self._layout: tuple[MetricPlot, ...] = ()
        self._log_plots: set[int] = set()  # ids of the plots with a log y axis (perplexity)
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
        self._show_task(DEFAULT_TASK, ())

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self._controls = PlotControls()
        self._x_axis, self._smoothing = self._controls.x_axis, self._controls.smoothing
        self.readout = self._controls.readout
        self._x_axis.currentIndexChanged.connect(self._on_x_axis_changed)
        self._smoothing.valueChanged.connect(self._on_smoothing_changed)

        self._canvas = PlotCanvas()
        c = self._canvas
        self.loss_plot, self.metric_plot, self.error_plot, self.lr_plot = c.all_plots
        self._all_plots, self._kind_plots, self._cursors = c.all_plots, c.kind_plots, c.cursors
        for plot in self._all_plots:
            plot.getViewBox().sigRangeChangedManually.connect(self._on_range_changed_by_user)
        self._limits = {id(self.loss_plot): limits_of(["loss"]), id(self.lr_plot): limits_of(["learning_rate"])}
        # name -> (curve, buffer table, column); the validation metrics' are added by _show_task.
        self._feeds: dict[str, tuple[pg.PlotDataItem, str, str]] = {
            "raw": (make_curve(self.loss_plot, "─ train", "raw"), "steps", "loss"),
            "smooth": (make_curve(self.loss_plot, "━ smoothed", "train", width=2), "steps", "smooth"),
            "val_loss": (make_curve(self.loss_plot, "● validation", "val", width=2, symbol="o"), "evals", "loss"),
            "lr": (make_curve(self.lr_plot, None, "lr", width=2), "steps", "learning_rate"),
        }
        self._canvas.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._canvas.installEventFilter(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._controls)
        self.compared = QLabel()  # the overlaid runs' key
        self.compared.setTextFormat(Qt.TextFormat.RichText)
        self.compared.setWordWrap(True)
        self.compared.setToolTip(OVERLAY_TIP)
        layout.addWidget(self.compared)
        layout.addWidget(self._canvas, 1)

    def _show_task(self, task: str, metrics: Iterable[str]) -> None:
        """Lay the validation plots out for `task` (nothing to do when its plots are shown already)."""
        layout = metric_plots(task, metrics)
        if layout == self._layout:
            return
        self._layout = layout
        for name in [n for n in self._feeds if n not in FIXED_CURVES]:
            curve = self._feeds.pop(name)[0]
            curve._ft_plot.removeItem(curve)
        self._log_plots = {id(self._kind_plots[g.kind]) for g in layout if g.log}
        for group in layout:
            plot = self._kind_plots[group.kind]
            # A log axis ranges over log10 of the values: perplexity is at least 1, i.e. 0 there.
            self._limits[id(plot)] = (0.0, None) if group.log else limits_of(group.metrics)
            self._canvas.headings[id(plot)] = group.heading
            self._feeds.update(metric_curves(plot, group))
        for plot in self._kind_plots.values():
            plot.setLogMode(x=False, y=id(plot) in self._log_plots)
        if self._canvas.arrange((self.loss_plot, *(self._kind_plots[g.kind] for g in layout), self.lr_plot)):
            self._x_label = ""  # the plots laid out again get their axis label at the next flush
        for overlay in self._overlays:
            self._remove_curves(overlay)
            self._feed_overlay(overlay)
        self._apply_theme()
        self._start_following()

    def _apply_theme(self) -> None:
        c = self._canvas
        style_plots(c, c.shown, c.titles, c.headings, self._all_curves(), self._cursors, self.palette())
        overlays = [(o.name, o.color) for o in self._overlays]
        self.compared.setText(overlay_legend(overlays, self.palette()) if overlays else "")
        self.compared.setVisible(bool(overlays))

    @property
    def _plots(self) -> tuple[pg.PlotItem, ...]:
        """The plots laid out now, left to right."""
        return self._canvas.shown

    def _all_curves(self):
        for curve, _table, _column in self._feeds.values():
            yield curve
        for overlay in self._overlays:
            for curve, _table, _column in overlay.feeds:
                yield curve

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
        if self._run.task_known:
            self._show_task(self._run.task, self._run.metrics)
        self._mark_dirty()

    @Slot(object)
    def add_info(self, info: dict) -> None:
        """The run's info event: lay the validation plots out for its task."""
        self._run.add_info(info)
        self._show_task(self._run.task, self._run.metrics)

    def load_records(self, records: list[dict]) -> None:
        """Show a past run from its metrics.jsonl records (replacing the current points)."""
        self._live = False
        self._run = RunCurves()
        self._run.load(records, self.smoothing())
        self._show_task(self._run.task, self._run.metrics)  # no task in the records: single-label
        self._start_following()

    def append_records(self, records: list[dict]) -> None:
        """More records of the run `load_records` showed (lines a live run has appended since):
        added to its curves, keeping the view the user may have zoomed to."""
        self._run.load(records, self.smoothing())
        if self._run.task_known:
            self._show_task(self._run.task, self._run.metrics)
        self._mark_dirty()

    def add_overlay(self, records: list[dict], name: str) -> None:
        """Draw another run's curves dashed, in their own colour, to compare with this one (a run
        of the same task: another task's metrics have no curves here)."""
        run = RunCurves()
        run.load(records, self.smoothing())
        overlay = _Overlay(run, name, OVERLAY_COLORS[len(self._overlays) % len(OVERLAY_COLORS)])
        self._feed_overlay(overlay)
        self._overlays.append(overlay)
        self._apply_theme()
        self._mark_dirty()

    def _feed_overlay(self, overlay: _Overlay) -> None:
        plots = [(self._kind_plots[group.kind], group) for group in self._layout]
        overlay.feeds = overlay_curves(overlay.color, self.loss_plot, plots, self.lr_plot)

    @staticmethod
    def _remove_curves(overlay: _Overlay) -> None:
        for curve, _table, _column in overlay.feeds:
            curve._ft_plot.removeItem(curve)
        overlay.feeds = []

    def clear_overlays(self) -> None:
        for overlay in self._overlays:
            self._remove_curves(overlay)
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

    def task(self) -> str:
        """The task whose validation metrics are plotted."""
        return self._run.task

    def is_log(self, plot: pg.PlotItem) -> bool:
        """Whether `plot` has a log y axis (the perplexity plot)."""
        return id(plot) in self._log_plots

    def metric_layout(self) -> list[tuple[str, tuple[str, ...]]]:
        """The validation plots laid out, left to right: (heading, metric names)."""
        return [(g.heading, g.metrics) for g in self._layout]

    def curve_key(self, name: str) -> str | None:
        """A live curve's entry in its plot's title ('● accuracy', '● RMSE'); None for the LR."""
        return self._feeds[name][0]._ft_key

    def plot_of(self, name: str) -> pg.PlotItem:
        """The plot a live curve is drawn in."""
        return self._feeds[name][0]._ft_plot

    def curve_names(self) -> list[str]:
        """The live curves: raw, smooth, val_loss, lr, the task's headline metrics and the training
        curves of those that have one (train_perplexity)."""
        return list(self._feeds)

    def curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The data a live curve was last given (raw, smooth, val_loss, lr, or a metric's name such
        as accuracy, f1, micro_f1, rmse); what is painted may be downsampled."""
        x, y = self._feeds[name][0].getOriginalDataset()
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
        for run, feeds in ((self._run, self._feeds.values()), *((o.run, o.feeds) for o in self._overlays)):
            xs = {"steps": run.steps.column(x_name), "evals": run.evals.column(x_name)}
            for curve, table, column in feeds:
                curve.setData(xs[table], run.series(table, column))
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
        for plot in self._all_plots:
            plot.disableAutoRange()  # ours instead (plot_ranges.py); pyqtgraph's "A" button turns it back on
        self._mark_dirty()

    @Slot(object)
    def _on_range_changed_by_user(self, *_args) -> None:
        self._follow = False  # the user's view stays; a new run or the x-axis switch refits

    def _follow_data(self) -> None:
        """Fit the ranges to the curves, moving them only when the data need it. The x axes are
        linked, so they share one range: the furthest point of any plot."""
        bounds = {id(plot): data_bounds(c for c in self._all_curves() if c._ft_plot is plot) for plot in self._plots}
        found = [b for b in bounds.values() if b is not None]
        if not found:
            return
        x_range = next_x_range(self._x_range, max(b[1] for b in found), self._live, min(b[0] for b in found))
        if x_range is not None:
            self._x_range = x_range
            self.loss_plot.getViewBox().setXRange(*x_range, padding=0)
        for plot in self._plots:
            if bounds[id(plot)] is None:
                continue
            _, _, y_lo, y_hi = bounds[id(plot)]
            if id(plot) in self._log_plots:  # the view box of a log axis ranges over log10 of the values
                y_lo, y_hi = log10_bounds(y_lo, y_hi)
            y_range = next_y_range(self._ranges.get(id(plot)), y_lo, y_hi, self._limits[id(plot)])
            if y_range is not None:
                self._ranges[id(plot)] = y_range
                plot.getViewBox().setYRange(*y_range, padding=0)

    def shutdown(self) -> None:
        """Stop the redraw timer (the owner calls this before it goes away)."""
        self._timer.stop()

    def release_menus(self) -> None:
        """Free pyqtgraph's context menus of every plot, laid out or not (see plot_style)."""
        release_menus(self._all_plots)

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
    def _on_smoothing_changed(self, _value: int) -> None:
        self._run.resmooth(self.smoothing())
        for overlay in self._overlays:
            overlay.run.resmooth(self.smoothing())
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
