"""The shop's counter: redemptions and refunds, with their lines.

Hand-written DDL per engine, like the earlier migrations. A redemption's
(keeper, key) is unique: the Idempotency-Key of one shop keeper names one
redemption. Lines keep the unit price of the day. Refund quantities are
checked against the redemption by the service, inside the same transaction.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T05:00:00"
VERSION = "1.38.0"
DESCRIPTION = "redemptions and refunds"

_TABLES = """
CREATE TABLE redemption (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    person INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    keeper INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    key VARCHAR(100) NOT NULL,
    request_hash VARCHAR(64) NOT NULL,
    total {bigint} NOT NULL CHECK (total > 0),
    transfer_id VARCHAR(100) NOT NULL UNIQUE,
    balance_after {bigint} NOT NULL CHECK (balance_after >= 0),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX redemption_key ON redemption (keeper, key);
CREATE INDEX redemption_person ON redemption (person, created_at);
CREATE INDEX redemption_community ON redemption (community, created_at);
CREATE TABLE redemption_line (
    id {pk},
    redemption INTEGER NOT NULL REFERENCES redemption (id) ON DELETE RESTRICT,
    product INTEGER NOT NULL REFERENCES product (id) ON DELETE RESTRICT,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_price {bigint} NOT NULL CHECK (unit_price > 0)
);
CREATE UNIQUE INDEX redemption_line_once ON redemption_line (redemption, product);
CREATE INDEX redemption_line_product ON redemption_line (product);
CREATE TABLE refund (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    redemption INTEGER NOT NULL REFERENCES redemption (id) ON DELETE RESTRICT,
    keeper INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    total {bigint} NOT NULL CHECK (total > 0),
    reason TEXT NOT NULL,
    transfer_id VARCHAR(100) NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX refund_redemption ON refund (redemption);
CREATE TABLE refund_line (
    id {pk},
    refund INTEGER NOT NULL REFERENCES refund (id) ON DELETE RESTRICT,
    product INTEGER NOT NULL REFERENCES product (id) ON DELETE RESTRICT,
    quantity INTEGER NOT NULL CHECK (quantity > 0)
);
CREATE INDEX refund_line_refund ON refund_line (refund)
"""

_PRIMARY_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "SERIAL PRIMARY KEY"}
_BIGINT = {"sqlite": "INTEGER", "postgres": "BIGINT"}


def statements(engine_type: str) -> list[str]:
    tables = _TABLES.format(pk=_PRIMARY_KEY[engine_type], bigint=_BIGINT[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_counter() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_counter)
    return manager
