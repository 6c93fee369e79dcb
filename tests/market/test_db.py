"""The database helpers: read-then-write transactions survive concurrency on both engines."""

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from market.db import write_steps, write_transaction
from market.tables import Session
from tests.market.support import Member


async def test_concurrent_read_then_write_transactions_all_succeed(admin: Member) -> None:
    """On SQLite a DEFERRED transaction that reads first fails with "database is
    locked" when another writer is active; ``write_transaction`` must not."""
    now = datetime.now(UTC)

    async def read_then_write(n: int) -> None:
        async with write_transaction():
            await Session.count().where(Session.person == admin.id)
            await Session.insert(Session(
                token_hash=f"{admin.id:032d}{n:032d}", person=admin.id, csrf_token="x",
                created_at=now, expires_at=now + timedelta(minutes=1),
            ))

    await asyncio.gather(*(read_then_write(n) for n in range(20)))
    written = await Session.count().where(Session.token_hash.like(f"{admin.id:032d}%"))
    assert written == 20


def _two_sessions(person_id: int, prefix: str, fail: bool):
    """Steps: write a session row, read it back, maybe refuse, write a second one."""
    now = datetime.now(UTC)
    insert = ("INSERT INTO person_session (token_hash, person, csrf_token, created_at, expires_at)"
              " VALUES ({}, {}, 'x', {}, {})")
    yield (insert, (f"{prefix}-1", person_id, now, now + timedelta(minutes=1)))
    rows = yield ("SELECT count(*) AS n FROM person_session WHERE token_hash LIKE {}", (f"{prefix}-%",))
    if fail:
        raise RuntimeError("refused half-way")
    yield (insert, (f"{prefix}-2", person_id, now, now + timedelta(minutes=1)))
    return rows[0]["n"]


async def _count(prefix: str) -> int:
    return await Session.count().where(Session.token_hash.like(f"{prefix}-%"))


async def test_write_steps_commit_whole_or_not_at_all(admin: Member) -> None:
    assert await write_steps(_two_sessions(admin.id, "steps-ok", fail=False)) == 1
    assert await _count("steps-ok") == 2
    with pytest.raises(RuntimeError, match="half-way"):
        await write_steps(_two_sessions(admin.id, "steps-bad", fail=True))
    assert await _count("steps-bad") == 0


async def test_write_steps_join_an_open_transaction(admin: Member) -> None:
    with pytest.raises(RuntimeError, match="outer"):
        async with write_transaction():
            await write_steps(_two_sessions(admin.id, "steps-joined", fail=False))
            assert await _count("steps-joined") == 2  # visible inside the transaction
            raise RuntimeError("outer")
    assert await _count("steps-joined") == 0


async def test_write_steps_in_parallel_all_land(admin: Member) -> None:
    results = await asyncio.gather(*(write_steps(_two_sessions(admin.id, f"steps-p{n}", fail=False))
                                     for n in range(30)))
    assert results == [1] * 30
    assert await Session.count().where(Session.token_hash.like("steps-p%")) == 60


async def test_write_steps_and_write_transactions_at_once_all_land(admin: Member, db_engine: str) -> None:
    """On SQLite the two meet at the file lock (the writer thread and a pooled connection
    each BEGIN IMMEDIATE); neither may fail with "database is locked" or lose a row."""
    now = datetime.now(UTC)

    async def by_transaction(n: int) -> None:
        async with write_transaction():
            await Session.count().where(Session.person == admin.id)
            await Session.insert(Session(
                token_hash=f"mixed-t{n}", person=admin.id, csrf_token="x",
                created_at=now, expires_at=now + timedelta(minutes=1),
            ))

    await asyncio.gather(
        *(by_transaction(n) for n in range(15)),
        *(write_steps(_two_sessions(admin.id, f"mixed-s{n}", fail=False)) for n in range(15)),
    )
    assert await Session.count().where(Session.token_hash.like("mixed-t%")) == 15
    assert await Session.count().where(Session.token_hash.like("mixed-s%")) == 30


async def test_write_steps_run_where_the_engine_wants_them(admin: Member, db_engine: str) -> None:
    """Whole, on the writer's own thread: SQLite's pooled writer connection, PostgreSQL's
    writer loop (never statement by statement on the app's busy event loop)."""
    expected = "market-sqlite-writer" if db_engine == "sqlite" else "market-pg-writer"
    seen: list[str] = []

    def steps(prefix: str):
        seen.append(threading.current_thread().name)
        yield from _two_sessions(admin.id, prefix, fail=False)
        seen.append(threading.current_thread().name)

    await asyncio.gather(write_steps(steps("thread-a")), write_steps(steps("thread-b")))
    assert seen == [expected] * 4
