"""民声 / 微心愿 pages (issue 18) for residents and grid workers: the lists (near me, mine, those I
took), asking for help (with a photo), one request with the steps the reader may take now
(claim, release, confirm with hours, dispute, withdraw, a photo; the office's review and
resolution), a grid worker's list and the form to post for a resident of their grid. The
office's board and terms are ``market.web.help_office``.

Handlers call ``market.help_requests`` (``service``, ``decisions``, ``board``, ``residents``) and
show what they return; the buttons come from each request's ``actions``. Every step is a form
with the session's CSRF token; a refused one shows the request again with the reason in the
reader's language beside the form and what was typed still in it. A step that went through
answers with a redirect (303) to the request, so a reload sends nothing again; a second press
of "confirm" is answered by the service as the first was, and credits once.
"""

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, cast

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ledger import Ledger, LedgerError
from market.auth.roles import ADMIN, ORGANIZER, RESIDENT
from market.auth.sessions import Principal
from market.errors import CsrfRejected, Forbidden, MarketError, refusal_of
from market.help_requests import board, decisions, residents, rules, service, terms
from market.help_requests.schemas import AssistedRequest, Category, HelpRequestView, NewRequest, Visibility
from market.shop import photos
from market.web import i18n
from market.web.forms import (
    PHOTO,
    Form,
    check_csrf,
    form_fields,
    page,
    page_member,
    photo_form,
)
from market.web.shopkeeper import typed_number

PAGE = {"include_in_schema": False}
#: Who uses the 民声 pages, as the API's guard: residents, and the office (organizers, admins),
#: whose grid workers may hold any of these roles.
HELPERS = (RESIDENT, ORGANIZER, ADMIN)
LISTS = ("near", "posted", "claimed")
LIST_PAGE = 20
#: What the request's page may say was just done (``?done=``, after a redirect): each step's
#: form, and a new request.
DONE = frozenset({"claim", "release", "confirm", "dispute", "withdraw", "review", "resolve", "photo",
                  "posted", "assisted"})
UPLOAD = photos.MAX_BYTES + photos.ENVELOPE


def cursor_of(request: Request) -> str | None:
    """A list's page as its "older" link names it; the services refuse anything else
    (``invalid_cursor``: the 400 page)."""
    return request.query_params.get("cursor") or None


# -- the lists -------------------------------------------------------------------------------------


@get("/help", name="web:help", **PAGE)
async def help_index(request: Request) -> Template | Redirect:
    """The three lists as tabs: open requests near me, mine, those I took."""
    me = page_member(request, *HELPERS)
    which = request.query_params.get("list") or "near"
    if which not in LISTS:
        which = "near"
    cursor = cursor_of(request)
    found = await service.listing(me, which, LIST_PAGE, cursor)
    return page(request, "help/index.html", which=which, items=found.items, next_cursor=found.next_cursor,
                first_page=cursor is None, resident=me.has_role(RESIDENT),
                grid_worker=await residents.is_grid_worker(me), office=service.is_office(me))


@get("/help/grid", name="web:help-grid", **PAGE)
async def grid_list(request: Request) -> Template | Redirect:
    """A grid worker's list: the waiting requests of their grids, escalated ones first."""
    me = page_member(request, *HELPERS)
    if not await residents.is_grid_worker(me):
        raise Forbidden()
    cursor = cursor_of(request)
    found = await board.grid_requests(me, LIST_PAGE, cursor)
    return page(request, "help/grid.html", items=found.items, next_cursor=found.next_cursor,
                first_page=cursor is None)


# -- asking for help -------------------------------------------------------------------------------

REQUEST_FIELDS = ("body", "category", "visibility")


def _request_values(fields: dict[str, str]) -> dict[str, str]:
    values = {name: fields.get(name, "").strip() for name in (*REQUEST_FIELDS, "person_id", "q")}
    values["visibility"] = values["visibility"] or "building"
    return values


def _request_errors(language: str, values: dict[str, str]) -> dict[str, str]:
    """Every mistake of the request form at once, each for its field; the service decides the rest."""
    errors = {}
    body = " ".join(values["body"].split())
    if not 1 <= len(body) <= rules.MAX_BODY:
        errors["body"] = i18n.error_text(language, "invalid_help_body", max=rules.MAX_BODY)
    if values["category"] not in rules.CATEGORIES:
        errors["category"] = i18n.translate(language, "Choose what kind of help you need.")
    if values["visibility"] not in rules.VISIBILITIES:
        errors["visibility"] = i18n.translate(language, "Choose who may see the request.")
    return errors


def _kind(values: dict[str, str]) -> dict[str, Any]:
    """The category and visibility, checked already (``_request_errors``), as the schemas take them."""
    return {"category": cast(Category, values["category"]),
            "visibility": cast(Visibility, values["visibility"])}


def _new_form(request: Request, *, status: int = 200, values: dict[str, str] | None = None,
              errors: dict[str, str] | None = None, problem: str | None = None,
              refusal: str | None = None) -> Template:
    return page(request, "help/new.html", status=status, values=values or _request_values({}),
                errors=errors or {}, problem=problem, refusal=refusal, max_body=rules.MAX_BODY,
                max_mb=photos.MAX_BYTES >> 20)


