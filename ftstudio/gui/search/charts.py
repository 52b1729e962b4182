"""The study as pictures: the value of each trial with the best so far, one searched setting
against the value, and the settings' importance.

Each chart is a `ChartBox` (a title line over a plot made on first use, as Setup's charts),
fed the engine's `TrialRow`s; items are made once and fed by setData. Points are coloured by
the trial's state, hovering one names its trial, and a click selects it (sig_trial_clicked).
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from ftstudio.engine.search.results import MIN_TRIALS_FOR_IMPORTANCE, TrialRow, best_so_far, format_param
from ftstudio.engine.tasks.metric_names import metric_label
from ftstudio.gui.setup.data_views import ChartBox
from ftstudio.gui.setup.setting_labels import FORM_LABELS
from ftstudio.gui.style import colors, is_dark
from ftstudio.gui.train.plot_style import release_menus

# (light, dark) shades of each state's points; "best" is the best-so-far line.
STATE_COLORS = {
    "complete": ("#2f6fc6", "#58a6ff"),
    "pruned": ("#c98a12", "#f5b041"),
    "failed": ("#c62828", "#ff7b72"),
    "best": ("#2e7d32", "#7ee787"),
}
STATE_SYMBOLS = {"complete": "o", "pruned": "t", "failed": "x"}
KEY_GLYPHS = {"complete": "●", "pruned": "▼", "failed": "✕", "best": "━"}


def state_color(state: str) -> str:
    return STATE_COLORS[state][1 if is_dark() else 0]


def setting_label(name: str) -> str:
    return FORM_LABELS.get(name, name)


def _key(states: list[str]) -> str:
    """The coloured key of a chart's marks, for its title."""
    words = {"complete": "complete", "pruned": "pruned", "failed": "failed (no value)", "best": "best so far"}
    return "&nbsp;&nbsp;".join(f'<span style="color:{state_color(s)}">{KEY_GLYPHS[s]} {words[s]}</span>'
                               for s in states)


class _TrialChart(ChartBox):
    """A chart whose points are trials: hover names one, a click emits its number.

    Signals: sig_trial_clicked(int): a trial's point was clicked."""

    sig_trial_clicked = Signal(int)

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self._points: Any = None
        self.show_placeholder("No trials yet.")

    def _ensure_points(self) -> Any:
        plot = self.ensure_plot()
        if self._points is None:
            self._points = pg.ScatterPlotItem(hoverable=True, tip=self._tip, size=9)
            self._points.sigClicked.connect(self._on_clicked)
            plot.addItem(self._points)
            plot.showGrid(x=True, y=True, alpha=0.15)
            for side in ("left", "bottom"):
                plot.getAxis(side).enableAutoSIPrefix(False)  # 0.83, not 830 (x0.001)
        return plot

    def _tip(self, x: float, y: float, data: Any) -> str:
        return str(data[1]) if isinstance(data, tuple) else ""

    def _on_clicked(self, _item: Any, points: Any, *_args: Any) -> None:
        if len(points):
            data = points[0].data()
            if isinstance(data, tuple):
                self.sig_trial_clicked.emit(int(data[0]))

    def _spot(self, row: TrialRow, x: float, y: float, metric: str, best: int | None) -> dict[str, Any]:
        color = state_color(row.state)
        shown = f"{y:.4f}" if row.value is not None else "no value"
        tip = f"trial {row.number} ({row.state}): {metric_label(metric)} {shown}"
        if row.message:
            tip += f"\n{row.message}"
        big = row.number == best
        return {"pos": (x, y), "brush": pg.mkBrush(color), "symbol": STATE_SYMBOLS.get(row.state, "o"),
                "pen": pg.mkPen(state_color("best"), width=2.5) if big else pg.mkPen(color),
                "size": 13 if big else 9, "data": (row.number, tip)}

    def shutdown(self) -> None:
        if self.plot is not None:
            release_menus([self.plot.getPlotItem()])


