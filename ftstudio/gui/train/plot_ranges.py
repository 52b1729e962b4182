"""Where the live plots' axes go: ranges that follow the data but move only now and then.

The plots keep their own ranges rather than pyqtgraph's auto-range, which moved every axis at
every redraw (new step, new range, all six axes re-laid out): a redraw cost ~29 ms on an idle
core that way and ~9 ms with ranges that move only now and then. Pure functions of numbers, so
the rules are tested without a window.

A range never reaches far past what its numbers can be: accuracy and F1 stop just above 1, a
correlation between -1 and 1, a loss or an error just below 0, whatever room a moving curve is
given ahead. Errors themselves have no upper bound (RMSE in the data's units), so they get a
plot of their own, apart from the scores (see task_metrics.py).
"""

from __future__ import annotations

import math

from ftstudio.engine.tasks.base import LOWER_IS_BETTER

X_GROWTH = 1.5  # the x range grows by this factor when a point passes its end
Y_LEAD = 0.25  # share of the data's span added ahead of a curve that left its y range
MIN_FILL = 0.5  # a y range is refitted when the data fill less than this share of it
PADDING = 0.06  # share of the data's span left free around it

Limits = tuple[float | None, float | None]
UNBOUNDED: Limits = (None, None)
# What a metric's values can be; a metric not named here is a score in [0, 1] unless it is an
# error (see limits_of).
_LIMITS: dict[str, Limits] = {
    "learning_rate": (0.0, None),
    "pearson": (-1.0, 1.0),
    "spearman": (-1.0, 1.0),
    "r2": (None, 1.0),  # worse than predicting the mean is below 0, without end
}


def limits_of(metrics) -> Limits:
    """The widest limits of `metrics` plotted together: a loss or an error is >= 0, a score in
    [0, 1] unless listed in _LIMITS; None on a side where one of them is unbounded."""
    los, his = [], []
    for name in metrics:
        lo, hi = (0.0, None) if name in LOWER_IS_BETTER else _LIMITS.get(name, (0.0, 1.0))
        los.append(lo)
        his.append(hi)
    if not los:
        return UNBOUNDED
    return (None if None in los else min(los)), (None if None in his else max(his))


def log10_bounds(y_lo: float, y_hi: float) -> tuple[float, float]:
    """Data bounds on a log axis, in its units (log10); values at or below 0 have no place there,
    so the bounds start at the smallest positive one pyqtgraph can draw (1e-300)."""
    return math.log10(max(y_lo, 1e-300)), math.log10(max(y_hi, 1e-300))


def next_x_range(current: tuple[float, float] | None, x_end: float, live: bool,
                 x_start: float = math.inf) -> tuple[float, float] | None:
    """The new x range (from 0) for data reaching `x_end`, or None to keep `current`.

    Live, the range grows ahead of the data by X_GROWTH when a point passes its end; a finished
    run (not live) is shown whole, with just the padding after its last point. Data starting at
    0 (`x_start`: pre-training's evaluation before the first step) get a little room before it,
    so that point is drawn whole rather than cut in half by the axis.
    """
    before = x_start <= 0.0
    if (current is not None and (current[0] < 0.0) == before and x_end <= current[1]
            and (live or x_end >= current[1] / X_GROWTH)):
        return None
    end = max(x_end * (X_GROWTH if live else 1.0 + PADDING), 1e-9)
    return (-end * PADDING / 2 if before else 0.0, end)


def next_y_range(old: tuple[float, float] | None, y_lo: float, y_hi: float,
                 limits: Limits = UNBOUNDED) -> tuple[float, float] | None:
    """The new y range for data spanning [y_lo, y_hi], or None to keep `old` (the data are inside
    it and fill at least MIN_FILL of it). A curve on its way out gets Y_LEAD of room ahead, but
    not past what the values can be (`limits`, padding aside)."""
    span = y_hi - y_lo
    if old is not None and old[0] <= y_lo and y_hi <= old[1] and span >= MIN_FILL * (old[1] - old[0]):
        return None
    pad = PADDING * span if span > 0 else max(abs(y_hi) * PADDING, 1e-12)
    lo, hi = y_lo - pad, y_hi + pad
    if old is not None:
        lo -= Y_LEAD * span if y_lo < old[0] else 0.0
        hi += Y_LEAD * span if y_hi > old[1] else 0.0
    bottom, top = limits
    if bottom is not None:
        lo = max(lo, min(bottom, y_lo) - pad)
    if top is not None:
        hi = min(hi, max(top, y_hi) + pad)
    return (lo, hi)
