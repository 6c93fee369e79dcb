"""The classifier: which errors mean "the database cannot be reached or used now" (503
``database_unavailable`` with ``Retry-After``), and which stay bugs (500). The errors are the
drivers' own, caused for real where that can be done here; the API answers a problem, a page
answers a readable page. And the SQLite pool gets over a file it could not open."""

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar, Router, get
from litestar.testing import AsyncTestClient

from ledger.stores.pg_pool import open_pool
from market import db
from market.errors import (
    RETRY_AFTER,
    DatabaseUnavailable,
    _classify,
    database_unavailable,
    problem_response,
)
from market.sqlite_pool import PooledSQLiteEngine
from market.web.site import page_error, template_config
from tests.conftest import PG_URL, db_engine
from tests.market.test_outage import closed_port


async def caught(make: Callable[[], Awaitable[object]]) -> BaseException:
    try:
        await make()
    except BaseException as error:
        return error
    raise AssertionError("it did not fail")


def failure(make: Callable[[], object]) -> BaseException:
    try:
        make()
    except BaseException as error:
        return error
    raise AssertionError("it did not fail")


async def refused() -> BaseException:
    return await caught(lambda: asyncpg.connect(f"postgresql://postgres@127.0.0.1:{closed_port()}/x",
                                                timeout=2))


def raised(error: BaseException, during: BaseException | None = None) -> BaseException:
    """``error`` as if raised while handling ``during`` (its __context__)."""
    try:
        try:
            if during is not None:
                raise during
        finally:
            raise error
    except BaseException as result:
        return result


async def test_a_refused_connection_is_the_database_being_away() -> None:
    error = await refused()
    assert isinstance(error, ConnectionRefusedError)
    assert database_unavailable(error)
    status, reason, _, headers, _ = _classify(error)
    assert (status, reason, headers) == (503, "database_unavailable", {"Retry-After": str(RETRY_AFTER)})


@pytest.mark.parametrize("error", [
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.CrashShutdownError("terminating connection because of crash of another"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
    asyncpg.InterfaceError("cannot call Transaction.rollback(): the underlying connection is closed"),
    asyncpg.InterfaceError("cannot call Connection.fetch(): connection has been released back to the pool"),
    DatabaseUnavailable(),
], ids=lambda e: type(e).__name__)
def test_what_asyncpg_raises_when_the_server_goes(error: BaseException) -> None:
    assert database_unavailable(error)
    assert _classify(error)[:2] == (503, "database_unavailable")  # type: ignore[arg-type]


def test_a_later_error_about_the_dead_connection_is_classified_by_its_cause() -> None:
    # Seen at every stop under load: the statement's error, then the rollback's about it.
    lost = asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    later = raised(asyncpg.InterfaceError("cannot call Transaction.__aexit__(): it is released"),
                   during=lost)
    assert database_unavailable(later)
    grouped = ExceptionGroup("task group", [ValueError("unrelated"), lost])
    assert database_unavailable(grouped)


async def test_bugs_and_refusals_stay_what_they_are(tmp_path: Path) -> None:
    missing_file = failure((tmp_path / "no-such-file").read_bytes)
    with sqlite3.connect(tmp_path / "x.db") as con:
        con.execute("CREATE TABLE t (x UNIQUE)")
        con.execute("INSERT INTO t VALUES (1)")
        duplicate = failure(lambda: con.execute("INSERT INTO t VALUES (1)"))
    assert isinstance(missing_file, FileNotFoundError)
    assert isinstance(duplicate, sqlite3.IntegrityError)
    for error in (
        missing_file,  # an OSError, but not the driver's
        raised(TimeoutError()),  # the app's own time limit, not the pools'
        asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        duplicate,
        ValueError("a bug"),
    ):
        assert not database_unavailable(error), repr(error)
        assert _classify(error)[:2] == (500, "internal")  # type: ignore[arg-type]


def test_sqlite_locked_past_the_busy_timeout_or_unopenable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0.05)
    try:
        locked = failure(lambda: waiter.execute("BEGIN IMMEDIATE"))
    finally:
        holder.close()
        waiter.close()
    unopenable = failure(lambda: sqlite3.connect(tmp_path / "no" / "x.db"))
    for error in (locked, unopenable):
        assert isinstance(error, sqlite3.OperationalError)
        assert database_unavailable(error), error


