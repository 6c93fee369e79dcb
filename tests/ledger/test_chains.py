"""A chain per ledger: its own numbers, genesis, head and check; on PostgreSQL its own lock."""

import asyncio
import time

import asyncpg
import pytest

from ledger import LedgerMismatch, single
from ledger.chain import genesis_of, new_origin
from ledger.stores.postgres import apply_on
from tests.ledger.support import ENGINE, Books


async def test_each_ledger_has_a_chain_of_its_own(ledger):
    a, b = await Books(ledger, 1).open(), await Books(ledger, 2).open()
    for i in range(3):
        await ledger.transfer(f"a{i}", a.issuance, a.wallets[0], 5, "earn")
        await ledger.transfer(f"b{i}", b.issuance, b.wallets[0], 7, "earn", ledger=2)
    first_a, first_b = await ledger.get("a0"), await ledger.get("b0")
    assert (first_a.number, first_b.number) == (1, 1)
    assert (await ledger.get("a2")).number == 3 and (await ledger.get("b2")).number == 3
    chains = {row[0]: row for row in await ledger.store.chains()}
    assert chains[1][1] == genesis_of(new_origin(1)) != chains[2][1] == genesis_of(new_origin(2))
    assert await ledger.head(1) == (3, (await ledger.get("a2")).hash)
    for community in (1, 2):
        report = await ledger.verify(community)
        assert report.ok and report.entries == 3 and report.accounts == 5
    whole = await ledger.verify()
    assert whole.ok and whole.entries == 6 and [c.entries for c in whole.chains] == [3, 3]


async def test_a_transfer_names_its_own_ledger(ledger):
    a, b = await Books(ledger, 1).open(), await Books(ledger, 2).open()
    with pytest.raises(LedgerMismatch):
        await ledger.transfer("x", a.issuance, a.wallets[0], 5, "earn", ledger=2)
    with pytest.raises(LedgerMismatch):
        await ledger.transfer("y", a.issuance, b.wallets[0], 5, "earn")
    assert await ledger.get("x") is None and await ledger.head(2) == (0, genesis_of(new_origin(2)))


async def test_one_ledger_changed_by_hand_fails_its_own_check_only(ledger):
    a, b = await Books(ledger, 1).open(), await Books(ledger, 2).open()
    await ledger.transfer("a", a.issuance, a.wallets[0], 5, "earn")
    await ledger.transfer("b", b.issuance, b.wallets[0], 5, "earn")
    sql = f"UPDATE ledger_account SET balance = 99 WHERE id = {b.wallets[1]}"
    if ENGINE == "postgres":
        con = await asyncpg.connect(ledger.store.url)
        await con.execute(sql)
        await con.close()
    else:
        import sqlite3

        con = sqlite3.connect(ledger.store.path, isolation_level=None)
        con.execute(sql)
        con.close()
    assert (await ledger.verify(1)).ok
    broken = await ledger.verify(2)
    assert not broken.ok and broken.problem.ledger == 2
    assert not (await ledger.verify()).ok


@pytest.mark.skipif(ENGINE != "postgres", reason="SQLite has one writer for the whole file")
async def test_a_ledger_writing_does_not_hold_up_another(ledger):
    """A transaction that holds community 1's chain (as a redemption does until its commit)
    leaves community 2's transfers free, and only community 1's wait for it."""
    a, b = await Books(ledger, 1).open(), await Books(ledger, 2).open()
    con = await asyncpg.connect(ledger.store.url)
    try:
        holding = con.transaction()
        await holding.start()
        await apply_on(con, [single("a-held", a.issuance, a.wallets[0], 1, "earn", ledger=1)],
                       time.time_ns() // 1000)
        started = time.monotonic()
        other = await asyncio.wait_for(ledger.transfer("b-free", b.issuance, b.wallets[0], 1, "earn"), 5)
        assert other.number == 1 and time.monotonic() - started < 2
        same = asyncio.create_task(ledger.transfer("a-waits", a.issuance, a.wallets[0], 1, "earn"))
        await asyncio.sleep(0.5)
        assert not same.done(), "community 1's second transfer should wait for the first's commit"
        await holding.commit()
        assert (await asyncio.wait_for(same, 5)).number == 2
    finally:
        await con.close()
    assert (await ledger.verify()).ok
