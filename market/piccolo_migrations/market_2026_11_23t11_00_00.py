"""Tallies for the leaderboards and dashboards: month-by-month sums kept by triggers.

A year's board summed up to a million transfers and half a million stays on every request
(cold p95 0.9–1.6 s on SQLite, docs/PERFORMANCE.md). These tables hold the same sums by
Beijing month, written by the database itself in the transaction that writes the rows they
count, so no path can forget them: a credit, a reversal, a check-out, an approval, hours set by
hand, a cancellation, a redemption, a refund, a stock movement. What each tally counts is
defined once more, from the rows, in ``market.reports.tallies`` (which checks them: ``market
reports check``, and refills them on demand); this migration fills them with its own copy of
those sums, frozen as they were written, over the ledger's tables as they were then.

On PostgreSQL a tally row is locked from its update to the commit, so the order of those locks
matters. The ledger's trigger touches only the points and flow tallies, always under the ledger's
own lock (one writer at a time); a person's hours are in a table of their own, because stays
are written before the ledger's lock is taken. Stays, sales lines and stock movements update
the tallies once per statement, in key order; a basket moves its goods' stock (their rows
locked in product order) before its lines and a refund each product's stock before its line
(``market.shop.counter``); an order is recorded before its hold is posted
(``market.shop.orders``): the goods' tallies always before the ledger's lock.

Months are ``YYYYMM`` integers in Beijing time (UTC+8 all year, so a fixed offset), from the
ledger's microseconds or a TIMESTAMPTZ. The ledger's table gets a trigger of the market's: the
market's migrations run after the ledger's (``market.piccolo_app``).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T11:00:00"
VERSION = "1.38.0"
DESCRIPTION = "tallies for leaderboards and dashboards"

_TABLES = """
CREATE TABLE tally_points_period (
    community INTEGER NOT NULL,
    span VARCHAR(7) NOT NULL,
    period INTEGER NOT NULL,
    person INTEGER NOT NULL,
    points {bigint} NOT NULL DEFAULT 0,
    PRIMARY KEY (community, span, period, person)
);
CREATE TABLE tally_hours_period (
    community INTEGER NOT NULL,
    span VARCHAR(7) NOT NULL,
    period INTEGER NOT NULL,
    person INTEGER NOT NULL,
    hours {bigint} NOT NULL DEFAULT 0,
    PRIMARY KEY (community, span, period, person)
);
CREATE TABLE tally_activity (
    community INTEGER NOT NULL,
    activity INTEGER NOT NULL,
    participants INTEGER NOT NULL DEFAULT 0,
    hours {bigint} NOT NULL DEFAULT 0,
    PRIMARY KEY (community, activity)
);
CREATE TABLE tally_flow_month (
    community INTEGER NOT NULL,
    month INTEGER NOT NULL,
    issued {bigint} NOT NULL DEFAULT 0,
    redeemed {bigint} NOT NULL DEFAULT 0,
    expired {bigint} NOT NULL DEFAULT 0,
    PRIMARY KEY (community, month)
);
CREATE TABLE tally_goods_month (
    community INTEGER NOT NULL,
    month INTEGER NOT NULL,
    product INTEGER NOT NULL,
    quantity {bigint} NOT NULL DEFAULT 0,
    points {bigint} NOT NULL DEFAULT 0,
    PRIMARY KEY (community, month, product)
);
CREATE TABLE tally_stock_month (
    community INTEGER NOT NULL,
    month INTEGER NOT NULL,
    product INTEGER NOT NULL,
    delta {bigint} NOT NULL DEFAULT 0,
    PRIMARY KEY (community, month, product)
)
"""

_BIGINT = {"sqlite": "INTEGER", "postgres": "BIGINT"}

# -- what counts (the same conditions as market.reports.tallies) -----------------------------
EARNED = "{t}.kind IN ('checkin', 'checkout')"
HOURS = "{s}.status = 'out' AND ({s}.approval IS NULL OR {s}.approval = 'approved') AND {s}.hours > 0"
#: A stay's hours count in the month of its check-out; hours set by hand (no check-out), in the
#: month of its check-in.
HOURS_AT = "COALESCE({s}.out_at, {s}.in_at)"
PARTICIPANT = "{s}.status <> 'cancelled' AND ({s}.approval IS NULL OR {s}.approval <> 'rejected')"
STAY_HOURS = ("CASE WHEN {s}.status = 'out' AND ({s}.approval IS NULL OR {s}.approval = 'approved')"
              " THEN COALESCE({s}.hours, 0) ELSE 0 END")
_MOVED = "(CASE WHEN {side}.kind = '{kind}' THEN {{a}} ELSE 0 END)"
#: Issued: out of the issuance account; redeemed: into the shop's; expired: into the expiry
#: account — each net of what went the other way (``d`` debited, ``c`` credited, ``{a}`` amount).
FLOWS = {
    "issued": _MOVED.format(side="d", kind="issuance") + " - " + _MOVED.format(side="c", kind="issuance"),
    "redeemed": _MOVED.format(side="c", kind="shop") + " - " + _MOVED.format(side="d", kind="shop"),
    "expired": _MOVED.format(side="c", kind="expiry") + " - " + _MOVED.format(side="d", kind="expiry"),
}
FLOW_KINDS = "('issuance', 'shop', 'expiry')"

MONTH_OF_MICROS = {
    "sqlite": "CAST(strftime('%Y%m', ({x}) / 1000000, 'unixepoch', '+8 hours') AS INTEGER)",
    "postgres": "CAST(to_char((to_timestamp(({x}) / 1000000) AT TIME ZONE 'UTC') + INTERVAL '8 hours',"
                " 'YYYYMM') AS INTEGER)",
}
MONTH_OF_TIME = {
    "sqlite": "CAST(strftime('%Y%m', {x}, '+8 hours') AS INTEGER)",
    "postgres": "CAST(to_char(({x} AT TIME ZONE 'UTC') + INTERVAL '8 hours', 'YYYYMM') AS INTEGER)",
}
#: A person's points and hours are kept for each month, quarter and year (one row each), so a
#: board of any period reads one row per person: ``span`` and ``period`` 'month' 202611,
#: 'quarter' 20264, 'year' 2026.
SPANS = "(SELECT 'month' AS span UNION ALL SELECT 'quarter' AS span UNION ALL SELECT 'year' AS span)"
PERIOD_OF_MONTH = ("CASE {span} WHEN 'month' THEN {m}"
                   " WHEN 'quarter' THEN ({m}) / 100 * 10 + (({m}) % 100 + 2) / 3 ELSE ({m}) / 100 END")
_PERSON_KEY = "community, span, period, person"


def _period(month: str) -> str:
    return PERIOD_OF_MONTH.format(span="s.span", m=month)


#: A wallet's owner is the person's id as text.
OWNER = "CAST(a.owner AS INTEGER)"


def _adding(table: str, keys: str, *values: str) -> str:
    """An upsert's tail: a row already there for ``keys`` gets ``values`` added to its own."""
    added = ", ".join(f"{value} = {table}.{value} + excluded.{value}" for value in values)
    return f" ON CONFLICT ({keys}) DO UPDATE SET {added}"


