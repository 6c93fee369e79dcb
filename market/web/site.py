"""The web app's frame: Jinja templates, static files, error pages and the router of the pages.

Pages live outside /api and out of the OpenAPI document. They identify the caller with
the same middleware as the API (session cookie) but carry no guard: a page sends a
stranger to the sign-in form instead. Every error on a page is a page in the reader's
language, never problem+json.
"""

import hashlib
import logging
from datetime import datetime
from functools import lru_cache
from http import HTTPStatus
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response, Router
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.middleware import DefineMiddleware
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from ledger import LedgerError
from market.auth.middleware import SessionAuthMiddleware
from market.china_time import CHINA
from market.errors import (
    RETRY_AFTER,
    MarketError,
    database_unavailable,
    log_failure,
    refusal_of,
    refused_value,
)
from market.web import access as access_pages
from market.web import (
    admin,
    admin_people,
    attendance,
    boards,
    catalogue,
    certificates,
    dashboards,
    delegate_pages,
    doorplate_pages,
    exports,
    help_office,
    help_pages,
    household,
    i18n,
    move_pages,
    organizer,
    pages,
    points_pages,
    shop,
    shopkeeper,
    subdistrict_pages,
    transparency,
)
from market.web import deductions as deduction_pages
from market.web import first_run as first_run_pages
from market.web import publicity as publicity_pages
from market.web.forms import page, to_sign_in

log = logging.getLogger(__name__)

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
TEMPLATES = FRONTEND / "templates"
STATIC = FRONTEND / "static"
STATIC_PATH = "/static"


@lru_cache(maxsize=64)
def asset(name: str) -> str:
    """The URL of a static file with its content hash, so it can be cached for a year."""
    digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]
    return f"{STATIC_PATH}/{name}?v={digest}"


def _local(moment: datetime, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """A time as people here read it: Beijing time."""
    return moment.astimezone(CHINA).strftime(pattern)


def _stars(count: int) -> str:
    return "★" * count + "☆" * (5 - count)


def template_config() -> TemplateConfig:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
        trim_blocks=True, lstrip_blocks=True,
    )
    i18n.install(environment)
    environment.globals["asset"] = asset
    environment.filters["stars"] = _stars
    environment.filters["local"] = _local
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def static_files() -> Router:
    return create_static_files_router(
        path=STATIC_PATH, directories=[STATIC], name="static", include_in_schema=False,
        cache_control=None,
    )


def page_error(request: Request, exc: Exception) -> Response:
    """Any error on a page: the reason's message in the reader's language, on a page."""
    headers: dict[str, str] = {}
    if isinstance(exc, MarketError | LedgerError):
        # As the API's problem details: a text may name the field ("{field}").
        status, reason, params = refusal_of(exc)
        if isinstance(exc, MarketError):
            headers = exc.headers
        if reason == "not_signed_in":
            return to_sign_in(request)
    elif isinstance(exc, HTTPException) and exc.status_code < 500:
        status, params = exc.status_code, {}
        reason = {
            404: "not_found", 403: "forbidden", 405: "method_not_allowed", 413: "too_large",
        }.get(exc.status_code, "bad_request")
        if isinstance(exc, NotFoundException | PermissionDeniedException):
            reason = "not_found" if isinstance(exc, NotFoundException) else "forbidden"
    elif refused := refused_value(exc):  # a value no database here can hold
        status, reason, params = 400, refused, {}
    elif database_unavailable(exc):  # as the API says it: wait a moment and try again
        status, reason, params = 503, "database_unavailable", {}
        headers = {"Retry-After": str(RETRY_AFTER)}
    else:
        status, reason, params = 500, "internal", {}
    log_failure(request, exc, status, reason)
    language = i18n.language_of(request)
    response = page(
        request, "error.html", status=status, reason=reason,
        detail=i18n.error_text(language, reason, **params), title_code=HTTPStatus(status).phrase,
    )
    response.headers.update(headers)
    return response


def web_router() -> Router:
    return Router(
        path="/",
        route_handlers=[
            *pages.PAGES, *shop.PAGES, *organizer.PAGES, *attendance.PAGES, *shopkeeper.PAGES,
            *catalogue.PAGES, *admin.PAGES, *admin_people.PAGES,
            *boards.PAGES, *dashboards.PAGES, *exports.PAGES, *certificates.PAGES,
            *transparency.PAGES, *points_pages.PAGES, *household.PAGES,
            *deduction_pages.PAGES, *publicity_pages.PAGES, *access_pages.PAGES, *first_run_pages.PAGES,
            *delegate_pages.PAGES, *subdistrict_pages.PAGES, *move_pages.PAGES, *doorplate_pages.PAGES,
            *help_pages.PAGES, *help_office.PAGES,
            i18n.switch_language, i18n.switch_elder, i18n.switch_text,
        ],
        middleware=[DefineMiddleware(SessionAuthMiddleware)],
        exception_handlers={Exception: page_error},
        include_in_schema=False,
    )
