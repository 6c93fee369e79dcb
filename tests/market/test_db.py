"""The database helpers and the write executor: transactions survive concurrency on both engines,
a unit commits whole or not at all, and PostgreSQL's deadlocks are run again, not shown."""

import asyncio
import os
import threading
from datetime import UTC, datetime, timedelta

import pytest

from market import writes
from market.db import engine, migrate, write_transaction
from market.tables import Session
from market.writes import Busy, write
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


async def test_a_unit_commits_whole_or_not_at_all(admin: Member) -> None:
    assert await write(_two_sessions, admin.id, "steps-ok", fail=False) == 1
    assert await _count("steps-ok") == 2
    with pytest.raises(RuntimeError, match="half-way"):
        await write(_two_sessions, admin.id, "steps-bad", fail=True)
    assert await _count("steps-bad") == 0


async def test_a_unit_is_a_transaction_of_its_own(admin: Member) -> None:
    """Inside a Piccolo transaction a unit would wait for it on SQLite: refused outright."""
    with pytest.raises(RuntimeError, match="of its own"):
        async with write_transaction():
            await write(_two_sessions, admin.id, "steps-joined", fail=False)
    assert await _count("steps-joined") == 0


async def test_units_in_parallel_all_land(admin: Member) -> None:
    results = await asyncio.gather(*(write(_two_sessions, admin.id, f"steps-p{n}", fail=False)
                                     for n in range(30)))
    assert results == [1] * 30
    assert await Session.count().where(Session.token_hash.like("steps-p%")) == 60


async def test_units_and_write_transactions_at_once_all_land(admin: Member, db_engine: str) -> None:
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
        *(write(_two_sessions, admin.id, f"mixed-s{n}", fail=False) for n in range(15)),
    )
    assert await Session.count().where(Session.token_hash.like("mixed-t%")) == 15
    assert await Session.count().where(Session.token_hash.like("mixed-s%")) == 30


async def test_units_run_where_the_engine_wants_them(admin: Member, db_engine: str) -> None:
    """Whole, on the writer's own thread: SQLite's pooled writer connection, PostgreSQL's
    writer loop (never statement by statement on the app's busy event loop)."""
    expected = "market-sqlite-writer" if db_engine == "sqlite" else "market-pg-writer"
    seen: list[str] = []

    def steps(prefix: str):
        seen.append(threading.current_thread().name)
        yield from _two_sessions(admin.id, prefix, fail=False)
        seen.append(threading.current_thread().name)

    await asyncio.gather(write(steps, "thread-a"), write(steps, "thread-b"))
    assert seen == [expected] * 4


def _crossing(first: str, second: str, pause: float):
    """Steps: take ``first``'s row, wait, take ``second``'s row (each bumping its expiry)."""
    runs.append(first)
    bump = "UPDATE person_session SET expires_at = expires_at + interval '1 minute' WHERE token_hash = {}"
    yield (bump, (first,))
    yield ("SELECT pg_sleep({})", (pause,))
    yield (bump, (second,))
    return first


runs: list[str] = []


@pytest.mark.skipif(os.environ.get("MARKET_TEST_DB", "sqlite") != "postgres",
                    reason="SQLite has one writer: its transactions cannot deadlock")
async def test_a_deadlock_is_run_again_and_both_writes_land_once(admin: Member) -> None:
    """Two units take the same two rows in opposite orders: PostgreSQL aborts one of them
    as a deadlock; the executor runs it again, so both succeed and each applies once."""
    now = datetime.now(UTC)
    for name in ("cross-a", "cross-b"):
        await Session.insert(Session(token_hash=name, person=admin.id, csrf_token="x", created_at=now,
                                     expires_at=now + timedelta(minutes=1)))
    runs.clear()
    done = await asyncio.gather(write(_crossing, "cross-a", "cross-b", 0.3),
                                write(_crossing, "cross-b", "cross-a", 0.3))
    assert sorted(done) == ["cross-a", "cross-b"]
    assert len(runs) == 3, runs  # one of them ran twice: it was the deadlock's victim
    rows = await Session.select(Session.token_hash, Session.expires_at).where(
        Session.token_hash.is_in(["cross-a", "cross-b"]))
    assert {row["expires_at"] - now for row in rows} == {timedelta(minutes=3)}


@pytest.mark.skipif(os.environ.get("MARKET_TEST_DB", "sqlite") != "postgres",
                    reason="SQLite has one writer: its transactions cannot deadlock")
async def test_a_unit_that_never_gets_through_is_busy(admin: Member) -> None:
    attempts: list[int] = []

    def always_deadlocked():
        attempts.append(1)
        yield ("DO $$ BEGIN RAISE EXCEPTION 'staged' USING ERRCODE = '40P01'; END $$", ())

    with pytest.raises(Busy) as refused:
        await write(always_deadlocked)
    assert len(attempts) == writes.ATTEMPTS
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "1"}


@pytest.mark.skipif(os.environ.get("MARKET_TEST_DB", "sqlite") != "postgres",
                    reason="SQLite opens a file, not a server connection")
async def test_migrations_take_one_pool_not_a_connection_a_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each app's start and each ``market`` command checks the migrations. Without a pool Piccolo
    opened a server connection for every query of that check (five, measured): one small pool
    serves them all, and is closed again."""
    db = engine()
    await migrate()  # up to date, whatever ran before in this worker
    one_offs: list[object] = []
    new_connection = type(db).get_new_connection

    async def counted(self) -> object:
        one_offs.append(self)
        return await new_connection(self)

    monkeypatch.setattr(type(db), "get_new_connection", counted)
    await migrate()
    assert one_offs == []
    assert db.pool is None
