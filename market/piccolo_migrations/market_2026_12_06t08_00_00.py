"""Earning categories (issue 15): a community's catalogue of what residents earn points for.

- ``earning_category``: one row per category of a community: its name (what an activity's
  ``category`` holds when it belongs to the category), the default points per participation
  and per hour an activity of the category starts from, a description residents read on the
  how-to-earn page, and whether it is archived (kept for the activities that name it, offered
  no more). Names are unique per community, archived ones included, so a name always means
  one category. Amounts are integer hundredths, times integer milliseconds.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T08:00:00"
VERSION = "1.38.0"
DESCRIPTION = "earning categories"

_TABLES = """
CREATE TABLE earning_category (
    id {primary_key},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    name VARCHAR(20) NOT NULL,
    points_per_checkin {bigint} NOT NULL DEFAULT 0,
    points_per_hour {bigint} NOT NULL DEFAULT 0,
    description TEXT NOT NULL DEFAULT '',
    archived BOOLEAN NOT NULL DEFAULT FALSE,
    created_ms {bigint} NOT NULL,
    updated_ms {bigint} NOT NULL
);
CREATE UNIQUE INDEX earning_category_name ON earning_category (community, name)
"""

_BIGINT = {"sqlite": "INTEGER", "postgres": "BIGINT"}
_PRIMARY_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "SERIAL PRIMARY KEY"}


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(bigint=_BIGINT[engine_type], primary_key=_PRIMARY_KEY[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_earning_categories() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_earning_categories)
    return manager
