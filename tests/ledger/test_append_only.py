"""The database itself refuses to change or delete a transfer, whoever asks."""

import sqlite3

import asyncpg
import pytest

from tests.ledger.support import ENGINE

STATEMENTS = [
    "UPDATE ledger_transfer SET amount = amount + 1 WHERE seq = 1",
    "UPDATE ledger_transfer SET memo = 'edited'",
    "DELETE FROM ledger_transfer WHERE seq = 1",
    "DELETE FROM ledger_transfer",
    "DELETE FROM ledger_account",
]


async def execute(ledger, sql: str) -> None:
    if ENGINE == "postgres":
        con = await asyncpg.connect(ledger.store.url)
        try:
            await con.execute(sql)
        finally:
            await con.close()
    else:
        con = sqlite3.connect(ledger.store.path, isolation_level=None)
        try:
            con.execute(sql)
        finally:
            con.close()


if ENGINE == "postgres":  # SQLite has no TRUNCATE; its DELETE without WHERE is covered
    STATEMENTS += ["TRUNCATE ledger_transfer CASCADE", "TRUNCATE ledger_account CASCADE"]


@pytest.mark.parametrize("sql", STATEMENTS)
async def test_transfers_cannot_be_changed_or_deleted(ledger, books, sql):
    await ledger.transfer("in", books.issuance, books.wallets[0], 10, "earn")
    before = await ledger.get("in")
    error = asyncpg.PostgresError if ENGINE == "postgres" else sqlite3.DatabaseError
    with pytest.raises(error, match=r"append-only|never deleted"):
        await execute(ledger, sql)
    assert await ledger.get("in") == before
    assert (await ledger.verify()).ok
