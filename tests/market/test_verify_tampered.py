"""`market ledger verify` on a database whose ledger was changed behind the triggers' back.

Runs the installed command in a subprocess, as an operator would, against a
database of its own (so the session's shared database stays intact).
"""

import asyncio
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg

from ledger import Ledger
from tests.conftest import ENGINE, PG_URL, run_on_postgres

MARKET = str(Path(sys.executable).with_name("market"))


def market(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "MARKET_SECRET_KEY": "k" * 32}
    return subprocess.run([MARKET, *args], env=env, capture_output=True, text=True, timeout=60)


async def fill(url: str) -> None:
    async with Ledger.from_url(url) as ledger:
        issuance = (await ledger.open_account(1, "issuance")).id
        wallet = (await ledger.open_account(1, "wallet", "7")).id
        for i in range(6):
            await ledger.transfer(f"earn-{i}", issuance, wallet, "2.50", "earn")


async def tamper_postgres(url: str) -> None:
    con = await asyncpg.connect(url)
    try:
        await con.execute("ALTER TABLE ledger_transfer DISABLE TRIGGER USER")
        await con.execute("UPDATE ledger_transfer SET amount = 25000 WHERE number = 4")
        await con.execute("ALTER TABLE ledger_transfer ENABLE TRIGGER USER")
    finally:
        await con.close()


def tamper_sqlite(path: str) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    try:
        (trigger,) = con.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'ledger_transfer_no_update'"
        ).fetchone()
        con.execute("DROP TRIGGER ledger_transfer_no_update")
        con.execute("UPDATE ledger_transfer SET amount = 25000 WHERE number = 4")
        con.execute(trigger)
    finally:
        con.close()


def test_verify_exits_1_and_names_the_changed_transfer(tmp_path):
    schema = f"t_{uuid.uuid4().hex[:12]}"
    if ENGINE == "postgres":
        asyncio.run(run_on_postgres(f"CREATE SCHEMA {schema}"))
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}search_path={schema}"
    else:
        url = f"sqlite:///{tmp_path}/tampered.db"
    try:
        migrated = market(url, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        asyncio.run(fill(url))

        good = market(url, "ledger", "verify")
        assert good.returncode == 0, good.stderr
        assert "entries:  6" in good.stdout and "ledger OK" in good.stdout

        if ENGINE == "postgres":
            asyncio.run(tamper_postgres(url))
        else:
            tamper_sqlite(f"{tmp_path}/tampered.db")

        bad = market(url, "ledger", "verify")
        assert bad.returncode == 1
        assert "community 1 at entry 4 (id earn-3)" in bad.stderr
        assert "hash does not match" in bad.stderr
    finally:
        if ENGINE == "postgres":
            asyncio.run(run_on_postgres(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
