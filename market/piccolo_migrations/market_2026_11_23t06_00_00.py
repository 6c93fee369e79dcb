"""The shop's opening rules: one row per community (none: always open, no minimum).

Hand-written DDL per engine, like the earlier migrations. Times are minutes
after midnight, Beijing time; minimums are hundredths of points and of hours.
The CHECKs repeat what ``market.shop.rules`` validates, so no code path can
store a shop that never opens.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T06:00:00"
VERSION = "1.38.0"
DESCRIPTION = "shop opening rules"

_TABLES = """
CREATE TABLE shop_rules (
    id {pk},
    community INTEGER NOT NULL UNIQUE REFERENCES community (id) ON DELETE RESTRICT,
    open_days TEXT NOT NULL CHECK (open_days <> ''),
    opens_at INTEGER NOT NULL CHECK (opens_at >= 0),
    closes_at INTEGER NOT NULL CHECK (closes_at <= 1440),
    min_earned {bigint} NOT NULL DEFAULT 0 CHECK (min_earned >= 0),
    min_hours {bigint} NOT NULL DEFAULT 0 CHECK (min_hours >= 0),
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by INTEGER REFERENCES person (id) ON DELETE RESTRICT,
    CHECK (opens_at < closes_at)
)
"""

_PRIMARY_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "SERIAL PRIMARY KEY"}
_BIGINT = {"sqlite": "INTEGER", "postgres": "BIGINT"}


def statements(engine_type: str) -> list[str]:
    tables = _TABLES.format(pk=_PRIMARY_KEY[engine_type], bigint=_BIGINT[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_rules() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_rules)
    return manager
