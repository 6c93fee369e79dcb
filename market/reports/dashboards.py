"""Dashboards for organizers and admins: activities, participants and hours by category over time,
points issued vs redeemed and outstanding, the shop's most redeemed goods and stock turnover.

A period (default: this year) is shown month by month, Beijing time. Activities count in the month
they start (cancelled ones not at all), with their participations (stays not cancelled or
rejected) and the service hours of their checked-out stays. Points issued are the issuance
account's outflow net of what came back (reversals), redeemed the shop's inflow net of refunds;
outstanding at a month's end is what wallets hold now less the wallets' net inflow since.
Stock turnover is the units redeemed (net of refunds) over the average of the stock at the
period's start and end. Charts are drawn on the server (``market.reports.charts``).
"""

from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from ledger import format_points
from market.china_time import CHINA
from market.reports import board_cache
from market.reports import board_queries as q
from market.reports.board_period import Period, today
from market.reports.leaderboards import period_view
from market.reports.schemas import (
    ActivitiesDashboard,
    CategoryMonth,
    Goods,
    PointsDashboard,
    PointsMonth,
    ShopDashboard,
    Turnover,
)

CATEGORIES = ("self_governance", "collective_labour", "volunteer_service")
TOP_GOODS = 10


def _month_key(year: int, month: int) -> str:
    return f"{year}-{month:02d}"


def _hours(hundredths: int) -> str:
    return format_points(hundredths)


async def activities(community_id: int, period: Period, language: str = "zh") -> ActivitiesDashboard:
    return await board_cache.cached(("activities", community_id, period.kind, period.key, language),
                                    lambda: _activities(community_id, period, language))


async def _activities(community_id: int, period: Period, language: str = "zh") -> ActivitiesDashboard:
    months = [_month_key(*ym) for ym in period.month_starts()]
    cells: dict[tuple[str, str], list[int]] = {(m, c): [0, 0, 0] for m in months for c in CATEGORIES}
    for row in await q.activities_in(community_id, period.start, period.end):
        local = row["starts_at"].astimezone(CHINA)
        cell = cells.setdefault((_month_key(local.year, local.month), row["category"]), [0, 0, 0])
        cell[0] += 1
        cell[1] += int(row["participants"])
        cell[2] += int(row["hours"] or 0)
    categories = list(CATEGORIES) + sorted({c for _, c in cells} - set(CATEGORIES))
    rows = [
        CategoryMonth(month=m, category=c, activities=cells[(m, c)][0], participants=cells[(m, c)][1],
                      hours=_hours(cells[(m, c)][2]))
        for m in months for c in categories if (m, c) in cells
    ]
    return ActivitiesDashboard(
        period=period_view(period, language), months=months, rows=rows,
        activities=sum(v[0] for v in cells.values()), participants=sum(v[1] for v in cells.values()),
        hours=_hours(sum(v[2] for v in cells.values())),
    )


async def points(community_id: int, period: Period, language: str = "zh") -> PointsDashboard:
    return await board_cache.cached(("points", community_id, period.kind, period.key, language),
                                    lambda: _points(community_id, period, language))


async def _points(community_id: int, period: Period, language: str = "zh") -> PointsDashboard:
    flows = await q.flows_by_month(community_id, period.month_range[0])
    now_total = await q.wallets_total(community_id)
    by_month: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for month, flow in flows.items():
        cell = by_month[_month_key(*divmod(month, 100))]
        cell[0] += flow["issued"]
        cell[1] += flow["redeemed"]
        cell[2] += flow["expired"]
    this_month = today().replace(day=1)
    out = []
    for year, month in period.month_starts():
        key = _month_key(year, month)
        # Wallets now, less what flowed into them after this month (issued − redeemed − expired).
        later = sum(v[0] - v[1] - v[2] for k, v in by_month.items() if k > key)
        at_end = now_total if date(year, month, 1) >= this_month else now_total - later
        cell = by_month.get(key, [0, 0, 0])
        out.append(PointsMonth(month=key, issued=format_points(cell[0]), redeemed=format_points(cell[1]),
                               outstanding=format_points(at_end)))
    inside = [by_month.get(_month_key(*ym), [0, 0, 0]) for ym in period.month_starts()]
    return PointsDashboard(
        period=period_view(period, language), months=out, issued=format_points(sum(c[0] for c in inside)),
        redeemed=format_points(sum(c[1] for c in inside)), outstanding=format_points(now_total),
    )


async def shop(community_id: int, period: Period, language: str = "zh") -> ShopDashboard:
    return await board_cache.cached(("shop", community_id, period.kind, period.key, language),
                                    lambda: _shop(community_id, period, language))


async def _shop(community_id: int, period: Period, language: str = "zh") -> ShopDashboard:
    goods = await q.redeemed_goods(community_id, period)
    levels = await q.stock_levels(community_id, period)
    names = {row["id"]: row["name"] for row in levels}
    top = sorted(((qty, pts, pid) for pid, (qty, pts) in goods.items() if qty > 0),
                 key=lambda item: (-item[0], -item[1], item[2]))[:TOP_GOODS]
    turnover = []
    for row in sorted(levels, key=lambda r: r["id"]):
        opening = int(row["stock"]) - int(row["since_start"])
        closing = int(row["stock"]) - int(row["since_end"])
        redeemed = goods.get(row["id"], [0, 0])[0]
        ratio = None
        if opening + closing > 0:
            ratio = str((Decimal(2 * redeemed) / Decimal(opening + closing)).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP))
        turnover.append(Turnover(product_id=row["id"], name=row["name"], opening_stock=opening,
                                 closing_stock=closing, redeemed=redeemed, turnover=ratio))
    return ShopDashboard(
        period=period_view(period, language),
        top=[Goods(product_id=pid, name=names.get(pid, ""), quantity=qty, points=format_points(pts))
             for qty, pts, pid in top],
        turnover=turnover,
    )
