"""A hash chain per ledger (community): its own sequence, genesis, head and lock.

Until now one chain and one lock served the whole installation, so every community's
writes waited for each other and a community's published history carried every other
community's transfers. Every transfer written so far stays as it is, in what is from now
on the legacy chain; each ledger's new chain starts from a genesis that commits to the
legacy chain's head and to the ledger's balances and open holds at this moment
(``ledger.schema.upgrade_to_chains``), so old transfers and old signed checkpoints stay
checkable and the new chains follow on from them.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

from ledger.drive import drive
from ledger.schema import INSERT_CHAIN, upgrade_to_chains

ID = "2026-12-06T00:00:00"
VERSION = "1.38.0"
DESCRIPTION = "a hash chain per ledger"


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
                case ("insert_chain", ledger, genesis, origin, at_us):
                    # Piccolo's placeholders are positional: the genesis is also the first head.
                    return await engine.run_querystring(
                        QueryString(_positional(), ledger, genesis, origin, genesis, at_us)
                    )
            raise ValueError(f"unknown step {step[0]!r}")

        await drive(upgrade_to_chains(engine.engine_type), answer)

    manager.add_raw(upgrade)
    return manager


def _positional() -> str:
    """``INSERT_CHAIN`` with one ``{}`` per argument, in order (Piccolo's placeholders)."""
    return INSERT_CHAIN.format(p1="{}", p2="{}", p3="{}", p4="{}")
