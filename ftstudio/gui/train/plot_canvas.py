"""The training plots' canvas: the loss, validation (scores), validation error and learning-rate
plots, made once with their titles and cursors; the run's task decides which are laid out."""

from __future__ import annotations

import time

import pyqtgraph as pg
from PySide6.QtCore import QSizeF, Qt

from ftstudio.gui.train.plot_ranges import PADDING
from ftstudio.gui.train.task_metrics import ERRORS, HEADINGS, SCORES


class TimedCanvas(pg.GraphicsLayoutWidget):
    """pyqtgraph's canvas, remembering how long its last paint took (for the redraw budget)."""

    last_paint_ms = 0.0

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        started = time.perf_counter()
        super().paintEvent(event)
        self.last_paint_ms = (time.perf_counter() - started) * 1000.0


class PlotTitle(pg.LabelItem):
    """A plot's title, in the canvas row above its plot: its heading and its curves' keys. It asks
    for its height only. pyqtgraph sizes a title to its text, so a long key (three metrics)
    widened its plot at the others' expense and, in a narrow window, pushed the last plot out of
    view; this one is centred when it fits and otherwise starts at the left and is cut at the
    right."""

    def __init__(self) -> None:
        super().__init__("")
        self.setFlag(self.GraphicsItemFlag.ItemClipsChildrenToShape)

    def updateMin(self) -> None:  # noqa: N802 - pyqtgraph's name
        super().updateMin()
        self.setMinimumWidth(0)

    def sizeHint(self, which, constraint=None):  # noqa: N802 - Qt override
        size = super().sizeHint(which, constraint)
        if which in (Qt.SizeHint.MinimumSize, Qt.SizeHint.PreferredSize):
            return QSizeF(0.0, size.height())
        return size

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.opts["justify"] = "center" if self.itemRect().width() <= self.rect().width() else "left"
        super().resizeEvent(event)


class PlotCanvas(TimedCanvas):
    """Four plots with linked x axes, each with a title above it and a hover cursor; `arrange`
    lays out those a task needs, side by side. `shown` are the plots laid out, left to right."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumHeight(220)
        self.loss_plot, self.metric_plot, self.error_plot, self.lr_plot = (pg.PlotItem() for _ in range(4))
        self.kind_plots = {SCORES: self.metric_plot, ERRORS: self.error_plot}
        self.all_plots = (self.loss_plot, self.metric_plot, self.error_plot, self.lr_plot)
        self.headings = {id(self.loss_plot): "Loss", id(self.metric_plot): HEADINGS[SCORES],
                         id(self.error_plot): HEADINGS[ERRORS], id(self.lr_plot): "Learning rate"}
        # Titles above the plots, not pyqtgraph's own: see PlotTitle.
        self.titles = {id(plot): PlotTitle() for plot in self.all_plots}
        self.shown: tuple[pg.PlotItem, ...] = ()
        self.cursors = []
        for plot in self.all_plots:
            plot.showGrid(x=True, y=True, alpha=0.2)
            for side in ("left", "bottom"):
                # Grid lines at labelled ticks only: the minor levels tripled the paint time.
                plot.getAxis(side).setStyle(maxTickLevel=0)
            plot.getViewBox().setDefaultPadding(PADDING)  # points at the extremes stay whole
            plot.getAxis("left").setWidth(64)  # equal plot areas, whatever the tick labels' widths
            if plot is not self.loss_plot:
                plot.setXLink(self.loss_plot)  # zoom and pan all together
            cursor = pg.InfiniteLine(angle=90, movable=False)
            cursor.setVisible(False)
            plot.addItem(cursor, ignoreBounds=True)
            self.cursors.append(cursor)
            plot.disableAutoRange()

    def arrange(self, plots: tuple[pg.PlotItem, ...]) -> bool:
        """Put `plots` side by side with their titles above; False when they are shown already."""
        if plots == self.shown:
            return False
        grid = self.ci
        for plot in self.shown:
            grid.removeItem(self.titles[id(plot)])
            grid.removeItem(plot)
        for column, plot in enumerate(plots):
            grid.addItem(plot, row=1, col=column)
            # The learning rate, read least, gives the others some room: 2 shares against 3.
            grid.layout.setColumnStretchFactor(column, 2 if plot is self.lr_plot else 3)
        # The titles after the plots: each addItem fits the canvas to the layout as it is then,
        # and a row of titles alone would squash it to their height.
        for column, plot in enumerate(plots):
            grid.addItem(self.titles[id(plot)], row=0, col=column)
        grid.layout.setRowStretchFactor(0, 0)  # the titles keep their height, the plots take the rest
        grid.layout.setRowStretchFactor(1, 1)
        self.shown = plots
        return True
