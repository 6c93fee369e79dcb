"""Piccolo's PostgreSQL engine, made to survive the server going away and coming back, and to
connect through PgBouncer when ``DATABASE_URL`` says ``?pgbouncer=1``.

Two changes to ``PostgresEngine`` for outages:

- its pool is the ledger's ``BoundedPool`` (``ledger.stores.pg_pool``): connecting, waiting for
  a free connection and each statement have limits, so a request fails within a known time
  instead of hanging as long as the outage;
- a transaction whose ROLLBACK or COMMIT fails (the connection died under it) still gives its
  connection back and leaves the task. Piccolo's own skips both when that statement raises, and
  the task then carries the dead transaction for good: found with the server stopped under
  load, a sweeper's every later query failed with "connection has been released" long after
  the server was back.

Its connections, pooled or not (commands without a pool open one per query or transaction), are
made by ``ledger.stores.pg_pool``, which fits them to PgBouncer when the URL says so.
"""

from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.utils.warnings import colored_warning

from ledger import pg_connect, pg_open_pool


def _open(connection: Any) -> bool:
    try:
        return not connection.is_closed()
    except asyncpg.InterfaceError:  # the pool has taken its dead connection back already
        return False


class _Transaction(PostgresTransaction):
    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent:
            return exception is None
        try:
            if exception is not None:
                if not self._rolled_back:
                    try:
                        await self.rollback()
                    except Exception:
                        # On a closed connection the server has rolled back already, and
                        # the error that broke the transaction says more than this one.
                        if _open(self.connection):
                            raise
            elif not self._committed and not self._rolled_back:
                await self.commit()
        finally:
            try:
                if self.engine.pool:
                    await self.engine.pool.release(self.connection)
                else:
                    await self.connection.close()
            finally:
                self.engine.current_transaction.reset(self.context)
        return exception is None


class BoundedPostgresEngine(PostgresEngine):
    async def start_connection_pool(self, **kwargs: Any) -> None:
        if self.pool:
            # As Piccolo's own: two apps on one loop (the tests' two workers) share the pool.
            colored_warning("A pool already exists - close it first if you want to create a new pool.")
            return
        config = {**self.config, **kwargs}
        self.pool = await pg_open_pool(
            config.pop("dsn"), min_size=config.pop("min_size", 1),
            max_size=config.pop("max_size", 10), **config,
        )

    async def get_new_connection(self) -> asyncpg.Connection:
        config = dict(self.config)
        return await pg_connect(config.pop("dsn"), **config)

    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        return _Transaction(engine=self, allow_nested=allow_nested)
