"""The organizers' and admins' dashboards page (``/dashboards``): what
``market.reports.dashboards`` computes for a period, drawn as charts on the server
(``market.reports.charts``) and as tables; and the 民声 requests posted and solved
(``market.help_requests.board.figures``)."""

from litestar import Request, get
from litestar.response import Redirect, Template

from market.auth.roles import ADMIN, ORGANIZER
from market.errors import MarketError
from market.help_requests import board as help_board
from market.reports import charts
from market.reports.board_period import parse_period
from market.reports.dashboards import CATEGORIES, activities, points, shop
from market.reports.schemas import ActivitiesDashboard, PointsDashboard, ShopDashboard
from market.web import i18n
from market.web.forms import form_refusal, page, page_member

PAGE = {"include_in_schema": False}

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
        problem = form_refusal(language, error).problem
        return page(request, "reports/boards/dashboards.html", status=400, typed=typed, problem=problem,
                    acts=None)
    typed = {"period": chosen.kind, "at": chosen.key}
    acts = await activities(me.community_id, chosen, language)
    pts = await points(me.community_id, chosen, language)
    goods = await shop(me.community_id, chosen, language)
    helped = await help_board.figures(me.community_id, chosen.start, chosen.end)
    return page(request, "reports/boards/dashboards.html", typed=typed, problem=None, acts=acts, pts=pts,
                goods=goods, helped=helped, charts=_charts(language, acts, pts, goods),
                categories=CATEGORY_NAMES[language], nav={"previous": chosen.previous().key,
                                                          "next": chosen.next().key})


#: Its pages, wired into the pages' router by ``market.web.site``.
PAGES: list = [dashboards_page]