def _person_hours(row: str, sign: str) -> str:
    """SQLite, row by row: the stay's hours added to (or taken from) its person's tally."""
    month = MONTH_OF_TIME["sqlite"].format(x=HOURS_AT.format(s=row))
    return (
        f"INSERT INTO tally_hours_period ({_PERSON_KEY}, hours) SELECT {row}.community, s.span,"
        f" {_period(month)}, {row}.person, {sign}{row}.hours FROM {SPANS} s WHERE {HOURS.format(s=row)}"
        + _adding("tally_hours_period", _PERSON_KEY, "hours")
    )


def _activity(old: str | None, new: str | None) -> str:
    """The stay's change to its activity's participants and hours (``old``/``new``: OLD, NEW or None)."""
    def flag(condition: str, row: str | None) -> str:
        return "0" if row is None else f"(CASE WHEN {condition.format(s=row)} THEN 1 ELSE 0 END)"

    def hours_of(row: str | None) -> str:
        return "0" if row is None else f"({STAY_HOURS.format(s=row)})"

    participants = f"{flag(PARTICIPANT, new)} - {flag(PARTICIPANT, old)}"
    hours = f"{hours_of(new)} - {hours_of(old)}"
    row = new or old
    return (
        "INSERT INTO tally_activity (community, activity, participants, hours)"
        f" VALUES ({row}.community, {row}.activity, {participants}, {hours})"
        + _adding("tally_activity", "community, activity", "participants", "hours")
    )


