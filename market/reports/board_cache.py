"""A short-lived cache for the boards' and dashboards' aggregates, keyed by what they read.

A board reads the tallies (``market.reports.board_queries``) and ranks ten thousand people in
Python; the same board asked again is served from here while nothing it depends on has changed: the
ledger's head (every credit, reversal and redemption appends a transfer), the newest stay,
activity and stock movement. Those four are primary-key maxima, read in well under a
millisecond. A few changes append nothing (a stay's hours set by hand, a check-out that
credits no points, a renamed building): ``MAX_AGE`` bounds how long such a change can go
unseen. Each server process keeps its own cache; it holds at most ``MAX_ENTRIES`` results.
"""

import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from market.db import fetch

T = TypeVar("T")
MAX_AGE = 60.0
MAX_ENTRIES = 64
#: ``MARKET_REPORT_CACHE=0`` computes every time.
ENABLED = os.environ.get("MARKET_REPORT_CACHE", "1") != "0"

_entries: OrderedDict[tuple, tuple[float, tuple, Any]] = OrderedDict()


async def data_version() -> tuple:
    rows = await fetch(
        "SELECT (SELECT MAX(seq) FROM ledger_transfers) AS transfers,"
        " (SELECT MAX(id) FROM activity_stay) AS stays,"
        " (SELECT MAX(id) FROM activity) AS activities,"
        " (SELECT MAX(id) FROM stock_movement) AS movements"
    )
    row = rows[0]
    return (row["transfers"], row["stays"], row["activities"], row["movements"])


async def cached(key: tuple, compute: Callable[[], Awaitable[T]]) -> T:
    """``compute()``'s answer, or the one kept for ``key`` if the data has not changed since."""
    if not ENABLED:
        return await compute()
    version = await data_version()
    now = time.monotonic()
    kept = _entries.get(key)
    if kept is not None and kept[1] == version and now - kept[0] < MAX_AGE:
        _entries.move_to_end(key)
        return kept[2]
    value = await compute()
    _entries[key] = (now, version, value)
    _entries.move_to_end(key)
    while len(_entries) > MAX_ENTRIES:
        _entries.popitem(last=False)
    return value


_remembered: OrderedDict[tuple, tuple[float, Any]] = OrderedDict()


async def remembered(key: tuple, compute: Callable[[], Awaitable[T]], max_age: float = MAX_AGE) -> T:
    """``compute()``'s answer, reused for ``max_age`` seconds whatever changed: for what changes
    seldom and may show a minute late (the community's people, households, buildings, teams)."""
    if not ENABLED:
        return await compute()
    now = time.monotonic()
    kept = _remembered.get(key)
    if kept is not None and now - kept[0] < max_age:
        return kept[1]
    value = await compute()
    _remembered[key] = (now, value)
    _remembered.move_to_end(key)
    while len(_remembered) > MAX_ENTRIES:
        _remembered.popitem(last=False)
    return value


def clear() -> None:
    _remembered.clear()
    _entries.clear()
