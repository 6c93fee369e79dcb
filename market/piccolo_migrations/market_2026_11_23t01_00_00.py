"""Creates communities, people and sign-in sessions, with their composite indexes.

Written by hand with explicit DDL per engine: Piccolo's composite constraints
fail on SQLite, and a migration must not import the app's tables (they will
change; this file must not). Column types are the ones Piccolo itself declares
(TIMESTAMPTZ, VARCHAR(n), TEXT), so its converters read the values back, and
``tests/market/test_schema.py`` checks the tables still match.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T01:00:00"
VERSION = "1.38.0"
DESCRIPTION = "communities, people, sessions"

_TABLES = """
CREATE TABLE community (
    id {pk},
    name VARCHAR(100) NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE person (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    name VARCHAR(50) NOT NULL,
    phone VARCHAR(11) NOT NULL,
    password_hash TEXT,
    pin_hash TEXT,
    roles TEXT NOT NULL,
    card_no VARCHAR(10) NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX person_phone_community ON person (phone, community);
CREATE INDEX person_community ON person (community, id);
CREATE TABLE person_session (
    id {pk},
    token_hash VARCHAR(64) NOT NULL UNIQUE,
    person INTEGER NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    csrf_token VARCHAR(64) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX person_session_person ON person_session (person)
"""

# AUTOINCREMENT on SQLite so an id is never handed out twice: ledger wallets
# are owned by person ids.
_PRIMARY_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "SERIAL PRIMARY KEY"}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_tables() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in _TABLES.format(pk=_PRIMARY_KEY[engine.engine_type]).split(";"):
            await engine.run_ddl(statement.strip())

    manager.add_raw(create_tables)
    return manager
