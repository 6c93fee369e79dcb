"""What every page and form shares: the template context, CSRF tokens in forms, reading a form.

A signed-in person's forms carry their session's CSRF token in a hidden field. Before
sign-in there is no session, so the sign-in form carries a random token that is also
kept in a cookie (double submit); a page on another site can read neither. A POST a
browser marks as cross-site (``Sec-Fetch-Site``) is refused before either is looked at.
"""

import inspect
import secrets
import unicodedata
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie, UploadFile
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template

from ledger import LedgerError
from market.auth.guards import principal_of
from market.auth.roles import ROLES, SUBDISTRICT_ADMIN
from market.auth.sessions import Principal
from market.errors import CsrfRejected, Forbidden, MarketError, NotFound, NotSignedIn, refusal_of
from market.shop import photos
from market.web import i18n

FORM_COOKIE = "market_form"
NO_STORE = {"Cache-Control": "no-store", "Vary": "Cookie, Accept-Language"}
#: Longest value kept from any form field; longer ones are cut before anything else sees them.
MAX_FIELD = 500


def refusal_text(
    language: str, error: MarketError | LedgerError, *, naming_field: bool = True,
    labels: Mapping[str, str] | None = None,
) -> tuple[int, str, str]:
    """(status, reason, text in the reader's language) of a refusal, as the API's problem details
    say it (``market.errors.refusal_of``). ``naming_field=False``: a text that names the field
    ("提交的内容有误：{field}") stops before the name, for forms that mark the field itself;
    ``labels``: the field named by its label on the page instead of the service's name for it."""
    status, reason, params = refusal_of(error)
    if labels and params.get("field") in labels:
        params = {**params, "field": labels[params["field"]]}
    if not naming_field:
        unnamed = {name: value for name, value in params.items() if name != "field"}
        # A text that starts with the name ("{field} must be 0 to 1,000,000 points") has nothing
        # before it: that one names the field after all.
        if text := i18n.error_text(language, reason, **unnamed):
            return status, reason, text
    return status, reason, i18n.error_text(language, reason, **params)


@dataclass(frozen=True)
class FormRefusal:
    """A refusal as a form shows it: its status and reason (the page's ``data-reason``), its text
    at the top, and the same text beside the field it names when the form has that field."""

    status: int
    reason: str
    problem: str
    errors: dict[str, str] = field(default_factory=dict)


def form_refusal(
    language: str, error: MarketError | LedgerError, fields: Collection[str] = (),
    *, aliases: Mapping[str, str] | None = None,
) -> FormRefusal:
    """How one form shows a refusal. ``fields``: the form's fields a refusal may be shown beside;
    ``aliases``: a service's name for a field where the form calls it otherwise (``file`` → ``photo``)."""
    # The text never names the field by the service's name for it (an English word in a Chinese
    # sentence): the form marks the field itself, or the text reads whole without it.
    status, reason, text = refusal_text(language, error, naming_field=False)
    beside: dict[str, str] = {}
    # A refusal of several fields at once (``InvalidFields``) says each beside its own.
    for one in getattr(error, "errors", None) or [error]:
        named = getattr(one, "field", None) or ""
        named = (aliases or {}).get(named, named)
        if named in fields and named not in beside:
            beside[named] = text if one is error else refusal_text(language, one, naming_field=False)[2]
    return FormRefusal(status, reason, text, beside)


#: What a form's page is drawn by: keywords ``status``, ``problem``, ``errors`` and ``refusal``
#: (the reason), plus what the page itself takes; a function or a coroutine function.
ShowForm = Callable[..., Template | Awaitable[Template]]


class Form:
    """One form, shown again as it was typed whenever anything is wrong: the one way back of
    every form page. The handler binds what was typed into ``show`` (``functools.partial``), so
    a refused CSRF token, invalid fields and a service's refusal all keep the input alike."""

    def __init__(self, request: Request, show: ShowForm, *, fields: Collection[str] = (),
                 aliases: Mapping[str, str] | None = None) -> None:
        self.language = i18n.language_of(request)
        self.show = show
        self.fields = frozenset(fields)
        self.aliases = aliases

    async def again(self, status: int, problem: str | None = None, errors: dict[str, str] | None = None,
                    *, refusal: str | None = None, **page: Any) -> Template:
        """The form again with ``problem`` at the top and ``errors`` beside their fields."""
        shown = self.show(status=status, problem=problem, errors=errors or {}, refusal=refusal, **page)
        return await shown if inspect.isawaitable(shown) else shown

    async def invalid(self, errors: dict[str, str], **page: Any) -> Template:
        """Fields the page checked itself: 400, each text beside its field."""
        return await self.again(400, i18n.translate(self.language, "Please check the marked fields."),
                                errors, **page)

    async def refused(self, error: MarketError | LedgerError, **page: Any) -> Template:
        """A refusal of the CSRF check, a service or the ledger, as ``form_refusal`` places it."""
        shown = form_refusal(self.language, error, self.fields, aliases=self.aliases)
        return await self.again(shown.status, shown.problem, shown.errors, refusal=shown.reason, **page)


