"""Points rules (issue 15): the community's points policy, its holidays, and lots.

- ``points_policy``: one row per community (``market.points.policy``); none means the default.
- ``points_holiday``: days that are not working days for the 公示 window, per community.
- ``points_lot``: every credit a person earned, with the moment it expires (None: never) as the
  policy said when it was earned; a reversed credit adds the same lot negated. Lots are never
  updated: a wallet's balance is, by rule, made of its latest-expiring lots, so what expires at
  a moment follows from the balance and the lots alone (``market.points.lots``). A credit may
  carry several parts (a gift passes on the expiries of the points given).
- ``points_clearing``: up to which moment each community's expired points were cleared;
  ``points_expiry_blocked``: people some of whose expired points were held by an open
  reservation at the last clearing (looked at again by every run until cleared).

Every credit already in the ledger (issuance → wallet, not reversed) becomes a lot that never
expires: a policy only governs points earned after it is saved.

Times are whole microseconds since the epoch (UTC), like the ledger's ``at_us``.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T04:00:00"
VERSION = "1.38.0"
DESCRIPTION = "points rules: policy, holidays, lots, clearing"

_TABLES = """
CREATE TABLE points_policy (
    community INTEGER PRIMARY KEY REFERENCES community (id) ON DELETE CASCADE,
    expiry VARCHAR(16) NOT NULL DEFAULT 'none',
    expiry_months INTEGER,
    publicity_days INTEGER NOT NULL DEFAULT 0,
    gifting VARCHAR(16) NOT NULL DEFAULT 'off',
    gift_cap_per_month {bigint} NOT NULL DEFAULT 0,
    cap_per_day {bigint},
    cap_per_month {bigint},
    updated_ms {bigint} NOT NULL,
    updated_by INTEGER
);
CREATE TABLE points_holiday (
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    day VARCHAR(10) NOT NULL,
    PRIMARY KEY (community, day)
);
CREATE TABLE points_lot (
    transfer_id VARCHAR(200) NOT NULL,
    part INTEGER NOT NULL DEFAULT 0,
    community INTEGER NOT NULL,
    person INTEGER NOT NULL,
    kind VARCHAR(40) NOT NULL,
    amount {bigint} NOT NULL,
    earned_us {bigint} NOT NULL,
    expires_us {bigint},
    PRIMARY KEY (transfer_id, part)
);
CREATE INDEX points_lot_person ON points_lot (community, person, expires_us);
CREATE INDEX points_lot_expiry ON points_lot (community, expires_us);
CREATE INDEX points_lot_earned ON points_lot (community, person, earned_us);
CREATE TABLE points_clearing (
    community INTEGER PRIMARY KEY,
    cleared_us {bigint} NOT NULL
);
CREATE TABLE points_expiry_blocked (
    community INTEGER NOT NULL,
    person INTEGER NOT NULL,
    PRIMARY KEY (community, person)
);
INSERT INTO points_lot (transfer_id, part, community, person, kind, amount, earned_us, expires_us)
SELECT t.id, 0, t.ledger, CAST(c.owner AS INTEGER), t.kind, t.amount, t.at_us, NULL
FROM ledger_transfer t
JOIN ledger_account c ON c.id = t.credit AND c.kind = 'wallet'
JOIN ledger_account d ON d.id = t.debit AND d.kind = 'issuance'
WHERE t.phase IN ('single', 'post') AND t.reverses IS NULL;
INSERT INTO points_lot (transfer_id, part, community, person, kind, amount, earned_us, expires_us)
SELECT r.id, 0, r.ledger, l.person, r.kind, -r.amount, r.at_us, NULL
FROM ledger_transfer r
JOIN points_lot l ON l.transfer_id = r.reverses
"""

_BIGINT = {"sqlite": "INTEGER", "postgres": "BIGINT"}


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(bigint=_BIGINT[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_points_rules() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_points_rules)
    return manager
