"""Activities, attendance stays (one per activity and person) and the scan log.

Hand-written DDL per engine, like the earlier migrations, and for the same reasons.
Amounts (points, hours) are integer hundredths: BIGINT on PostgreSQL, INTEGER (64-bit)
on SQLite, as Piccolo's BigInt declares them; never Numeric, which SQLite stores as floats.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T03:00:00"
VERSION = "1.38.0"
DESCRIPTION = "activities, stays, scan log"

_STATEMENTS = """
CREATE TABLE activity (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    organizer INTEGER REFERENCES person (id) ON DELETE RESTRICT,
    title VARCHAR(100) NOT NULL,
    category VARCHAR(20) NOT NULL,
    location VARCHAR(100) NOT NULL DEFAULT '',
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ NOT NULL,
    points_per_checkin {bigint} NOT NULL DEFAULT 0 CHECK (points_per_checkin >= 0),
    points_per_hour {bigint} NOT NULL DEFAULT 0 CHECK (points_per_hour >= 0),
    max_hours {bigint} CHECK (max_hours >= 0),
    capacity INTEGER CHECK (capacity > 0),
    requires_approval BOOLEAN NOT NULL DEFAULT FALSE,
    team INTEGER REFERENCES team (id) ON DELETE RESTRICT,
    grids TEXT NOT NULL DEFAULT '',
    buildings TEXT NOT NULL DEFAULT '',
    status VARCHAR(20) NOT NULL DEFAULT 'scheduled',
    cancel_reason TEXT,
    cancelled_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX activity_community ON activity (community, starts_at);
CREATE TABLE activity_stay (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    activity INTEGER NOT NULL REFERENCES activity (id) ON DELETE RESTRICT,
    person INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    in_at TIMESTAMPTZ NOT NULL,
    out_at TIMESTAMPTZ,
    hours {bigint} CHECK (hours >= 0),
    points_in {bigint} NOT NULL DEFAULT 0,
    points_out {bigint},
    status VARCHAR(20) NOT NULL DEFAULT 'in',
    approval VARCHAR(20),
    review_reason TEXT
);
CREATE UNIQUE INDEX activity_stay_once ON activity_stay (activity, person);
CREATE INDEX activity_stay_person ON activity_stay (person, status);
CREATE INDEX activity_stay_open ON activity_stay (status, activity);
CREATE TABLE activity_scan (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    activity INTEGER REFERENCES activity (id) ON DELETE RESTRICT,
    person INTEGER REFERENCES person (id) ON DELETE RESTRICT,
    scanner INTEGER REFERENCES person (id) ON DELETE RESTRICT,
    direction VARCHAR(3) NOT NULL,
    outcome VARCHAR(20) NOT NULL,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX activity_scan_activity ON activity_scan (activity, id)
"""

_PRIMARY_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "SERIAL PRIMARY KEY"}
_BIGINT = {"sqlite": "INTEGER", "postgres": "BIGINT"}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_activities() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in _STATEMENTS.format(
            pk=_PRIMARY_KEY[engine.engine_type], bigint=_BIGINT[engine.engine_type]
        ).split(";"):
            await engine.run_ddl(statement.strip())

    manager.add_raw(create_activities)
    return manager
