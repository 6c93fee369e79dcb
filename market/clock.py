"""The market's one clock: the moment every scan, credit, gift, objection, deduction, request
and sweep reads as "now", so tests can move time for all of them at once.

Read it through this module at call time (``clock.now()``), never copy the function: tests and
``bench.round_trips`` replace ``market.clock.clock``, and every unit must see the moved time.
Whatever the books keep or decide by — audit entries, redemptions, orders, stock, shop hours,
certificates, moves, a record's ``created_at`` — reads this clock.

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
