"""How the training plots look: colours for light and dark themes, curves made once and styled
from the palette, plot titles that carry the key."""

from __future__ import annotations

import html
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette

from ftstudio.engine.tasks.metric_names import metric_label
from ftstudio.gui.train.task_metrics import SCORES, MetricPlot

# (light background, dark background): the same hue, a shade that reads on each.
COLORS = {
    "raw": ("#9ab8d8", "#4f6f8f"),
    "train": ("#1f5fa8", "#6fb0ff"),
    "val": ("#c0392b", "#ff7b6b"),
    "lr": ("#b9770e", "#f5b041"),
}
# The validation metrics of a plot, in order: colour, symbol and the symbol's glyph in the key.
SCORE_COLORS = (("#1e8449", "#5fd38d"), ("#8e44ad", "#c792ea"), ("#117a8b", "#4fd1e0"))
ERROR_COLORS = (("#a04000", "#f0a060"), ("#6c3483", "#bb8fce"), ("#7d6608", "#f4d03f"))
SYMBOLS = (("o", "●"), ("t", "▼"), ("s", "■"))
OVERLAY_COLORS = (("#555555", "#bbbbbb"), ("#16a085", "#48e0c0"), ("#d35400", "#ffa45c"), ("#7f8c8d", "#95a5a6"))
# An overlaid run's metrics, in order: dashed, dotted, dash-dotted.
OVERLAY_STYLES = (Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine)


def make_curve(plot, key: str | None, color, width: float = 1, symbol: str | None = None, style=None):
    """A curve made once and fed by setData; `key` is its entry in the plot's title, `color` a
    COLORS name or a (light, dark) pair."""
    curve = plot.plot([], [], symbol=symbol, symbolSize=6)
    curve._ft_style = (color, width, style, symbol)  # re-coloured by style_plots
    curve._ft_key = key
    curve._ft_plot = plot
    # Downsample long runs to the pixels available; no clipToView: it hides points outside the
    # current range, so auto-range never grows to show new ones.
    curve.setDownsampling(auto=True, method="peak")
    return curve


def metric_curves(plot, group: MetricPlot) -> dict[str, tuple[pg.PlotDataItem, str, str]]:
    """The curves of one validation plot's metrics, by name, as (curve, "evals", metric) feeds:
    each in its colour with its symbol, its key the symbol and the metric's name for people. A
    metric with a training curve (perplexity) gets it too, as ("train_<metric>", "steps",
    metric), coloured as the loss plot's training and validation curves."""
    colors = SCORE_COLORS if group.kind == SCORES else ERROR_COLORS
    feeds = {}
    for i, metric in enumerate(group.metrics):
        symbol, glyph = SYMBOLS[i % len(SYMBOLS)]
        if metric in group.training:
            # Headed with the metric's name, the plot reads as the loss plot does: train, validation.
            train = make_curve(plot, "━ train", "train", width=2)
            feeds[f"train_{metric}"] = (train, "steps", metric)
            feeds[metric] = (make_curve(plot, "● validation", "val", width=2, symbol="o"), "evals", metric)
            continue
        curve = make_curve(plot, f"{glyph} {metric_label(metric)}", colors[i % len(colors)], width=2, symbol=symbol)
        feeds[metric] = (curve, "evals", metric)
    return feeds


def overlay_curves(color, loss_plot, metric_plots, lr_plot) -> list[tuple[pg.PlotDataItem, str, str]]:
    """An overlaid run's (curve, table, column) feeds, all in its colour: training loss dashed
    and validation loss dotted; in each (plot, MetricPlot) of `metric_plots` its metrics dashed,
    dotted, dash-dotted in their order; the learning rate dashed. Their key is one line above
    the plots (`overlay_legend`), not in the titles: a run's name would not fit there."""
    dash, dot = OVERLAY_STYLES[0], OVERLAY_STYLES[1]
    feeds = [(make_curve(loss_plot, None, color, 2, None, dash), "steps", "smooth"),
             (make_curve(loss_plot, None, color, 1, None, dot), "evals", "loss")]
    for plot, group in metric_plots:
        for i, metric in enumerate(group.metrics):
            style = OVERLAY_STYLES[i % len(OVERLAY_STYLES)]
            feeds.append((make_curve(plot, None, color, 1 if i else 2, None, style), "evals", metric))
    feeds.append((make_curve(lr_plot, None, color, 1, None, dash), "steps", "learning_rate"))
    return feeds


def overlay_legend(overlays, palette: QPalette) -> str:
    """The key of the overlaid runs, (name, colour) pairs, as rich text: each name in its colour."""
    shade = 1 if is_dark(palette) else 0
    names = [f'<span style="color:{color[shade]}">╌ {html.escape(name)}</span>' for name, color in overlays]
    return "Compared with " + "&nbsp;&nbsp; ".join(names)


OVERLAY_TIP = ("Other runs' curves: training loss, the first metric and the learning rate dashed; validation "
               "loss and the second metric dotted; the third metric dash-dotted.")


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


def style_plots(canvas, plots, titles: dict[int, Any], headings: dict[int, str], curves, cursors,
                palette: QPalette) -> None:
    """Background, axes, cursors and curve shades from the palette, so light and dark themes both
    read; each plot's title is its heading followed by its curves' keys in their colours (an
    in-plot legend always ends up covering some run's points)."""
    background = palette.color(QPalette.ColorRole.Base)
    foreground = palette.color(QPalette.ColorRole.Text)
    pg.setConfigOptions(background=background, foreground=foreground)
    canvas.setBackground(background)
    shade = 1 if is_dark(palette) else 0
    keys: dict[int, list[str]] = {id(plot): [] for plot in plots}
    for plot in plots:
        for side in ("left", "bottom"):
            plot.getAxis(side).setPen(foreground)
            plot.getAxis(side).setTextPen(foreground)
    for cursor in cursors:
        cursor.setPen(pg.mkPen(foreground, width=1, style=Qt.PenStyle.DotLine))
    for curve in curves:
        color, width, style, symbol = curve._ft_style
        hex_color = COLORS[color][shade] if color in COLORS else color[shade]
        pen = pg.mkPen(hex_color, width=width, style=style or Qt.PenStyle.SolidLine)
        curve.setPen(pen)
        if symbol:
            curve.setSymbolPen(pen)
            curve.setSymbolBrush(pg.mkBrush(hex_color))
        if curve._ft_key and id(curve._ft_plot) in keys:
            keys[id(curve._ft_plot)].append(f'<span style="color:{hex_color}">{html.escape(curve._ft_key)}</span>')
    for plot in plots:
        heading = f'<span style="color:{foreground.name()}"><b>{headings[id(plot)]}</b></span>'
        titles[id(plot)].setText("&nbsp;&nbsp;".join([heading, *keys[id(plot)]]), size="10pt")


def release_menus(plots) -> None:
    """Free pyqtgraph's context menus of `plots` now, on this (main) thread.

    pyqtgraph's menus are parentless Python-owned QMenus inside reference cycles: left to the
    cycle collector they can be freed while a worker thread runs the collection, which shiboken
    then defers to the main thread, and that deferred delete has deadlocked the GUI tests against
    pooled threads. Deleting them here makes their end deterministic.
    """
    import shiboken6

    for plot in plots:
        menus = (plot.vb.menu, plot.ctrlMenu)
        plot.setMenuEnabled(False)  # pyqtgraph forgets the view box menu; right-click is a no-op
        plot.ctrlMenu = None  # PlotItem.close() treats None as "already shut down"
        for menu in menus:
            if menu is not None and shiboken6.isValid(menu):
                shiboken6.delete(menu)
