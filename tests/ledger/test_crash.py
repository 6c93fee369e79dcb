"""Kill -9 a process that is posting transfers, again and again: nothing acknowledged is lost.

After each kill a fresh process opens the books: every transfer the dead process
acknowledged is there, nothing is half-applied (verify replays every balance),
and the chain is whole.
"""

import asyncio
import os
import random
import signal
import subprocess
import sys

from ledger import Ledger
from tests.ledger.support import Books, drop_database, install, new_database

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIVES = 8


def live_and_die(url: str, life: int, accounts: list[int], acks_before_kill: int) -> list[str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.crash_child", url, f"life{life}", *map(str, accounts)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True,
    )
    acked: list[str] = []
    assert child.stdout is not None
    for line in child.stdout:
        acked.append(line.split()[1])
        if len(acked) >= acks_before_kill:
            break
    child.send_signal(signal.SIGKILL)
    rest, err = child.communicate(timeout=30)
    acked.extend(line.split()[1] for line in rest.splitlines() if line.startswith("ack "))
    assert child.returncode == -signal.SIGKILL, err
    return acked


async def check(url: str, acked: list[str]) -> int:
    async with Ledger.from_url(url) as ledger:
        found: set[str] = set()
        after = 0
        while rows := await ledger.store.scan_chain(1, after, 10_000):  # the one community's chain
            found.update(r.id for r in rows)
            after = rows[-1].number
        missing = [tid for tid in acked if tid not in found]
        assert not missing, f"acknowledged but lost: {missing[:5]}"
        report = await ledger.verify()
        assert report.ok, report.problem
        return report.entries


def test_kill_9_loses_nothing_acknowledged():
    async def prepare():
        url = await new_database()
        await install(url)
        async with Ledger.from_url(url) as ledger:
            books = await Books(ledger).open(wallets=1)
        return url, [books.issuance, books.wallets[0], books.shop]

    url, accounts = asyncio.run(prepare())
    rng = random.Random(20261123)
    try:
        total_acked: list[str] = []
        for life in range(LIVES):
            acked = live_and_die(url, life, accounts, acks_before_kill=rng.randint(50, 3_000))
            total_acked += acked
            entries = asyncio.run(check(url, total_acked))
            assert entries >= len(total_acked)
        assert len(total_acked) > LIVES * 50
    finally:
        asyncio.run(drop_database(url))
