"""The activities' clock: the one moment every activity module reads, so tests can move time.

Read ``clock`` through this module at call time (``clock.now()``), never copy it: tests and
``bench.round_trips`` replace ``market.activities.clock.clock`` and every scan, edit and review
must see the moved time.
"""

from collections.abc import Callable
from datetime import UTC, datetime

clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    return clock()
