"""The live plots' range rules, as numbers (the window's behaviour is in test_training.py)."""

from __future__ import annotations

import pytest

from ftstudio.gui.train.plot_ranges import MIN_FILL, PADDING, X_GROWTH, Y_LEAD, next_x_range, next_y_range


def test_x_grows_ahead_of_a_live_run_only_when_a_point_passes_its_end():
    first = next_x_range(None, 10.0, live=True)
    assert first == (0.0, 10.0 * X_GROWTH)
    assert next_x_range(first, 14.0, live=True) is None  # inside: the axis stays still
    assert next_x_range(first, 16.0, live=True) == (0.0, 16.0 * X_GROWTH)


def test_a_finished_run_is_shown_whole():
    assert next_x_range(None, 100.0, live=False) == pytest.approx((0.0, 100.0 * (1 + PADDING)))
    assert next_x_range((0.0, 300.0), 100.0, live=False) == pytest.approx((0.0, 100.0 * (1 + PADDING)))
    assert next_x_range((0.0, 110.0), 100.0, live=False) is None


def test_y_stays_while_the_data_fill_it_and_leads_a_curve_on_its_way_out():
    first = next_y_range(None, 0.4, 1.2)
    assert first == pytest.approx((0.4 - PADDING * 0.8, 1.2 + PADDING * 0.8))
    assert next_y_range(first, 0.45, 1.2) is None
    lower = next_y_range(first, 0.2, 1.2)  # a loss going down leaves the range: room below
    assert lower[0] == pytest.approx(0.2 - (PADDING + Y_LEAD) * 1.0) and lower[1] == pytest.approx(1.2 + PADDING)
    # The data shrank to under MIN_FILL of the range: refit tightly.
    shrunk = next_y_range((0.0, 10.0), 4.0, 4.0 + 10.0 * MIN_FILL * 0.5)
    assert shrunk[1] - shrunk[0] < 10.0 * MIN_FILL


def test_a_flat_curve_still_gets_a_visible_range():
    lo, hi = next_y_range(None, 0.5, 0.5)
    assert lo < 0.5 < hi
    lo, hi = next_y_range(None, 0.0, 0.0)
    assert lo < 0.0 < hi


def test_a_range_stops_near_what_its_values_can_be():
    from ftstudio.gui.train.plot_ranges import limits_of

    assert limits_of(["accuracy", "f1"]) == (0.0, 1.0)
    assert limits_of(["pearson", "r2"]) == (None, 1.0)  # R² has no floor
    assert limits_of(["rmse"]) == (0.0, None) and limits_of(["loss"]) == (0.0, None)
    # A score climbing out of its range gets room ahead, but not far past 1 ...
    old = next_y_range(None, 0.3, 0.5, limits_of(["accuracy"]))
    lo, hi = next_y_range(old, 0.3, 0.95, limits_of(["accuracy"]))
    assert hi == pytest.approx(1.0 + PADDING * 0.65) and lo < 0.3
    # ... nor a falling error (or loss) far below 0; an error has no ceiling.
    old = next_y_range(None, 10.0, 40.0, limits_of(["rmse"]))
    lo, hi = next_y_range(old, 0.5, 60.0, limits_of(["rmse"]))
    assert lo == pytest.approx(-PADDING * 59.5) and hi > 60.0 + PADDING * 59.5
    # Values outside their limits (a broken metric) are still shown.
    lo, hi = next_y_range(None, -0.5, 1.5, limits_of(["accuracy"]))
    assert lo < -0.5 and hi > 1.5


def test_a_point_at_step_zero_gets_room_before_it():
    """Pre-training evaluates before its first step: that point is drawn whole, not cut by the axis."""
    lo, hi = next_x_range(None, 100.0, live=True, x_start=0.0)
    assert lo < 0.0 < hi and -lo < 0.05 * hi
    assert next_x_range((lo, hi), 120.0, live=True, x_start=0.0) is None
    assert next_x_range((0.0, 150.0), 120.0, live=True, x_start=0.0)[0] < 0.0  # the step-0 point came later
    assert next_x_range(None, 100.0, live=True, x_start=1.0)[0] == 0.0
