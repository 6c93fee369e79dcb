"""The pooled SQLite engine: connections are reused, never lent with a transaction open, and closed.

Each test builds its own engine on its own file, so it runs whichever engine
the rest of the suite is testing.
"""

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from piccolo.engine.sqlite import TransactionType
from piccolo.querystring import QueryString

from market.sqlite_pool import PooledSQLiteEngine


def _worker_threads() -> int:
    """Each pooled connection has a thread of its own."""
    return sum(1 for t in threading.enumerate() if t.name == "market-sqlite")


async def _sql(engine: PooledSQLiteEngine, sql: str, *args: object) -> list[dict]:
    return await engine.run_querystring(QueryString(sql, *args))


@pytest.fixture
async def engine(tmp_path: Path):
    engine = PooledSQLiteEngine(path=str(tmp_path / "pool.db"), timeout=5)
    await engine.run_ddl("PRAGMA journal_mode=WAL")
    await engine.run_ddl("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
    yield engine
    while engine._pool is not None:
        await engine.close_connection_pool()


async def test_queries_reuse_a_few_connections(engine: PooledSQLiteEngine) -> None:
    before = _worker_threads()
    await engine.start_connection_pool(max_size=2)
    await asyncio.gather(*(_sql(engine, "INSERT INTO item (name) VALUES ({})", f"n{i}") for i in range(50)))
    counts = await asyncio.gather(*(_sql(engine, "SELECT count(*) AS n FROM item") for _ in range(50)))
    assert {c[0]["n"] for c in counts} == {50}
    assert 1 <= _worker_threads() - before <= 2
    await engine.close_connection_pool()
    assert _worker_threads() == before


async def test_a_transaction_commits_or_rolls_back_and_its_connection_comes_back_clean(
    engine: PooledSQLiteEngine,
) -> None:
    await engine.start_connection_pool(max_size=1)
    async with engine.transaction(transaction_type=TransactionType.immediate):
        await _sql(engine, "INSERT INTO item (name) VALUES ('kept')")
    with pytest.raises(RuntimeError):
        async with engine.transaction(transaction_type=TransactionType.immediate):
            await _sql(engine, "INSERT INTO item (name) VALUES ('dropped')")
            raise RuntimeError("changed my mind")
    # One connection in the pool: this query runs on the one both transactions used.
    rows = await _sql(engine, "SELECT name FROM item ORDER BY id")
    assert rows == [{"name": "kept"}]
    (connection,) = engine._pool._idle  # type: ignore[union-attr]
    assert not connection.in_transaction


async def test_a_connection_left_inside_a_transaction_is_closed_not_lent_again(
    engine: PooledSQLiteEngine,
) -> None:
    await engine.start_connection_pool(max_size=1)
    lease = await engine.get_connection()
    await lease.execute("BEGIN IMMEDIATE")
    await lease.execute("INSERT INTO item (name) VALUES ('half done')")
    first = lease.connection
    # What a task cancelled between BEGIN and COMMIT leaves behind.
    await lease.close()
    assert engine._pool._idle == []  # type: ignore[union-attr]
    rows = await _sql(engine, "SELECT count(*) AS n FROM item")
    assert rows == [{"n": 0}]
    assert engine._pool._idle and engine._pool._idle[0] is not first  # type: ignore[union-attr]


async def test_a_unique_violation_leaves_the_pooled_connection_usable(engine: PooledSQLiteEngine) -> None:
    await engine.start_connection_pool(max_size=1)
    await _sql(engine, "INSERT INTO item (name) VALUES ('once')")
    with pytest.raises(Exception, match="UNIQUE"):
        await _sql(engine, "INSERT INTO item (name) VALUES ('once')")
    await _sql(engine, "INSERT INTO item (name) VALUES ('twice')")
    assert await _sql(engine, "SELECT count(*) AS n FROM item") == [{"n": 2}]


async def test_without_a_pool_each_query_opens_and_closes_its_own_connection(
    engine: PooledSQLiteEngine,
) -> None:
    before = _worker_threads()
    await _sql(engine, "INSERT INTO item (name) VALUES ('plain')")
    async with engine.transaction():
        assert await _sql(engine, "SELECT name FROM item") == [{"name": "plain"}]
    assert engine._pool is None
    assert _worker_threads() == before


async def test_the_pool_is_shared_until_its_last_user_closes_it(engine: PooledSQLiteEngine) -> None:
    await engine.start_connection_pool(max_size=2)
    pool = engine._pool
    await engine.start_connection_pool(max_size=2)  # a second app in the same process
    assert engine._pool is pool
    await engine.close_connection_pool()
    assert engine._pool is pool
    await _sql(engine, "SELECT 1")
    await engine.close_connection_pool()
    assert engine._pool is None


async def test_run_is_one_hop_for_several_statements_of_a_transaction(engine: PooledSQLiteEngine) -> None:
    await engine.start_connection_pool(max_size=1)

    def two_rows(con) -> int:
        con.executemany("INSERT INTO item (name) VALUES (?)", [("a",), ("b",)])
        return con.execute("SELECT count(*) FROM item").fetchone()["count(*)"]

    with pytest.raises(RuntimeError):
        async with engine.transaction(transaction_type=TransactionType.immediate) as transaction:
            assert await transaction.connection.run(two_rows) == 2
            raise RuntimeError("roll it all back")
    assert await _sql(engine, "SELECT count(*) AS n FROM item") == [{"n": 0}]


async def test_a_file_that_cannot_be_opened_fails_the_query_instead_of_hanging(tmp_path: Path) -> None:
    engine = PooledSQLiteEngine(path=str(tmp_path / "missing-directory" / "x.db"))
    await engine.start_connection_pool(max_size=1)
    try:
        with pytest.raises(sqlite3.OperationalError):
            await asyncio.wait_for(_sql(engine, "SELECT 1"), timeout=10)
    finally:
        await engine.close_connection_pool()


async def test_another_event_loop_does_not_use_the_pool(engine: PooledSQLiteEngine) -> None:
    await engine.start_connection_pool(max_size=1)

    def elsewhere() -> list[dict]:
        return asyncio.run(_sql(engine, "SELECT count(*) AS n FROM item"))

    # asyncio's primitives belong to one loop: another loop's query gets its own connection.
    assert await asyncio.to_thread(elsewhere) == [{"n": 0}]
    assert len(engine._pool._open) <= 1  # type: ignore[union-attr]


async def test_the_writer_runs_work_in_order_and_ends_with_the_pool(engine: PooledSQLiteEngine) -> None:
    def writers() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "market-sqlite-writer")

    before = writers()
    await engine.start_connection_pool(max_size=2)
    writer = engine.writer()
    assert writer is not None and engine.writer() is writer  # one per pool

    def insert(name: str):
        return lambda con: con.execute("INSERT INTO item (name) VALUES (?) RETURNING id", (name,)).fetchall()

    ids = await asyncio.gather(*(writer.run(insert(f"w{i}")) for i in range(30)))
    # Sent in this order, committed in this order (autocommit: each insert its own transaction).
    assert [row[0]["id"] for row in ids] == sorted(row[0]["id"] for row in ids)
    assert writers() == before + 1
    await engine.close_connection_pool()
    assert writers() == before
    assert engine.writer() is None  # no pool, no writer
