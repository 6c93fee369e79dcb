"""A capped activity counts its stays on its own row, so its scans need not lock it whole.

Scans of an activity used to lock its row (``FOR UPDATE``) to decide its capacity and to
keep a cancellation out, so 200 people scanning one code queued on that row (511 of ~700
busy PostgreSQL samples under load). Now a scan only shares the row (``FOR KEY SHARE``:
scans run side by side, a cancellation or an edit waits for them), and a capped activity's
scans take a place with one guarded ``UPDATE activity SET taken = taken + 1 WHERE taken <
capacity``, which queues only the scans of that activity, and only while they run.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T01:00:00"
VERSION = "1.38.0"
DESCRIPTION = "activity: taken places"

_STATEMENTS = [
    "ALTER TABLE activity ADD COLUMN taken INTEGER NOT NULL DEFAULT 0",
    "UPDATE activity SET taken = (SELECT count(*) FROM activity_stay s WHERE s.activity = activity.id)",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def add_taken() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in _STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(add_taken)
    return manager
