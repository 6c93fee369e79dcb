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
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.apps.migrations.tables import Migration
from piccolo.engine import engine_finder
from piccolo.engine.base import Engine
from piccolo.engine.sqlite import TransactionType
from piccolo.querystring import QueryString

from ledger import Ledger
from ledger.model import Request
from ledger.stores.sqlite import BUSY_TIMEOUT
from market.errors import DatabaseUnavailable
from market.pg_writer import PostgresWriter
from market.settings import EngineName
from market.sqlite_pool import Lease

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
    """A transaction for work that reads and then writes.

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


#: Hand-written SQL (``{}`` marks each argument) and its arguments.
Statement = tuple[str, tuple]


@dataclass(frozen=True)
class LedgerStep:
    """A step that moves points: the ledger's batch, inside the same transaction (its answer
    is the list of transfers; a refusal is raised and rolls everything back)."""

    ledger: Ledger
    requests: list[Request]


#: A transaction as a generator: it yields statements (sent back their rows) and ledger steps.
Steps = Generator[Statement | LedgerStep, Any, T]


async def run_steps(steps: Steps[T]) -> T:
    """Run ``steps`` one statement at a time in the transaction already open, if any."""
    answer: Any = None  # a generator's first send must be None
    while True:
        try:
            step = steps.send(answer)
        except StopIteration as done:
            return done.value
        if isinstance(step, LedgerStep):
            answer = await step.ledger.apply_within(transaction_connection(), step.requests)
        else:
            answer = await fetch(step[0], *step[1])


async def write_steps(steps: Steps[T]) -> T:
    """Run a write transaction whose statements ``steps`` yields, deciding between them in Python.

    On SQLite with the app's pool the whole transaction — BEGIN IMMEDIATE,
    every statement, the ledger's batch, COMMIT — is one hop to the pool's
    writer thread, instead of one hop per statement each waiting behind every
    other ready request on the event loop (the check-in benchmark's loop sat
    idle 32 % of the time in that queue, docs/PERFORMANCE.md). The writer runs
    the transactions queued for it back to back: a lock taken and handed on by
    the event loop was held 0.8 ms longer per redemption than its transaction
    ran (the loop's own latency, twice), and every redemption waited for it.
    A ``write_transaction()`` elsewhere meets the writer at SQLite's file lock
    (BEGIN IMMEDIATE, the busy timeout), as the ledger's own writer does. On
    PostgreSQL the app's ``market.pg_writer`` runs them, for the same reason
    (its docstring has the measurement). Without either (a CLI, a test's own
    loop) each statement is awaited in ``write_transaction()``; inside an open
    transaction the steps join it.
    """
    db = engine()
    if not db.transaction_exists():
        if db.engine_type == "sqlite":
            writer = db.writer()  # type: ignore[attr-defined]
            if writer is not None:
                return await writer.run(lambda con: _steps_in_thread(con, steps))
        elif (pg_writer := _pg_writer_here()) is not None:
            return await pg_writer.run(lambda con: _steps_on_postgres(con, steps))
    async with write_transaction():
        return await run_steps(steps)


def _numbered(sql: str) -> str:
    """``{}`` placeholders as PostgreSQL's ``$1``, ``$2``, …"""
    parts = sql.split("{}")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


async def _steps_on_postgres(con: asyncpg.Connection, steps: Steps[T]) -> T:
    """The steps in the transaction ``PostgresWriter`` has open on ``con``, on its loop."""
    answer: Any = None
    while True:
        try:
            step = steps.send(answer)
        except StopIteration as done:
            return done.value
        if isinstance(step, LedgerStep):
            answer = await step.ledger.apply_within(con, step.requests)
        else:
            answer = [dict(row) for row in await con.fetch(_numbered(step[0]), *step[1])]


def _steps_in_thread(con: sqlite3.Connection, steps: Steps[T]) -> T:
    con.execute("BEGIN IMMEDIATE")
    try:
        answer: Any = None
        while True:
            try:
                step = steps.send(answer)
            except StopIteration as done:
                con.execute("COMMIT")
                return done.value
            if isinstance(step, LedgerStep):
                answer = step.ledger.apply_on_sqlite(con, step.requests)
            else:
                answer = con.execute(step[0].replace("{}", "?"), step[1]).fetchall()
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise


def transaction_connection() -> Any:
    """The connection of the write transaction in progress, for ``Ledger.apply_within``:
    the ledger's rows then commit or roll back with the caller's (a redemption's
    points, stock and receipt together)."""
    db = engine()
    transaction = db.current_transaction.get()
    if transaction is None:
        raise RuntimeError("transaction_connection() is for use inside write_transaction()")
    connection = transaction.connection
    if db.engine_type == "sqlite" and not isinstance(connection, Lease):
        # Piccolo's own aiosqlite connection cannot run the ledger's batch in one hop.
        raise RuntimeError("the ledger joins a transaction only on the app's connection pool")
    return connection


def is_unique_violation(error: BaseException) -> bool:
    """Did an insert break a UNIQUE constraint or index (on either engine)?"""
    if isinstance(error, asyncpg.UniqueViolationError):
        return True
    return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)


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
    else:
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
    """Connections kept open for the app's lifetime: asyncpg's pool on PostgreSQL,
    ``market.sqlite_pool`` on SQLite (one writer at a time, a few readers)."""
    db = engine()
    if db.engine_type == "postgres":
        # Fails loudly if the server is unreachable: better not to start at all.
        await db.start_connection_pool(min_size=1, max_size=max_size)
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


def _pg_writer_here() -> PostgresWriter | None:
    entry = _pg_writers.get(asyncio.get_running_loop())
    return None if entry is None else entry[0]
