"""The office's 民声 pages (organizers, admins): the board (``/admin/help``: counts by grid — waiting
for review, open, held, disputed, done, overdue — and the requests, filtered by grid, state or
overdue, each opening the request's page where the office reviews and resolves), the 台账's
export, and the terms (``/admin/help/terms``, admins: hours until escalation, claims a day, each
category's rates). Split from ``market.web.help_pages`` (the residents' and grid workers')."""

import re
from functools import partial

from litestar import Request, get, post
from litestar.response import Redirect, Template

from market.amounts import AMOUNT_PATTERN, Amount
from market.auth.roles import ADMIN, ORGANIZER
from market.errors import CsrfRejected, MarketError
from market.help_requests import board, rules, terms
from market.help_requests.schemas import RateInput, TermsInput
from market.reports.exports import today
from market.web import i18n
from market.web.forms import Form, check_csrf, form_fields, page, page_member, record_id
from market.web.help_pages import PAGE, cursor_of
from market.web.shopkeeper import typed_number

#: The board's page of requests (the API's default).
BOARD_PAGE = 50
_AMOUNT = re.compile(AMOUNT_PATTERN)


def _filters(request: Request) -> tuple[int | None, str | None, bool]:
    """grid (0: requests of no grid), state and overdue as the filter form sends them; an unknown
    grid is a 404, an unknown state none."""
    query = request.query_params
    grid = record_id(query.get("grid"))
    state = query.get("state") or None
    return grid, state if state in rules.STATES else None, query.get("overdue") in ("1", "on", "true")


@get("/admin/help", name="web:admin-help", **PAGE)
async def board_page(request: Request) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    grid, state, overdue = _filters(request)
    cursor = cursor_of(request)
    found = await board.board(me, grid, state, overdue, BOARD_PAGE, cursor)
    last = today()
    period = {"from": last.replace(day=1).isoformat(), "to": last.isoformat()}
    return page(request, "help/board.html", board=found, grid=grid, state=state, overdue=overdue,
                first_page=cursor is None, period=period, admin=me.has_role(ADMIN),
                escalate_hours=(await terms.terms(me.community_id)).escalate_hours)


# -- the terms -------------------------------------------------------------------------------------


def _terms_values(found: terms.Terms) -> dict[str, str]:
    shown = terms.view(found)
    values = {"escalate_hours": str(shown.escalate_hours), "claims_per_day": str(shown.claims_per_day)}
    for rate in shown.rates:
        values[f"{rate.category}.per_request"] = rate.per_request
        values[f"{rate.category}.per_hour"] = rate.per_hour
    return values


def _terms_form(request: Request, values: dict[str, str], *, status: int = 200,
                errors: dict[str, str] | None = None, problem: str | None = None,
                refusal: str | None = None) -> Template:
    return page(request, "help/terms.html", status=status, values=values, errors=errors or {},
                problem=problem, refusal=refusal, categories=rules.CATEGORIES,
                saved=request.query_params.get("saved") == "1",
                max_escalate=rules.MAX_ESCALATE_HOURS, max_claims=rules.MAX_CLAIMS_PER_DAY)


@get("/admin/help/terms", name="web:admin-help-terms", **PAGE)
async def terms_form(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    return _terms_form(request, _terms_values(await terms.terms(me.community_id)))


def _whole(language: str, text: str, most: int) -> tuple[int | None, str | None]:
    typed = typed_number(text)
    if typed.isascii() and typed.isdigit() and 1 <= int(typed) <= most:
        return int(typed), None
    return None, i18n.translate(language, "Enter a whole number from 1 to %(most)s.") % {"most": most}


@post("/admin/help/terms", status_code=200, **PAGE)
async def save_terms(request: Request) -> Template | Redirect:
    """Save the terms; every mistake is shown at once beside its field, and nothing is saved."""
    me = page_member(request, ADMIN)
    language = i18n.language_of(request)
    fields = await form_fields(request)
    names = ["escalate_hours", "claims_per_day",
             *(f"{c}.{part}" for c in rules.CATEGORIES for part in ("per_request", "per_hour"))]
    values = {name: fields.get(name, "").strip() for name in names}

    # The service names a rate's field rates.<category>.<part>; the form, <category>.<part>.
    form = Form(request, partial(_terms_form, request, values), fields=names,
                aliases={f"rates.{name}": name for name in names[2:]})

    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    errors: dict[str, str] = {}
    escalate, problem = _whole(language, values["escalate_hours"], rules.MAX_ESCALATE_HOURS)
    if problem:
        errors["escalate_hours"] = problem
    claims, problem = _whole(language, values["claims_per_day"], rules.MAX_CLAIMS_PER_DAY)
    if problem:
        errors["claims_per_day"] = problem
    amounts: dict[str, Amount] = {}
    for name in names[2:]:
        typed = typed_number(values[name])
        if _AMOUNT.fullmatch(typed) and not typed.startswith("-"):
            amounts[name] = Amount(typed)
        else:
            errors[name] = i18n.error_text(language, "invalid_activity_amount")
    if errors or escalate is None or claims is None:
        return await form.invalid(errors)
    rates = [RateInput(category=c, per_request=amounts[f"{c}.per_request"],  # type: ignore[arg-type]
                       per_hour=amounts[f"{c}.per_hour"]) for c in rules.CATEGORIES]
    try:
        await terms.set_terms(me, TermsInput(escalate_hours=escalate, claims_per_day=claims, rates=rates))
    except MarketError as error:
        return await form.refused(error)
    return Redirect("/admin/help/terms?saved=1", status_code=303)


#: Its pages, wired into the pages' router by ``market.web.site``.
PAGES: list = [board_page, terms_form, save_terms]
