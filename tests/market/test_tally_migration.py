"""Migration t11 fills the tallies with its own SQL, frozen as it was written: over rows written
before its triggers it gives what the triggers keep (and what ``market.reports.tallies`` counts)."""

import pytest

from market.db import engine_name, fetch
from market.piccolo_migrations import market_2026_11_23t11_00_00 as t11
from market.reports import tallies
from tests.market.support import Enrol
from tests.market.test_tallies import _every_kind_of_write, _kept


async def test_the_migration_fills_the_tallies_as_the_triggers_keep_them(
    enrol: Enrol, community, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _every_kind_of_write(enrol, community.id, monkeypatch)
    before = await _kept(community.id)
    for tally in tallies.TALLIES:  # as if the rows had been written before the triggers
        await fetch(f"DELETE FROM {tally.table}")
    for statement in t11.fill_statements(engine_name()):
        await fetch(statement)
    assert await _kept(community.id) == before
    assert sum(len(rows) for rows in before.values()) >= 10
    assert (await tallies.check())[0] == []


def test_the_migration_runs_no_live_code_of_the_market():
    source = t11.__file__
    with open(source, encoding="utf-8") as text:
        imports = [line for line in text if line.strip().startswith(("from market", "import market"))]
    assert imports == []


def test_the_tallies_import_no_migration():
    with open(tallies.__file__, encoding="utf-8") as text:
        assert "piccolo_migrations" not in text.read()
