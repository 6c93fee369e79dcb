"""The pages' language: Chinese by default, English by choice, from the one translation system
(``market.translations``: Babel message catalogues, shared with the API's refusals). The choice
is kept in a cookie, and GET /lang/<code> switches the language from a plain link.

长辈版 (senior mode, issue 16) is the other preference: larger text, 60 px tap targets and no
pop-ups, as MIIT's 适老化 rules ask (工信厅信管函〔2021〕67号). GET /elder/on and /elder/off switch
it; the older GET /text/large and /text/normal links do the same. Both preferences live in their
own cookies, never in the session, so they survive signing in and out.

``points`` is the resident pages' filter for amounts: "5" for 5.00, "5.5" for 5.50 (residents
read "5 积分"); staff pages and the API keep the ledger's two decimals.
"""

from decimal import Decimal, InvalidOperation

from jinja2 import pass_context
from jinja2.runtime import Context
from litestar import Request, get
from litestar.datastructures import Cookie
from litestar.params import FromPath
from litestar.response import Redirect

# language_of: the pages read the reader's language here, as the API does from market.messages.
from market.messages import LANGUAGE_COOKIE, language_of, message, preferred_language  # noqa: F401
from market.translations import LANGUAGES, Language, translations

#: 长辈版's cookie. Its name and its "large" value are those of the larger-text switch it replaced,
#: so a browser that had chosen larger text is in 长辈版 now and older links keep working.
ELDER_COOKIE = TEXT_COOKIE = "market_text"
ELDER_ON = "large"
TEXT_SIZES = ("normal", "large")
ELDER_STATES = {"on": ELDER_ON, "off": "normal"}
#: A year: a preference, not a credential.
PREFERENCE_AGE = 365 * 24 * 3600


def translate(language: Language, text: str) -> str:
    return translations(language).gettext(text)


def elder_mode(request: Request) -> bool:
    """长辈版 is on for this browser."""
    return request.cookies.get(ELDER_COOKIE) == ELDER_ON


def points(value: object) -> str:
    """An amount as residents read it: no ".00" on whole points, exact decimals otherwise.

    ``Decimal("5.00")`` → "5", ``"5.50"`` → "5.5", ``"0.25"`` → "0.25", ``"-3.00"`` → "-3",
    ``"1234567.00"`` → "1234567" (no grouping: numbers elsewhere on the pages have none, and
    fixed-point text never turns into ``1E+6``). Anything that is not a number is shown as it is.
    """
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return str(value)
    if not amount.is_finite():
        return str(value)
    text = f"{amount:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def error_text(language: Language, reason: str, **params: object) -> str:
    """A refusal's text from the one catalogue the API uses too (``market.messages``)."""
    return message(reason, language, **params)


# -- Jinja: ``_()`` in templates translates into the page's language ------------------------


@pass_context
def _gettext(context: Context, text: str) -> str:
    return translate(context.get("lang", "zh"), text)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return translations(context.get("lang", "zh")).ngettext(singular, plural, count)


def install(environment) -> None:
    """Add the i18n extension to a Jinja environment, translating by the context's ``lang``."""
    environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_callables(_gettext, _ngettext, newstyle=True)
    environment.filters["points"] = points


# -- the switches -------------------------------------------------------------------------


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path of this site: never another origin (``//evil``, ``/\\evil``, ``https:``)."""
    if (
        not target or not target.startswith("/") or target.startswith("//")
        or "\\" in target or any(ord(c) < 32 for c in target) or len(target) > 500
    ):
        return default
    return target


def _preference(request: Request, key: str, value: str) -> Redirect:
    cookie = Cookie(key=key, value=value, path="/", max_age=PREFERENCE_AGE, samesite="lax",
                    httponly=True)
    return Redirect(safe_next(request.query_params.get("next")), status_code=303, cookies=[cookie])


@get("/lang/{code:str}", include_in_schema=False, name="web:language")
async def switch_language(request: Request, code: FromPath[str]) -> Redirect:
    return _preference(request, LANGUAGE_COOKIE, code if code in LANGUAGES else "zh")


@get("/elder/{choice:str}", include_in_schema=False, name="web:elder")
async def switch_elder(request: Request, choice: FromPath[str]) -> Redirect:
    """长辈版 on or off (anything else: off), then back to the page it was chosen on."""
    return _preference(request, ELDER_COOKIE, ELDER_STATES.get(choice, "normal"))


@get("/text/{size:str}", include_in_schema=False, name="web:text")
async def switch_text(request: Request, size: FromPath[str]) -> Redirect:
    """The larger-text switch's old links (bookmarks, printed notices): "large" is 长辈版."""
    return _preference(request, ELDER_COOKIE, size if size in TEXT_SIZES else "normal")