@get("/help/new", name="web:help-new", **PAGE)
async def new_form(request: Request) -> Template | Redirect:
    page_member(request, RESIDENT)
    return _new_form(request)


@post("/help/new", status_code=200, request_max_body_size=UPLOAD, **PAGE)
async def create(request: Request) -> Template | Redirect:
    """Post the request (and its photo, checked first: a bad photo leaves nothing behind)."""
    me = page_member(request, RESIDENT)
    language = i18n.language_of(request)
    fields, photo, photo_problem = await photo_form(request, language)
    values = _request_values(fields)

    form = Form(request, partial(_new_form, request, values=values), fields=(*REQUEST_FIELDS, "photo"),
                aliases=PHOTO)

    if photo_problem:
        return await form.again(413, photo_problem, {"photo": photo_problem})
    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    if errors := _request_errors(language, values):
        return await form.invalid(errors)
    try:
        processed = await photos.process_off_loop(photo) if photo is not None else None
        made = await service.post(me, NewRequest(body=values["body"], **_kind(values)))
        if processed is not None:
            await service.store_photo(me, made.id, processed.image, processed.thumb)
    except MarketError as error:
        return await form.refused(error)
    return Redirect(f"/help/{made.id}?done=posted", status_code=303)


# -- a grid worker posts for a resident --------------------------------------------------------


async def _assisted_form(request: Request, me: Principal, *, status: int = 200,
                         values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                         problem: str | None = None, refusal: str | None = None) -> Template:
    values = values or _request_values({"q": request.query_params.get("q", "")[:50]})
    people = await residents.residents_of_my_grids(me, values["q"])
    return page(request, "help/assisted.html", status=status, values=values, errors=errors or {},
                problem=problem, refusal=refusal, people=people, max_body=rules.MAX_BODY,
                listed=residents.MAX_LISTED, office=service.is_office(me))


async def _assisting(request: Request) -> Principal:
    me = page_member(request, *HELPERS)
    if not await residents.may_post_for_others(me):
        raise Forbidden()
    return me


@get("/help/assisted", name="web:help-assisted", **PAGE)
async def assisted_form(request: Request) -> Template | Redirect:
    """Choose a resident of my grids (narrowed by part of a name or an address), then the request."""
    me = await _assisting(request)
    return await _assisted_form(request, me)


@post("/help/assisted", status_code=200, **PAGE)
async def assisted(request: Request) -> Template | Redirect:
    me = await _assisting(request)
    language = i18n.language_of(request)
    fields = await form_fields(request)
    values = _request_values(fields)

    form = Form(request, partial(_assisted_form, request, me, values=values),
                fields=(*REQUEST_FIELDS, "person_id"))

    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    errors = _request_errors(language, values)
    typed = values["person_id"]
    if not (typed.isascii() and typed.isdigit() and len(typed) < 10):
        errors["person_id"] = i18n.translate(language, "Choose the resident you are posting for.")
    if errors:
        return await form.invalid(errors)
    try:
        made = await service.post_for(me, AssistedRequest(person_id=int(typed), body=values["body"],
                                                          **_kind(values)))
    except MarketError as error:
        return await form.refused(error)
    return Redirect(f"/help/{made.id}?done=assisted", status_code=303)


# -- one request and its steps ---------------------------------------------------------------------


async def _detail(request: Request, me: Principal, request_id: int, *, status: int = 200,
                  form: str | None = None, values: dict[str, str] | None = None,
                  errors: dict[str, str] | None = None, problem: str | None = None,
                  refusal: str | None = None) -> Template:
    """The request (404 for one the reader may not see), with a form for each of its actions."""
    view: HelpRequestView = await service.get(me, request_id)
    done = request.query_params.get("done") if status == 200 else None
    rates = terms.view(await terms.terms(me.community_id)).rates
    rate = next(r for r in rates if r.category == view.category)
    return page(request, "help/detail.html", status=status, r=view, rate=rate, form=form,
                values=values or {}, errors=errors or {}, problem=problem, refusal=refusal,
                done=done if done in DONE else None, max_mb=photos.MAX_BYTES >> 20,
                grid_worker=await residents.is_grid_worker(me), office=service.is_office(me))


@get("/help/{request_id:int}", name="web:help-request", **PAGE)
async def detail(request: Request, request_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, *HELPERS)
    return await _detail(request, me, request_id)


Step = Callable[[Principal, dict[str, str]], Awaitable[object]]


async def _step(request: Request, request_id: int, step: str, run: Step, *roles: str,
                check: Callable[[str, dict[str, str]], dict[str, str]] | None = None) -> Template | Redirect:
    """Take one step: CSRF, the form's own checks, then the service; back to the request either way."""
    me = page_member(request, *(roles or HELPERS))
    language = i18n.language_of(request)
    fields = await form_fields(request)
    values = {name: value.strip() for name, value in fields.items() if name != "csrf"}

    form = Form(request, partial(_detail, request, me, request_id, form=step, values=values), fields=values)

    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    if check is not None and (errors := check(language, values)):
        return await form.again(400, next(iter(errors.values())), errors)
    try:
        await run(me, values)
    except (MarketError, LedgerError) as error:
        if refusal_of(error).status == 404:
            raise  # not one the reader may see (another community's): the 404 page
        return await form.refused(error)
    return Redirect(f"/help/{request_id}?done={step}#request", status_code=303)


