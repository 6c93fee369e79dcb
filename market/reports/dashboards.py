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

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from ledger import format_points
from market.auth.guards import requires_role
from market.auth.roles import ADMIN, ORGANIZER
from market.auth.sessions import Principal
from market.errors import MarketError
from market.reports import board_cache, charts
from market.reports import board_queries as q
from market.reports.board_period import CHINA, Period, PeriodAt, PeriodKind, parse_period, today
from market.reports.leaderboards import PeriodView, period_view
from market.web import i18n
from market.web.forms import page, page_member

CATEGORIES = ("self_governance", "collective_labour", "volunteer_service")
TOP_GOODS = 10
PAGE = {"include_in_schema": False}


class CategoryMonth(msgspec.Struct):
    month: str
    category: str
    activities: int
    participants: int
    hours: str


class ActivitiesDashboard(msgspec.Struct):
    period: PeriodView
    months: list[str]
    rows: list[CategoryMonth]
    """One row per month and category, months in order, categories in ``CATEGORIES`` order."""
    activities: int
    participants: int
    hours: str


class PointsMonth(msgspec.Struct):
    month: str
    issued: str
    redeemed: str
    outstanding: str
    """Held in wallets at the month's end (for a month not over yet: now)."""


class PointsDashboard(msgspec.Struct):
    period: PeriodView
    months: list[PointsMonth]
    issued: str
    redeemed: str
    outstanding: str
    """Held in wallets now."""


class Goods(msgspec.Struct):
    product_id: int
    name: str
    quantity: int
    points: str


class Turnover(msgspec.Struct):
    product_id: int
    name: str
    opening_stock: int
    closing_stock: int
    redeemed: int
    turnover: str | None
    """Units redeemed / average stock, two decimals; null when there was no stock at all."""


class ShopDashboard(msgspec.Struct):
    period: PeriodView
    top: list[Goods]
    turnover: list[Turnover]


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




class DashboardController(Controller):
    path = "/dashboards"
    tags = ("reports",)
    guards = (requires_role(ORGANIZER, ADMIN),)

    @get("/activities", summary="Activities held, participants and hours by category, month by month")
    async def activities(self, request: Request, me: NamedDependency[Principal], period: PeriodKind = None,
                         at: PeriodAt = None) -> ActivitiesDashboard:
        chosen = parse_period(period, at, default="year")
        return await activities(me.community_id, chosen, i18n.language_of(request))

    @get("/points", summary="Points issued vs redeemed, month by month, and outstanding")
    async def points(self, request: Request, me: NamedDependency[Principal], period: PeriodKind = None,
                     at: PeriodAt = None) -> PointsDashboard:
        chosen = parse_period(period, at, default="year")
        return await points(me.community_id, chosen, i18n.language_of(request))

    @get("/shop", summary="The shop's most redeemed goods and stock turnover")
    async def shop(self, request: Request, me: NamedDependency[Principal], period: PeriodKind = None,
                   at: PeriodAt = None) -> ShopDashboard:
        chosen = parse_period(period, at, default="year")
        return await shop(me.community_id, chosen, i18n.language_of(request))


# -- the page --------------------------------------------------------------------------------

CATEGORY_NAMES = {
    "zh": {"self_governance": "自治", "collective_labour": "集体劳动", "volunteer_service": "志愿服务"},
    "en": {"self_governance": "Self-governance", "collective_labour": "Collective labour",
           "volunteer_service": "Volunteer service"},
}
TEXT = {
    "zh": {
        "activities": "活动场次", "participants": "参与人次", "hours": "服务时长（小时）",
        "issued": "发放积分", "redeemed": "兑换积分", "outstanding": "居民持有积分",
        "activities_desc": "{label}各月按类别的活动场次。",
        "participants_desc": "{label}各月按类别的参与人次。",
        "hours_desc": "{label}各月按类别的服务时长。",
        "points_desc": "{label}各月发放、兑换积分及月末居民持有积分。",
        "goods": "兑换最多的商品", "goods_desc": "{label}兑换数量最多的商品（件）。",
    },
    "en": {
        "activities": "Activities held", "participants": "Participations", "hours": "Service hours",
        "issued": "Points issued", "redeemed": "Points redeemed", "outstanding": "Points held by residents",
        "activities_desc": "Activities held per month and category, {label}.",
        "participants_desc": "Participations per month and category, {label}.",
        "hours_desc": "Service hours per month and category, {label}.",
        "points_desc": "Points issued and redeemed per month and held at each month's end, {label}.",
        "goods": "Most redeemed goods", "goods_desc": "Goods redeemed most (units), {label}.",
    },
}


