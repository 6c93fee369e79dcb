"""Parallel spending against one wallet: exactly the affordable number succeeds.

First a canary: a naive read-then-write spender on the same tables does overspend
under the same load, so the race the ledger must win is real here.
"""

import asyncio
import os
import subprocess
import sys
import textwrap

import aiosqlite
import asyncpg

from ledger import InsufficientFunds, Ledger
from tests.ledger.support import ENGINE, Books, drop_database, install, new_database

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def naive_spend(url: str, account: int, amount: int) -> bool:
    """Read the balance, check it, write the new balance: the classic lost update."""
    if ENGINE == "postgres":
        con = await asyncpg.connect(url)
        try:
            balance = await con.fetchval("SELECT balance FROM ledger_account WHERE id = $1", account)
            await asyncio.sleep(0.01)  # any await between read and write lets others in
            if balance < amount:
                return False
            await con.execute(
                "UPDATE ledger_account SET balance = $1 WHERE id = $2", balance - amount, account
            )
            return True
        finally:
            await con.close()
    async with aiosqlite.connect(url.removeprefix("sqlite:///"), timeout=30) as con:
        async with con.execute("SELECT balance FROM ledger_account WHERE id = ?", (account,)) as cur:
            (balance,) = await cur.fetchone()
        await asyncio.sleep(0.01)
        if balance < amount:
            return False
        await con.execute("UPDATE ledger_account SET balance = ? WHERE id = ?", (balance - amount, account))
        await con.commit()
        return True


async def test_naive_read_then_write_overspends():
    url = await new_database()
    try:
        await install(url)
        async with Ledger.from_url(url) as ledger:
            books = await Books(ledger).open(wallets=1)
            wallet = books.wallets[0]
            await ledger.transfer("seed", books.issuance, wallet, 100, "earn")
        results = await asyncio.gather(*[naive_spend(url, wallet, 10_00) for _ in range(30)])
        # 100 points buy 10 spends of 10; the naive version lets far more through.
        assert sum(results) > 10
    finally:
        await drop_database(url)


async def test_parallel_debits_through_the_ledger_are_exact(ledger, books):
    wallet = books.wallets[0]
    await ledger.transfer("seed", books.issuance, wallet, 1000, "earn")

    async def spend(i: int) -> bool:
        try:
            await ledger.transfer(f"spend-{i}", wallet, books.shop, "10.00", "redeem")
            return True
        except InsufficientFunds:
            return False

    results = await asyncio.gather(*[spend(i) for i in range(250)])
    assert sum(results) == 100
    assert (await ledger.balance(wallet)).balance == 0
    assert (await ledger.balance(books.shop)).balance == 1000
    report = await ledger.verify()
    assert report.ok and report.entries == 101


SPENDER = textwrap.dedent("""
    import asyncio, sys
    from ledger import InsufficientFunds, Ledger

    async def main(url, wallet, shop, name, n):
        ok = 0
        async with Ledger.from_url(url) as ledger:
            async def spend(i):
                nonlocal ok
                try:
                    await ledger.transfer(f"{name}-{i}", wallet, shop, "10.00", "redeem")
                    ok += 1
                except InsufficientFunds:
                    pass
            await asyncio.gather(*[spend(i) for i in range(n)])
        print(ok)

    url, wallet, shop, name, n = sys.argv[1:]
    asyncio.run(main(url, int(wallet), int(shop), name, int(n)))
""")


async def test_parallel_debits_from_several_processes_are_exact(ledger, books):
    """Several worker processes, each with its own writer, against one wallet."""
    wallet = books.wallets[0]
    await ledger.transfer("seed", books.issuance, wallet, 1000, "earn")
    url = ledger.store.url if ENGINE == "postgres" else f"sqlite:///{ledger.store.path}"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", SPENDER, url, str(wallet), str(books.shop), f"p{k}", "60",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        )
        for k in range(4)
    ]
    outputs = [await p.communicate() for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    succeeded = sum(int(out) for out, _ in outputs)
    assert succeeded == 100  # 240 attempts at 10 points against 1000
    assert (await ledger.balance(wallet)).balance == 0
    report = await ledger.verify()
    assert report.ok and report.entries == 101
