"""The database the market's tables live in: migrations, write transactions, the pool.

Piccolo's engine comes from ``piccolo_conf`` (chosen by ``DATABASE_URL``). The
ledger opens its own connections to the same database; see ``market.app``.
"""

import asyncio
import contextlib
import functools
import io
import sqlite3
import weakref
from collections.abc import AsyncIterator
from typing import TypeVar

import asyncpg
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.apps.migrations.tables import Migration
from piccolo.engine import engine_finder
from piccolo.engine.base import Engine
from piccolo.engine.sqlite import TransactionType
from piccolo.querystring import QueryString

from ledger import SQLITE_BUSY_TIMEOUT as BUSY_TIMEOUT
from market.errors import DatabaseUnavailable
from market.pg_writer import SERVER_SETTINGS, PostgresWriter
from market.settings import EngineName

T = TypeVar("T")


@functools.cache
def engine() -> Engine:
    """Piccolo's engine (looked up once: ``engine_finder`` imports piccolo_conf on every call)."""
    found = engine_finder()
    if found is None:
        raise RuntimeError("piccolo_conf.py did not define a database engine (DB)")
    return found


def engine_name() -> EngineName:
    return "sqlite" if engine().engine_type == "sqlite" else "postgres"


#: One lock per event loop (tests run many loops): SQLite writers of this process queue here.
_sqlite_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


@contextlib.asynccontextmanager
async def write_transaction() -> AsyncIterator[None]:
    """A Piccolo transaction for the office's writes that move no points, stock or attendance
    (people, roles, cards, rules, photos, checkpoints); everything that does is a unit of
    ``market.writes``.

    On SQLite it must be BEGIN IMMEDIATE: a DEFERRED transaction that reads
    first fails with "database is locked" when it tries to write while another
    writer is active, and the busy timeout does not help with that upgrade.
    SQLite admits one writer at a time anyway; queueing this process's writers
    on an asyncio lock, instead of letting each connection poll the file lock,
    measured 46 -> 155 check-ins/s with 200 residents scanning at once.
    A transaction opened inside another one joins it (Piccolo nests them), so
    it must not wait for the lock its outer transaction holds.
    """
    db = engine()
    if db.engine_type != "sqlite":
        async with db.transaction():
            yield
        return
    if db.transaction_exists():
        yield
        return
    lock = _sqlite_writers.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with _held(lock), db.transaction(transaction_type=TransactionType.immediate):
        yield


@contextlib.asynccontextmanager
async def _held(lock: asyncio.Lock) -> AsyncIterator[None]:
    """``lock``, waited for no longer than SQLite waits for another process's writer: behind a
    writer stuck on a locked file each waiter would otherwise wait as long again, in turn."""
    try:
        async with asyncio.timeout(BUSY_TIMEOUT):
            await lock.acquire()
    except TimeoutError:
        raise DatabaseUnavailable() from None
    try:
        yield
    finally:
        lock.release()


async def fetch(sql: str, *args: object) -> list[dict]:
    """Rows of hand-written SQL (``{}`` marks each argument), in the current transaction if any.

    For the few queries every scan or request runs: building a Piccolo query
    cost more of the event loop than running it (32 % of the loop's samples
    on the check-in benchmark went to ``Query.querystrings``). Both engines
    give back the same Python types, as for Piccolo's own queries.
    """
    return await engine().run_querystring(QueryString(sql, *args))


def is_unique_violation(error: BaseException) -> bool:
    """Did an insert break a UNIQUE constraint or index (on either engine)?"""
    if isinstance(error, asyncpg.UniqueViolationError):
        return True
    return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)


#: Every PostgreSQL connection of the app's: plan each statement for its own arguments (see
#: ``market.pg_writer``).
PG_SERVER_SETTINGS = SERVER_SETTINGS

#: SQLite: writers queue on one lock anyway; the rest serve reads side by side.
SQLITE_POOL_SIZE = 4


class MigrationFailed(RuntimeError):
    pass


async def migrate() -> None:
    """Create or upgrade every app's tables (market and ledger); safe to run at every start."""
    db = engine()
    if db.engine_type == "sqlite":
        # Persistent in the file: readers stop blocking the writer.
        await db.run_ddl("PRAGMA journal_mode=WAL")
        await _run_migrations()
        return
    if db.pool is not None:  # an app's, already open
        await _run_migrations()
        return
    # Without a pool Piccolo opens a connection for every query of its migration runner: five at
    # every start of an app or a command on an up-to-date database (measured), each a server
    # process to fork and warm. One small pool for the lot, closed again: the app opens its own.
    await db.start_connection_pool(min_size=1, max_size=2, server_settings=PG_SERVER_SETTINGS)
    try:
        await _run_migrations()
    finally:
        await db.close_connection_pool()


async def _run_migrations() -> None:
    if engine().engine_type == "postgres":
        # Piccolo looks for its "migration" table in information_schema across
        # every schema; with several schemas in one database (tests, tenants)
        # it could find another schema's and never create ours. This creates
        # it in the schema the connection actually uses.
        await Migration.create_table(if_not_exists=True)
    chatter = io.StringIO()
    # Piccolo prints progress with emoji to stdout; a server's stdout is for its own logs.
    with contextlib.redirect_stdout(chatter):
        result = await run_forwards("all")
    if not result.success:
        raise MigrationFailed(f"{result.message}\n{chatter.getvalue()}")


@contextlib.asynccontextmanager
async def connection_pool(max_size: int = 10) -> AsyncIterator[None]:
    """Connections kept open for the app's lifetime: asyncpg's pool on PostgreSQL (the ledger
    reads through it too) and the writer's few on their own thread (``market.pg_writer``),
    ``market.sqlite_pool`` on SQLite (one writer at a time, a few readers)."""
    db = engine()
    if db.engine_type == "postgres":
        # Fails loudly if the server is unreachable: better not to start at all.
        await db.start_connection_pool(min_size=1, max_size=max_size, server_settings=PG_SERVER_SETTINGS)
        _open_pg_writer(db.config["dsn"])  # type: ignore[attr-defined]
    else:
        await db.start_connection_pool(max_size=SQLITE_POOL_SIZE)
    try:
        yield
    finally:
        try:
            if db.engine_type == "postgres":
                await _close_pg_writer()
        finally:
            await db.close_connection_pool()


#: PostgreSQL's writer of each event loop, and how many apps on that loop use it.
_pg_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list] = weakref.WeakKeyDictionary()


def _open_pg_writer(dsn: str) -> None:
    loop = asyncio.get_running_loop()
    if loop in _pg_writers:
        _pg_writers[loop][1] += 1
    else:
        _pg_writers[loop] = [PostgresWriter(dsn), 1]


async def _close_pg_writer() -> None:
    loop = asyncio.get_running_loop()
    entry = _pg_writers.get(loop)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] == 0:
        del _pg_writers[loop]
        await entry[0].close()


def pg_writer_here() -> PostgresWriter | None:
    """The app's PostgreSQL writer on this event loop, if the app's pools are open here."""
    entry = _pg_writers.get(asyncio.get_running_loop())
    return None if entry is None else entry[0]
