"""The set-up page of a fresh installation: the first admin, made with the console's link.

GET /setup?token=… shows the form while no admin exists; POST /setup makes the community
and its first admin, then sends the browser to sign in. Everything wrong with the form is
said at once, next to its field, and what was typed stays (the password too: it is the
reader's own input on a page that is never cached).
"""

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from ledger import Ledger
from market import first_run
from market.auth.hashing import SecretHasher
from market.errors import Conflict, CsrfRejected, MarketError
from market.people.service import NewPerson
from market.settings import Settings
from market.web import i18n
from market.web.forms import check_csrf, form_fields, form_refusal, page

PAGE = {"include_in_schema": False}
FIELDS = ("community", "name", "phone", "password")


def _form(request: Request, token: str, *, status: int = 200, typed: dict[str, str] | None = None,
          errors: dict[str, str] | None = None, problem: str | None = None) -> Template:
    return page(request, "first_run.html", status=status, token=token,
                typed=typed or {field: "" for field in FIELDS}, errors=errors or {}, problem=problem)


def _closed(request: Request, error: MarketError) -> Template:
    """The set-up page when it cannot be used: a wrong link, or an admin exists already."""
    language = i18n.language_of(request)
    return page(request, "first_run_closed.html", status=error.status, reason=error.reason,
                detail=form_refusal(language, error).problem)


@get(first_run.SETUP_PATH, name="web:setup", **PAGE)
async def setup_form(
    request: Request, settings: NamedDependency[Settings], token: FromQuery[str] = ""
) -> Template:
    if not first_run.token_matches(settings.secret_key, token):
        return _closed(request, first_run.SetupTokenInvalid())
    if await first_run.admin_exists():
        return _closed(request, Conflict("setup_done"))
    return _form(request, token)


@post(first_run.SETUP_PATH, status_code=303, **PAGE)
async def setup(
    request: Request, settings: NamedDependency[Settings], hasher: NamedDependency[SecretHasher],
    ledger: NamedDependency[Ledger],
) -> Template | Redirect:
    fields = await form_fields(request)
    language = i18n.language_of(request)
    token = fields.get("token", "")
    typed = {field: fields.get(field, "").strip() for field in FIELDS}
    typed["password"] = fields.get("password", "")
    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return _form(request, token, status=403, typed=typed, problem=form_refusal(language, error).problem)
    new = NewPerson(name=typed["name"], phone=typed["phone"], roles=["admin"], password=typed["password"])
    if found := first_run.problems(typed["community"], new):
        errors = {field: form_refusal(language, error).problem for field, error in found.items()}
        return _form(request, token, status=400, typed=typed, errors=errors)
    try:
        await first_run.create_first_admin(settings.secret_key, token, typed["community"], new,
                                           hasher=hasher, ledger=ledger)
    except (first_run.SetupTokenInvalid, Conflict) as error:
        if error.reason in ("setup_token_invalid", "setup_done"):
            return _closed(request, error)
        return _form(request, token, status=error.status, typed=typed,
                     errors={error.field or "phone": form_refusal(language, error).problem})
    return Redirect("/signin?welcome=1", status_code=303)


PAGES = [setup_form, setup]
