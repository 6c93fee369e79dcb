"""The SQL behind the leaderboards and dashboards, scoped by community, on both engines.

Points earned are the ledger's activity credits: transfers of kind ``checkin`` and ``checkout``
(issuance → wallet, also those an organizer's approval released), counted when credited, less
the reversals of such credits (a cancelled activity takes them back; they are subtracted from
the period of the credit they undo). Adjustments are not earned and do not count; redemptions
and refunds move points already earned. Service hours are the hours of checked-out stays
(approved, or needing no approval), counted in the period of the check-out.

Time buckets are Beijing days computed with integer arithmetic on the ledger's microseconds, so
the same SQL groups by day on SQLite and PostgreSQL; months are summed from days in Python.
"""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from market.db import fetch
from market.reports import board_cache
from market.reports.board_period import CHINA, _month_start, micros

EARNED_KINDS = ("checkin", "checkout")
#: Beijing is UTC+8 all year (no daylight saving): a day bucket is (at_us + 8 h) // 1 day.
_SHIFT_US = 8 * 3600 * 1_000_000
_DAY_US = 86_400 * 1_000_000
_EPOCH_DAY = date(1970, 1, 1)


def day_of_bucket(bucket: int) -> date:
    return _EPOCH_DAY + timedelta(days=int(bucket))


async def earned_by_person(community_id: int, start: datetime, end: datetime) -> dict[int, int]:
    """Person id → hundredths of points earned in [start, end) (``start``/``end`` on month starts).

    Credits are summed month by month: a month that is over can get no new transfer (the
    ledger dates each transfer "now" and never steps back), so its sums are kept
    (``board_cache.closed_month``) and a year's board reads only the current month's rows.
    Reversals are few and can come at any time: they are subtracted live.
    """
    out: dict[int, int] = defaultdict(int)
    for month_start, month_end in months_between(start, end):
        credits = await board_cache.closed_month(
            ("credits", community_id, month_start), month_end,
            lambda a=month_start, b=month_end: _credits(community_id, a, b),
        )
        for person, points in credits.items():
            out[person] += points
    taken_back = await fetch(
        "SELECT a.owner AS owner, SUM(o.amount) AS points FROM ledger_transfer r"
        " JOIN ledger_transfer o ON o.id = r.reverses JOIN ledger_account a ON a.id = o.credit"
        " WHERE r.reverses IS NOT NULL AND r.ledger = {} AND o.kind IN ('checkin', 'checkout')"
        " AND o.at_us >= {} AND o.at_us < {} AND a.kind = 'wallet' GROUP BY a.owner",
        community_id, micros(start), micros(end),
    )
    for row in taken_back:
        out[int(row["owner"])] -= int(row["points"])
    return {person: points for person, points in out.items() if points > 0}


async def _credits(community_id: int, start: datetime, end: datetime) -> dict[int, int]:
    rows = await fetch(
        "SELECT a.owner AS owner, e.points AS points FROM ("
        " SELECT credit, SUM(amount) AS points FROM ledger_transfer"
        " WHERE ledger = {} AND at_us >= {} AND at_us < {} AND kind IN ('checkin', 'checkout')"
        " AND phase = 'single' GROUP BY credit"
        ") e JOIN ledger_account a ON a.id = e.credit WHERE a.kind = 'wallet'",
        community_id, micros(start), micros(end),
    )
    return {int(row["owner"]): int(row["points"]) for row in rows}


