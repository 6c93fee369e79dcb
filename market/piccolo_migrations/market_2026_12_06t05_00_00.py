"""Deductions, redemption suspensions and appeals (issue 15).

- ``deduction_rule``: a community's catalogue of deductions (村规民约: 乱堆乱放 −2), each with an
  amount in hundredths (> 0) and, optionally, the suspension of redemptions that comes with it
  ('none', 'months' with ``suspension_months``, or 'this_and_next_year'); archived rules stay
  for the deductions that name them but can no longer be applied.
- ``deduction``: one deduction of one person, keyed by who made it and their Idempotency-Key;
  ``amount`` is what was asked, ``taken`` what the wallet had to give (its ledger transfer is
  ``transfer_id``, None when nothing could be taken) and ``not_taken`` the rest, which is not
  carried as a debt (``market.points.deductions``).
- ``redemption_suspension``: a person may not redeem from ``starts_on`` through ``until_on``
  (China dates, inclusive) unless ``lifted_ms`` is set.
- ``deduction_appeal``: a resident's appeal against a deduction; at most one open per deduction.

Times are integer milliseconds since the epoch (UTC); dates are ISO text (they sort as dates).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T05:00:00"
VERSION = "1.38.0"
DESCRIPTION = "deductions, redemption suspensions and appeals"

_TABLES = """
CREATE TABLE deduction_rule (
    id {serial} PRIMARY KEY,
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    name VARCHAR(50) NOT NULL,
    amount {bigint} NOT NULL CHECK (amount > 0),
    suspension VARCHAR(24) NOT NULL DEFAULT 'none',
    suspension_months INTEGER,
    archived INTEGER NOT NULL DEFAULT 0,
    updated_ms {bigint} NOT NULL,
    updated_by INTEGER
);
CREATE UNIQUE INDEX deduction_rule_name ON deduction_rule (community, name);
CREATE TABLE redemption_suspension (
    id {serial} PRIMARY KEY,
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    person INTEGER NOT NULL,
    starts_on VARCHAR(10) NOT NULL,
    until_on VARCHAR(10) NOT NULL,
    reason VARCHAR(200) NOT NULL,
    created_by INTEGER,
    created_ms {bigint} NOT NULL,
    lifted_ms {bigint},
    lifted_by INTEGER
);
CREATE INDEX redemption_suspension_person ON redemption_suspension (community, person, until_on);
CREATE TABLE deduction (
    id {serial} PRIMARY KEY,
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    person INTEGER NOT NULL,
    actor INTEGER NOT NULL,
    key VARCHAR(100) NOT NULL,
    request_hash VARCHAR(64) NOT NULL,
    rule INTEGER REFERENCES deduction_rule (id) ON DELETE RESTRICT,
    amount {bigint} NOT NULL CHECK (amount > 0),
    taken {bigint} NOT NULL CHECK (taken >= 0),
    not_taken {bigint} NOT NULL CHECK (not_taken >= 0),
    balance_after {bigint} NOT NULL,
    reason VARCHAR(200) NOT NULL,
    transfer_id VARCHAR(200),
    suspension INTEGER REFERENCES redemption_suspension (id) ON DELETE RESTRICT,
    created_ms {bigint} NOT NULL,
    CHECK (taken + not_taken = amount)
);
CREATE UNIQUE INDEX deduction_key ON deduction (actor, key);
CREATE UNIQUE INDEX deduction_transfer ON deduction (transfer_id);
CREATE INDEX deduction_person ON deduction (community, person, id);
CREATE TABLE deduction_appeal (
    id {serial} PRIMARY KEY,
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    deduction INTEGER NOT NULL REFERENCES deduction (id) ON DELETE RESTRICT,
    person INTEGER NOT NULL,
    reason VARCHAR(500) NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'open',
    created_ms {bigint} NOT NULL,
    decided_ms {bigint},
    decided_by INTEGER,
    note VARCHAR(500),
    reversal_id VARCHAR(200)
);
CREATE UNIQUE INDEX deduction_appeal_open ON deduction_appeal (deduction) WHERE status = 'open';
CREATE INDEX deduction_appeal_queue ON deduction_appeal (community, status, id)
"""

_TYPES = {
    "sqlite": {"bigint": "INTEGER", "serial": "INTEGER"},
    "postgres": {"bigint": "BIGINT", "serial": "SERIAL"},
}


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(**_TYPES[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_deductions() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_deductions)
    return manager
