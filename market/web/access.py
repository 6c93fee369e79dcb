"""The resident's way in with the office's slip: sign in once with card number (or phone) and
the one-time code, then set a new 6-digit PIN before anything else.

``market.auth.middleware`` sends every other page of such a session here (``PIN_PAGE``); this
module only draws the two forms. Like the sign-in page, a refused form keeps the login typed,
never the code or a PIN.
"""

from datetime import timedelta
from functools import partial
from urllib.parse import quote

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from market.auth import access_codes
from market.auth.hashing import SecretHasher
from market.auth.limiter import LoginLimiter, TotalFailures
from market.auth.middleware import PIN_PAGE
from market.errors import CsrfRejected, MarketError
from market.settings import Settings
from market.web import i18n
from market.web.forms import Form, check_csrf, form_fields, form_refusal, normalise_login, page, page_member
from market.web.pages import session_started

PAGE = {"include_in_schema": False}
#: The page a session that must set its PIN may use (see market.auth.middleware).
SETUP = {**PAGE, "opt": {"pin_setup": True}}


@get("/signin/code", name="web:signin-code", **PAGE)
async def code_form(request: Request) -> Template:
    return page(request, "signin_code.html", login="", errors={}, problem=None,
                next=i18n.safe_next(request.query_params.get("next")))


def _pin_page(target: str) -> str:
    """The new-PIN step, remembering where the resident was going (an activity's check-in)."""
    return PIN_PAGE if target == "/" else f"{PIN_PAGE}?next={quote(target, safe='/')}"


@post("/signin/code", status_code=303, **PAGE)
async def code_sign_in(
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
    login = normalise_login(fields.get("login", ""))
    code = access_codes.normalise_code(fields.get("code", ""))
    target = i18n.safe_next(fields.get("next"))
    form = Form(request, partial(page, request, "signin_code.html", login=login, next=target),
                fields=("login", "code"))

    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    errors = {}
    if not login:
        errors["login"] = i18n.translate(language, "Enter your member card number or phone number.")
    if not code:
        errors["code"] = i18n.translate(language, "Enter the 8-digit code from the slip.")
    if errors:
        return await form.again(400, None, errors)
    try:
        signed = await access_codes.sign_in_with_code(
            login, code, hasher=hasher, limiter=limiter, secret_key=settings.secret_key,
            lifetime=timedelta(hours=settings.session_hours),
            source=request.client.host if request.client else None, source_limiter=source_limiter,
            network_limiter=network_limiter, total_failures=total_failures,
        )
    except MarketError as error:
        return await form.refused(error)
    return await session_started(request, settings, signed, _pin_page(target))


@get(PIN_PAGE, name="web:welcome-pin", **SETUP)
async def pin_form(request: Request) -> Template | Redirect:
    me = page_member(request)
    target = i18n.safe_next(request.query_params.get("next"))
    if not me.must_set_pin:
        return Redirect(target, status_code=303)
    return page(request, "welcome_pin.html", errors={}, problem=None, next=target)


@post(PIN_PAGE, status_code=303, **SETUP)
async def set_pin(
    request: Request, hasher: NamedDependency[SecretHasher], limiter: NamedDependency[LoginLimiter],
    settings: NamedDependency[Settings],
) -> Template | Redirect:
    me = page_member(request)
    fields = await form_fields(request)
    check_csrf(request, fields)
    target = i18n.safe_next(fields.get("next"))
    if not me.must_set_pin:
        return Redirect(target, status_code=303)
    language = i18n.language_of(request)
    pin = normalise_login(fields.get("pin", ""))
    again = normalise_login(fields.get("pin_again", ""))
    errors: dict[str, str] = {}
    if pin and again != pin:
        errors["pin_again"] = i18n.translate(language, "The two PINs differ. Type the same PIN twice.")
    else:
        try:
            await access_codes.set_first_pin(
                me.id, me.community_id, me.session_id, pin, hasher=hasher, limiter=limiter,
                secret_key=settings.secret_key,
            )
        except MarketError as error:
            errors["pin"] = form_refusal(language, error).problem
    if errors:
        return page(request, "welcome_pin.html", status=400, errors=errors, problem=None, next=target)
    return Redirect(target, status_code=303)


PAGES = [code_form, code_sign_in, pin_form, set_pin]
