"""Periodic work under a lease in the database: one holder at a time whatever the number of
workers (here: connections of their own), a lapsed lease taken over, each due run done once."""

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Callable

import pytest

from market import background
from market.background import Lease, Periodic
from market.db import fetch
from tests.market.connections import Fetch, separate_connections

pytestmark = pytest.mark.usefixtures("app")  # the app's start-up migrated the database


def a_name() -> str:
    return "test-" + secrets.token_hex(6)


async def lease_row(name: str) -> dict:
    return dict((await fetch("SELECT * FROM background_lease WHERE name = {}", name))[0])


async def eventually(holds: Callable[[dict], bool], name: str, seconds: float = 5) -> dict:
    """The job's row once ``holds`` is true of it (looked at every 20 ms)."""
    deadline = time.monotonic() + seconds
    while not holds(row := await lease_row(name)):
        assert time.monotonic() < deadline, row
        await asyncio.sleep(0.02)
    return row


async def test_one_holder_at_a_time_and_a_lapsed_lease_is_taken_over() -> None:
    now = [1_900_000_000.0]
    name = a_name()
    first, second = (Lease(name, holder, clock=lambda: now[0], lease_seconds=60)
                     for holder in ("host-a:1", "host-b:2"))
    await first.ensure(int(now[0] * 1000) + 10_000)
    assert not await first.take()  # not due yet
    now[0] += 10
    assert await first.take()
    assert not await second.take()  # held
    now[0] += 50
    assert await first.renew()  # working on: held for another 60 s
    now[0] += 59
    assert not await second.take()
    now[0] += 2  # the holder died: no renewal for more than 60 s
    assert await second.take()
    assert not await first.renew() and not await first.release(int(now[0] * 1000))  # too late
    assert await second.release(int(now[0] * 1000) + 300_000)
    row = await lease_row(name)
    assert (row["holder"], row["runs"], row["lease_until_ms"]) == ("host-b:2", 1, 0)
    assert not await first.take()  # the next run is 300 s away
    await first.ensure(0)  # an existing job keeps its time
    assert (await lease_row(name))["next_run_ms"] == int(now[0] * 1000) + 300_000


async def takes_at_once(fetches: list[Fetch], name: str, now: float) -> list[bool]:
    leases = [Lease(name, f"worker-{n}", clock=lambda: now, fetch=f) for n, f in enumerate(fetches)]
    return await asyncio.gather(*(lease.take() for lease in leases for _ in range(3)))


async def test_of_many_workers_taking_a_due_run_at_once_one_gets_it() -> None:
    name = a_name()
    now = 1_900_000_000.0
    async with separate_connections(8) as fetches:
        await Lease(name, "setup", fetch=fetches[0]).ensure(int(now * 1000))
        for round_ in range(5):
            taken = await takes_at_once(fetches, name, now)
            assert taken.count(True) == 1, round_
            holder = (await lease_row(name))["holder"]
            assert await Lease(name, holder, clock=lambda: now).release(int(now * 1000))  # due again


async def test_the_race_is_real_for_an_unguarded_update() -> None:
    """The control: without the guard in the UPDATE, a read then a write, workers that all read
    before any of them writes (as a burst may have them) all believe they hold the lease."""
    name, now = a_name(), 1_900_000_000_000
    async with separate_connections(8) as fetches:
        await fetches[0]("INSERT INTO background_lease (name, next_run_ms) VALUES ({}, 0)", name)
        seen = await asyncio.gather(*(
            f("SELECT lease_until_ms FROM background_lease WHERE name = {}", name) for f in fetches))
        free = [f for f, rows in zip(fetches, seen, strict=True) if rows[0]["lease_until_ms"] <= now]
        for n, f in enumerate(free):
            await f("UPDATE background_lease SET holder = {}, lease_until_ms = {} WHERE name = {}",
                    f"worker-{n}", now + 60_000, name)
    assert len(free) == 8  # each took the lease it saw free


@contextlib.asynccontextmanager
async def workers(
    job: Periodic, count: int, **options: float
) -> AsyncIterator[list[asyncio.Task]]:
    """``count`` workers running ``background.keep`` for ``job``, each on its own connection."""
    async with separate_connections(count) as fetches:
        tasks = [asyncio.create_task(background.keep(job, f"worker-{n}", fetch=f, **options))
                 for n, f in enumerate(fetches)]
        try:
            yield tasks
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def test_each_due_run_is_done_once_however_many_workers_look() -> None:
    runs: list[tuple[float, float]] = []

    async def work() -> None:
        started = time.monotonic()
        await asyncio.sleep(0.05)
        runs.append((started, time.monotonic()))

    job = Periodic(a_name(), 0.3, work)
    started = time.monotonic()
    async with workers(job, 4):
        await asyncio.sleep(3.2)
    elapsed = time.monotonic() - started
    # A run every 0.3 s (a quarter of that late at most), the first one interval in: four
    # workers that each ran it would have made about four times as many.
    assert 3 <= len(runs) <= elapsed / 0.3 + 1, len(runs)
    ordered = sorted(runs)
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(ordered))
    assert all(b[0] - a[0] >= 0.3 - 0.01 for a, b in itertools.pairwise(ordered))
    assert (await lease_row(job.name))["runs"] == len(runs)


async def test_a_worker_that_dies_holding_the_lease_is_taken_over() -> None:
    ran = asyncio.Event()

    async def work() -> None:
        ran.set()

    job = Periodic(a_name(), 0.4, work)
    dead = Lease(job.name, "dead-worker", lease_seconds=1)
    await dead.ensure(0)
    assert await dead.take()  # ... and then nothing more from it
    started = time.monotonic()
    async with workers(job, 2, lease_seconds=1):
        await asyncio.wait_for(ran.wait(), 10)
        taken_over = time.monotonic() - started
        row = await eventually(lambda row: row["runs"] >= 1, job.name)
    assert 0.9 <= taken_over < 5, taken_over  # once the dead one's lease lapsed, not before
    assert row["holder"].startswith("worker-")


async def test_a_failed_run_is_logged_and_waits_for_its_next_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def work() -> None:
        raise RuntimeError("the sweep broke")

    now = [1_900_000_000.0]
    job = Periodic(a_name(), 600, work)
    lease = Lease(job.name, "worker", clock=lambda: now[0])
    await lease.ensure(int(now[0] * 1000))
    assert await background.run_once(job, lease)
    assert "the sweep broke" in caplog.text
    row = await lease_row(job.name)
    assert row["lease_until_ms"] == 0 and row["next_run_ms"] == int(now[0] * 1000) + 600_000
    assert not await background.run_once(job, lease)


async def test_a_run_cut_short_by_shutdown_stays_due_for_the_next_worker() -> None:
    started = asyncio.Event()

    async def work() -> None:
        started.set()
        await asyncio.sleep(3600)

    job = Periodic(a_name(), 600, work)
    lease = Lease(job.name, "leaving")
    await lease.ensure(0)
    running = asyncio.create_task(background.run_once(job, lease))
    await started.wait()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    row = await lease_row(job.name)
    assert (row["lease_until_ms"], row["next_run_ms"], row["runs"]) == (0, 0, 0)
    assert await Lease(job.name, "next").take()