def _transfer_statements(engine: str) -> list[str]:
    month = MONTH_OF_MICROS[engine].format(x="NEW.at_us")
    earned = (
        f"INSERT INTO tally_points_period ({_PERSON_KEY}, points)"
        f" SELECT NEW.ledger, s.span, {_period(month)}, {OWNER}, NEW.amount"
        f" FROM ledger_account a, {SPANS} s WHERE a.id = NEW.credit AND a.kind = 'wallet'"
        f" AND {EARNED.format(t='NEW')} AND NEW.phase = 'single'"
        + _adding("tally_points_period", _PERSON_KEY, "points")
    )
    # A reversal takes the credit back from the month (quarter, year) it was earned in.
    taken_back = (
        f"INSERT INTO tally_points_period ({_PERSON_KEY}, points) SELECT NEW.ledger, s.span,"
        f" {_period(MONTH_OF_MICROS[engine].format(x='o.at_us'))}, {OWNER}, -o.amount"
        f" FROM ledger_transfer o JOIN ledger_account a ON a.id = o.credit, {SPANS} s"
        f" WHERE NEW.reverses IS NOT NULL AND o.id = NEW.reverses AND {EARNED.format(t='o')}"
        " AND a.kind = 'wallet'"
        + _adding("tally_points_period", _PERSON_KEY, "points")
    )
    flows = ", ".join(FLOWS[name].format(a="NEW.amount") for name in ("issued", "redeemed", "expired"))
    flow = (
        "INSERT INTO tally_flow_month (community, month, issued, redeemed, expired)"
        f" SELECT NEW.ledger, {month}, {flows}"
        " FROM ledger_account d, ledger_account c WHERE NEW.phase IN ('single', 'post')"
        f" AND d.id = NEW.debit AND c.id = NEW.credit AND (d.kind IN {FLOW_KINDS} OR c.kind IN {FLOW_KINDS})"
        + _adding("tally_flow_month", "community, month", "issued", "redeemed", "expired")
    )
    return [earned, taken_back, flow]


def _goods_statements() -> tuple[str, str]:
    """SQLite, row by row: a redemption line's and a refund line's goods tally."""
    redeemed = (
        "INSERT INTO tally_goods_month (community, month, product, quantity, points)"
        f" SELECT r.community, {MONTH_OF_TIME['sqlite'].format(x='r.created_at')}, NEW.product,"
        " NEW.quantity, NEW.quantity * NEW.unit_price FROM redemption r WHERE r.id = NEW.redemption"
        + _adding("tally_goods_month", "community, month, product", "quantity", "points")
    )
    refunded = (
        "INSERT INTO tally_goods_month (community, month, product, quantity, points)"
        f" SELECT f.community, {MONTH_OF_TIME['sqlite'].format(x='f.created_at')}, NEW.product,"
        " -NEW.quantity, -NEW.quantity * l.unit_price FROM refund f"
        " JOIN redemption_line l ON l.redemption = f.redemption AND l.product = NEW.product"
        " WHERE f.id = NEW.refund"
        + _adding("tally_goods_month", "community, month, product", "quantity", "points")
    )
    return redeemed, refunded