def _hours_needed(language: str, values: dict[str, str]) -> dict[str, str]:
    values["hours"] = typed_number(values.get("hours", ""))
    if not values["hours"]:
        return {"hours": i18n.translate(language, "Enter how many hours the volunteer worked, e.g. 1.5.")}
    return {}


def _reason_needed(language: str, values: dict[str, str]) -> dict[str, str]:
    if not " ".join(values.get("reason", "").split()):
        return {"reason": i18n.error_text(language, "invalid_reason")}
    return {}


def _decision_of(choices: tuple[str, ...]) -> Callable[[str, dict[str, str]], dict[str, str]]:
    def check(language: str, values: dict[str, str]) -> dict[str, str]:
        if values.get("decision") not in choices:
            return {"decision": i18n.translate(language, "Choose a decision.")}
        if values["decision"] == "confirm":
            return _hours_needed(language, values)
        return {}

    return check


@post("/help/{request_id:int}/claim", status_code=200, **PAGE)
async def claim(request: Request, request_id: FromPath[int]) -> Template | Redirect:
    return await _step(request, request_id, "claim", lambda me, _: service.claim(me, request_id), RESIDENT)


@post("/help/{request_id:int}/release", status_code=200, **PAGE)
async def release(request: Request, request_id: FromPath[int]) -> Template | Redirect:
    return await _step(request, request_id, "release", lambda me, _: service.release(me, request_id))


@post("/help/{request_id:int}/confirm", status_code=200, **PAGE)
async def confirm(request: Request, request_id: FromPath[int], ledger: NamedDependency[Ledger]
                  ) -> Template | Redirect:
    return await _step(request, request_id, "confirm",
                       lambda me, values: decisions.confirm(ledger, me, request_id, values["hours"]),
                       check=_hours_needed)


@post("/help/{request_id:int}/dispute", status_code=200, **PAGE)
async def dispute(request: Request, request_id: FromPath[int]) -> Template | Redirect:
    return await _step(request, request_id, "dispute",
                       lambda me, values: decisions.dispute(me, request_id, values["reason"]),
                       check=_reason_needed)


@post("/help/{request_id:int}/withdraw", status_code=200, **PAGE)
async def withdraw(request: Request, request_id: FromPath[int]) -> Template | Redirect:
    return await _step(request, request_id, "withdraw", lambda me, _: decisions.withdraw(me, request_id))


@post("/help/{request_id:int}/review", status_code=200, **PAGE)
async def review(request: Request, request_id: FromPath[int]) -> Template | Redirect:
    """The office lets a dispute between neighbours go to volunteers, or declines it."""
    return await _step(request, request_id, "review",
                       lambda me, values: decisions.review(me, request_id, values["decision"],
                                                           values.get("note", "")),
                       ORGANIZER, ADMIN, check=_decision_of(("accept", "decline")))


@post("/help/{request_id:int}/resolve", status_code=200, **PAGE)
async def resolve(request: Request, request_id: FromPath[int], ledger: NamedDependency[Ledger]
                  ) -> Template | Redirect:
    """The office on a disputed claim: done after all (with hours), open again, or closed."""
    return await _step(request, request_id, "resolve",
                       lambda me, values: decisions.resolve(
                           ledger, me, request_id, values["decision"],
                           values.get("hours") if values["decision"] == "confirm" else None,
                           values.get("note", "")),
                       ORGANIZER, ADMIN, check=_decision_of(("confirm", "reopen", "close")))


@post("/help/{request_id:int}/photo", status_code=200, request_max_body_size=UPLOAD, **PAGE)
async def add_photo(request: Request, request_id: FromPath[int]) -> Template | Redirect:
    """A photo of what needs doing, while nobody holds the request (re-encoded, no EXIF)."""
    me = page_member(request, *HELPERS)
    language = i18n.language_of(request)
    fields, photo, problem = await photo_form(request, language)

    form = Form(request, partial(_detail, request, me, request_id, form="photo"), fields=("photo",),
                aliases=PHOTO)

    if problem:
        return await form.again(413, problem, {"photo": problem}, refusal="photo_too_large")
    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    if photo is None:
        text = i18n.translate(language, "Choose a photo to upload.")
        return await form.again(400, text, {"photo": text})
    try:
        await service.may_add_photo(me, request_id)
        processed = await photos.process_off_loop(photo)
        await service.store_photo(me, request_id, processed.image, processed.thumb)
    except MarketError as error:
        if error.status == 404:
            raise
        return await form.refused(error)
    return Redirect(f"/help/{request_id}?done=photo#request", status_code=303)


#: Its pages, wired into the pages' router by ``market.web.site``.
PAGES: list = [help_index, grid_list, new_form, create, assisted_form, assisted, detail, claim, release,
               confirm, dispute, withdraw, review, resolve, add_photo]