def _cents(text: str) -> int:
    """"12.50" → 1250 (exact; the charts take integers)."""
    whole, _, part = text.lstrip("-").partition(".")
    value = int(whole) * 100 + int((part + "00")[:2])
    return -value if text.startswith("-") else value


def _charts(language: str, acts: ActivitiesDashboard, pts: PointsDashboard, goods: ShopDashboard) -> dict:
    text, names = TEXT[language], CATEGORY_NAMES[language]
    label = acts.period.label
    months = [m[2:] if len(acts.months) > 1 else m for m in acts.months]
    cells = {(r.month, r.category): r for r in acts.rows}

    def series(attribute: str, scale: bool = False) -> list[tuple[str, list[int]]]:
        out = []
        for category in CATEGORIES:
            values = []
            for m in acts.months:
                row = cells.get((m, category))
                value = getattr(row, attribute) if row else (0 if not scale else "0.00")
                values.append(_cents(value) if scale else int(value))
            out.append((names[category], values))
        return out

    return {
        "activities": charts.bar_chart("chart-activities", text["activities"],
                                       text["activities_desc"].format(label=label), months,
                                       series("activities")),
        "participants": charts.bar_chart("chart-participants", text["participants"],
                                         text["participants_desc"].format(label=label), months,
                                         series("participants")),
        "hours": charts.bar_chart("chart-hours", text["hours"], text["hours_desc"].format(label=label),
                                  months, series("hours", scale=True), scale=100),
        "points": charts.line_chart(
            "chart-points", f"{text['issued']} / {text['redeemed']}", text["points_desc"].format(label=label),
            months, [(text["issued"], [_cents(m.issued) for m in pts.months]),
                     (text["redeemed"], [_cents(m.redeemed) for m in pts.months]),
                     (text["outstanding"], [_cents(m.outstanding) for m in pts.months])], scale=100),
        "goods": charts.hbar_chart("chart-goods", text["goods"], text["goods_desc"].format(label=label),
                                   [(g.name, g.quantity) for g in goods.top]),
    }


@get("/dashboards", name="web:dashboards", **PAGE)
async def dashboards_page(request: Request) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    language = i18n.language_of(request)
    typed = {"period": request.query_params.get("period", "year")[:10],
             "at": request.query_params.get("at", "")[:10]}
    try:
        chosen = parse_period(typed["period"], typed["at"] or None, default="year")
    except MarketError as error:
        problem = i18n.error_text(language, error.reason, **error.params)
        return page(request, "reports/boards/dashboards.html", status=400, typed=typed, problem=problem,
                    acts=None)
    typed = {"period": chosen.kind, "at": chosen.key}
    acts = await activities(me.community_id, chosen, language)
    pts = await points(me.community_id, chosen, language)
    goods = await shop(me.community_id, chosen, language)
    return page(request, "reports/boards/dashboards.html", typed=typed, problem=None, acts=acts, pts=pts,
                goods=goods, charts=_charts(language, acts, pts, goods),
                categories=CATEGORY_NAMES[language], nav={"previous": chosen.previous().key,
                                                          "next": chosen.next().key})


#: Its /api route handlers (controllers), wired into the /api router by ``market.app``.
API: list = [DashboardController]
#: Its pages, wired into the pages' router by ``market.web.site``.
PAGES: list = [dashboards_page]
