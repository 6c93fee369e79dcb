"""One-time access codes (issue 16): how imported residents and residents who forgot their PIN get in.

- ``access_code``: a code the office printed on a sealed slip for one resident, kept only as its
  Argon2id hash, with its purpose ("activate": the resident has no PIN yet; "reset": a forgotten
  PIN), who issued it, when it expires, and when it was used or voided. A partial unique index
  keeps at most one live code (neither used nor voided) per person, so a new slip voids the old.
- ``person_session.must_set_pin``: a session opened with such a code is good only for setting a
  new PIN; every other page and API call is refused until the PIN is set.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T10:00:00"
VERSION = "1.38.0"
DESCRIPTION = "one-time access codes"

_TABLES = """
CREATE TABLE access_code (
    id {primary_key},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    person INTEGER NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    purpose VARCHAR(10) NOT NULL,
    issued_by INTEGER REFERENCES person (id) ON DELETE RESTRICT,
    issued_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    voided_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX access_code_live ON access_code (person)
    WHERE used_at IS NULL AND voided_at IS NULL;
ALTER TABLE person_session ADD COLUMN must_set_pin BOOLEAN NOT NULL DEFAULT FALSE
"""

_PRIMARY_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "SERIAL PRIMARY KEY"}


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(primary_key=_PRIMARY_KEY[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_access_codes() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_access_codes)
    return manager
