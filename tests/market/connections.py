"""Connections of their own to the test database, as separate workers or hosts would have.

Each is a ``fetch(sql, *args)`` (hand-written SQL, ``{}`` for each argument) on its own
connection: an asyncpg connection on PostgreSQL, a ``sqlite3`` connection with a thread of
its own on SQLite. Statements sent through different ones really run side by side.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg

from market import db
from market.sqlite_pool import Connection

Fetch = Callable[..., Awaitable[list[dict]]]


def numbered(sql: str) -> str:
    """``{}`` placeholders as PostgreSQL's ``$1``, ``$2``, …"""
    parts = sql.split("{}")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


class _Postgres:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.turn = asyncio.Lock()  # one statement at a time on a connection, as in a pool

    async def fetch(self, sql: str, *args: object) -> list[dict]:
        async with self.turn:
            return [dict(row) for row in await self.connection.fetch(numbered(sql), *args)]

    async def close(self) -> None:
        await self.connection.close()


class _SQLite:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    async def fetch(self, sql: str, *args: object) -> list[dict]:
        return await self.connection.fetch(sql.replace("{}", "?"), args)

    async def close(self) -> None:
        await self.connection.close()


@contextlib.asynccontextmanager
async def separate_connections(count: int) -> AsyncIterator[list[Fetch]]:
    engine = db.engine()
    opened: list[_Postgres | _SQLite] = []
    try:
        for _ in range(count):
            if engine.engine_type == "postgres":
                opened.append(_Postgres(await asyncpg.connect(engine.config["dsn"])))  # type: ignore[attr-defined]
            else:
                opened.append(_SQLite(Connection(engine.connection_kwargs)))  # type: ignore[attr-defined]
        yield [connection.fetch for connection in opened]
    finally:
        for connection in opened:
            await connection.close()