class ValueByTrialChart(_TrialChart):
    """Each trial's value against its number, and a step line of the best value so far."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Value by trial", parent)
        self._line: Any = None

    def show_rows(self, rows: list[TrialRow], metric: str, direction: str, best: int | None) -> None:
        valued = [row for row in rows if row.value is not None]
        if not valued:
            self.title.setText("Value by trial")
            self.show_placeholder("No trial has a value yet." if rows else "No trials yet.")
            return
        plot = self._ensure_points()
        if self._line is None:
            self._line = pg.PlotDataItem([], [])
            plot.addItem(self._line)
        values = [row.value for row in valued]
        worst = min(values) if direction == "maximize" else max(values)
        spots = [self._spot(row, row.number, row.value if row.value is not None else worst, metric, best)
                 for row in rows if row.value is not None or row.state == "failed"]
        self._points.setData(spots=spots)
        xs, ys = _steps(rows, best_so_far(rows, direction))
        self._line.setData(xs, ys, pen=pg.mkPen(state_color("best"), width=2))
        states = [s for s in ("complete", "pruned", "failed") if any(row.state == s for row in rows)]
        self.title.setText(f"<b>{html.escape(metric_label(metric))} by trial</b>&nbsp;&nbsp;"
                           + _key([*states, "best"]))
        arrow = "higher" if direction == "maximize" else "lower"
        self.title.setToolTip(f"Each trial's validation {metric_label(metric)} ({arrow} is better), and the best "
                              "complete trial so far. A pruned trial shows its last value; a failed one has none "
                              "and is drawn at the bottom.")
        plot.setLabel("bottom", "trial")
        plot.setLabel("left", metric_label(metric))
        plot.getAxis("bottom").setTickSpacing(major=max(1, _tick_step(len(rows))), minor=1)
        _fit_y(plot, values)
        plot.enableAutoRange(axis="x")


class ParamScatterChart(_TrialChart):
    """The value against one searched setting (a combo chooses it): a log axis for a log range,
    a position per value for a list of values."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Value by setting", parent)
        self.param = QComboBox()
        self.param.setObjectName("scatterParam")
        self.param.setToolTip("The searched setting on the x axis")
        self.param.currentIndexChanged.connect(lambda _i: self._redraw())
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("Setting"))
        bar.addWidget(self.param, 1)
        self.layout().insertLayout(1, bar)
        self._state: tuple[list[TrialRow], dict[str, Any], str, int | None] = ([], {}, "", None)

    def show_rows(self, rows: list[TrialRow], space: dict[str, Any], metric: str, best: int | None) -> None:
        names = list(space)
        if names != [self.param.itemData(i) for i in range(self.param.count())]:
            current = self.param.currentData()
            self.param.blockSignals(True)
            self.param.clear()
            for name in names:
                self.param.addItem(setting_label(name), name)
            index = self.param.findData(current)
            self.param.setCurrentIndex(index if index >= 0 else 0)
            self.param.blockSignals(False)
        self._state = (rows, space, metric, best)
        self._redraw()

    def _redraw(self) -> None:
        rows, space, metric, best = self._state
        name = self.param.currentData()
        valued = [row for row in rows if row.value is not None and name in row.params]
        if name is None or not valued:
            self.title.setText("Value by setting")
            self.show_placeholder("No trial has a value yet." if rows else "No trials yet.")
            return
        plot = self._ensure_points()
        entry = space.get(name)
        axis = plot.getAxis("bottom")
        if isinstance(entry, list):  # values listed: one position each, labelled
            labels = [format_param(value) for value in entry]
            spots = [self._spot(row, _position(labels, row.params[name], row.number), row.value, metric, best) for row in valued]
            axis.setTicks([list(enumerate(labels))])
            plot.setLogMode(x=False, y=False)
            # Every position in view with room for its label (one past the edge is not drawn).
            plot.setXRange(-0.5, len(labels) - 0.5, padding=0)
        else:
            log = bool(isinstance(entry, dict) and entry.get("log"))
            plot.setLogMode(x=log, y=False)
            axis.setTicks(None)
            if isinstance(entry, dict):  # the whole range searched: where the trials fell in it
                low, high = _x(entry["low"], log), _x(entry["high"], log)
                plot.setXRange(low, high, padding=0.05)
                if log:  # pyqtgraph labels every 2..9 of a decade: a few round values read better
                    axis.setTicks([_log_ticks(float(entry["low"]), float(entry["high"])), []])
            else:
                plot.enableAutoRange(axis="x")
            # In log mode pyqtgraph takes log10 of the data itself, but not of spots' positions.
            spots = [self._spot(row, _x(row.params[name], log), row.value, metric, best) for row in valued]
        self._points.setData(spots=spots)
        self.title.setText(f"<b>{html.escape(metric_label(metric))} by {html.escape(setting_label(name))}</b>"
                           f"&nbsp;&nbsp;{_key([s for s in ('complete', 'pruned') if any(r.state == s for r in valued)])}")
        plot.setLabel("bottom", setting_label(name))
        plot.setLabel("left", metric_label(metric))
        _fit_y(plot, [row.value for row in valued])


