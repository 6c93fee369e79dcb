"""Transparency checkpoints of version 2: each signs its community's own chain.

Since ledger migration 2026-12-06T00:00:00 each community's transfers form a chain of
their own, numbered from a genesis (the hash of the chain's origin). A checkpoint of
version 2 signs that chain's head (``head_number``, ``head_hash``) and its ``genesis``;
``head_seq`` is the legacy chain's place and stays 0 in them. The checkpoints signed
before (version 1, over the installation-wide chain) are kept exactly as they are: the
new columns only get their default, so no row is updated and the append-only triggers
are not involved.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T03:00:00"
VERSION = "1.38.0"
DESCRIPTION = "transparency: checkpoints of a community's own chain (version 2)"

_BIGINT = {"sqlite": "INTEGER", "postgres": "BIGINT"}


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    return [
        "ALTER TABLE transparency_checkpoint ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
        f"ALTER TABLE transparency_checkpoint ADD COLUMN head_number {_BIGINT[engine_type]}",
        "ALTER TABLE transparency_checkpoint ADD COLUMN genesis VARCHAR(64)",
    ]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def add_columns() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(add_columns)
    return manager
