"""Delegates (代办, issue 16): a family member who acts for an elder, and who acted for a reservation.

- ``delegate``: the office links a resident (the delegate, often a son or daughter) to an
  elder of the same community. A link is ended, never deleted, so who could act for whom when
  stays known; at most one open link per pair.
- ``shop_order.acted_by``: the delegate who reserved the goods for the order's resident (NULL:
  the resident did it themselves).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T13:00:00"
VERSION = "1.38.0"
DESCRIPTION = "delegates"

_TABLES = """
CREATE TABLE delegate (
    id {primary_key},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    elder INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    delegate INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    linked_by INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    linked_ms {bigint} NOT NULL,
    ended_by INTEGER REFERENCES person (id) ON DELETE RESTRICT,
    ended_ms {bigint}
);
CREATE UNIQUE INDEX delegate_open ON delegate (elder, delegate) WHERE ended_ms IS NULL;
CREATE INDEX delegate_of ON delegate (delegate) WHERE ended_ms IS NULL;
ALTER TABLE shop_order ADD COLUMN acted_by INTEGER REFERENCES person (id) ON DELETE RESTRICT
"""

_BIGINT = {"sqlite": "INTEGER", "postgres": "BIGINT"}
_PRIMARY_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "SERIAL PRIMARY KEY"}


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(bigint=_BIGINT[engine_type], primary_key=_PRIMARY_KEY[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_delegates() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_delegates)
    return manager
