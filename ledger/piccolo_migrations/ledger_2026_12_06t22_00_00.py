"""What others may read of the ledger: the views ``ledger_accounts``, ``ledger_transfers``,
``ledger_movements`` and ``ledger_chains`` (``ledger.schema.publish_views``).

Until now others (the market's reports) read the ledger's tables themselves, so no column of them
could change without reading every one of those queries. From now on they read these views only
(docs/LEDGER.md, "What market may read"); plain SELECTs, inlined by both engines. No row changes.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

from ledger.drive import drive
from ledger.schema import publish_views

ID = "2026-12-06T22:00:00"
VERSION = "1.38.0"
DESCRIPTION = "views others may read"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="ledger", description=DESCRIPTION)

    async def publish():
        engine = engine_finder()

        async def answer(step: tuple):
            match step:
                case ("ddl", sql):
                    return await engine.run_ddl(sql)
            raise ValueError(f"unknown step {step[0]!r}")

        await drive(publish_views(engine.engine_type), answer)

    manager.add_raw(publish)
    return manager
