"""Clearing accounts: points that cross from one ledger (community) to another (issue 17).

A resident of one community redeeming at another's shop moves points through the pair's
clearing accounts, one transfer in each ledger (``ledger.writer.crossing``). The accounts are a
new kind, so the CHECK on ``ledger_account.kind`` admits ``clearing`` (``ledger.schema.allow_clearing``).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

from ledger.drive import drive
from ledger.schema import allow_clearing

ID = "2026-12-06T01:00:00"
VERSION = "1.38.0"
DESCRIPTION = "clearing accounts"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="ledger", description=DESCRIPTION)

    async def upgrade():
        engine = engine_finder()

        async def answer(step: tuple):
            match step:
                case ("ddl", sql):
                    return await engine.run_ddl(sql)
                case ("rows", sql):
                    return [tuple(row.values()) for row in await engine.run_ddl(sql)]
            raise ValueError(f"unknown step {step[0]!r}")

        await drive(allow_clearing(engine.engine_type), answer)

    manager.add_raw(upgrade)
    return manager
