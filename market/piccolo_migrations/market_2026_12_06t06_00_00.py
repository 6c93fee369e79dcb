"""Gifts of points between residents (issue 15, households and gifts).

- ``points_gift``: one row per gift, written in the same transaction as its ledger transfer
  (wallet → wallet, kind "gift", ``transfer_id``). It is keyed by that id, which is made of the
  giver and their Idempotency-Key, so a retried request finds the first gift; it holds what the
  answer said (the giver's balance after, what they had given that month and had left), so a
  replay answers the same. ``month`` is the calendar month of the gift in China time (YYYYMM),
  the unit of the monthly gift cap (``market.points.gifts``).

Times are whole microseconds since the epoch (UTC), like the lots' ``earned_us``.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T06:00:00"
VERSION = "1.38.0"
DESCRIPTION = "gifts of points"

_TABLES = """
CREATE TABLE points_gift (
    transfer_id VARCHAR(200) PRIMARY KEY,
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    giver INTEGER NOT NULL,
    receiver INTEGER NOT NULL,
    amount {bigint} NOT NULL CHECK (amount > 0),
    at_us {bigint} NOT NULL,
    month INTEGER NOT NULL,
    balance_after {bigint} NOT NULL,
    month_given {bigint} NOT NULL,
    month_left {bigint} NOT NULL
);
CREATE INDEX points_gift_month ON points_gift (community, giver, month)
"""

_BIGINT = {"sqlite": "INTEGER", "postgres": "BIGINT"}


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(bigint=_BIGINT[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_points_gift() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_points_gift)
    return manager