def _stock_statement() -> str:
    """SQLite, row by row: a stock movement's tally."""
    return (
        "INSERT INTO tally_stock_month (community, month, product, delta)"
        f" VALUES (NEW.community, {MONTH_OF_TIME['sqlite'].format(x='NEW.at')}, NEW.product, NEW.delta)"
        + _adding("tally_stock_month", "community, month, product", "delta")
    )


def _transfer_body() -> str:
    """PostgreSQL: each statement only for the transfers it can concern. The trigger runs under
    the ledger's lock, which every transfer waits for: a redemption runs one statement, not three."""
    earned, taken_back, flow = _transfer_statements("postgres")
    return (
        f"    IF {EARNED.format(t='NEW')} AND NEW.phase = 'single' THEN\n    {earned};\n    END IF;\n"
        f"    IF NEW.reverses IS NOT NULL THEN\n    {taken_back};\n    END IF;\n"
        f"    IF NEW.phase IN ('single', 'post') THEN\n    {flow};\n    END IF;\n"
    )


def _postgres_sales_statements() -> dict[str, str]:
    """PostgreSQL: a statement's redemption lines, refund lines or stock movements (transition
    table ``new_rows``) summed per product, then added in product order: one trigger call per
    basket instead of one per line (each call cost the busy counter a lock-holding moment)."""
    month = MONTH_OF_TIME["postgres"].format
    goods = _adding("tally_goods_month", "community, month, product", "quantity", "points")
    return {
        "redemption_line": (
            "INSERT INTO tally_goods_month (community, month, product, quantity, points)"
            f" SELECT r.community, {month(x='r.created_at')}, n.product, SUM(n.quantity),"
            " SUM(n.quantity * n.unit_price) FROM new_rows n JOIN redemption r ON r.id = n.redemption"
            " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3" + goods
        ),
        "refund_line": (
            "INSERT INTO tally_goods_month (community, month, product, quantity, points)"
            f" SELECT f.community, {month(x='f.created_at')}, n.product, -SUM(n.quantity),"
            " -SUM(n.quantity * l.unit_price) FROM new_rows n JOIN refund f ON f.id = n.refund"
            " JOIN redemption_line l ON l.redemption = f.redemption AND l.product = n.product"
            " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3" + goods
        ),
        "stock_movement": (
            "INSERT INTO tally_stock_month (community, month, product, delta)"
            f" SELECT n.community, {month(x='n.at')}, n.product, SUM(n.delta) FROM new_rows n"
            " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
            + _adding("tally_stock_month", "community, month, product", "delta")
        ),
    }


def _stays_statements(tables: list[tuple[str, str]]) -> list[str]:
    """PostgreSQL: one statement's stays (transition ``tables``, each with its sign) summed, then
    added to the tallies in key order. Row by row, an UPDATE of many stays (an approval) would lock
    an activity's tally row between two stay rows, and a check-out holding one of those stay rows
    would wait for the tally: a deadlock. After the statement, in order, it cannot."""
    month = MONTH_OF_TIME["postgres"].format(x=HOURS_AT.format(s="r"))
    hours = " UNION ALL ".join(
        f"SELECT r.community, s.span, {_period(month)} AS period, r.person, {sign}r.hours AS hours"
        f" FROM {table} r, {SPANS} s WHERE {HOURS.format(s='r')}"
        for table, sign in tables
    )
    attended = " UNION ALL ".join(
        f"SELECT r.community, r.activity, {sign}(CASE WHEN {PARTICIPANT.format(s='r')} THEN 1 ELSE 0 END)"
        f" AS participants, {sign}({STAY_HOURS.format(s='r')}) AS hours FROM {table} r"
        for table, sign in tables
    )
    return [
        f"INSERT INTO tally_hours_period ({_PERSON_KEY}, hours) SELECT {_PERSON_KEY}, SUM(hours)"
        f" FROM ({hours}) x GROUP BY {_PERSON_KEY} HAVING SUM(hours) <> 0 ORDER BY {_PERSON_KEY}"
        + _adding("tally_hours_period", _PERSON_KEY, "hours"),
        "INSERT INTO tally_activity (community, activity, participants, hours)"
        f" SELECT community, activity, SUM(participants), SUM(hours) FROM ({attended}) x"
        " GROUP BY community, activity HAVING SUM(participants) <> 0 OR SUM(hours) <> 0"
        " ORDER BY community, activity"
        + _adding("tally_activity", "community, activity", "participants", "hours"),
    ]