def normalise_login(text: str) -> str:
    """A phone or card number as typed: full-width digits (a Chinese keyboard's) become ASCII;
    spaces and dashes go."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(text.split()).replace("-", "")


def refusal_for(request: Request, error: MarketError | LedgerError,
                labels: Mapping[str, str] | None = None) -> str:
    """A refusal's text in the reader's language, with the parameters its message names (the
    field by its label in ``labels``, when the page gives one)."""
    return refusal_text(i18n.language_of(request), error, labels=labels)[2]


def record_id(text: str | None) -> int | None:
    """A record's id as a form or a link names it; None when none is named. Anything but a
    plain number is no such record (404)."""
    text = (text or "").strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise NotFound()
    return int(text)


async def form_fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: str(form.get(key, ""))[:MAX_FIELD] for key in form}


def form_token(request: Request) -> str:
    """The CSRF token a form on this page must carry: the session's, or the pre-sign-in one."""
    me = principal_of(request)
    if me is not None:
        return me.csrf_token
    current = request.cookies.get(FORM_COOKIE, "")
    if 20 <= len(current) <= 100:
        return current
    # Made once per request, so every form on the page gets the same one.
    token = request.scope.setdefault("state", {}).setdefault("market_form_token", secrets.token_urlsafe(24))
    return token


def form_cookies(request: Request) -> list[Cookie]:
    """The pre-sign-in token's cookie, when this request just made one."""
    token = request.scope.get("state", {}).get("market_form_token")
    if token is None:
        return []
    return [Cookie(key=FORM_COOKIE, value=token, path="/", httponly=True, samesite="lax")]


def check_csrf(request: Request, fields: dict[str, str]) -> None:
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        raise CsrfRejected()
    me = principal_of(request)
    expected = me.csrf_token if me is not None else request.cookies.get(FORM_COOKIE, "")
    sent = fields.get("csrf", "")
    if not expected or not secrets.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected()


def context(request: Request, **values: Any) -> dict[str, Any]:
    """What every template gets: language, 长辈版 or not, who is signed in, the CSRF token."""
    language = i18n.language_of(request)
    me: Principal | None = principal_of(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return {
        "lang": language,
        "elder": i18n.elder_mode(request),
        "me": me,
        "csrf": form_token(request),
        "here": here,
        **values,
    }


def page(request: Request, name: str, *, status: int = 200, cookies: list[Cookie] | None = None,
         **values: Any) -> Template:
    """A rendered page, never cached (it may show personal data)."""
    ctx = context(request, **values)
    return Template(
        template_name=name, context=ctx, status_code=status, headers=NO_STORE,
        cookies=[*form_cookies(request), *(cookies or [])],
    )


def signed_in(request: Request) -> Principal | None:
    """Who is signed in on this page, or None (pages carry no guard: see ``to_sign_in``)."""
    return principal_of(request)


def to_sign_in(request: Request) -> Redirect:
    """Send a stranger to the sign-in form, and back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/signin?next={here}", status_code=303)


def require_role(me: Principal, *roles: str) -> None:
    """A page for these roles only: anyone else gets the friendly 403 page."""
    if not me.has_role(*roles):
        raise Forbidden()


def office_only(me: Principal) -> bool:
    """The 街道 office's account: it holds none of a community's roles (``market.subdistricts``)."""
    return me.has_role(SUBDISTRICT_ADMIN) and not me.has_role(*ROLES)


def page_member(request: Request, *roles: str) -> Principal:
    """The signed-in person, holding one of ``roles`` (if any are named). A stranger is sent to
    sign in and back (the pages' error handler turns ``NotSignedIn`` into that redirect); anyone
    else gets the friendly 403 page, as does the 街道 office's account on a page that names no
    role (its pages name theirs: ``market.web.subdistrict_pages``)."""
    me = principal_of(request)
    if me is None:
        raise NotSignedIn()
    if roles:
        require_role(me, *roles)
    elif office_only(me):  # none named: anyone of a community (the 街道 office is of none)
        raise Forbidden()
    return me


#: ``Form(aliases=…)`` of a form with a photo: the photo services call the upload ``file``.
PHOTO = {"file": "photo"}


async def photo_form(request: Request, language: str) -> tuple[dict[str, str], bytes | None, str | None]:
    """A multipart form with a ``photo`` field (a product's, a 民声 request's): its other fields,
    the photo's bytes (None: none chosen) and the refusal of a photo over ``photos.MAX_BYTES``.
    The picture itself is checked and re-encoded by ``market.shop.photos`` afterwards."""
    too_large = i18n.error_text(language, "photo_too_large", max_mb=photos.MAX_BYTES >> 20)
    try:
        form = await request.form()
    except HTTPException as error:
        if error.status_code == 413:
            return {}, None, too_large
        raise
    fields = {k: str(v)[:MAX_FIELD] for k, v in form.items() if not isinstance(v, UploadFile)}
    upload = form.get("photo")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return fields, None, None
    try:
        content = await upload.read(photos.MAX_BYTES + 1)
    finally:
        await upload.close()
    if len(content) > photos.MAX_BYTES:
        return fields, None, too_large
    return fields, content or None, None
