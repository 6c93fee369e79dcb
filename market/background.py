"""Periodic work done once however many workers and hosts run: a lease per job in the database.

Every worker runs the same loop for each job (``keep``). The job's row says when its next run
is due and who holds it until when. A worker that finds the run due and the lease free takes
it with one guarded UPDATE — of several trying at once, the database lets exactly one match —
does the work, renews the lease while the work lasts, then writes the next due time and lets
go. The others find the run not due, or taken, and look again later. A worker that dies
holding the lease stops renewing it; once it has lapsed (``LEASE_SECONDS``) the next worker to
look takes the run over. So each due run is done by one worker at a time, and by another if
its worker died.

The work itself must stay safe to repeat (a run taken over may redo part of the dead one's):
closing stays, expiring orders and making checkpoints each change a row only if it still
needs it. Times are the hosts' wall clocks in whole milliseconds (keep them in step with NTP,
as for the Redis limiter); skew only moves when a lapsed lease is taken over.
"""

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from market import writes

log = logging.getLogger(__name__)

#: A lease not renewed for this long is free again: its holder died or hangs.
LEASE_SECONDS = 60.0
#: A worker looks whether a run is due at most this far apart (a quarter of a shorter interval).
LOOK_EVERY_MAX = 15.0

#: Runs hand-written SQL (``{}`` marks each argument) and returns its rows: ``market.db.fetch``.
Fetch = Callable[..., Awaitable[list]]


@dataclass(frozen=True, slots=True)
class Periodic:
    """A job: its name (its row), how often it runs, and the work (safe to repeat)."""

    name: str
    every: float
    work: Callable[[], Awaitable[object]]


def holder_name() -> str:
    """Who holds a lease: host, process and a random part (two apps in one process differ)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


class Lease:
    """One job's row, as seen by one holder; each method is one statement."""

    def __init__(
        self, name: str, holder: str, *, clock: Callable[[], float] = time.time,
        lease_seconds: float = LEASE_SECONDS, fetch: Fetch | None = None,
    ) -> None:
        self.name = name
        self.holder = holder
        self.clock = clock
        self.lease_ms = int(lease_seconds * 1000)
        # On SQLite its writes go to the writer, not a reader's connection (``writes.statement``).
        self._fetch = fetch or writes.statement

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def ensure(self, first_run_ms: int) -> None:
        """The job's row, due at ``first_run_ms`` if it is new (an existing one is kept)."""
        await self._fetch(
            "INSERT INTO background_lease (name, next_run_ms) VALUES ({}, {})"
            " ON CONFLICT (name) DO NOTHING", self.name, first_run_ms,
        )

    async def take(self) -> bool:
        """Take the lease if the run is due and nobody holds it; True when taken.

        A plain read first: most looks find nothing due, and on SQLite a read does not
        queue behind the one writer as an UPDATE would."""
        now = self.now_ms()
        rows = await self._fetch(
            "SELECT next_run_ms, lease_until_ms FROM background_lease WHERE name = {}", self.name
        )
        if not rows or rows[0]["next_run_ms"] > now or rows[0]["lease_until_ms"] > now:
            return False
        taken = await self._fetch(
            "UPDATE background_lease SET holder = {}, lease_until_ms = {}"
            " WHERE name = {} AND next_run_ms <= {} AND lease_until_ms <= {} RETURNING name",
            self.holder, now + self.lease_ms, self.name, now, now,
        )
        return bool(taken)

    async def renew(self) -> bool:
        """Keep the lease while working; False if it lapsed and someone else took it."""
        renewed = await self._fetch(
            "UPDATE background_lease SET lease_until_ms = {} WHERE name = {} AND holder = {}"
            " RETURNING name", self.now_ms() + self.lease_ms, self.name, self.holder,
        )
        return bool(renewed)

    async def release(self, next_run_ms: int | None) -> bool:
        """Let go after a run: the next one is due at ``next_run_ms`` (None: the run did not
        happen, so it stays due for whoever looks next)."""
        if next_run_ms is None:
            released = await self._fetch(
                "UPDATE background_lease SET lease_until_ms = 0 WHERE name = {} AND holder = {}"
                " RETURNING name", self.name, self.holder,
            )
        else:
            released = await self._fetch(
                "UPDATE background_lease SET lease_until_ms = 0, next_run_ms = {}, runs = runs + 1,"
                " last_run_ms = {} WHERE name = {} AND holder = {} RETURNING name",
                next_run_ms, self.now_ms(), self.name, self.holder,
            )
        return bool(released)


def look_every(every: float) -> float:
    """How often a worker looks whether ``every``'s run is due: often enough to start it
    at most a quarter of its interval late, and not more than every few seconds."""
    return max(0.05, min(every / 4, LOOK_EVERY_MAX))


async def run_once(job: Periodic, lease: Lease) -> bool:
    """Do one due run of ``job`` if this holder can take it; True if it did (or tried)."""
    if not await lease.take():
        return False
    renewing = asyncio.create_task(_keep_renewing(lease), name=f"lease-{job.name}")
    next_run: int | None = None
    try:
        try:
            await job.work()
        except Exception:
            log.exception("background job %s failed; it runs again at its next time", job.name)
        # Done or failed, the next run is one interval on, as the old loops did.
        next_run = lease.now_ms() + int(job.every * 1000)
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        try:
            # Shielded: a shutdown that cancels the run mid-release still lets go of the lease.
            if not await asyncio.shield(lease.release(next_run)):
                log.warning("background job %s: the lease lapsed while it ran", job.name)
        except Exception:  # the database went away: the lease lapses by itself
            log.exception("background job %s: could not let go of its lease", job.name)
    return True


async def _keep_renewing(lease: Lease) -> None:
    while True:
        await asyncio.sleep(lease.lease_ms / 3000)
        try:
            if not await lease.renew():
                log.warning("background job %s: another worker took the lapsed lease", lease.name)
                return
        except Exception:
            log.exception("background job %s: could not renew its lease", lease.name)


async def keep(
    job: Periodic, holder: str, *, clock: Callable[[], float] = time.time,
    lease_seconds: float = LEASE_SECONDS, fetch: Fetch | None = None,
) -> None:
    """Run ``job`` whenever it is due and this worker takes its lease, until cancelled."""
    lease = Lease(job.name, holder, clock=clock, lease_seconds=lease_seconds, fetch=fetch)
    pause = look_every(job.every)
    ready = False
    while True:
        # First a pause, as the old loops slept first (a worker starting does no more work);
        # jittered, so the workers' looks do not fall in step.
        await asyncio.sleep(pause * random.uniform(0.8, 1.2))
        try:
            if not ready:
                # A new job's first run is one interval away.
                await lease.ensure(lease.now_ms() + int(job.every * 1000))
                ready = True
            await run_once(job, lease)
        except Exception:  # the database is down, say: look again later
            log.exception("background job %s: could not look at its lease", job.name)
