"""The 街道 office's pages (role ``subdistrict_admin``), and the subdistrict's public page.

``/subdistrict``: each community's points and chain head and the totals, 通存通兑 on or off, the
overview as a spreadsheet and the ledger checks run on demand; ``/subdistrict/settlement``: a
month's settlement between the communities; ``/subdistrict/boards``: the honour roll across them,
with masked names. They read through ``market.subdistricts`` only, as the API does; every page
takes an optional ``?subdistrict=<id>`` (the office's own by default), and another office's
subdistrict is not there (404). ``/public/subdistrict?id=`` (or ``?name=``) needs no sign-in: the
communities and the latest signed checkpoint of each, linked to its own transparency page.
"""

from collections.abc import Awaitable, Callable
from functools import partial

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from ledger import Ledger
from market.auth.roles import SUBDISTRICT_ADMIN
from market.auth.sessions import Principal
from market.errors import CsrfRejected, InvalidInput, MarketError, NotFound
from market.reports import checkpoint_service as checkpoints
from market.reports.board_period import Period, parse_period
from market.settings import Settings
from market.subdistricts import boards, dashboards, service
from market.subdistricts import overview as figures
from market.subdistricts.rules import MAX_COMMUNITIES
from market.subdistricts.schemas import LedgerChecks, SubdistrictUpdate, SubdistrictView
from market.subdistricts.settlement import month_bounds, settlement, this_month
from market.web import i18n
from market.web.forms import Form, check_csrf, form_fields, form_refusal, page, page_member

PAGE = {"include_in_schema": False}
#: Residents on the office's honour roll.
BOARD_LIMIT = 20
MAX_ID = 2**31 - 1
SHARING = {"on": True, "off": False}


