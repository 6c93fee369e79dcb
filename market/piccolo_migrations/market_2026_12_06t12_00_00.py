"""Assisted check-in (issue 16): who checked a resident in or out by name and room.

Some residents come with neither card nor phone; an organizer finds them by name and room and
checks them in on their behalf. Such a stay keeps who did it, so the activity's page can count
assisted check-ins per organizer and the attendance API can say which stays were assisted:

- ``activity_stay.assisted_by``: the organizer (or admin) who checked the resident in by name;
  NULL for a check-in by the activity's code, a member code or a card.
- ``activity_stay.out_assisted_by``: the same for the check-out.

The index serves the per-organizer count.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T12:00:00"
VERSION = "1.38.0"
DESCRIPTION = "activity_stay: assisted check-in and check-out"

_STATEMENTS = [
    # Nullable with no default: SQLite accepts a REFERENCES clause in ADD COLUMN then.
    "ALTER TABLE activity_stay ADD COLUMN assisted_by INTEGER REFERENCES person (id) ON DELETE RESTRICT",
    "ALTER TABLE activity_stay ADD COLUMN out_assisted_by INTEGER REFERENCES person (id)"
    " ON DELETE RESTRICT",
    "CREATE INDEX activity_stay_assisted_by ON activity_stay (assisted_by)",
]


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order: the same for both."""
    return list(_STATEMENTS)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def add_assisted() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(add_assisted)
    return manager