def _sqlite_triggers() -> list[str]:
    def trigger(name: str, event: str, table: str, body: list[str]) -> str:
        return (f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN\n"
                + "".join(f"    {statement};\n" for statement in body) + "END")

    redeemed, refunded = _goods_statements()
    return [
        trigger("tally_transfer", "INSERT", "ledger_transfer", _transfer_statements("sqlite")),
        trigger("tally_stay_insert", "INSERT", "activity_stay",
                [_person_hours("NEW", ""), _activity(None, "NEW")]),
        trigger("tally_stay_update", "UPDATE", "activity_stay",
                [_person_hours("OLD", "-"), _person_hours("NEW", ""),
                 _activity("OLD", "NEW")]),
        trigger("tally_stay_delete", "DELETE", "activity_stay",
                [_person_hours("OLD", "-"), _activity("OLD", None)]),
        trigger("tally_redemption_line", "INSERT", "redemption_line", [redeemed]),
        trigger("tally_refund_line", "INSERT", "refund_line", [refunded]),
        trigger("tally_stock_movement", "INSERT", "stock_movement", [_stock_statement()]),
    ]


def _postgres_triggers() -> list[str]:
    def function(name: str, body: str) -> str:
        return (f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{body}"
                "    RETURN NULL;\nEND $$")

    def statements(body: list[str]) -> str:
        return "".join(f"    {statement};\n" for statement in body)

    return [
        function("tally_transfer", _transfer_body()),
        "CREATE TRIGGER tally_transfer AFTER INSERT ON ledger_transfer"
        " FOR EACH ROW EXECUTE FUNCTION tally_transfer()",
        function("tally_stay_insert", statements(_stays_statements([("new_rows", "")]))),
        "CREATE TRIGGER tally_stay_insert AFTER INSERT ON activity_stay REFERENCING NEW TABLE AS new_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION tally_stay_insert()",
        function("tally_stay_update", statements(_stays_statements([("old_rows", "-"), ("new_rows", "")]))),
        "CREATE TRIGGER tally_stay_update AFTER UPDATE ON activity_stay"
        " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION tally_stay_update()",
        function("tally_stay_delete", statements(_stays_statements([("old_rows", "-")]))),
        "CREATE TRIGGER tally_stay_delete AFTER DELETE ON activity_stay REFERENCING OLD TABLE AS old_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION tally_stay_delete()",
        *(
            part
            for table, statement in _postgres_sales_statements().items()
            for part in (
                function(f"tally_{table}", statements([statement])),
                f"CREATE TRIGGER tally_{table} AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows"
                f" FOR EACH STATEMENT EXECUTE FUNCTION tally_{table}()",
            )
        ),
    ]


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(bigint=_BIGINT[engine_type])
    triggers = _sqlite_triggers() if engine_type == "sqlite" else _postgres_triggers()
    return [s.strip() for s in tables.split(";\n") if s.strip()] + triggers


# -- filling them from what was written before (frozen: ``market.reports.tallies`` moves on) ---------

_POINTS = ("tally_points_period", ("community", "span", "period", "person"), ("points",))
_HOURS = ("tally_hours_period", ("community", "span", "period", "person"), ("hours",))
_ACTIVITY = ("tally_activity", ("community", "activity"), ("participants", "hours"))
_FLOW = ("tally_flow_month", ("community", "month"), ("issued", "redeemed", "expired"))
_GOODS = ("tally_goods_month", ("community", "month", "product"), ("quantity", "points"))
_STOCK = ("tally_stock_month", ("community", "month", "product"), ("delta",))


