"""The market's one clock: the moment every scan, credit, gift, objection, deduction, request
and sweep reads as "now", so tests can move time for all of them at once.

Read it through this module at call time (``clock.now()``), never copy the function: tests and
``bench.round_trips`` replace ``market.clock.clock``, and every unit must see the moved time.
Whatever the books keep or decide by — audit entries, redemptions, orders, stock, shop hours,
certificates, moves, a record's ``created_at`` — reads this clock.

The ledger (a library) stamps its transfers and times out its holds by its own clock, wall time:
a test that moves this clock a season on still holds an order's points until the order is
settled, as ``tests/market/test_points_stateful.py`` models it (handing the ledger this clock
voided those holds mid-example). An order's deadline is the hold's, a day earlier, so the
orders (``market.shop.orders``) count wall time too.

Wall time (``datetime.now(UTC)``, ``time.monotonic``) is left to what guards the door and to
caches: sessions and their cookies (``market.auth.sessions``), one-time sign-in codes
(``market.auth.access_codes``), the member codes' rotation (``market.cards.service``), the
ledger check's cache (``market.web.admin``); a moved clock must not sign anyone in or out. The
sign-in limiter and the background leases take their own ``time.time``-style clocks as
arguments: they count seconds between tries, not moments of the books.
"""

from collections.abc import Callable
from datetime import UTC, datetime

clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    return clock()


def now_ms() -> int:
    """Now as the tables that count milliseconds since the epoch keep it (``created_ms``,
    ``updated_ms``, a move's ``requested_ms``)."""
    return int(clock().timestamp() * 1000)