class ImportanceChart(ChartBox):
    """How much of the value's variation each searched setting explains (fANOVA), as bars."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Importance", parent)
        self._bars: Any = None
        self.show_placeholder(f"Importance appears after {MIN_TRIALS_FOR_IMPORTANCE} complete trials.")

    def show_importances(self, importances: dict[str, float], complete: int) -> None:
        if not importances:
            self.title.setText("Importance")
            if complete < MIN_TRIALS_FOR_IMPORTANCE:
                self.show_placeholder(f"Importance appears after {MIN_TRIALS_FOR_IMPORTANCE} complete trials "
                                      f"({complete} so far).")
            else:
                self.show_placeholder("No importance to show: the searched settings or the values did not vary "
                                      "enough between the complete trials.")
            return
        plot = self.ensure_plot()
        ordered = sorted(importances.items(), key=lambda item: -item[1])
        if self._bars is not None:
            plot.removeItem(self._bars)
        ys = list(range(len(ordered) - 1, -1, -1))  # the most important on top
        self._bars = pg.BarGraphItem(x0=0, y=ys, height=0.6, width=[100 * v for _n, v in ordered], pen=None,
                                     brush=colors()["bar"])
        plot.addItem(self._bars)
        left = plot.getAxis("left")
        left.setTicks([[(y, setting_label(name)) for y, (name, _v) in zip(ys, ordered)]])
        left.setStyle(autoExpandTextSpace=True)
        plot.setYRange(-0.6, len(ordered) - 0.4, padding=0)
        plot.setXRange(0, max(1e-9, ordered[0][1]) * 108, padding=0)
        plot.getAxis("bottom").enableAutoSIPrefix(False)
        plot.setLabel("bottom", "% of the value's variation")
        top = ordered[0]
        self.title.setText(f"<b>Importance</b>: {html.escape(setting_label(top[0]))} explains {top[1]:.0%}")
        self.setToolTip("\n".join(f"{setting_label(n)}: {v:.1%}" for n, v in ordered))

    def shutdown(self) -> None:
        if self.plot is not None:
            release_menus([self.plot.getPlotItem()])


def _steps(rows: list[TrialRow], best: list[float | None]) -> tuple[list[float], list[float]]:
    """The best-so-far values as a step line: flat from each trial to the next."""
    xs: list[float] = []
    ys: list[float] = []
    for index, (row, value) in enumerate(zip(rows, best)):
        if value is None:
            continue
        end = rows[index + 1].number if index + 1 < len(rows) else row.number
        xs += [row.number, end]
        ys += [value, value]
    return xs, ys


def _position(labels: list[str], value: Any, number: int) -> float:
    """A listed value's position, spread a little by trial so equal values do not hide each other."""
    text = format_param(value)
    index = labels.index(text) if text in labels else len(labels)
    return index + ((number * 0.618034) % 1.0 - 0.5) * 0.3


def _x(value: Any, log: bool) -> float:
    number = float(value)
    return math.log10(number) if log and number > 0 else number


def _log_ticks(low: float, high: float) -> list[tuple[float, str]]:
    """Round values between `low` and `high` (1, 2, 5 of each decade, or only the 1s when the
    range spans many decades), at their log10 positions."""
    from ftstudio.engine.settings import format_number

    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    steps = (1,) if last - first > 4 else (1, 3) if last - first >= 2 else (1, 2, 5)
    values = [m * 10.0 ** d for d in range(first, last + 1) for m in steps]

    def label(value: float) -> str:  # 2e-4, not 0.0002: labels of a learning-rate axis stay short
        return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{value:.0e}") if value < 1e-3 else format_number(value)

    return [(math.log10(v), label(v)) for v in values if low * 0.999 <= v <= high * 1.001]


def _fit_y(plot: Any, values: list[float]) -> None:
    """The values' range with a margin; equal values get a band around them, not a blown-up axis."""
    low, high = min(values), max(values)
    margin = (high - low) * 0.1 if high > low else max(abs(high) * 0.05, 0.01)
    plot.setYRange(low - margin, high + margin, padding=0)


def _tick_step(count: int) -> int:
    return max(1, count // 10)
