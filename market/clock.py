"""The market's one clock: the moment every scan, credit, gift, objection, deduction, request
and sweep reads as "now", so tests can move time for all of them at once.

Read it through this module at call time (``clock.now()``), never copy the function: tests and
``bench.round_trips`` replace ``market.clock.clock``, and every unit must see the moved time.
(The sign-in limiter and the background leases take their own ``time.time``-style clocks as
arguments: they count seconds between tries, not moments of the books.)
"""

from collections.abc import Callable
from datetime import UTC, datetime

clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    return clock()
