"""Piccolo's SQLite engine, with its connections kept open while the app runs.

Piccolo's ``SQLiteEngine`` opens a new aiosqlite connection for every query
outside a transaction and for every transaction. Each is a new OS thread, and
starting it blocks the event loop: on the check-in benchmark the loop spent
17-25 % of its time in ``Thread.start`` and every request paid for it in its
session lookup (docs/PERFORMANCE.md). While the app runs, this engine lends
connections from a small pool instead; outside it (the CLI, a migration, a
test's own event loop) it behaves exactly like Piccolo's.

Pooled connections are in autocommit mode (Piccolo's default
``isolation_level=None``): a query outside a transaction is its own
transaction, so a connection goes back to the pool with nothing open. One
that still has a transaction open (a task cancelled between BEGIN and COMMIT)
is closed instead of being lent again.
"""

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from piccolo.engine.sqlite import SQLiteEngine, dict_factory

#: RETURNING (3.35) lets an insert answer with its row in the same statement.
MIN_SQLITE = (3, 35)

T = TypeVar("T")


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():  # the awaiting task was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _locked(error: BaseException | None) -> bool:
    """SQLITE_BUSY: another connection held the write lock past the busy timeout."""
    return isinstance(error, sqlite3.OperationalError) and (
        getattr(error, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class Connection:
    """One ``sqlite3`` connection owned by a thread of its own; work is sent to it whole.

    ``run(fn)`` is one hop to the thread whatever ``fn`` does, so a caller can
    run several statements (the ledger's batch inside a redemption) in one go.
    """

    def __init__(self, connection_kwargs: dict[str, Any], name: str = "market-sqlite") -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._con: sqlite3.Connection | None = None  # set by the thread, so before it starts
        #: It could not open the file: every job fails (set before the first is answered).
        self.broken = False
        self._thread = threading.Thread(
            target=self._serve, args=(connection_kwargs,), name=name, daemon=True
        )
        self._thread.start()

    def _serve(self, connection_kwargs: dict[str, Any]) -> None:
        con: sqlite3.Connection | None = None
        broken: BaseException | None = None
        try:
            con = sqlite3.connect(**connection_kwargs, check_same_thread=False)
            con.row_factory = dict_factory
            con.execute("PRAGMA foreign_keys = 1")  # per connection; Piccolo's tables rely on it
            self._con = con
        except Exception as failure:  # every job gets it, instead of waiting forever
            broken = failure
            self.broken = True
        while True:
            job = self._jobs.get()
            if job is None:
                if con is not None:
                    con.close()
                return
            fn, future = job
            result, error = None, broken
            if con is not None:
                try:
                    result = fn(con)
                except BaseException as failure:  # handed to the awaiting task
                    error = failure
            future.get_loop().call_soon_threadsafe(_settle, future, result, error)
            if _locked(error):
                self._fail_queued(error)

    def _fail_queued(self, error: BaseException) -> None:
        """The file stayed locked past the busy timeout: the jobs queued meanwhile fail with
        this one, instead of each waiting as long again in turn (the writer's queue)."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is None:  # closing: after what was queued before it, as ever
                self._jobs.put(None)
                return
            future = job[1]
            future.get_loop().call_soon_threadsafe(_settle, future, None, error)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        future = asyncio.get_running_loop().create_future()
        self._jobs.put((fn, future))
        return await future

    async def fetch(self, sql: str, parameters: Any = ()) -> list[dict]:
        return await self.run(lambda con: con.execute(sql, parameters).fetchall())

    @property
    def in_transaction(self) -> bool:
        # Read from the loop's thread while no job runs (the connection is lent to one task).
        return self._con is not None and self._con.in_transaction

    def retire(self) -> None:
        """Stop after the work already queued, without waiting for it."""
        self._jobs.put(None)

    async def close(self) -> None:
        self.retire()
        await asyncio.to_thread(self._thread.join)


class _Pool:
    """Up to ``size`` open connections of one event loop; a caller waits for a free one.
    Besides them, one writer: a connection whose thread runs whole write transactions
    one after the other, in the order they were sent."""

    def __init__(self, connection_kwargs: dict[str, Any], size: int) -> None:
        self.loop = asyncio.get_running_loop()
        self._kwargs = connection_kwargs
        self._slots = asyncio.Semaphore(size)
        self._idle: list[Connection] = []
        self._open: set[Connection] = set()
        self._writer: Connection | None = None
        self._closed = False
        self.users = 0

    def writer(self) -> Connection:
        # One that could not open the file is replaced: the file may be back.
        if self._writer is not None and self._writer.broken:
            self._open.discard(self._writer)
            self._writer.retire()
            self._writer = None
        if self._writer is None:
            self._writer = Connection(self._kwargs, name="market-sqlite-writer")
            self._open.add(self._writer)
        return self._writer

    async def acquire(self) -> Connection:
        await self._slots.acquire()
        if self._idle:
            return self._idle.pop()
        connection = Connection(self._kwargs)
        self._open.add(connection)
        return connection

    async def release(self, connection: Connection) -> None:
        try:
            if self._closed or connection.in_transaction or connection.broken:
                self._open.discard(connection)
                await connection.close()
            else:
                self._idle.append(connection)
        finally:
            self._slots.release()

    async def close(self) -> None:
        self._closed = True
        self._idle.clear()
        self._writer = None
        for connection in list(self._open):
            await connection.close()
        self._open.clear()


class Lease:
    """A pooled connection lent to one transaction: what Piccolo's transaction uses
    of a connection (``execute``), ``run`` for work done in one hop (the ledger's
    part of a redemption), and ``close``, which gives it back to the pool."""

    def __init__(self, pool: _Pool, connection: Connection) -> None:
        self.pool = pool
        self.connection = connection

    async def execute(self, sql: str, parameters: Any = ()) -> list[dict]:
        return await self.connection.fetch(sql, parameters)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self.connection.run(fn)

    async def close(self) -> None:
        await self.pool.release(self.connection)


class PooledSQLiteEngine(SQLiteEngine):
    __slots__ = ("_pool",)

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(path=path, **kwargs)
        self._pool: _Pool | None = None

    async def start_connection_pool(self, max_size: int = 4, **_: Any) -> None:
        """Open the pool, or join the one already open (several apps in one process,
        as the tests run two workers; the last to close it closes it)."""
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise RuntimeError(f"SQLite {sqlite3.sqlite_version} is older than 3.35")
        if self._pool is None:
            self._pool = _Pool(self.connection_kwargs, max_size)
        self._pool.users += 1

    async def close_connection_pool(self) -> None:
        pool = self._pool
        if pool is None:
            return
        pool.users -= 1
        if pool.users == 0:
            self._pool = None
            await pool.close()

    async def lease(self) -> Lease | None:
        """A pooled connection for work sent whole to its thread, or None without a pool here."""
        pool = self._pool_here()
        return None if pool is None else Lease(pool, await pool.acquire())

    def writer(self) -> Connection | None:
        """The connection whose thread runs write transactions back to back, or None
        without a pool here. ``run(fn)`` on it queues ``fn`` behind the writes sent
        before; the next one starts the moment one commits, without waiting for the
        event loop in between."""
        pool = self._pool_here()
        return None if pool is None else pool.writer()

    def _pool_here(self) -> _Pool | None:
        """The pool, if it belongs to the running event loop (asyncio's primitives are per loop)."""
        pool = self._pool
        if pool is None or pool.loop is not asyncio.get_running_loop():
            return None
        return pool

    async def get_connection(self) -> Any:
        """A connection for a transaction (Piccolo closes it at the end: that returns it)."""
        pool = self._pool_here()
        if pool is None:
            return await super().get_connection()
        return Lease(pool, await pool.acquire())

    async def _run_in_new_connection(
        self, query: str, args: list[Any] | None = None, query_type: str = "generic",
        table: Any = None,
    ) -> Any:
        pool = self._pool_here()
        if pool is None:
            return await super()._run_in_new_connection(query, args, query_type, table)
        connection = await pool.acquire()
        try:
            # One hop to the connection's thread for the statement and its rows.
            return await connection.fetch(query, args or [])
        finally:
            await pool.release(connection)

    async def _run_in_existing_connection(
        self, connection: Any, query: str, args: list[Any] | None = None,
        query_type: str = "generic", table: Any = None,
    ) -> Any:
        if not isinstance(connection, Lease):
            return await super()._run_in_existing_connection(connection, query, args, query_type, table)
        # The pooled connection already has its row factory and foreign keys on.
        return await connection.execute(query, args or [])
