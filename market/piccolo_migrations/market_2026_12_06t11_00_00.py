"""Certificates in the national format (issue 16): identity documents, the issuing office, corrections.

民政部令第67号《志愿服务记录与证明出具办法》 asks a certificate for the volunteer's identity
(ID type and number, or the national volunteer number), the issuer (organisation, 负责人,
经办人, contact) and lets a volunteer ask for a correction of their record:

- ``person_identity``: at most one row per person (a unique index): the type and number of
  their ID document and their national volunteer number, each optional. Sensitive personal
  data: shown masked by default, exported to the person and emptied on erasure
  (``market.privacy.identity``). ``updated_by`` is who recorded it (the person or the office).
- ``certificate_office``: one row per community (a unique index): the 负责人 and 经办人 printed
  on its certificates and the office's contact phone.
- ``certificate_correction``: a resident's request to correct a certificate or record (free
  text, at most 500 characters) and the office's decision: ``open``, then ``accepted`` (with an
  optional note) or ``rejected`` (with a reason), once. Deciding moves no points.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T11:00:00"
VERSION = "1.38.0"
DESCRIPTION = "certificates: identity documents, issuing office, corrections"

_TABLES = """
CREATE TABLE person_identity (
    id {primary_key},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    person INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    id_type VARCHAR(20),
    id_number VARCHAR(30),
    volunteer_number VARCHAR(30),
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by INTEGER REFERENCES person (id) ON DELETE RESTRICT
);
CREATE UNIQUE INDEX person_identity_person ON person_identity (person);
CREATE TABLE certificate_office (
    id {primary_key},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    leader VARCHAR(20) NOT NULL DEFAULT '',
    handler VARCHAR(20) NOT NULL DEFAULT '',
    contact VARCHAR(20) NOT NULL DEFAULT '',
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by INTEGER REFERENCES person (id) ON DELETE RESTRICT
);
CREATE UNIQUE INDEX certificate_office_community ON certificate_office (community);
CREATE TABLE certificate_correction (
    id {primary_key},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    person INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    number VARCHAR(19) NOT NULL DEFAULT '',
    what TEXT NOT NULL,
    status VARCHAR(10) NOT NULL DEFAULT 'open',
    created_at TIMESTAMPTZ NOT NULL,
    decided_at TIMESTAMPTZ,
    decided_by INTEGER REFERENCES person (id) ON DELETE RESTRICT,
    note TEXT
);
CREATE INDEX certificate_correction_queue ON certificate_correction (community, status, id);
CREATE INDEX certificate_correction_person ON certificate_correction (person, id)
"""

_PRIMARY_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "SERIAL PRIMARY KEY"}


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(primary_key=_PRIMARY_KEY[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_certificate_tables() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_certificate_tables)
    return manager
