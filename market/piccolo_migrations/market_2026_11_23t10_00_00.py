"""Refunds accept an Idempotency-Key, as every request that moves points does (API.md).

A refund remembers the key its shop keeper sent and what it was for (a hash of the
redemption, the items and the reason), so the same request again answers the first
refund and a different one with the same key is refused. Both columns stay empty for a
refund sent without a key; the unique index covers only keyed refunds.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T10:00:00"
VERSION = "1.38.0"
DESCRIPTION = "refund: idempotency key"

_STATEMENTS = [
    "ALTER TABLE refund ADD COLUMN idempotency_key VARCHAR(100)",
    "ALTER TABLE refund ADD COLUMN request_hash VARCHAR(64)",
    "CREATE UNIQUE INDEX refund_idempotency_key ON refund (keeper, idempotency_key)"
    " WHERE idempotency_key IS NOT NULL",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def add_refund_keys() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in _STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(add_refund_keys)
    return manager
