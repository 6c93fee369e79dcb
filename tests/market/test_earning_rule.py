"""The earning rule (market.activities.earning): exact, never negative, never above window or cap."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from market.activities import earning
from market.points.hours import stars

BASE = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
offsets = st.integers(min_value=-10 * 3600 * 10**6, max_value=20 * 3600 * 10**6)


def at(micros: int) -> datetime:
    return BASE + timedelta(microseconds=micros)


@given(offsets, offsets, offsets, st.integers(min_value=1, max_value=12 * 3600 * 10**6),
       st.none() | st.integers(min_value=0, max_value=2000),
       st.integers(min_value=0, max_value=10**8))
def test_hours_and_points(in_us, out_us, start_us, length_us, cap, per_hour) -> None:
    end_us = start_us + length_us
    hours = earning.hours(at(in_us), at(out_us), at(start_us), at(end_us), cap)
    assert hours >= 0
    overlap = max(0, min(out_us, end_us) - max(in_us, start_us))
    assert hours * earning.MICROS_PER_HOUR <= overlap * 100  # never above the stay in the window
    assert hours * earning.MICROS_PER_HOUR <= length_us * 100  # never above the window
    if cap is not None:
        assert hours <= cap
        # rounded down: exactly the floor, unless the cap bit
        assert hours == min(cap, overlap * 100 // earning.MICROS_PER_HOUR)
    else:
        assert hours == overlap * 100 // earning.MICROS_PER_HOUR
    points = earning.checkout_points(per_hour, hours)
    # exact to the hundredth, rounded down: points×100 ≤ per_hour×hours < (points+1)×100
    assert points * 100 <= per_hour * hours < (points + 1) * 100


def test_examples() -> None:
    start, end = BASE, BASE + timedelta(hours=3)
    # 1 h 20 min inside the window = 1.33 h (rounded down), at 10.00/h = 13.30
    hours = earning.hours(BASE + timedelta(minutes=10), BASE + timedelta(minutes=90), start, end)
    assert hours == 133
    assert earning.checkout_points(1000, hours) == 1330
    # before the start and after the end do not count; the cap bites
    assert earning.hours(BASE - timedelta(hours=1), BASE + timedelta(hours=5), start, end) == 300
    assert earning.hours(BASE - timedelta(hours=1), BASE + timedelta(hours=5), start, end, 250) == 250
    # a stay entirely outside the window: zero, not negative
    assert earning.hours(BASE - timedelta(hours=2), BASE - timedelta(hours=1), start, end) == 0
    # 3.33 points an hour × 3.33 h = 11.0889 → 11.08
    assert earning.checkout_points(333, 333) == 1108


def test_stars() -> None:
    assert [stars(h * 100) for h in (0, 99, 100, 299, 300, 600, 999, 1000, 1500, 9999)] == [
        0, 0, 1, 1, 2, 3, 3, 4, 5, 5,
    ]
    assert stars(9999) == 0
