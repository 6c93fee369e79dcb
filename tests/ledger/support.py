"""Fresh, empty ledger databases for tests: an SQLite file, or a PostgreSQL schema.

The engine comes from ``MARKET_TEST_DB`` (``sqlite`` by default, or ``postgres``),
so the whole suite runs once per engine.
"""

import asyncio
import os
import tempfile
import uuid
from contextlib import asynccontextmanager

import asyncpg

from ledger import Ledger
from tests.conftest import PG_URL

ENGINE = os.environ.get("MARKET_TEST_DB", "sqlite")


async def new_database() -> str:
    """A URL of a new, empty database the ledger can be installed in."""
    if ENGINE == "postgres":
        schema = f"t_{uuid.uuid4().hex[:12]}"
        con = await asyncpg.connect(PG_URL)
        try:
            await con.execute(f"CREATE SCHEMA {schema}")
        finally:
            await con.close()
        joiner = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{joiner}search_path={schema}"
    directory = tempfile.mkdtemp(prefix="ledger-test-")
    return f"sqlite:///{directory}/ledger.db"


async def drop_database(url: str) -> None:
    if ENGINE == "postgres":
        schema = url.rsplit("search_path=", 1)[1]
        con = await asyncpg.connect(PG_URL)
        try:
            await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await con.close()


async def install(url: str) -> None:
    ledger = Ledger.from_url(url)
    await ledger.store.open()
    try:
        await ledger.store.install()
    finally:
        await ledger.store.close()


@asynccontextmanager
async def fresh_ledger(**options):
    """A started ledger on a new database, dropped afterwards."""
    url = await new_database()
    await install(url)
    ledger = Ledger.from_url(url, **options)
    await ledger.start()
    try:
        yield ledger
    finally:
        await ledger.close()
        await drop_database(url)


class Books:
    """The accounts of one community, as most tests need them."""

    def __init__(self, ledger: Ledger, community: int = 1) -> None:
        self.ledger = ledger
        self.community = community

    async def open(self, wallets: int = 2) -> "Books":
        open_account = self.ledger.open_account
        self.issuance = (await open_account(self.community, "issuance")).id
        self.shop = (await open_account(self.community, "shop")).id
        self.expiry = (await open_account(self.community, "expiry")).id
        self.wallets = [
            (await open_account(self.community, "wallet", f"person-{i}")).id for i in range(wallets)
        ]
        return self


def run(coro):
    return asyncio.run(coro)
