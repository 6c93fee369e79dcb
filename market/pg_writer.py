"""PostgreSQL's writer: write transactions run one after another on a thread with its own event loop.

A redemption's transaction is about fifteen statements, and from its first stock
``UPDATE`` to its ``COMMIT`` it holds the rows of its products, which most other
carts need too. Awaited on the app's event loop, every statement waited behind
every other ready request before the next could be sent: PostgreSQL sat "idle in
transaction" between statements while the other counters queued on the product
rows (pg_stat_activity during ``bench/redemption_load.py``: 36 of 40 samples had
exactly one transaction running, waiting for the app, and the rest waiting for its
locks). Here the statements of one transaction follow each other as fast as the
connection answers, on a loop that has nothing else to do.

The writer has a few connections, not one: check-ins of different residents touch
different rows and ran side by side before; with one connection they queued and
fell from 248–425 to 127–335 check-outs/s. Transactions that do meet (two carts
with the same products) wait for each other at PostgreSQL's row locks, held
now for as long as the statements take rather than as long as the app's loop.
"""

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import asyncpg

from ledger import pg_open_pool

T = TypeVar("T")

#: As the ledger's own pool: a generic plan cached while a table was empty scanned it whole later.
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


class WriterTimeout(TimeoutError):
    """A time limit of the writer's pool ran out (``ledger.stores.pg_pool``). A class of its own:
    asyncio hands a plain ``TimeoutError`` back to the app's loop as a new one, without its
    cause, and the app could no longer tell that the database did not answer."""


class PostgresWriter:
    """A few asyncpg connections on a thread of its own; ``run(work)`` runs
    ``work(connection)`` inside a transaction there."""

    def __init__(self, dsn: str, size: int = 4) -> None:
        self._dsn = dsn
        self._size = size
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="market-pg-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        self._pool: asyncpg.Pool | None = None
        self._opening: asyncio.Lock | None = None  # made on the writer's loop

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        self._loop.run_forever()
        self._loop.close()

    async def run(self, work: Callable[[asyncpg.Connection], Coroutine[Any, Any, T]]) -> T:
        """``work`` in a transaction of its own; it commits when ``work`` returns and rolls
        back when it raises (the error is raised here)."""
        done = asyncio.run_coroutine_threadsafe(self._transaction(work), self._loop)
        return await asyncio.wrap_future(done)

    async def _transaction(self, work: Callable[[asyncpg.Connection], Coroutine[Any, Any, T]]) -> T:
        try:
            pool = self._pool or await self._open()
            async with pool.acquire() as connection, connection.transaction():
                return await work(connection)
        except TimeoutError as error:
            raise WriterTimeout(*error.args) from error

    async def _open(self) -> asyncpg.Pool:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._pool is None:
                # Bounded waits, as the ledger's pool: an outage fails fast (``pg_pool``).
                self._pool = await pg_open_pool(
                    self._dsn, min_size=1, max_size=self._size, server_settings=SERVER_SETTINGS,
                )
        return self._pool

    async def close(self) -> None:
        async def closing() -> None:
            if self._pool is not None:
                await self._pool.close()

        try:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(closing(), self._loop))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join)
