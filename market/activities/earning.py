"""The earning rule, pure and exact: integers only (microseconds, hundredths), no floats.

- Check-in credits ``points_per_checkin``.
- Check-out credits ``points_per_hour × hours``, where hours are the overlap of
  the stay [in, out] with the activity's window [starts, ends], capped at
  ``max_hours``, rounded DOWN to 0.01 h; the points are rounded down to 0.01.

Amounts are hundredths: 150 points_per_hour hundredths = 1.50 points an hour;
hours are hundredths of an hour.
"""

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
MICROS_PER_HOUR = 3_600_000_000


def micros(at: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (exact)."""
    if at.tzinfo is None:
        raise ValueError("use an aware datetime (UTC)")
    return (at - _EPOCH) // _MICRO


def hours(
    checked_in: datetime, checked_out: datetime, starts_at: datetime, ends_at: datetime,
    max_hours: int | None = None,
) -> int:
    """Hundredths of an hour of the stay inside the window, capped, rounded down; never < 0."""
    overlap = min(micros(checked_out), micros(ends_at)) - max(micros(checked_in), micros(starts_at))
    counted = max(0, overlap) * 100 // MICROS_PER_HOUR
    if max_hours is not None:
        counted = min(counted, max(0, max_hours))
    return counted


def checkout_points(points_per_hour: int, hours_hundredths: int) -> int:
    """Hundredths of points for ``hours_hundredths`` at ``points_per_hour`` (hundredths), floored."""
    return points_per_hour * hours_hundredths // 100

