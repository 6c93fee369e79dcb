"""The SQL behind the leaderboards and dashboards, scoped by community, on both engines.

Sums come from the tallies the database keeps by Beijing month (migration ``t11``; what each
counts is stated in ``market.reports.tallies``):

- points earned: the ledger's activity credits (``checkin``/``checkout`` transfers into a
  wallet), less their reversals (a cancelled activity takes them back, from the month of the
  credit). Adjustments are not earned; redemptions and refunds move points already earned.
- service hours: of checked-out stays (approved, or needing no approval), in the month of the
  check-out; hours an organizer set by hand for a stay never checked out, in the month of its
  check-in.
- points issued, redeemed and expired: the issuance account's outflow, the shop's and the
  expiry account's inflow, each net of what came back.

A board reads one row per person for its month, quarter or year; a dashboard for a year at most
twelve rows per product or month — instead of every transfer and stay of the year.
"""

from datetime import datetime

from market.db import fetch
from market.reports.board_period import Period


async def person_totals(community_id: int, period: Period) -> tuple[dict[int, int], dict[int, int]]:
    """Person id → hundredths of points earned, and → hundredths of service hours, in ``period``
    (only positive sums): one row per person, kept for the month, quarter or year."""
    span, key = period.tally_period
    earned, hours = {}, {}
    for measure, out in (("points", earned), ("hours", hours)):
        # "+ 0": an expression has no declared type, so no per-column converter of Piccolo's
        # runs on the 10,000 rows (on SQLite they tripled the time of this read: 39 → 13 ms).
        rows = await fetch(
            f"SELECT person + 0 AS person, {measure} + 0 AS value FROM tally_{measure}_period"
            f" WHERE community = {{}} AND span = {{}} AND period = {{}} AND {measure} > 0",
            community_id, span, key,
        )
        out.update((row["person"], row["value"]) for row in rows)
    return earned, hours


async def people(community_id: int) -> list[dict]:
    """Everyone of the community with their household, its building and grid (None if none)."""
    return await fetch(
        "SELECT p.id, p.name, p.erased_at, h.id AS household, h.building, h.grid, h.unit, h.room,"
        " h.archived_at AS household_archived FROM person p LEFT JOIN household h ON h.id = p.household"
        " WHERE p.community = {}",
        community_id,
    )


async def buildings(community_id: int) -> dict[int, str]:
    rows = await fetch(
        "SELECT b.id, b.name, c.name AS compound FROM building b JOIN compound c ON c.id = b.compound"
        " WHERE b.community = {} AND b.archived_at IS NULL",
        community_id,
    )
    return {row["id"]: f"{row['compound']} {row['name']}" for row in rows}


async def grids(community_id: int) -> dict[int, str]:
    rows = await fetch(
        "SELECT id, name FROM grid WHERE community = {} AND archived_at IS NULL", community_id
    )
    return {row["id"]: row["name"] for row in rows}


async def teams(community_id: int) -> tuple[dict[int, str], list[tuple[int, int]]]:
    """The community's teams (id → name) and their members (team, person)."""
    names = await fetch(
        "SELECT id, name FROM team WHERE community = {} AND archived_at IS NULL", community_id
    )
    members = await fetch(
        "SELECT m.team, m.person FROM team_member m JOIN team t ON t.id = m.team"
        " WHERE t.community = {} AND t.archived_at IS NULL",
        community_id,
    )
    return {row["id"]: row["name"] for row in names}, [(row["team"], row["person"]) for row in members]


# -- dashboards ------------------------------------------------------------------------------


async def flows_by_month(community_id: int, first: int) -> dict[int, dict]:
    """``YYYYMM`` → hundredths issued, redeemed and expired (each net of what came back), from the
    month ``first`` on."""
    rows = await fetch(
        "SELECT month, issued, redeemed, expired FROM tally_flow_month WHERE community = {} AND month >= {}",
        community_id, first,
    )
    return {
        int(row["month"]): {
            "issued": int(row["issued"]), "redeemed": int(row["redeemed"]), "expired": int(row["expired"]),
        }
        for row in rows
    }


async def wallets_total(community_id: int) -> int:
    """Hundredths held in the community's wallets now (posted balances)."""
    rows = await fetch(
        "SELECT COALESCE(SUM(balance), 0) AS total FROM ledger_accounts"
        " WHERE ledger = {} AND kind = 'wallet'",
        community_id,
    )
    return int(rows[0]["total"])


async def activities_in(community_id: int, start: datetime, end: datetime) -> list[dict]:
    """Activities held (not cancelled) that start in [start, end), with participants (stays not
    cancelled or rejected) and the hours of their counted stays."""
    return await fetch(
        "SELECT a.id, a.category, a.starts_at, COALESCE(t.participants, 0) AS participants,"
        " COALESCE(t.hours, 0) AS hours FROM activity a"
        " LEFT JOIN tally_activity t ON t.community = a.community AND t.activity = a.id"
        " WHERE a.community = {} AND a.status = 'scheduled' AND a.starts_at >= {} AND a.starts_at < {}",
        community_id, start, end,
    )


async def redeemed_goods(community_id: int, period: Period) -> dict[int, list[int]]:
    """Product id → [quantity, points] redeemed in ``period``, net of refunds (in the period)."""
    first, after = period.month_range
    rows = await fetch(
        "SELECT product, SUM(quantity) AS quantity, SUM(points) AS points FROM tally_goods_month"
        " WHERE community = {} AND month >= {} AND month < {} GROUP BY product",
        community_id, first, after,
    )
    return {int(row["product"]): [int(row["quantity"]), int(row["points"])] for row in rows}


async def stock_levels(community_id: int, period: Period) -> list[dict]:
    """Every product with its stock now and the net stock movements since the period's start and
    since its end, from which its stock at the start and at the end of the period follow."""
    first, after = period.month_range
    return await fetch(
        "SELECT p.id, p.name, p.stock, COALESCE(m.since_start, 0) AS since_start,"
        " COALESCE(m.since_end, 0) AS since_end FROM product p LEFT JOIN ("
        " SELECT product, SUM(delta) AS since_start,"
        " SUM(CASE WHEN month >= {} THEN delta ELSE 0 END) AS since_end"
        " FROM tally_stock_month WHERE community = {} AND month >= {} GROUP BY product"
        ") m ON m.product = p.id WHERE p.community = {}",
        after, community_id, first, community_id,
    )
