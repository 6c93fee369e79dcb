"""Indexes for the leaderboards and dashboards (``market.reports.board_queries``).

A period's transfers are read by (ledger, at_us) from a covering index, so a board sums them
without touching the table; stays by (community, out_at) likewise; stock movements by
(product, at). The ledger's index needs the ledger's table: the market app's migrations run
after the ledger's (``migration_dependencies`` in ``market.piccolo_app``), and the index is
created only if the table is there, so an old ordering cannot fail the migration.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T08:00:00"
VERSION = "1.38.0"
DESCRIPTION = "indexes for leaderboards and dashboards"

MARKET_INDEXES = [
    "CREATE INDEX IF NOT EXISTS activity_stay_checked_out"
    " ON activity_stay (community, out_at, status, person, hours, approval)",
    "CREATE INDEX IF NOT EXISTS stock_movement_product_at ON stock_movement (product, at)",
]
LEDGER_INDEXES = [
    "CREATE INDEX IF NOT EXISTS ledger_transfer_period"
    " ON ledger_transfer (ledger, at_us, kind, phase, debit, credit, amount)",
]
_LEDGER_TABLE = {
    "sqlite": "SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = 'ledger_transfer'",
    "postgres": "SELECT 1 AS found WHERE to_regclass('ledger_transfer') IS NOT NULL",
}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_indexes() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in MARKET_INDEXES:
            await engine.run_ddl(statement)
        if await engine.run_ddl(_LEDGER_TABLE[engine.engine_type]):
            for statement in LEDGER_INDEXES:
                await engine.run_ddl(statement)

    manager.add_raw(create_indexes)
    return manager
