"""民声 and 微心愿 (issue 18): residents' requests that volunteers take on and earn points for.

- ``help_request``: one row per request — who needs it (``requester``) and who typed it
  (``posted_by``: a grid worker posting for an elder is "assisted"), where (household, building
  and grid, as the requester's household was when it was posted), what (category, text,
  visibility), its state (review → open → claimed → done; disputed; closed), the volunteer
  holding it, the hours confirmed and the points credited (hundredths). Times are whole
  microseconds since the epoch (UTC), like the ledger's ``at_us``.
- ``help_claim``: every claim, released or not: the history the requester and the grid worker
  see, and what the per-day claim cap counts. At most one claim of a request is current.
- ``help_photo``: a request's picture, re-encoded (``market.shop.photos``).
- ``help_setting`` and ``help_rate``: a community's rules — hours until an untaken request is
  escalated to its grid worker, claims a volunteer may make in a day, and points per request
  and per hour for each category. A community without rows uses the defaults in
  ``market.help_requests.rules``.

The ledger's credits for requests are of kind ``help``. They are points earned, so the
leaderboards' points tally counts them: the ledger's tally trigger (migration t07's) is made
again with ``help`` among the earned kinds. A done request's hours count towards its
volunteer's hours tally by a trigger on ``help_request`` (a request is done once: its hours
never change after). No request exists before this migration, so no tally needs a refill.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

from market.piccolo_migrations import market_2026_11_23t11_00_00 as t11
from market.piccolo_migrations import market_2026_12_06t07_00_00 as t07

ID = "2026-12-07T01:00:00"
VERSION = "1.38.0"
DESCRIPTION = "民声 requests: post, claim, confirm; help credits count as earned"

_TABLES = """
CREATE TABLE help_request (
    id {serial} PRIMARY KEY,
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    requester INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    posted_by INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    household INTEGER REFERENCES household (id) ON DELETE RESTRICT,
    building INTEGER REFERENCES building (id) ON DELETE RESTRICT,
    grid INTEGER REFERENCES grid (id) ON DELETE RESTRICT,
    category VARCHAR(20) NOT NULL
        CHECK (category IN ('elder_care', 'repair', 'mediation', 'environment', 'other')),
    visibility VARCHAR(10) NOT NULL CHECK (visibility IN ('building', 'grid', 'community')),
    body VARCHAR(500) NOT NULL,
    state VARCHAR(10) NOT NULL
        CHECK (state IN ('review', 'open', 'claimed', 'done', 'disputed', 'closed')),
    volunteer INTEGER REFERENCES person (id) ON DELETE RESTRICT,
    posted_us {bigint} NOT NULL,
    open_since_us {bigint},
    claimed_us {bigint},
    escalated_us {bigint},
    done_us {bigint},
    hours {bigint} NOT NULL DEFAULT 0,
    points {bigint} NOT NULL DEFAULT 0,
    confirmed_by INTEGER REFERENCES person (id) ON DELETE RESTRICT,
    note VARCHAR(500),
    has_photo {boolean} NOT NULL DEFAULT {false}
);
CREATE INDEX help_request_counts ON help_request (community, grid, state, open_since_us);
CREATE INDEX help_request_grid ON help_request (community, grid, id);
CREATE INDEX help_request_recent ON help_request (community, id);
CREATE INDEX help_request_open ON help_request (community, state, id);
CREATE INDEX help_request_requester ON help_request (requester, id);
CREATE INDEX help_request_volunteer ON help_request (volunteer, id);
CREATE TABLE help_claim (
    id {serial} PRIMARY KEY,
    request INTEGER NOT NULL REFERENCES help_request (id) ON DELETE RESTRICT,
    community INTEGER NOT NULL,
    volunteer INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    claimed_us {bigint} NOT NULL,
    ended_us {bigint},
    outcome VARCHAR(10) CHECK (outcome IN ('released', 'done', 'reopened', 'closed'))
);
CREATE UNIQUE INDEX help_claim_current ON help_claim (request) WHERE ended_us IS NULL;
CREATE INDEX help_claim_day ON help_claim (community, volunteer, claimed_us);
CREATE INDEX help_claim_request ON help_claim (request, id);
CREATE TABLE help_photo (
    request INTEGER PRIMARY KEY REFERENCES help_request (id) ON DELETE RESTRICT,
    image {bytes} NOT NULL,
    thumb {bytes} NOT NULL
);
CREATE TABLE help_setting (
    community INTEGER PRIMARY KEY REFERENCES community (id) ON DELETE RESTRICT,
    escalate_hours INTEGER NOT NULL,
    claims_per_day INTEGER NOT NULL
);
CREATE TABLE help_rate (
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    category VARCHAR(20) NOT NULL,
    per_request {bigint} NOT NULL,
    per_hour {bigint} NOT NULL,
    PRIMARY KEY (community, category)
)
"""

_TYPES = {
    "sqlite": {"bigint": "INTEGER", "serial": "INTEGER", "bytes": "BLOB", "boolean": "INTEGER",
               "false": "0"},
    "postgres": {"bigint": "BIGINT", "serial": "SERIAL", "bytes": "BYTEA", "boolean": "BOOLEAN",
                 "false": "FALSE"},
}

#: The earned kinds as t11's tally trigger states them, and as it states them now.
_EARNED = "kind IN ('checkin', 'checkout')"
_WITH_HELP = "kind IN ('checkin', 'checkout', 'help')"


def _with_help(statement: str) -> str:
    changed = statement.replace(_EARNED, _WITH_HELP)
    assert changed != statement, "the tally trigger no longer reads as this migration expects"
    return changed


def _transfer_trigger(engine_type: str) -> list[str]:
    """t07's tally trigger on the ledger's transfers, counting ``help`` credits as earned."""
    return [_with_help(s) if "CREATE" in s else s for s in t07._tally_trigger(engine_type)]


def _help_hours(engine_type: str) -> list[str]:
    """A request done adds its hours to its volunteer's month, quarter and year, in the month
    it was confirmed (China time): ``tally_hours_period``, as a checked-out stay's do."""
    month = t11.MONTH_OF_MICROS[engine_type].format(x="NEW.done_us")
    period = t11.PERIOD_OF_MONTH.format(span="s.span", m=month)
    added = (
        "INSERT INTO tally_hours_period (community, span, period, person, hours)"
        f" SELECT NEW.community, s.span, {period}, NEW.volunteer, NEW.hours FROM {t11.SPANS} s"
        # A WHERE before ON CONFLICT: SQLite would read the ON as a join's.
        " WHERE NEW.hours > 0 ON CONFLICT (community, span, period, person) DO UPDATE"
        " SET hours = tally_hours_period.hours + excluded.hours"
    )
    done = "NEW.state = 'done' AND OLD.state <> 'done' AND NEW.hours > 0"
    if engine_type == "sqlite":
        return [f"CREATE TRIGGER tally_help_hours AFTER UPDATE ON help_request WHEN {done}"
                f" BEGIN\n    {added};\nEND"]
    return [
        "CREATE FUNCTION tally_help_hours() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        f"    IF {done} THEN\n    {added};\n    END IF;\n    RETURN NULL;\nEND $$",
        "CREATE TRIGGER tally_help_hours AFTER UPDATE ON help_request"
        " FOR EACH ROW EXECUTE FUNCTION tally_help_hours()",
    ]


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(**_TYPES[engine_type])
    return ([s.strip() for s in tables.split(";\n") if s.strip()]
            + _transfer_trigger(engine_type) + _help_hours(engine_type))


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_help_requests() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_help_requests)
    return manager
