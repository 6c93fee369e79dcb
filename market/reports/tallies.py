"""What each tally behind the leaderboards and dashboards counts, computed from the rows: to fill
the tallies and to check them (``market reports check``).

The database keeps the tallies itself, by triggers, in the transaction that writes what they
count (migration ``t11``, which holds the conditions used here too). This module states the same
sums as one query per tally over the rows they come from — the ledger's transfers and accounts,
the stays, the redemption and refund lines, the stock movements — and compares the two in one
statement (one snapshot on either engine). A difference means a tally was written around the
triggers, which no code of the market does.
"""

from dataclasses import dataclass

from market.db import engine_name, fetch
from market.piccolo_migrations import market_2026_11_23t11_00_00 as installed


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


def _sources(tally: Tally, engine: str) -> list[str]:
    """SELECTs whose rows (the tally's keys, then its values, named in the first) sum to the tally."""
    micros = installed.MONTH_OF_MICROS[engine].format
    time = installed.MONTH_OF_TIME[engine].format
    earned = installed.EARNED.format
    if tally is POINTS_PERIOD:
        return [
            f"SELECT t.ledger AS community, {micros(x='t.at_us')} AS month, {installed.OWNER} AS person,"
            " t.amount AS points FROM ledger_transfer t JOIN ledger_account a ON a.id = t.credit"
            # Posted too: a credit that waited for 公示 (migration t07) reaches the wallet so.
            f" WHERE a.kind = 'wallet' AND {earned(t='t')} AND t.phase IN ('single', 'post')",
            f"SELECT r.ledger, {micros(x='o.at_us')}, {installed.OWNER}, -o.amount"
            " FROM ledger_transfer r JOIN ledger_transfer o ON o.id = r.reverses"
            " JOIN ledger_account a ON a.id = o.credit"
            f" WHERE r.reverses IS NOT NULL AND {earned(t='o')} AND a.kind = 'wallet'",
        ]
    if tally is HOURS_PERIOD:
        return [
            f"SELECT s.community AS community, {time(x=installed.HOURS_AT.format(s='s'))} AS month,"
            " s.person AS person, s.hours AS hours FROM activity_stay s"
            f" WHERE {installed.HOURS.format(s='s')}",
        ]
    if tally is ACTIVITY:
        return [
            "SELECT s.community AS community, s.activity AS activity,"
            f" CASE WHEN {installed.PARTICIPANT.format(s='s')} THEN 1 ELSE 0 END AS participants,"
            f" {installed.STAY_HOURS.format(s='s')} AS hours FROM activity_stay s",
        ]
    if tally is FLOW_MONTH:
        flows = ", ".join(f"{installed.FLOWS[name].format(a='t.amount')} AS {name}" for name in tally.values)
        kinds = installed.FLOW_KINDS
        return [
            f"SELECT t.ledger AS community, {micros(x='t.at_us')} AS month, {flows} FROM ledger_transfer t"
            " JOIN ledger_account d ON d.id = t.debit JOIN ledger_account c ON c.id = t.credit"
            f" WHERE t.phase IN ('single', 'post') AND (d.kind IN {kinds} OR c.kind IN {kinds})",
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
        period = installed.PERIOD_OF_MONTH.format(span="s.span", m="m.month")
        values = ", ".join(f"m.{value}" for value in tally.values)
        union = (f"SELECT m.community, s.span, {period} AS period, m.person, {values}"
                 f" FROM ({union}) m, {installed.SPANS} s")
    keys = ", ".join(tally.keys)
    sums = ", ".join(f"SUM({v}) AS {v}" for v in tally.values)
    return f"SELECT {keys}, {sums} FROM ({union}) x GROUP BY {keys}"


async def refill() -> None:
    """Empty every tally and sum it again from the rows (the migration that made them does this;
    run it only while nothing writes)."""
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
