"""Clearing expired points: wallet → the community's expiry account, through the ledger.

``clear(ledger, community, at)`` moves, for every person some of whose lots expired by ``at``,
what the lot rule says has expired (``market.points.lots``). It is run by the server (a background
job, one worker at a time) and by ``market points expire --at``. Safe to repeat and to run from
several workers: each chunk of people is decided under the community's ledger chain lock
(``ledger.locking``), from balances and lots read under it, so a second run finds nothing left
to move; ``points_clearing`` remembers up to which moment lots were looked at.

**People looked at again.** A run looks at the people with lots that expired since the last
one, and at those listed in ``points_expiry_blocked``: people whose expired points were held
back (below) and people given points back (a refund, an upheld appeal: ``lots.covered_steps``),
which may be of lots that expired before the last run. A run takes a person off the list once
nothing of theirs is held back.

**Held points are not taken.** Points held for an open reservation are left where they are: a
reservation must not lose its points from under it. Such a person is listed in
``points_expiry_blocked`` and looked at again by every run; if the reservation is cancelled the
points expire at the next run, if it is collected they were spent.

Service hours and stars are never touched: they are counted from stays, not from points.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from ledger import Ledger, Transfer, locking, single, to_decimal, to_hundredths
from market.db import engine_name, fetch
from market.points import lots
from market.points.lots import expired_part, from_us, lot_sums, lot_sums_sql, to_us
from market.points.service import account_id
from market.writes import LedgerStep, Steps, write

log = logging.getLogger(__name__)

#: People decided per transaction: the chain lock is held for one chunk, so check-ins of the
#: community wait for at most one chunk's transfers.
CHUNK = 500
#: A rest between chunks, so what waits for the locks a chunk holds gets in before the next one.
#: SQLite: another process waiting for the file's write lock (the other workers, or the server
#: while ``market points expire`` runs) sleeps in SQLite's busy handler, up to 100 ms at a time,
#: and never found the lock free between two chunks: with 100,000 people, check-ins starved for
#: the whole clearing (p99 3.7 s; 57 ms with the rest). PostgreSQL: check-ins queued for the
#: community's chain lock lost it again to the next chunk often enough for a p99 of 1.25 s
#: (219 ms with 25 ms of rest; the clearing 35 → 42 s). ``docs/PERFORMANCE.md``.
REST_BETWEEN_CHUNKS = {"sqlite": 0.1, "postgres": 0.025}
EXPIRY_KIND = "expiry"


@dataclass(frozen=True, slots=True)
class Cleared:
    community_id: int
    at: datetime
    people: int
    hundredths: int
    #: People with expired points still held by an open reservation (taken once it is not).
    held_back: int


def expiry_id(person: int, at_us: int, balance: int) -> str:
    """One clearing of one wallet: its person, the moment, and the balance it found."""
    return f"expiry:{person}:{at_us}:{balance}"


async def candidates(community_id: int, since_us: int, at_us: int) -> list[int]:
    """People with lots that expired after the last clearing and by ``at``, and people held back."""
    rows = await fetch(
        "SELECT DISTINCT person FROM points_lot WHERE community = {} AND expires_us > {}"
        " AND expires_us <= {} UNION SELECT person FROM points_expiry_blocked WHERE community = {}",
        community_id, since_us, at_us, community_id,
    )
    return sorted(row["person"] for row in rows)


async def clear(ledger: Ledger, community_id: int, at: datetime) -> Cleared:
    """Clear the community's points that expired by ``at`` (see the module)."""
    at_us = to_us(at)
    done = await fetch("SELECT cleared_us FROM points_clearing WHERE community = {}", community_id)
    since_us = done[0]["cleared_us"] if done else lots.EVER
    people = await candidates(community_id, since_us, at_us)
    expiry = await account_id(ledger, community_id, "expiry")
    moved = cleared = held_back = 0
    for start in range(0, len(people), CHUNK):
        chunk = people[start:start + CHUNK]
        transfers, held = await write(_clear_steps, ledger, community_id, expiry, chunk, at_us)
        moved += sum(to_hundredths(t.amount) for t in transfers)
        cleared += len(transfers)
        held_back += held
        if start + CHUNK < len(people):
            await asyncio.sleep(REST_BETWEEN_CHUNKS[engine_name()])
    await write(_cleared_to, community_id, at_us)
    if cleared or held_back:
        log.info("community %s: expired points of %s people cleared (%s held back)", community_id,
                 cleared, held_back)
    return Cleared(community_id, at, cleared, moved, held_back)