def months_between(start: datetime, end: datetime | None) -> list[tuple[datetime, datetime | None]]:
    """[start, end) cut at Beijing month starts; with no end, up to now (the last one open-ended)."""
    out: list[tuple[datetime, datetime | None]] = []
    local = start.astimezone(CHINA)
    year, month = local.year, local.month
    now = datetime.now(UTC)
    while True:
        cut = _month_start(year + month // 12, month % 12 + 1)
        if end is not None and cut >= end:
            out.append((start, end))
            return out
        if end is None and cut > now:
            out.append((start, None))
            return out
        out.append((start, cut))
        start, year, month = cut, year + month // 12, month % 12 + 1


_COUNTED_STAY = "status = 'out' AND (approval IS NULL OR approval = 'approved') AND hours > 0"


async def hours_by_person(community_id: int, start: datetime, end: datetime) -> dict[int, int]:
    """Person id → hundredths of service hours recorded (checked out) in [start, end)."""
    rows = await fetch(
        "SELECT person, SUM(hours) AS hours FROM activity_stay WHERE community = {}"
        f" AND out_at >= {{}} AND out_at < {{}} AND {_COUNTED_STAY} GROUP BY person",
        community_id, start, end,
    )
    return {row["person"]: int(row["hours"]) for row in rows if row["hours"]}


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


async def community_accounts(community_id: int) -> dict[str, int]:
    """The ids of the community's issuance, shop and expiry accounts (those that exist)."""
    rows = await fetch(
        "SELECT id, kind FROM ledger_account WHERE ledger = {} AND kind IN ('issuance', 'shop', 'expiry')",
        community_id,
    )
    return {row["kind"]: row["id"] for row in rows}


async def flows_by_day(community_id: int, accounts: dict[str, int], start: datetime) -> dict[date, dict]:
    """Beijing day → hundredths issued, redeemed and expired (each net of what came back), from
    ``start`` (a month start) to now; months that are over are kept (see ``earned_by_person``)."""
    out: dict[date, dict] = {}
    for month_start, month_end in months_between(start, None):
        if month_end is None:
            out |= await _flows(community_id, accounts, month_start, None)
        else:
            out |= await board_cache.closed_month(
                ("flows", community_id, month_start), month_end,
                lambda a=month_start, b=month_end: _flows(community_id, accounts, a, b),
            )
    return out


async def _flows(community_id: int, accounts: dict[str, int], start: datetime, end: datetime | None
                 ) -> dict[date, dict]:
    """Holds move nothing until posted, so only single and post phases count."""
    issuance, shop, expiry = (accounts.get(kind, -1) for kind in ("issuance", "shop", "expiry"))
    # The bucket's constants are written into the SQL: PostgreSQL groups by an expression only
    # if it is the same text, and two parameters ($1, $11) are not.
    bucket = f"(at_us + {_SHIFT_US}) / {_DAY_US}"
    until = "" if end is None else " AND at_us < {}"
    rows = await fetch(
        f"SELECT {bucket} AS bucket,"
        " SUM(CASE WHEN debit = {} THEN amount WHEN credit = {} THEN -amount ELSE 0 END) AS issued,"
        " SUM(CASE WHEN credit = {} THEN amount WHEN debit = {} THEN -amount ELSE 0 END) AS redeemed,"
        " SUM(CASE WHEN credit = {} THEN amount WHEN debit = {} THEN -amount ELSE 0 END) AS expired"
        " FROM ledger_transfer WHERE ledger = {} AND at_us >= {}" + until +
        f" AND phase IN ('single', 'post') GROUP BY {bucket}",
        issuance, issuance, shop, shop, expiry, expiry, community_id, micros(start),
        *(() if end is None else (micros(end),)),
    )
    return {
        day_of_bucket(row["bucket"]): {
            "issued": int(row["issued"]), "redeemed": int(row["redeemed"]), "expired": int(row["expired"]),
        }
        for row in rows
    }


async def wallets_total(community_id: int) -> int:
    """Hundredths held in the community's wallets now (posted balances)."""
    rows = await fetch(
        "SELECT COALESCE(SUM(balance), 0) AS total FROM ledger_account WHERE ledger = {} AND kind = 'wallet'",
        community_id,
    )
    return int(rows[0]["total"])


async def activities_in(community_id: int, start: datetime, end: datetime) -> list[dict]:
    """Activities held (not cancelled) that start in [start, end), with participants and hours."""
    return await fetch(
        "SELECT a.id, a.category, a.starts_at,"
        " (SELECT COUNT(*) FROM activity_stay s WHERE s.activity = a.id AND s.status <> 'cancelled'"
        "  AND (s.approval IS NULL OR s.approval <> 'rejected')) AS participants,"
        " (SELECT COALESCE(SUM(s.hours), 0) FROM activity_stay s WHERE s.activity = a.id"
        "  AND s.status = 'out' AND (s.approval IS NULL OR s.approval = 'approved')) AS hours"
        " FROM activity a WHERE a.community = {} AND a.status = 'scheduled'"
        " AND a.starts_at >= {} AND a.starts_at < {}",
        community_id, start, end,
    )


async def redeemed_goods(community_id: int, start: datetime, end: datetime) -> dict[int, list[int]]:
    """Product id → [quantity, points] redeemed in [start, end), net of refunds (in the period)."""
    out = await fetch(
        "SELECT l.product, SUM(l.quantity) AS quantity, SUM(l.quantity * l.unit_price) AS points"
        " FROM redemption_line l JOIN redemption r ON r.id = l.redemption"
        " WHERE r.community = {} AND r.created_at >= {} AND r.created_at < {} GROUP BY l.product",
        community_id, start, end,
    )
    back = await fetch(
        "SELECT b.product, SUM(b.quantity) AS quantity, SUM(b.quantity * l.unit_price) AS points"
        " FROM refund_line b JOIN refund f ON f.id = b.refund"
        " JOIN redemption_line l ON l.redemption = f.redemption AND l.product = b.product"
        " WHERE f.community = {} AND f.created_at >= {} AND f.created_at < {} GROUP BY b.product",
        community_id, start, end,
    )
    goods: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for row in out:
        goods[row["product"]][0] += int(row["quantity"])
        goods[row["product"]][1] += int(row["points"])
    for row in back:
        goods[row["product"]][0] -= int(row["quantity"])
        goods[row["product"]][1] -= int(row["points"])
    return dict(goods)


async def stock_levels(community_id: int, start: datetime, end: datetime) -> list[dict]:
    """Every product with its stock now and the stock movements since ``start`` and since ``end``,
    from which its stock at the start and at the end of the period follow."""
    return await fetch(
        "SELECT p.id, p.name, p.stock,"
        " COALESCE(SUM(CASE WHEN m.at >= {} THEN m.delta ELSE 0 END), 0) AS since_start,"
        " COALESCE(SUM(CASE WHEN m.at >= {} THEN m.delta ELSE 0 END), 0) AS since_end"
        " FROM product p LEFT JOIN stock_movement m ON m.product = p.id AND m.at >= {}"
        " WHERE p.community = {} GROUP BY p.id, p.name, p.stock",
        start, end, start, community_id,
    )
