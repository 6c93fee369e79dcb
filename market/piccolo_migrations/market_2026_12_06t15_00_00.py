"""Moving house (搬家, issue 17): a resident of one community moves to another of its subdistrict.

- ``house_move``: one request to move ``person`` from ``from_community`` to ``to_community``, asked
  by an admin of the first (``requested_by``) and decided by an admin of the second (approved or
  refused) or cancelled by the first while pending (``decided_by``, ``decided_ms``). ``state`` is
  ``pending`` → ``done``, ``refused`` or ``cancelled``, once. A done move records the hundredths of
  points that crossed (``points``; 0 when the wallet was empty) and the id of the crossing
  (``transfer_id``; its legs are ``<id>:out`` and ``<id>:in``, ``ledger.crossing``), NULL while
  pending. At most one pending move per person (a partial unique index).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T15:00:00"
VERSION = "1.38.0"
DESCRIPTION = "house moves"

_TABLES = """
CREATE TABLE house_move (
    id {primary_key},
    person INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    from_community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    to_community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    requested_by INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    requested_ms {bigint} NOT NULL,
    approved_by INTEGER REFERENCES person (id) ON DELETE RESTRICT,
    decided_by INTEGER REFERENCES person (id) ON DELETE RESTRICT,
    decided_ms {bigint},
    state VARCHAR(10) NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'done', 'refused', 'cancelled')),
    note TEXT,
    points {bigint},
    transfer_id VARCHAR(200),
    CHECK (from_community <> to_community)
);
CREATE UNIQUE INDEX house_move_pending ON house_move (person) WHERE state = 'pending';
CREATE INDEX house_move_person ON house_move (person, id);
CREATE INDEX house_move_from ON house_move (from_community, id);
CREATE INDEX house_move_to ON house_move (to_community, id)
"""

_BIGINT = {"sqlite": "INTEGER", "postgres": "BIGINT"}
_PRIMARY_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "SERIAL PRIMARY KEY"}


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(bigint=_BIGINT[engine_type], primary_key=_PRIMARY_KEY[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_house_moves() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_house_moves)
    return manager
