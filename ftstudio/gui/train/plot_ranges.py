"""Where the live plots' axes go: ranges that follow the data but move only now and then.

The plots keep their own ranges rather than pyqtgraph's auto-range, which moved every axis at
every redraw (new step, new range, all six axes re-laid out): a redraw cost ~29 ms on an idle
core that way and ~9 ms with ranges that move only now and then. Pure functions of numbers, so
the rules are tested without a window.
"""

from __future__ import annotations

X_GROWTH = 1.5  # the x range grows by this factor when a point passes its end
Y_LEAD = 0.25  # share of the data's span added ahead of a curve that left its y range
MIN_FILL = 0.5  # a y range is refitted when the data fill less than this share of it
PADDING = 0.06  # share of the data's span left free around it


def next_x_range(current: tuple[float, float] | None, x_end: float, live: bool) -> tuple[float, float] | None:
    """The new x range (from 0) for data reaching `x_end`, or None to keep `current`.

    Live, the range grows ahead of the data by X_GROWTH when a point passes its end; a finished
    run (not live) is shown whole, with just the padding after its last point.
    """
    if current is not None and x_end <= current[1] and (live or x_end >= current[1] / X_GROWTH):
        return None
    return (0.0, max(x_end * (X_GROWTH if live else 1.0 + PADDING), 1e-9))


def next_y_range(old: tuple[float, float] | None, y_lo: float, y_hi: float) -> tuple[float, float] | None:
    """The new y range for data spanning [y_lo, y_hi], or None to keep `old` (the data are inside
    it and fill at least MIN_FILL of it). A curve on its way out gets Y_LEAD of room ahead."""
    span = y_hi - y_lo
    if old is not None and old[0] <= y_lo and y_hi <= old[1] and span >= MIN_FILL * (old[1] - old[0]):
        return None
    pad = PADDING * span if span > 0 else max(abs(y_hi) * PADDING, 1e-12)
    lo, hi = y_lo - pad, y_hi + pad
    if old is not None:
        lo -= Y_LEAD * span if y_lo < old[0] else 0.0
        hi += Y_LEAD * span if y_hi > old[1] else 0.0
    return (lo, hi)
