"""A database made by the release before chains per community, upgraded in place.

The fixture (``tests/fixtures/release-f34a2c7.*``, made by ``make_release_db.py`` with that
release's code) holds two communities whose transfers alternate in the one installation-wide
chain, a reservation still open, reversals, and a signed checkpoint of each. After
``market migrate`` every old transfer is still checked, each community's new chain starts
from a genesis that names the old chain's head and the community's balances and holds at
the upgrade, and new transfers of both communities are checked on top.
"""

import asyncio
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ledger import Ledger
from ledger.chain import parse_origin
from tests.conftest import ENGINE, PG_URL, run_on_postgres

MARKET = str(Path(sys.executable).with_name("market"))
FIXTURES = Path(__file__).parent.parent / "fixtures"
SECRET = "release-fixture-key-0123456789abcdef"
#: What the release wrote: its legacy chain's length and the open reservation of each community.
LEGACY_ENTRIES = 34


def market(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "MARKET_SECRET_KEY": SECRET}
    return subprocess.run([MARKET, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def release_copy(tmp_path: Path):
    """A copy of the release's database, on the engine under test."""
    if ENGINE == "sqlite":
        target = tmp_path / "release.db"
        target.write_bytes((FIXTURES / "release-f34a2c7.sqlite").read_bytes())
        yield f"sqlite:///{target}"
        return
    schema = f"u_{uuid.uuid4().hex[:12]}"
    dump = (FIXTURES / "release-f34a2c7.pg.sql").read_text().replace("release_fixture", schema)
    loaded = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", PG_URL], input=dump,
                            capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}search_path={schema}"
    finally:
        asyncio.run(run_on_postgres(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def test_the_release_database_upgrades_and_stays_checkable(release_copy: str):
    migrated = market(release_copy, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    checked = market(release_copy, "ledger", "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"entries:  {LEGACY_ENTRIES} " in checked.stdout

    async def grow() -> tuple[list, dict, dict]:
        async with Ledger.from_url(release_copy) as ledger:
            chains = await ledger.store.chains()
            legacy_head = await ledger.store.scan_legacy(LEGACY_ENTRIES - 1, 10)
            # New movements in both communities, one of them resolving a reservation held
            # since before the upgrade.
            moved = {}
            for community in (1, 2):
                issuance = await ledger.account_id(community, "issuance")
                wallet = await ledger.account_id(community, "wallet", str(2 + community))
                moved[community] = await ledger.transfer(
                    f"after-{community}", issuance, wallet, "1.50", "adjustment", ledger=community)
            (open_hold,) = [h for h in await ledger.store.open_hold_ids(1)]
            moved["void"] = await ledger.void("after-void", open_hold)
            reports = {c: await ledger.verify(c) for c in (1, 2)}
            reports[None] = await ledger.verify()
            return chains, {"legacy": legacy_head, **moved}, reports

    chains, moved, reports = asyncio.run(grow())
    (last_legacy,) = moved["legacy"]
    assert last_legacy.seq == LEGACY_ENTRIES
    for ledger_id, _genesis, origin_text, head, _hash, _at in chains:
        origin = parse_origin(origin_text)
        assert origin["ledger"] == ledger_id and head == 0
        # Each chain starts from the old chain's head, with the community's balances then.
        assert origin["legacy"] == (LEGACY_ENTRIES, last_legacy.hash)
        assert origin["accounts"] and len(origin["holds"]) == 1
    assert moved[1].number == 1 and moved[2].number == 1  # two chains, each from the start
    assert moved["void"].number == 2 and moved["void"].ledger == 1
    assert all(report.ok for report in reports.values()), {k: r.problem for k, r in reports.items()}
    assert reports[1].entries == 2 and reports[2].entries == 1
    assert reports[None].entries == LEGACY_ENTRIES + 3
    assert {c.ledger: c.entries for c in reports[None].chains} == {1: 2, 2: 1}
    again = market(release_copy, "ledger", "verify", "--community", "幸福社区")
    assert again.returncode == 0, again.stderr


def test_a_changed_legacy_transfer_is_still_found(release_copy: str):
    assert market(release_copy, "migrate").returncode == 0
    sql = "UPDATE ledger_transfer SET memo = 'changed' WHERE seq = 5"
    if ENGINE == "sqlite":
        con = sqlite3.connect(release_copy.removeprefix("sqlite:///"), isolation_level=None)
        (trigger,) = con.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'ledger_transfer_no_update'").fetchone()
        con.execute("DROP TRIGGER ledger_transfer_no_update")
        con.execute(sql)
        con.execute(trigger)
        con.close()
    else:
        import asyncpg

        async def tamper() -> None:
            con = await asyncpg.connect(release_copy)
            await con.execute("ALTER TABLE ledger_transfer DISABLE TRIGGER USER")
            await con.execute(sql)
            await con.execute("ALTER TABLE ledger_transfer ENABLE TRIGGER USER")
            await con.close()

        asyncio.run(tamper())
    checked = market(release_copy, "ledger", "verify")
    assert checked.returncode == 1
    assert "at entry 5 " in checked.stderr and "hash does not match" in checked.stderr
