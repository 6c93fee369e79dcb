"""Community structure (compounds, buildings, grids, households, teams), card versions,
erasure and the audit log.

Hand-written DDL per engine, like the first migration, and for the same reasons.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T02:00:00"
VERSION = "1.38.0"
DESCRIPTION = "community structure, cards, erasure, audit log"

_STATEMENTS = """
CREATE TABLE compound (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    name VARCHAR(50) NOT NULL,
    archived_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX compound_name ON compound (community, name);
CREATE TABLE building (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    compound INTEGER NOT NULL REFERENCES compound (id) ON DELETE RESTRICT,
    name VARCHAR(50) NOT NULL,
    archived_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX building_name ON building (compound, name);
CREATE TABLE grid (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    name VARCHAR(50) NOT NULL,
    archived_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX grid_name ON grid (community, name);
CREATE TABLE household (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    building INTEGER NOT NULL REFERENCES building (id) ON DELETE RESTRICT,
    unit VARCHAR(20) NOT NULL,
    room VARCHAR(20) NOT NULL,
    grid INTEGER REFERENCES grid (id) ON DELETE RESTRICT,
    archived_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX household_address ON household (building, unit, room);
CREATE TABLE team (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    name VARCHAR(50) NOT NULL,
    archived_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX team_name ON team (community, name);
ALTER TABLE person ADD COLUMN household INTEGER REFERENCES household (id) ON DELETE RESTRICT;
ALTER TABLE person ADD COLUMN card_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE person ADD COLUMN erased_at TIMESTAMPTZ;
CREATE INDEX person_household ON person (household);
CREATE TABLE team_member (
    id {pk},
    team INTEGER NOT NULL REFERENCES team (id) ON DELETE RESTRICT,
    person INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    is_leader BOOLEAN NOT NULL DEFAULT FALSE,
    joined_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX team_member_once ON team_member (team, person);
CREATE INDEX team_member_person ON team_member (person);
CREATE TABLE grid_worker (
    id {pk},
    grid INTEGER NOT NULL REFERENCES grid (id) ON DELETE RESTRICT,
    person INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT
);
CREATE UNIQUE INDEX grid_worker_once ON grid_worker (grid, person);
CREATE TABLE audit_log (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    actor INTEGER REFERENCES person (id) ON DELETE RESTRICT,
    action VARCHAR(50) NOT NULL,
    subject VARCHAR(100) NOT NULL,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_community ON audit_log (community, id)
"""

_PRIMARY_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "SERIAL PRIMARY KEY"}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_structure() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in _STATEMENTS.format(pk=_PRIMARY_KEY[engine.engine_type]).split(";"):
            await engine.run_ddl(statement.strip())

    manager.add_raw(create_structure)
    return manager
