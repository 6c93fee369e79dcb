"""What each tally behind the leaderboards and dashboards counts, computed from the rows: to fill
the tallies and to check them (``market reports check``).

The database keeps the tallies itself, by triggers, in the transaction that writes what they
count (migration ``t11``, which states the same conditions over the tables as they were then).
This module states the same sums as one query per tally over the rows they come from — the
ledger's movements (its published views), the stays, the redemption and refund lines, the stock
movements — and compares the two in one statement (one snapshot on either engine). A difference
means a tally was written around the triggers, which no code of the market does.
"""

from dataclasses import dataclass

from market.db import engine_name, fetch


@dataclass(frozen=True)
class Tally:
    table: str
    keys: tuple[str, ...]
    values: tuple[str, ...]
    by_span: bool = False
    """Kept per month, quarter and year (``span``, ``period``); its rows are counted per month."""


_PERSON = ("community", "span", "period", "person")
POINTS_PERIOD = Tally("tally_points_period", _PERSON, ("points",), by_span=True)
HOURS_PERIOD = Tally("tally_hours_period", _PERSON, ("hours",), by_span=True)
ACTIVITY = Tally("tally_activity", ("community", "activity"), ("participants", "hours"))
FLOW_MONTH = Tally("tally_flow_month", ("community", "month"), ("issued", "redeemed", "expired"))
GOODS_MONTH = Tally("tally_goods_month", ("community", "month", "product"), ("quantity", "points"))
STOCK_MONTH = Tally("tally_stock_month", ("community", "month", "product"), ("delta",))
TALLIES = (POINTS_PERIOD, HOURS_PERIOD, ACTIVITY, FLOW_MONTH, GOODS_MONTH, STOCK_MONTH)

# -- what counts (the triggers of migrations t11 and t07 count the same) ----------------------
#: Earned: a credit for a check-in, a check-out or a 民声 request done (``{t}``: a transfer;
#: ``help`` since migration 2026-12-07T01).
EARNED = "{t}.kind IN ('checkin', 'checkout', 'help')"
HOURS = "{s}.status = 'out' AND ({s}.approval IS NULL OR {s}.approval = 'approved') AND {s}.hours > 0"
#: A stay's hours count in the month of its check-out; hours set by hand (no check-out), in the
#: month of its check-in.
HOURS_AT = "COALESCE({s}.out_at, {s}.in_at)"
PARTICIPANT = "{s}.status <> 'cancelled' AND ({s}.approval IS NULL OR {s}.approval <> 'rejected')"
STAY_HOURS = ("CASE WHEN {s}.status = 'out' AND ({s}.approval IS NULL OR {s}.approval = 'approved')"
              " THEN COALESCE({s}.hours, 0) ELSE 0 END")
_MOVED = "(CASE WHEN {{m}}.{side}_kind = '{kind}' THEN {{m}}.amount ELSE 0 END)"


def _net(into: str, out_of: str, kind: str) -> str:
    return _MOVED.format(side=into, kind=kind) + " - " + _MOVED.format(side=out_of, kind=kind)


#: Issued: out of the issuance account; redeemed: into the shop's; expired: into the expiry
#: account — each net of what went the other way (``{m}``: a row of ``ledger_movements``).
FLOWS = {
    "issued": _net("debit", "credit", "issuance"),
    "redeemed": _net("credit", "debit", "shop"),
    "expired": _net("credit", "debit", "expiry"),
}
FLOW_KINDS = "('issuance', 'shop', 'expiry')"
#: Months are ``YYYYMM`` integers in Beijing time (UTC+8 all year), from the ledger's
#: microseconds or a TIMESTAMPTZ.
MONTH_OF_MICROS = {
    "sqlite": "CAST(strftime('%Y%m', ({x}) / 1000000, 'unixepoch', '+8 hours') AS INTEGER)",
    "postgres": "CAST(to_char((to_timestamp(({x}) / 1000000) AT TIME ZONE 'UTC') + INTERVAL '8 hours',"
                " 'YYYYMM') AS INTEGER)",
}
MONTH_OF_TIME = {
    "sqlite": "CAST(strftime('%Y%m', {x}, '+8 hours') AS INTEGER)",
    "postgres": "CAST(to_char(({x} AT TIME ZONE 'UTC') + INTERVAL '8 hours', 'YYYYMM') AS INTEGER)",
}
#: A person's points and hours are kept for each month, quarter and year (one row each):
#: ``span`` and ``period`` 'month' 202611, 'quarter' 20264, 'year' 2026.
SPANS = "(SELECT 'month' AS span UNION ALL SELECT 'quarter' AS span UNION ALL SELECT 'year' AS span)"
PERIOD_OF_MONTH = ("CASE {span} WHEN 'month' THEN {m}"
                   " WHEN 'quarter' THEN ({m}) / 100 * 10 + (({m}) % 100 + 2) / 3 ELSE ({m}) / 100 END")
#: A wallet's owner is the person's id as text.
OWNER = "CAST({m}.credit_owner AS INTEGER)"


