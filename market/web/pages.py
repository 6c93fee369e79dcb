"""The resident's pages: sign in and out, home, member code, check-in by an activity's QR, statement.

Handlers call the services directly (sessions, points, cards, activities), never the
HTTP API. A refused form is shown again with the reason in the reader's language and
what was typed still in it (never the PIN).
"""

from datetime import UTC, datetime, timedelta
from functools import partial

from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ledger import Ledger
from market import clock, first_run
from market.activities import codes, participation, scans
from market.activities import service as activities
from market.activities.schemas import ActivityView
from market.auth import sessions
from market.auth.controllers import served_over_https, session_cookies
from market.auth.hashing import SecretHasher
from market.auth.limiter import LoginLimiter, TotalFailures
from market.auth.middleware import SESSION_COOKIE
from market.auth.roles import RESIDENT
from market.auth.sessions import Principal
from market.cards import service as cards
from market.errors import CsrfRejected, InvalidInput, MarketError, NotFound
from market.people import delegates
from market.points import publicity
from market.points import service as points
from market.settings import Settings
from market.signing import signer_for
from market.web import deductions as deduction_pages
from market.web import i18n
from market.web.forms import (
    FORM_COOKIE,
    Form,
    check_csrf,
    form_fields,
    form_refusal,
    normalise_login,
    office_only,
    page,
    page_member,
    signed_in,
)

STATEMENT_PAGE = 20
#: A code that stops working within this many seconds offers 延长时间 (more time): MIIT's 适老化
#: rule for any time limit under 3 minutes.
EXTEND_WITHIN = 180
PAGE = {"include_in_schema": False}


# -- signing in and out ----------------------------------------------------------------------


@get("/signin", name="web:signin", **PAGE)
async def sign_in_form(request: Request) -> Template | Redirect:
    target = i18n.safe_next(request.query_params.get("next"))
    if signed_in(request) is not None:
        return Redirect(target, status_code=303)
    return page(request, "signin.html", login="", next=target, errors={}, problem=None,
                first_run=not await first_run.admin_exists(),
                welcome=request.query_params.get("welcome") == "1")


@post("/signin", status_code=303, **PAGE)
async def sign_in(
    request: Request,
    hasher: NamedDependency[SecretHasher],
    limiter: NamedDependency[LoginLimiter],
    source_limiter: NamedDependency[LoginLimiter],
    network_limiter: NamedDependency[LoginLimiter],
    total_failures: NamedDependency[TotalFailures],
    settings: NamedDependency[Settings],
) -> Template | Redirect:
    fields = await form_fields(request)
    language = i18n.language_of(request)
    target = i18n.safe_next(fields.get("next"))
    login = normalise_login(fields.get("login", ""))
    secret = fields.get("secret", "").strip()
    form = Form(request, partial(page, request, "signin.html", login=login, next=target),
                fields=("login", "secret"))

    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    errors = {}
    if not login:
        errors["login"] = i18n.translate(language, "Enter your phone number or member card number.")
    if not secret:
        errors["secret"] = i18n.translate(language, "Enter your PIN or password.")
    if errors:
        return await form.again(400, None, errors)
    try:
        signed = await sessions.sign_in(
            login, secret, hasher=hasher, limiter=limiter, secret_key=settings.secret_key,
            lifetime=timedelta(hours=settings.session_hours),
            source=request.client.host if request.client else None, source_limiter=source_limiter,
            network_limiter=network_limiter, total_failures=total_failures,
        )
    except MarketError as error:
        return await form.refused(error)
    return await session_started(request, settings, signed, target)


async def session_started(request: Request, settings: Settings, signed: sessions.SignedIn,
                          target: str) -> Redirect:
    """The browser's new session (with a PIN or password, or a slip's code): on to ``target``."""
    # As the API does: a session this browser held before ends at a new sign-in.
    if old := request.cookies.get(SESSION_COOKIE):
        await sessions.revoke_token(old)
    max_age = int((signed.expires_at - datetime.now(UTC)).total_seconds())
    cookies = session_cookies(request, settings, signed.token, signed.csrf_token, max_age)
    cookies.append(Cookie(key=FORM_COOKIE, value="", path="/", max_age=0, httponly=True,
                          secure=served_over_https(request.scope, settings), samesite="lax"))
    return Redirect(target, status_code=303, cookies=cookies)