def _clear_steps(
    ledger: Ledger, community_id: int, expiry: int, people: list[int], at_us: int
) -> Steps[tuple[list[Transfer], int]]:
    # First the chain: no credit, spend or gift of this community can come between the reads
    # below and the transfers they decide.
    yield LedgerStep(ledger, [locking(community_id)], each=True)
    owners = [str(person) for person in people]
    wallets = yield (
        "SELECT id, owner, balance, held FROM ledger_accounts WHERE ledger = {} AND kind = 'wallet'"
        f" AND owner IN ({', '.join('{}' for _ in owners)})",
        (community_id, *owners),
    )
    sums = lot_sums((yield lot_sums_sql(community_id, people, at_us)))
    requests, blocked = [], []
    for wallet in wallets:
        person, balance, held = int(wallet["owner"]), int(wallet["balance"]), int(wallet["held"])
        found = sums.get(person)
        if found is None:
            continue
        due = expired_part(balance, found.total, found.alive_sum())
        take = min(due, balance - held)
        if take < due:
            blocked.append(person)
        if take > 0:
            requests.append(single(
                expiry_id(person, at_us, balance), wallet["id"], expiry, to_decimal(take), EXPIRY_KIND,
                memo=f"积分到期 {from_us(at_us).date().isoformat()}", ledger=community_id,
            ))
    marks = ", ".join("{}" for _ in people)
    yield (f"DELETE FROM points_expiry_blocked WHERE community = {{}} AND person IN ({marks})",
           (community_id, *people))
    if blocked:
        yield ("INSERT INTO points_expiry_blocked (community, person) VALUES "
               + ", ".join("({}, {})" for _ in blocked),
               tuple(v for person in blocked for v in (community_id, person)))
    transfers: list[Transfer] = []
    if requests:
        transfers = yield LedgerStep(ledger, requests)
    return transfers, len(blocked)


def _cleared_to(community_id: int, at_us: int) -> Steps[None]:
    yield (
        "INSERT INTO points_clearing (community, cleared_us) VALUES ({}, {})"
        " ON CONFLICT (community) DO UPDATE SET cleared_us = excluded.cleared_us"
        " WHERE points_clearing.cleared_us < excluded.cleared_us",
        (community_id, at_us),
    )


async def clear_all(ledger: Ledger, at: datetime) -> list[Cleared]:
    """Every community's expired points (the server's job)."""
    rows = await fetch("SELECT id FROM community ORDER BY id")
    return [await clear(ledger, row["id"], at) for row in rows]


# -- who has points expiring soon (the office's list) -----------------------------------------

#: The office's list shows at most this many people (the earliest expiries first).
SOON_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Soon:
    person_id: int
    hundredths: int
    #: The earliest expiry among them.
    expires_us: int


async def expiring_soon(community_id: int, now_us: int, horizon_us: int) -> list[Soon]:
    """People whose balance has points that expire after ``now_us`` and by ``horizon_us``, with
    how many (the lot rule, as for clearing: held points included, they expire unless spent)."""
    rows = await fetch(
        "SELECT l.person,"
        " MIN(CASE WHEN l.expires_us > {} AND l.expires_us <= {} THEN l.expires_us END) AS first_us,"
        " SUM(l.amount) AS total,"
        " SUM(CASE WHEN l.expires_us IS NULL OR l.expires_us > {} THEN l.amount ELSE 0 END) AS alive,"
        " SUM(CASE WHEN l.expires_us IS NOT NULL AND l.expires_us <= {} THEN l.amount ELSE 0 END)"
        " AS gone"
        " FROM points_lot l WHERE l.community = {} AND l.person IN (SELECT person FROM points_lot"
        " WHERE community = {} AND expires_us > {} AND expires_us <= {}) GROUP BY l.person",
        now_us, horizon_us, horizon_us, now_us, community_id, community_id, now_us, horizon_us,
    )
    if not rows:
        return []
    balances = {
        int(row["owner"]): int(row["balance"])
        for row in await fetch(
            "SELECT owner, balance FROM ledger_accounts WHERE ledger = {} AND kind = 'wallet'"
            f" AND owner IN ({', '.join('{}' for _ in rows)})",
            community_id, *(str(row["person"]) for row in rows),
        )
    }
    found = []
    for row in rows:
        balance = balances.get(row["person"], 0)
        total, alive = int(row["total"]), int(row["alive"])
        # What expires by the horizon, less what had expired already by now (cleared next run).
        due = expired_part(balance, total, alive) - expired_part(balance, total, total - int(row["gone"]))
        if due > 0:
            found.append(Soon(row["person"], due, row["first_us"]))
    found.sort(key=lambda soon: (soon.expires_us, soon.person_id))
    return found[:SOON_LIMIT]
