"""The shop's catalogue: products, their append-only stock movements and their photos.

Hand-written DDL per engine, like the earlier migrations, and for the same reasons.
Prices are integer hundredths of points (BIGINT on PostgreSQL, INTEGER on SQLite).
The database keeps stock from going below zero (CHECK) and refuses any UPDATE or
DELETE of a stock movement (triggers, as the ledger does for its transfers), so
the movements stay a complete record whatever code runs against them.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T04:00:00"
VERSION = "1.38.0"
DESCRIPTION = "shop: products, stock movements, product photos"

# stock_movement_ref: refunds and releases look up the movements a redemption or an order made.
_TABLES = """
CREATE TABLE product (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    name VARCHAR(50) NOT NULL,
    category VARCHAR(30) NOT NULL DEFAULT '',
    price {bigint} NOT NULL CHECK (price > 0),
    stock INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0),
    limit_per_person INTEGER CHECK (limit_per_person > 0),
    limit_period VARCHAR(10) CHECK (limit_period IN ('day', 'week', 'month', 'quarter', 'year')),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    has_photo BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    CHECK ((limit_per_person IS NULL) = (limit_period IS NULL))
);
CREATE UNIQUE INDEX product_name_community ON product (community, name);
CREATE TABLE stock_movement (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    product INTEGER NOT NULL REFERENCES product (id) ON DELETE RESTRICT,
    delta INTEGER NOT NULL CHECK (delta <> 0),
    stock_after INTEGER NOT NULL CHECK (stock_after >= 0),
    kind VARCHAR(20) NOT NULL CHECK (kind IN ('initial', 'donation', 'purchase', 'adjustment',
        'redemption', 'refund', 'reservation', 'release')),
    reason TEXT,
    donor VARCHAR(50),
    ref VARCHAR(64),
    actor INTEGER REFERENCES person (id) ON DELETE RESTRICT,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX stock_movement_product ON stock_movement (product, id);
CREATE INDEX stock_movement_ref ON stock_movement (ref) WHERE ref IS NOT NULL;
CREATE TABLE product_photo (
    id {pk},
    product INTEGER NOT NULL UNIQUE REFERENCES product (id) ON DELETE RESTRICT,
    image {bytes} NOT NULL,
    thumb {bytes} NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
)
"""

# A trigger body holds a ';', so these are lists, not split out of one script.
_SQLITE_TRIGGERS = [
    """CREATE TRIGGER stock_movement_no_update BEFORE UPDATE ON stock_movement
    BEGIN SELECT RAISE(ABORT, 'stock_movement is append-only'); END""",
    """CREATE TRIGGER stock_movement_no_delete BEFORE DELETE ON stock_movement
    BEGIN SELECT RAISE(ABORT, 'stock_movement is append-only'); END""",
]

_POSTGRES_TRIGGERS = [
    """CREATE FUNCTION stock_movement_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'restrict_violation';
    END $$""",
    """CREATE TRIGGER stock_movement_append_only BEFORE UPDATE OR DELETE ON stock_movement
    FOR EACH ROW EXECUTE FUNCTION stock_movement_refuse_change()""",
    """CREATE TRIGGER stock_movement_no_truncate BEFORE TRUNCATE ON stock_movement
    FOR EACH STATEMENT EXECUTE FUNCTION stock_movement_refuse_change()""",
]

_PRIMARY_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "SERIAL PRIMARY KEY"}
_BIGINT = {"sqlite": "INTEGER", "postgres": "BIGINT"}
_BYTES = {"sqlite": "BLOB", "postgres": "BYTEA"}
_TRIGGERS = {"sqlite": _SQLITE_TRIGGERS, "postgres": _POSTGRES_TRIGGERS}


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(
        pk=_PRIMARY_KEY[engine_type], bigint=_BIGINT[engine_type], bytes=_BYTES[engine_type]
    )
    return [s.strip() for s in tables.split(";\n") if s.strip()] + _TRIGGERS[engine_type]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_shop() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_shop)
    return manager
