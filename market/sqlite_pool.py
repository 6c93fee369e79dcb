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
import sqlite3
from typing import Any

import aiosqlite
from piccolo.engine.sqlite import SQLiteEngine, dict_factory

#: RETURNING (3.35) lets an insert answer with its row in the same statement.
MIN_SQLITE = (3, 35)


class _Pool:
    """Up to ``size`` open connections of one event loop; a caller waits for a free one."""

    def __init__(self, connection_kwargs: dict[str, Any], size: int) -> None:
        self.loop = asyncio.get_running_loop()
        self._kwargs = connection_kwargs
        self._slots = asyncio.Semaphore(size)
        self._idle: list[aiosqlite.Connection] = []
        self._open: set[aiosqlite.Connection] = set()
        self._closed = False
        self.users = 0

    async def acquire(self) -> aiosqlite.Connection:
        await self._slots.acquire()
        try:
            if self._idle:
                return self._idle.pop()
            connection = await aiosqlite.connect(**self._kwargs)
            self._open.add(connection)
            connection.row_factory = dict_factory
            # Per connection, and Piccolo's tables rely on it.
            await connection.execute("PRAGMA foreign_keys = 1")
            return connection
        except BaseException:
            self._slots.release()
            raise

    async def release(self, connection: aiosqlite.Connection) -> None:
        try:
            if self._closed or connection.in_transaction:
                self._open.discard(connection)
                await connection.close()
            else:
                self._idle.append(connection)
        finally:
            self._slots.release()

    async def close(self) -> None:
        self._closed = True
        self._idle.clear()
        for connection in list(self._open):
            await connection.close()
        self._open.clear()


class Lease:
    """A pooled connection lent to one transaction: what Piccolo's transaction uses
    of a connection (``execute``), and ``close`` gives it back to the pool."""

    def __init__(self, pool: _Pool, connection: aiosqlite.Connection) -> None:
        self.pool = pool
        self.connection = connection

    def execute(self, sql: str, parameters: Any = None) -> Any:
        return self.connection.execute(sql, parameters)

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
            return await connection.execute_fetchall(query, args or [])
        finally:
            await pool.release(connection)

    async def _run_in_existing_connection(
        self, connection: Any, query: str, args: list[Any] | None = None,
        query_type: str = "generic", table: Any = None,
    ) -> Any:
        if not isinstance(connection, Lease):
            return await super()._run_in_existing_connection(connection, query, args, query_type, table)
        # The pooled connection already has its row factory and foreign keys on.
        return await connection.connection.execute_fetchall(query, args or [])
