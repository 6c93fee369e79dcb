"""Orders: goods reserved online, with their points held in the ledger and their stock set aside.

Hand-written DDL per engine, like the earlier migrations. ``shop_order``
because ORDER is an SQL keyword. A resident's Idempotency-Key, when sent,
names one order (unique per person).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T07:00:00"
VERSION = "1.38.0"
DESCRIPTION = "orders (reservations)"

_TABLES = """
CREATE TABLE shop_order (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    person INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    status VARCHAR(20) NOT NULL DEFAULT 'reserved'
        CHECK (status IN ('reserved', 'fulfilled', 'cancelled', 'expired')),
    total {bigint} NOT NULL CHECK (total > 0),
    hold_id VARCHAR(100) NOT NULL UNIQUE,
    key VARCHAR(100),
    request_hash VARCHAR(64) NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    closed_at TIMESTAMPTZ,
    closed_by INTEGER REFERENCES person (id) ON DELETE RESTRICT,
    redemption INTEGER REFERENCES redemption (id) ON DELETE RESTRICT
);
CREATE UNIQUE INDEX shop_order_key ON shop_order (person, key);
CREATE INDEX shop_order_open ON shop_order (status, expires_at);
CREATE INDEX shop_order_community ON shop_order (community, status, id);
CREATE TABLE shop_order_line (
    id {pk},
    "order" INTEGER NOT NULL REFERENCES shop_order (id) ON DELETE RESTRICT,
    product INTEGER NOT NULL REFERENCES product (id) ON DELETE RESTRICT,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_price {bigint} NOT NULL CHECK (unit_price > 0)
);
CREATE INDEX shop_order_line_order ON shop_order_line ("order");
CREATE INDEX shop_order_line_product ON shop_order_line (product)
"""

_PRIMARY_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "SERIAL PRIMARY KEY"}
_BIGINT = {"sqlite": "INTEGER", "postgres": "BIGINT"}


def statements(engine_type: str) -> list[str]:
    tables = _TABLES.format(pk=_PRIMARY_KEY[engine_type], bigint=_BIGINT[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_orders() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_orders)
    return manager
