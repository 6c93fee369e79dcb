"""State that every worker and host must share: roster import jobs, sign-in lock-outs, leases.

With ``market serve --workers 2`` (or two hosts) a request may reach any worker, so nothing it
needs can live in one process (issue 13). Measured before this migration: 25 of 60 status polls
and 29 of 60 job pages of a roster import answered 404 (the job lived in the other worker), and
2 workers without Redis allowed 10 wrong PINs instead of 5.

- ``roster_import``: an uploaded roster, from its check to its import — the file itself (so
  any worker can confirm it and run the import), its state, its progress (written now and then
  by the worker doing the work: ``changed_ms`` going stale means that worker died), the dry
  run's counts, the bad rows. JSON in TEXT columns: they are read whole, never queried.
- ``login_limit``: failed sign-ins per opaque login key (a keyed hash, never a phone number),
  counted by one guarded upsert per attempt (``market.auth.limiter``).
- ``background_lease``: one row per periodic job (closing stays, expiring orders, daily
  checkpoints): who holds it until when, and when it is next due (``market.background``).

Times are whole milliseconds since the epoch (UTC) in BIGINT columns, compared as numbers on
both engines, like the ledger's own times.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T02:00:00"
VERSION = "1.38.0"
DESCRIPTION = "shared state: roster import jobs, login lock-outs, background leases"

_TABLES = """
CREATE TABLE roster_import (
    id VARCHAR(32) PRIMARY KEY,
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    owner INTEGER NOT NULL,
    filename VARCHAR(255) NOT NULL,
    state VARCHAR(16) NOT NULL,
    stage VARCHAR(16) NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    summary TEXT,
    bad TEXT,
    reason VARCHAR(64),
    params TEXT,
    resume VARCHAR(16),
    content {blob},
    runner VARCHAR(128) NOT NULL DEFAULT '',
    created_ms {bigint} NOT NULL,
    changed_ms {bigint} NOT NULL
);
CREATE INDEX roster_import_community ON roster_import (community, created_ms);
CREATE INDEX roster_import_changed ON roster_import (changed_ms);
CREATE TABLE login_limit (
    login_key VARCHAR(128) PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    lockouts INTEGER NOT NULL DEFAULT 0,
    locked_until_ms {bigint} NOT NULL DEFAULT 0,
    last_seen_ms {bigint} NOT NULL DEFAULT 0,
    admitted INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX login_limit_last_seen ON login_limit (last_seen_ms);
CREATE TABLE background_lease (
    name VARCHAR(64) PRIMARY KEY,
    holder VARCHAR(128) NOT NULL DEFAULT '',
    lease_until_ms {bigint} NOT NULL DEFAULT 0,
    next_run_ms {bigint} NOT NULL,
    runs {bigint} NOT NULL DEFAULT 0,
    last_run_ms {bigint} NOT NULL DEFAULT 0
)
"""

_BIGINT = {"sqlite": "INTEGER", "postgres": "BIGINT"}
_BLOB = {"sqlite": "BLOB", "postgres": "BYTEA"}


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(bigint=_BIGINT[engine_type], blob=_BLOB[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_shared_state() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_shared_state)
    return manager
