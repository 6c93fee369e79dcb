"""Creates the ledger: accounts, append-only transfers, open holds, and their triggers."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

from ledger.schema import statements_v1

ID = "2026-11-23T00:00:00"
VERSION = "1.38.0"
DESCRIPTION = "ledger tables and append-only triggers"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="ledger", description=DESCRIPTION)

    async def create_ledger():
        engine = engine_finder()
        for statement in statements_v1(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_ledger)
    return manager