def _sources(table: str, engine: str) -> list[str]:
    """SELECTs whose rows (the tally's keys, then its values, named in the first) sum to it."""
    micros = MONTH_OF_MICROS[engine].format
    time = MONTH_OF_TIME[engine].format
    if table == "tally_points_period":
        return [
            f"SELECT t.ledger AS community, {micros(x='t.at_us')} AS month, {OWNER} AS person,"
            " t.amount AS points FROM ledger_transfer t JOIN ledger_account a ON a.id = t.credit"
            f" WHERE a.kind = 'wallet' AND {EARNED.format(t='t')} AND t.phase IN ('single', 'post')",
            f"SELECT r.ledger, {micros(x='o.at_us')}, {OWNER}, -o.amount"
            " FROM ledger_transfer r JOIN ledger_transfer o ON o.id = r.reverses"
            " JOIN ledger_account a ON a.id = o.credit"
            f" WHERE r.reverses IS NOT NULL AND {EARNED.format(t='o')} AND a.kind = 'wallet'",
        ]
    if table == "tally_hours_period":
        return [
            f"SELECT s.community AS community, {time(x=HOURS_AT.format(s='s'))} AS month,"
            f" s.person AS person, s.hours AS hours FROM activity_stay s WHERE {HOURS.format(s='s')}",
        ]
    if table == "tally_activity":
        return [
            "SELECT s.community AS community, s.activity AS activity,"
            f" CASE WHEN {PARTICIPANT.format(s='s')} THEN 1 ELSE 0 END AS participants,"
            f" {STAY_HOURS.format(s='s')} AS hours FROM activity_stay s",
        ]
    if table == "tally_flow_month":
        flows = ", ".join(f"{FLOWS[name].format(a='t.amount')} AS {name}" for name in _FLOW[2])
        return [
            f"SELECT t.ledger AS community, {micros(x='t.at_us')} AS month, {flows} FROM ledger_transfer t"
            " JOIN ledger_account d ON d.id = t.debit JOIN ledger_account c ON c.id = t.credit"
            f" WHERE t.phase IN ('single', 'post') AND (d.kind IN {FLOW_KINDS} OR c.kind IN {FLOW_KINDS})",
        ]
    if table == "tally_goods_month":
        return [
            f"SELECT r.community AS community, {time(x='r.created_at')} AS month, l.product AS product,"
            " l.quantity AS quantity, l.quantity * l.unit_price AS points"
            " FROM redemption_line l JOIN redemption r ON r.id = l.redemption",
            f"SELECT f.community, {time(x='f.created_at')}, b.product, -b.quantity,"
            " -b.quantity * l.unit_price FROM refund_line b JOIN refund f ON f.id = b.refund"
            " JOIN redemption_line l ON l.redemption = f.redemption AND l.product = b.product",
        ]
    return [f"SELECT m.community AS community, {time(x='m.at')} AS month, m.product AS product,"
            " m.delta AS delta FROM stock_movement m"]


def fill_statements(engine: str) -> list[str]:
    """Each tally summed from the rows written before its trigger existed."""
    out = []
    for table, keys, values in (_POINTS, _HOURS, _ACTIVITY, _FLOW, _GOODS, _STOCK):
        union = " UNION ALL ".join(_sources(table, engine))
        if table in ("tally_points_period", "tally_hours_period"):  # by month, quarter and year
            period = PERIOD_OF_MONTH.format(span="s.span", m="m.month")
            kept = ", ".join(f"m.{value}" for value in values)
            union = (f"SELECT m.community, s.span, {period} AS period, m.person, {kept}"
                     f" FROM ({union}) m, {SPANS} s")
        columns = ", ".join(keys + values)
        sums = ", ".join(f"SUM({v}) AS {v}" for v in values)
        out.append(f"INSERT INTO {table} ({columns}) SELECT * FROM"
                   f" (SELECT {', '.join(keys)}, {sums} FROM ({union}) x GROUP BY {', '.join(keys)}) s"
                   " WHERE TRUE")
    return out


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_tallies() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)
        # What was written before the triggers existed (the tables are new, so empty).
        for statement in fill_statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_tallies)
    return manager
