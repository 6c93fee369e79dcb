"""Changing a stored transfer behind the triggers' back is found, and named, by verify."""

import sqlite3

import asyncpg
import pytest

from tests.ledger.support import ENGINE


async def tamper(ledger, sql: str) -> None:
    """Switch off the append-only guard, change the row, switch the guard back on."""
    if ENGINE == "postgres":
        con = await asyncpg.connect(ledger.store.url)
        try:
            await con.execute("ALTER TABLE ledger_transfer DISABLE TRIGGER USER")
            await con.execute(sql)
            await con.execute("ALTER TABLE ledger_transfer ENABLE TRIGGER USER")
        finally:
            await con.close()
        return
    con = sqlite3.connect(ledger.store.path, isolation_level=None)
    try:
        (trigger,) = con.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'ledger_transfer_no_update'"
        ).fetchone()
        con.execute("DROP TRIGGER ledger_transfer_no_update")
        con.execute(sql)
        con.execute(trigger)
    finally:
        con.close()


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("UPDATE ledger_transfer SET amount = 900 WHERE number = 3", "hash"),
        ("UPDATE ledger_transfer SET memo = '改过' WHERE number = 3", "hash"),
        ("UPDATE ledger_transfer SET credit = debit + 1 WHERE number = 3", "hash"),
    ],
)
async def test_verify_names_the_first_altered_transfer(ledger, books, sql, message):
    for i in range(5):
        await ledger.transfer(f"t{i}", books.issuance, books.wallets[0], 10, "earn")
    assert (await ledger.verify()).ok
    await tamper(ledger, sql)
    report = await ledger.verify()
    assert not report.ok
    assert (report.problem.seq, report.problem.transfer_id) == (3, "t2")
    assert message in report.problem.message


async def test_verify_finds_a_rehashed_forgery_by_its_balances(ledger, books):
    """A forger who also recomputes the hashes still cannot make the balances replay."""
    from ledger.chain import link

    for i in range(4):
        await ledger.transfer(f"t{i}", books.issuance, books.wallets[0], 10, "earn")
    rows = await ledger.store.scan_chain(books.community, 0, 100)
    rows[1].amount = 90_000
    ((_, previous, *_),) = await ledger.store.chains(books.community)  # the chain's genesis
    for row in rows:
        row.hash = previous = link(previous, row)
    for row in rows[1:]:
        await tamper(ledger, f"UPDATE ledger_transfer SET amount = {row.amount}, hash = '{row.hash}' "
                             f"WHERE number = {row.number}")
    report = await ledger.verify()
    assert not report.ok and report.problem.seq == 2
    assert "balances" in report.problem.message


async def test_verify_finds_an_account_row_changed_by_hand(ledger, books):
    await ledger.transfer("t", books.issuance, books.wallets[0], 10, "earn")
    if ENGINE == "postgres":
        con = await asyncpg.connect(ledger.store.url)
        await con.execute(f"UPDATE ledger_account SET balance = 5000 WHERE id = {books.wallets[0]}")
        await con.close()
    else:
        con = sqlite3.connect(ledger.store.path, isolation_level=None)
        con.execute(f"UPDATE ledger_account SET balance = 5000 WHERE id = {books.wallets[0]}")
        con.close()
    report = await ledger.verify()
    assert not report.ok and f"account {books.wallets[0]}" in report.problem.message
