"""Doorplates (数字门牌, issue 18): a printed QR on each household's door, and the community's hotline.

- ``household.plate_version``: the version the household's printed doorplate carries in its
  signed code (``qr.Kind.DOORPLATE``: household, version). Reissuing a plate moves it on, so the
  old plate's code is refused at once, as a reissued member card's is.
- ``community.hotline``: the 民声 hotline (a community office's number, public by nature): what a
  doorplate tells anyone who is not of the household, NULL until the office sets it.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T16:00:00"
VERSION = "1.38.0"
DESCRIPTION = "doorplates and the community hotline"

STATEMENTS = (
    "ALTER TABLE household ADD COLUMN plate_version INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE community ADD COLUMN hotline VARCHAR(20)",
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def add_columns() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(add_columns)
    return manager