def _sources(tally: Tally, engine: str) -> list[str]:
    """SELECTs whose rows (the tally's keys, then its values, named in the first) sum to the tally."""
    micros = MONTH_OF_MICROS[engine].format
    time = MONTH_OF_TIME[engine].format
    earned = EARNED.format
    if tally is POINTS_PERIOD:
        return [
            f"SELECT t.ledger AS community, {micros(x='t.at_us')} AS month, {OWNER.format(m='t')} AS person,"
            " t.amount AS points FROM ledger_movements t"
            # Posted too: a credit that waited for 公示 (migration t07) reaches the wallet so.
            f" WHERE t.credit_kind = 'wallet' AND {earned(t='t')} AND t.phase IN ('single', 'post')",
            f"SELECT r.ledger, {micros(x='o.at_us')}, {OWNER.format(m='o')}, -o.amount"
            " FROM ledger_transfers r JOIN ledger_movements o ON o.id = r.reverses"
            f" WHERE r.reverses IS NOT NULL AND {earned(t='o')} AND o.credit_kind = 'wallet'",
        ]
    if tally is HOURS_PERIOD:
        return [
            f"SELECT s.community AS community, {time(x=HOURS_AT.format(s='s'))} AS month,"
            " s.person AS person, s.hours AS hours FROM activity_stay s"
            f" WHERE {HOURS.format(s='s')}",
            # A 民声 request's hours, in the month it was confirmed (migration 2026-12-07T01).
            f"SELECT r.community, {micros(x='r.done_us')}, r.volunteer, r.hours FROM help_request r"
            " WHERE r.state = 'done' AND r.hours > 0",
        ]
    if tally is ACTIVITY:
        return [
            "SELECT s.community AS community, s.activity AS activity,"
            f" CASE WHEN {PARTICIPANT.format(s='s')} THEN 1 ELSE 0 END AS participants,"
            f" {STAY_HOURS.format(s='s')} AS hours FROM activity_stay s",
        ]
    if tally is FLOW_MONTH:
        flows = ", ".join(f"{FLOWS[name].format(m='t')} AS {name}" for name in tally.values)
        return [
            f"SELECT t.ledger AS community, {micros(x='t.at_us')} AS month, {flows} FROM ledger_movements t"
            f" WHERE t.phase IN ('single', 'post')"
            f" AND (t.debit_kind IN {FLOW_KINDS} OR t.credit_kind IN {FLOW_KINDS})",
        ]
    if tally is GOODS_MONTH:
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


def computed(tally: Tally, engine: str) -> str:
    """The tally as a query over the rows it counts, one row per key."""
    union = " UNION ALL ".join(_sources(tally, engine))
    if tally.by_span:  # each month's row counts in its month, its quarter and its year
        period = PERIOD_OF_MONTH.format(span="s.span", m="m.month")
        values = ", ".join(f"m.{value}" for value in tally.values)
        union = (f"SELECT m.community, s.span, {period} AS period, m.person, {values}"
                 f" FROM ({union}) m, {SPANS} s")
    keys = ", ".join(tally.keys)
    sums = ", ".join(f"SUM({v}) AS {v}" for v in tally.values)
    return f"SELECT {keys}, {sums} FROM ({union}) x GROUP BY {keys}"


async def refill() -> None:
    """Empty every tally and sum it again from the rows (the migration that made them did so with
    the same conditions; run it only while nothing writes)."""
    engine = engine_name()
    for tally in TALLIES:
        await fetch(f"DELETE FROM {tally.table}")
        columns = ", ".join(tally.keys + tally.values)
        await fetch(f"INSERT INTO {tally.table} ({columns}) SELECT * FROM ({computed(tally, engine)}) s"
                    " WHERE TRUE")


@dataclass(frozen=True)
class Difference:
    table: str
    key: tuple[int | str, ...]
    kept: tuple[int, ...]
    counted: tuple[int, ...]


async def check(community_id: int | None = None) -> tuple[list[Difference], int]:
    """Every key whose kept tally differs from the rows' (rows of zeros and absent rows are the
    same), and how many keys were compared; for one community or all."""
    engine = engine_name()
    differences: list[Difference] = []
    compared = 0
    for tally in TALLIES:
        columns = ", ".join(tally.keys + tally.values)
        where = "" if community_id is None else " WHERE community = {}"
        rows = await fetch(
            f"SELECT 'kept' AS side, {columns} FROM {tally.table}{where}"
            f" UNION ALL SELECT 'counted' AS side, {columns} FROM ({computed(tally, engine)}) c{where}",
            *(() if community_id is None else (community_id, community_id)),
        )
        sides: dict[str, dict[tuple, tuple]] = {"kept": {}, "counted": {}}
        for row in rows:
            key = tuple(row[k] if isinstance(row[k], str) else int(row[k]) for k in tally.keys)
            value = tuple(int(row[v] or 0) for v in tally.values)
            if any(value):
                sides[row["side"]][key] = value
        zero = (0,) * len(tally.values)
        keys = sides["kept"].keys() | sides["counted"].keys()
        compared += len(keys)
        for key in sorted(keys):
            kept, counted = sides["kept"].get(key, zero), sides["counted"].get(key, zero)
            if kept != counted:
                differences.append(Difference(tally.table, key, kept, counted))
    return differences, compared