def _number(typed: str | None) -> int | None:
    """An id typed into an address; None when it is not one (the page answers 404)."""
    text = (typed or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10 or not 1 <= int(text) <= MAX_ID:
        return None
    return int(text)


async def _chosen(me: Principal, typed: str | None) -> int:
    """The subdistrict a page is about: the one named in the address if ``me`` administers it,
    else ``me``'s own; 404 for any other (as the API answers for another office's)."""
    if typed:
        subdistrict_id = _number(typed)
        if subdistrict_id is None:
            raise NotFound()
        await service.check_admin(me, subdistrict_id)
        return subdistrict_id
    mine = (await service.administered_by(me)).items
    if not mine:
        raise NotFound()
    return mine[0].id


def _office(request: Request) -> Principal:
    return page_member(request, SUBDISTRICT_ADMIN)


# -- the overview ---------------------------------------------------------------------------------


async def _overview_page(
    request: Request, ledger: Ledger, subdistrict_id: int, *, status: int = 200,
    typed_sharing: str | None = None, checks: LedgerChecks | None = None, ticked: set[int] | None = None,
    form: str | None = None, problem: str | None = None, errors: dict[str, str] | None = None,
    refusal: str | None = None,
) -> Template:
    """The overview; ``form`` names the form (``sharing``, ``grouping``) a ``problem`` is about."""
    seen = await figures.overview(ledger, subdistrict_id)
    choices = await service.groupable(subdistrict_id)
    return page(
        request, "subdistrict/overview.html", status=status, seen=seen, checks=checks,
        sharing_problem=problem if form == "sharing" else None, refusal=refusal,
        typed_sharing=typed_sharing or ("on" if seen.shared_redemption else "off"),
        saved=request.query_params.get("sharing") in SHARING and status == 200,
        csv=f"/api/subdistricts/{subdistrict_id}/overview.csv", tab="overview",
        choices=choices, grouping_problem=problem if form == "grouping" else None,
        ticked=ticked if ticked is not None else {c.community.id for c in choices if c.member},
        grouped=request.query_params.get("grouped") == "1" and status == 200,
    )


@get("/subdistrict", name="web:subdistrict", **PAGE)
async def overview_page(request: Request, ledger: NamedDependency[Ledger]) -> Template | Redirect:
    me = _office(request)
    subdistrict_id = await _chosen(me, request.query_params.get("subdistrict"))
    # Checking replays every community's chain: only when the office presses the button.
    checks = (await figures.ledger_checks(ledger, subdistrict_id)
              if request.query_params.get("check") == "now" else None)
    return await _overview_page(request, ledger, subdistrict_id, checks=checks)


@post("/subdistrict/sharing", status_code=200, **PAGE)
async def change_sharing(request: Request, ledger: NamedDependency[Ledger]) -> Template | Redirect:
    """通存通兑 on or off (audited by the service); refused, the page again with the choice kept."""
    me = _office(request)
    fields = await form_fields(request)
    subdistrict_id = await _chosen(me, fields.get("subdistrict"))
    language = i18n.language_of(request)
    typed = fields.get("shared", "")[:10]
    form = Form(request, partial(_overview_page, request, ledger, subdistrict_id, form="sharing",
                                 typed_sharing=typed))
    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    if typed not in SHARING:
        return await form.again(
            400, i18n.translate(language, "Choose whether shared redemption is on or off."))
    try:
        await service.update(me, subdistrict_id, SubdistrictUpdate(shared_redemption=SHARING[typed]))
    except MarketError as error:
        return await form.refused(error)
    return Redirect(f"/subdistrict?subdistrict={subdistrict_id}&sharing={typed}#sharing", status_code=303)


@post("/subdistrict/communities", status_code=200, **PAGE)
async def change_communities(request: Request, ledger: NamedDependency[Ledger]) -> Template | Redirect:
    """The communities the subdistrict groups (ticked boxes); refused, the page again with the
    boxes as ticked and the reason beside them."""
    me = _office(request)
    fields = await form_fields(request)
    subdistrict_id = await _chosen(me, fields.get("subdistrict"))
    typed = [str(value)[:20] for value in (await request.form()).getall("community", [])]
    ticked = {number for text in typed[:MAX_COMMUNITIES] if (number := _number(text)) is not None}

    form = Form(request, partial(_overview_page, request, ledger, subdistrict_id, form="grouping",
                                 ticked=ticked))

    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    if len(ticked) != len(typed) or not ticked:
        return await form.refused(
            InvalidInput("subdistrict_empty" if not typed else "invalid_input", field="communities"))
    try:
        await service.update(me, subdistrict_id, SubdistrictUpdate(communities=sorted(ticked)))
    except MarketError as error:
        return await form.refused(error)
    return Redirect(f"/subdistrict?subdistrict={subdistrict_id}&grouped=1#grouping", status_code=303)


# -- the month's settlement -----------------------------------------------------------------------


def _next_months(period: str) -> dict[str, str]:
    start, _ = month_bounds(period)
    before = (start.year - 1, 12) if start.month == 1 else (start.year, start.month - 1)
    after = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return {"previous": f"{before[0]:04d}-{before[1]:02d}", "next": f"{after[0]:04d}-{after[1]:02d}"}


@get("/subdistrict/settlement", name="web:subdistrict-settlement", **PAGE)
async def settlement_page(request: Request, ledger: NamedDependency[Ledger]) -> Template | Redirect:
    me = _office(request)
    subdistrict_id = await _chosen(me, request.query_params.get("subdistrict"))
    typed = (request.query_params.get("period") or "").strip()[:20] or this_month()
    view = await service.get(subdistrict_id)
    try:
        statement = await settlement(ledger, subdistrict_id, typed)
    except MarketError as error:
        problem = form_refusal(i18n.language_of(request), error).problem
        return page(request, "subdistrict/settlement.html", status=error.status, view=view, statement=None,
                    typed=typed, problem=problem, nav=None, tab="settlement")
    return page(request, "subdistrict/settlement.html", view=view, statement=statement, typed=typed,
                problem=None, nav=_next_months(typed), tab="settlement")


# -- the honour roll across communities -----------------------------------------------------------


async def _period_page(
    request: Request, tab: str, make: Callable[[int, Period, str], Awaitable[object]]
) -> Template:
    """A page of the office about a period (the honour roll, the dashboard): the period form, what
    ``make(subdistrict, period, language)`` gives as ``seen``, and the previous and next periods;
    a bad period, the form again with the reason beside the field."""
    me = _office(request)
    subdistrict_id = await _chosen(me, request.query_params.get("subdistrict"))
    language = i18n.language_of(request)
    typed = {"period": request.query_params.get("period", "month")[:10],
             "at": request.query_params.get("at", "")[:10]}
    view = await service.get(subdistrict_id)
    template, action = f"subdistrict/{tab}.html", f"/subdistrict/{tab}"
    try:
        chosen = parse_period(typed["period"], typed["at"] or None)
    except MarketError as error:
        return page(request, template, status=error.status, view=view, seen=None, typed=typed,
                    problem=form_refusal(language, error).problem,
                    bad_field=error.field, nav=None, tab=tab, action=action)
    return page(request, template, view=view, seen=await make(subdistrict_id, chosen, language),
                typed={"period": chosen.kind, "at": chosen.key}, problem=None, bad_field=None,
                nav={"previous": chosen.previous().key, "next": chosen.next().key}, tab=tab, action=action)


@get("/subdistrict/boards", name="web:subdistrict-boards", **PAGE)
async def boards_page(request: Request) -> Template | Redirect:
    """The honour roll across the communities, names masked as on the public boards."""
    return await _period_page(request, "boards", lambda subdistrict_id, period, language: boards.leaderboard(
        subdistrict_id, period, limit=BOARD_LIMIT, language=language))


@get("/subdistrict/dashboard", name="web:subdistrict-dashboard", **PAGE)
async def dashboard_page(request: Request) -> Template | Redirect:
    """Each community's activities, participants, hours and points in a period, and the sums."""
    return await _period_page(request, "dashboard", lambda subdistrict_id, period, language: (
        dashboards.dashboard(subdistrict_id, period, language=language)))


# -- the public page ------------------------------------------------------------------------------


async def _public_subdistrict(request: Request) -> SubdistrictView:
    typed_id = request.query_params.get("id")
    if typed_id:
        subdistrict_id = _number(typed_id)
        if subdistrict_id is not None:
            return await service.get(subdistrict_id)
        typed_name = typed_id  # ?id=<the name> reads as the name
    else:
        typed_name = request.query_params.get("name") or ""
    found = await service.named(typed_name[:100]) if typed_name.strip() else None
    if found is None:
        raise NotFound()
    return found


@get("/public/subdistrict", name="web:public-subdistrict", **PAGE)
async def public_page(request: Request, settings: NamedDependency[Settings]) -> Template:
    """Anyone may read it: which communities, and the head each signed last (no resident, no sum
    beyond what each community's own transparency page publishes)."""
    view = await _public_subdistrict(request)
    rows = []
    for community in view.communities:
        newest = await checkpoints.latest(community.id)
        verdict = await checkpoints.status_of(settings, newest) if newest else None
        rows.append({"community": community, "newest": newest, "verdict": verdict})
    return page(request, "subdistrict/public.html", view=view, rows=rows)


PAGES = [overview_page, change_sharing, change_communities, settlement_page, boards_page, dashboard_page,
         public_page]