@post("/signout", status_code=303, **PAGE)
async def sign_out(request: Request, settings: NamedDependency[Settings]) -> Redirect:
    me = signed_in(request)
    if me is not None:
        check_csrf(request, await form_fields(request))
        await sessions.revoke(me.session_id)
    return Redirect("/signin", status_code=303, cookies=session_cookies(request, settings, "", "", 0))


# -- home, member code, statement --------------------------------------------------------------


@get("/", name="web:home", **PAGE)
async def home(request: Request, ledger: NamedDependency[Ledger]) -> Template | Redirect:
    office = signed_in(request)
    if office is not None and office_only(office):
        return Redirect("/subdistrict", status_code=303)  # the 街道 office's account: its own pages
    me = page_member(request)
    wallet = await points.balance(ledger, me)
    return page(request, "home.html", wallet=wallet, resident=me.has_role(RESIDENT),
                **await deduction_pages.home_extras(me),
                waiting=await publicity.waiting_for(me.community_id, me.id),
                acting_for=(await delegates.elders_of(me)).items if me.has_role(RESIDENT) else [])


@get("/code", name="web:code", **PAGE)
async def member_code(request: Request, settings: NamedDependency[Settings]) -> Template | Redirect:
    me = page_member(request, RESIDENT)
    # /code?extended=1 is the 延长时间 link: a longer code, shown until one step before it stops.
    extended = request.query_params.get("extended") in ("1", "true")
    code = cards.member_code(settings, me.id, extended=extended)
    expires_in = max(0, round((code.expires_at - datetime.now(UTC)).total_seconds()))
    return page(request, "code.html", code=code, expires_in=expires_in, extend_within=EXTEND_WITHIN,
                long_minutes=cards.LONG_ROTATION.previous_steps * cards.LONG_ROTATION.step_seconds // 60)


@get("/statement", name="web:statement", **PAGE)
async def statement(request: Request, ledger: NamedDependency[Ledger]) -> Template | Redirect:
    me = page_member(request)
    cursor = request.query_params.get("cursor") or None
    found = await points.entries(ledger, me, STATEMENT_PAGE, cursor)
    wallet = await points.balance(ledger, me)
    return page(request, "statement.html", entries=found.items, next_cursor=found.next_cursor,
                first_page=cursor is None, wallet=wallet,
                **await deduction_pages.statement_extras(me, found.items),
                waiting=await publicity.waiting_for(me.community_id, me.id))


# -- the page an activity's QR code opens -------------------------------------------------------

CHECKIN_PATHS = ["/c/{token:str}", "/C/{token:str}"]


async def _activity(me: Principal, activity_id: int) -> ActivityView | None:
    try:
        return await activities.get(me, activity_id)
    except NotFound:
        return None


def _refusal(request: Request, token: str, error: MarketError, activity=None) -> Template:
    language = i18n.language_of(request)
    return page(
        request, "checkin.html", status=error.status, token=token, activity=activity,
        refusal=error.reason, problem=form_refusal(language, error).problem,
        result=None, direction=None,
    )


@get(CHECKIN_PATHS, name="web:checkin", **PAGE)
async def checkin_form(
    request: Request, token: FromPath[str], settings: NamedDependency[Settings]
) -> Template | Redirect:
    me = page_member(request, RESIDENT)
    try:
        activity_id = codes.checkin_activity(signer_for(settings), token, clock.now())
    except MarketError as error:
        return _refusal(request, token, error)
    activity = await _activity(me, activity_id)
    if activity is None:
        return _refusal(request, token, InvalidInput("invalid"))
    status = await participation.my_stay_status(me, activity_id)
    direction = {None: "in", "in": "out"}.get(status)
    return page(request, "checkin.html", token=token, activity=activity, direction=direction,
                stay=status, result=None, refusal=None, problem=None)


@post(CHECKIN_PATHS, status_code=200, **PAGE)
async def checkin(
    request: Request, token: FromPath[str], ledger: NamedDependency[Ledger],
    settings: NamedDependency[Settings],
) -> Template | Redirect:
    me = page_member(request, RESIDENT)
    fields = await form_fields(request)
    check_csrf(request, fields)
    direction = fields.get("direction", "in")
    try:
        result = await scans.check_in_by_token(ledger, me, settings, token, direction)
    except MarketError as error:
        return _refusal(request, token, error)
    activity = await _activity(me, result.activity_id)
    return page(request, "checkin.html", token=token, activity=activity, direction=direction,
                result=result, refusal=None, problem=None)


PAGES = [sign_in_form, sign_in, sign_out, home, member_code, statement, checkin_form, checkin]
