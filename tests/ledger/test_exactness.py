"""100,000 small transfers sum exactly: no float anywhere between the API and the disk."""

import asyncio
from decimal import Decimal

SMALL = ["0.01", "0.10", "0.20", "0.30", "0.07", "1.11", "0.03"]


async def test_100000_small_transfers_sum_exactly(ledger, books):
    alice, bob = books.wallets
    expected = Decimal(0)
    n = 100_000
    chunk = 2_000
    for start in range(0, n, chunk):
        calls = []
        for i in range(start, start + chunk):
            amount = SMALL[i % len(SMALL)]
            expected += Decimal(amount)
            calls.append(ledger.transfer(f"t{i}", books.issuance, alice if i % 2 else bob, amount, "earn"))
        await asyncio.gather(*calls)
    a, b = (await ledger.balance(alice)).balance, (await ledger.balance(bob)).balance
    assert a + b == expected
    # Worked out by hand: 14,285 whole cycles of 1.82, then 0.01+0.10+0.20+0.30+0.07.
    assert str(a + b) == "25999.38" == str(expected)
    totals = await ledger.totals(1)
    assert totals["issuance"] == -expected and totals["wallet"] == expected
    report = await ledger.verify()
    assert report.ok and report.entries == n and report.total == 0