if db_engine() == "postgres":

    async def test_the_pools_time_limits_are_the_database_being_away() -> None:
        pool = await open_pool(PG_URL, min_size=1, max_size=1)
        try:
            async with pool.acquire() as held:
                no_free_connection = await caught(lambda: pool.acquire(timeout=0.1))
                slow = await caught(lambda: held.fetch("SELECT pg_sleep(2)", timeout=0.1))
        finally:
            await pool.close()
        for error in (no_free_connection, slow):
            assert isinstance(error, TimeoutError)
            assert database_unavailable(error)


    async def test_a_transaction_the_server_broke_leaves_its_task_usable() -> None:
        """A sweeper runs in one task for the app's lifetime: after a transaction whose
        connection the server closed, its next query must not still be inside it."""
        engine = db.engine()
        await engine.start_connection_pool(min_size=1, max_size=2)
        try:
            with pytest.raises(Exception) as broken:
                async with engine.transaction():
                    [row] = await db.fetch("SELECT pg_backend_pid() AS pid")
                    # What a stop does to every connection: "terminating connection due to
                    # administrator command".
                    other = await asyncpg.connect(PG_URL)
                    await other.execute("SELECT pg_terminate_backend($1)", row["pid"])
                    await other.close()
                    await db.fetch("SELECT 1")
            assert database_unavailable(broken.value)
            assert engine.current_transaction.get() is None
            assert (await db.fetch("SELECT 1 AS one"))[0]["one"] == 1
        finally:
            await engine.close_connection_pool()


# -- what a client sees --------------------------------------------------------------------------


def app_failing_with(error: Callable[[], Awaitable[BaseException]]) -> Litestar:
    async def fail() -> None:
        raise await error()

    @get("/api/thing")
    async def api_thing() -> None:
        await fail()

    @get("/thing")
    async def page_thing() -> None:
        await fail()

    pages = Router("/", route_handlers=[page_thing], exception_handlers={Exception: page_error})
    return Litestar([api_thing, pages], exception_handlers={Exception: problem_response},
                    template_config=template_config())


async def test_the_api_answers_a_problem_and_a_page_a_page() -> None:
    async with AsyncTestClient(app_failing_with(refused)) as client:
        chinese = await client.get("/api/thing")
        english = await client.get("/api/thing", headers={"Accept-Language": "en"})
        page = await client.get("/thing")
    for answer in (chinese, english, page):
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == str(RETRY_AFTER)
    assert chinese.headers["content-type"].startswith("application/problem+json")
    assert chinese.json()["reason"] == english.json()["reason"] == "database_unavailable"
    assert chinese.json()["detail"] == "暂时连不上数据库，请稍后再试"
    assert "database cannot be reached" in english.json()["detail"]
    assert page.headers["content-type"].startswith("text/html")
    assert "暂时连不上数据库" in page.text


# -- the SQLite pool after the file is back ----------------------------------------------------------


async def test_the_sqlite_pool_replaces_connections_that_could_not_open_the_file(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "not-yet"
    engine = PooledSQLiteEngine(path=str(folder / "market.db"))
    await engine.start_connection_pool(max_size=1)
    try:
        async def read() -> object:
            return await engine._run_in_new_connection("SELECT 1 AS one")

        async def write() -> object:
            writer = engine.writer()
            assert writer is not None
            return await writer.run(lambda con: con.execute("SELECT 2 AS two").fetchall())

        for use in (read, write):
            assert database_unavailable(await caught(use))
        folder.mkdir()
        assert await read() == [{"one": 1}]
        assert await write() == [{"two": 2}]
    finally:
        await engine.close_connection_pool()



# -- queues in front of a locked SQLite file ----------------------------------------------------------


async def test_writes_queued_behind_a_locked_file_give_up_with_the_first(tmp_path: Path) -> None:
    """The pool's writer runs its transactions one after the other: behind one waiting out the
    busy timeout, each would wait as long again in turn."""
    busy = 0.3
    path = tmp_path / "locked.db"
    engine = PooledSQLiteEngine(path=str(path), timeout=busy)
    await engine.start_connection_pool()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        writer = engine.writer()
        assert writer is not None
        started = time.monotonic()
        errors = await asyncio.gather(*(
            caught(lambda: writer.run(lambda con: con.execute("BEGIN IMMEDIATE"))) for _ in range(5)
        ))
        waited = time.monotonic() - started
    finally:
        holder.close()
        await engine.close_connection_pool()
    assert all(database_unavailable(error) for error in errors), errors
    assert waited < 2 * busy  # one busy timeout, not five


async def test_waiting_for_this_process_s_other_writers_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(db, "BUSY_TIMEOUT", 0.2)
    writer_stuck_on_the_file = asyncio.Lock()
    await writer_stuck_on_the_file.acquire()
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable):
        async with db._held(writer_stuck_on_the_file):
            pass
    assert time.monotonic() - started < 1
