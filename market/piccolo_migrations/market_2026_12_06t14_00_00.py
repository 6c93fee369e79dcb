"""Subdistricts (街道, issue 17): communities grouped under one office, and points that travel.

- ``subdistrict``: a 街道 office's group of communities, its name (unique) and whether its
  residents may redeem points at any of its communities' shops (通存通兑, ``shared_redemption``).
- ``subdistrict_community``: which subdistrict a community belongs to (at most one).
- ``subdistrict_admin``: the people who administer a subdistrict (role ``subdistrict_admin``):
  they see across its communities and act inside none of them.
- ``redemption.home_community``: the community whose resident redeemed at this shop, when it is
  not the shop's own (NULL: the shop's own resident); the points crossed ledgers through the
  two communities' clearing accounts (``ledger.crossing``).
- ``refund.home_community``: the same for a refund: the community whose wallet the points went back
  to when it is not the shop's (a visitor, or a resident who has moved house since).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T14:00:00"
VERSION = "1.38.0"
DESCRIPTION = "subdistricts"

_TABLES = """
CREATE TABLE subdistrict (
    id {primary_key},
    name VARCHAR(40) NOT NULL,
    shared_redemption BOOLEAN NOT NULL DEFAULT FALSE,
    created_ms {bigint} NOT NULL,
    updated_ms {bigint} NOT NULL
);
CREATE UNIQUE INDEX subdistrict_name ON subdistrict (name);
CREATE TABLE subdistrict_community (
    community INTEGER PRIMARY KEY REFERENCES community (id) ON DELETE RESTRICT,
    subdistrict INTEGER NOT NULL REFERENCES subdistrict (id) ON DELETE RESTRICT,
    joined_ms {bigint} NOT NULL
);
CREATE INDEX subdistrict_community_of ON subdistrict_community (subdistrict);
CREATE TABLE subdistrict_admin (
    person INTEGER PRIMARY KEY REFERENCES person (id) ON DELETE RESTRICT,
    subdistrict INTEGER NOT NULL REFERENCES subdistrict (id) ON DELETE RESTRICT
);
ALTER TABLE redemption ADD COLUMN home_community INTEGER REFERENCES community (id) ON DELETE RESTRICT;
ALTER TABLE refund ADD COLUMN home_community INTEGER REFERENCES community (id) ON DELETE RESTRICT
"""

_BIGINT = {"sqlite": "INTEGER", "postgres": "BIGINT"}
_PRIMARY_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "SERIAL PRIMARY KEY"}


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(bigint=_BIGINT[engine_type], primary_key=_PRIMARY_KEY[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_subdistricts() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_subdistricts)
    return manager
