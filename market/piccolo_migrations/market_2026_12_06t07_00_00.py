"""公示 (issue 15): credits that wait in public before they count, objections, and the boards.

- ``points_publicity``: one row per credit made while the community's policy has a 公示 window
  (``market.points.publicity``): the credit's transfer id (a pending hold, issuance → wallet), the
  community, the person, the activity and the stay (NULL for a credit without them), the memo
  (the activity's title), its kind, the amount (hundredths), when it was made (``made_us``), the
  last day of its window (``due_day``, China date) and the moment after it (``due_us``: it posts
  then), its state (pending, frozen by an objection, posted, voided) and the office's decision
  when one was taken.
- ``points_objection``: residents' objections to a credit inside its window (who, why, when).

The leaderboards' points tally counted earned credits of phase ``single`` only; a credit that
waited for 公示 reaches the wallet as the *posting* of its hold (phase ``post``, the hold's kind),
so the ledger's tally trigger now counts earned kinds of phases ``single`` and ``post``
(``market.reports.tallies`` states the same). Nothing posted such a hold before, so the tallies
already kept stay right: no refill.

Times are whole microseconds since the epoch (UTC), like the ledger's ``at_us``.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

from market.piccolo_migrations import market_2026_11_23t11_00_00 as tallies

ID = "2026-12-06T07:00:00"
VERSION = "1.38.0"
DESCRIPTION = "公示: publicity of credits, objections; boards count posted credits"

_TABLES = """
CREATE TABLE points_publicity (
    id {serial} PRIMARY KEY,
    transfer_id VARCHAR(200) NOT NULL UNIQUE,
    community INTEGER NOT NULL,
    person INTEGER NOT NULL,
    activity INTEGER,
    stay INTEGER,
    memo VARCHAR(500) NOT NULL DEFAULT '',
    kind VARCHAR(40) NOT NULL,
    amount {bigint} NOT NULL,
    made_us {bigint} NOT NULL,
    due_day VARCHAR(10) NOT NULL,
    due_us {bigint} NOT NULL,
    state VARCHAR(10) NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'frozen', 'posted', 'voided')),
    settled_us {bigint},
    decided_by INTEGER,
    decision_note VARCHAR(500)
);
CREATE INDEX points_publicity_due ON points_publicity (state, due_us);
CREATE INDEX points_publicity_open ON points_publicity (community, state, due_day);
CREATE INDEX points_publicity_person ON points_publicity (community, person, made_us);
CREATE TABLE points_objection (
    id {serial} PRIMARY KEY,
    notice INTEGER NOT NULL REFERENCES points_publicity (id),
    person INTEGER NOT NULL,
    reason VARCHAR(500) NOT NULL,
    at_us {bigint} NOT NULL
);
CREATE INDEX points_objection_notice ON points_objection (notice)
"""

_TYPES = {
    "sqlite": {"bigint": "INTEGER", "serial": "INTEGER"},
    "postgres": {"bigint": "BIGINT", "serial": "SERIAL"},
}

#: What the ledger's tally trigger counted as an earned credit, and what it counts now.
_SINGLE = "NEW.phase = 'single'"
_MOVED_IN = "NEW.phase IN ('single', 'post')"


def _counted_as_posted(statement: str) -> str:
    changed = statement.replace(_SINGLE, _MOVED_IN)
    assert changed != statement, "the tally trigger no longer reads as this migration expects"
    return changed


def _tally_trigger(engine_type: str) -> list[str]:
    """The ledger's tally trigger, again, counting earned credits posted from a hold."""
    if engine_type == "sqlite":
        earned, taken_back, flow = tallies._transfer_statements("sqlite")
        body = "".join(f"    {s};\n" for s in (_counted_as_posted(earned), taken_back, flow))
        return ["DROP TRIGGER IF EXISTS tally_transfer",
                f"CREATE TRIGGER tally_transfer AFTER INSERT ON ledger_transfer BEGIN\n{body}END"]
    body = _counted_as_posted(tallies._transfer_body())
    return [f"CREATE OR REPLACE FUNCTION tally_transfer() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n{body}    RETURN NULL;\nEND $$"]


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(**_TYPES[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()] + _tally_trigger(engine_type)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_publicity() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_publicity)
    return manager
