"""Domain errors, and the one place that turns any error into an RFC 9457 problem.

Services raise ``MarketError`` subclasses (or the ledger's ``LedgerError``);
each carries a machine-readable ``reason``. ``problem_response`` maps those,
Litestar's HTTP exceptions and anything unexpected to
``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``
and ``reason``; ``detail`` comes from ``market.messages`` in the caller's language.
"""

import logging
import re
import sqlite3
from collections.abc import Iterator
from http import HTTPStatus
from types import TracebackType
from typing import Any, NamedTuple

import asyncpg
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    TooManyRequestsException,
    ValidationException,
)

from ledger import LedgerError
from market.messages import Language, message, preferred_language

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class MarketError(Exception):
    """A refusal the user can understand; ``reason`` is stable, the text is in the catalog."""

    status = 400
    reason = "bad_request"

    def __init__(self, *, field: str | None = None, **params: Any) -> None:
        super().__init__(self.reason)
        self.field = field
        self.params = params

    @property
    def headers(self) -> dict[str, str]:
        return {}

    def members(self, language: Language) -> dict[str, Any]:
        """Extra members of the problem document (e.g. a roster's bad rows), in ``language``."""
        return {}


class InvalidInput(MarketError):
    """400. Subclasses or an explicit ``reason`` say which rule the input broke."""

    reason = "invalid_input"

    def __init__(self, reason: str | None = None, *, field: str | None = None, **params: Any):
        super().__init__(field=field, **params)
        if reason:
            self.reason = reason


class BadCredentials(MarketError):
    status, reason = 401, "bad_credentials"


class NotSignedIn(MarketError):
    status, reason = 401, "not_signed_in"


class Forbidden(MarketError):
    status, reason = 403, "forbidden"


class CsrfRejected(MarketError):
    status, reason = 403, "csrf"


class NotFound(MarketError):
    status, reason = 404, "not_found"


class Conflict(MarketError):
    status, reason = 409, "conflict"

    def __init__(self, reason: str, *, field: str | None = None, **params: Any):
        super().__init__(field=field, **params)
        self.reason = reason


#: Seconds a client is asked to wait after a 503: a database restart takes a few seconds, and
#: the pools reconnect at the first request after it (measured: 200 again within 1 s).
RETRY_AFTER = 5


class Unavailable(MarketError):
    """503: a service the request needs (Redis, for sign-in lock-outs) cannot be reached."""

    status, reason = 503, "unavailable"

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(RETRY_AFTER)}


class DatabaseUnavailable(Unavailable):
    """503: the app gave up waiting for the database (see ``database_unavailable`` for the
    driver's own errors that mean the same)."""

    reason = "database_unavailable"


class DependenciesDown(Unavailable):
    """503 from ``/health``: which of the services the app needs cannot be reached."""

    def __init__(self, down: list[str], **members: Any) -> None:
        super().__init__()
        self.reason = "database_unavailable" if "database" in down else f"{down[0]}_unavailable"
        self.down = down
        self.extra = members

    def __str__(self) -> str:
        return "down: " + ", ".join(self.down)

    def members(self, language: Language) -> dict[str, Any]:
        return {"down": self.down, **self.extra}


class Unprocessable(MarketError):
    """422: the request was understood but its content cannot be accepted as a whole."""

    status, reason = 422, "unprocessable"

    def __init__(self, reason: str, *, field: str | None = None, **params: Any):
        super().__init__(field=field, **params)
        self.reason = reason


class PayloadTooLarge(MarketError):
    status, reason = 413, "too_large"

    def __init__(self, reason: str = "too_large", **params: Any):
        super().__init__(**params)
        self.reason = reason


class Gone(MarketError):
    """410: it was valid once and never will be again (an expired or revoked code)."""

    status, reason = 410, "gone"

    def __init__(self, reason: str, *, field: str | None = None, **params: Any):
        super().__init__(field=field, **params)
        self.reason = reason


class TooManyAttempts(MarketError):
    status, reason = 429, "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after=retry_after)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


#: The ledger's reasons; anything not listed is a 409 (the books refused it).
LEDGER_STATUS: dict[str, int] = {
    "insufficient_points": 409,
    "id_conflict": 422,
    "invalid_amount": 400,
    "invalid_transfer": 400,
    "account_not_found": 404,
    "transfer_not_found": 404,
    "ledger_mismatch": 409,
    "hold_not_pending": 409,
    "hold_expired": 409,
    "not_reversible": 409,
}

#: Litestar's own exceptions (routing, guards, body parsing) → our reasons.
_HTTP_REASONS: tuple[tuple[type[HTTPException], str], ...] = (
    (ValidationException, "invalid_input"),
    (NotAuthorizedException, "not_signed_in"),
    (PermissionDeniedException, "forbidden"),
    (NotFoundException, "not_found"),
    (MethodNotAllowedException, "method_not_allowed"),
    (TooManyRequestsException, "too_many_attempts"),
)


_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")


def _invalid_fields(exc: ValidationException) -> list[dict[str, str]]:
    """Which fields Litestar's parsing refused; names only, never the submitted values."""
    items = exc.extra if isinstance(exc.extra, list) else []
    fields = []
    for item in items:
        if not isinstance(item, dict) or not item.get("key"):
            continue
        key, text = str(item["key"]), str(item.get("message", ""))
        # A missing body field is reported against "data", the handler's argument.
        if key == "data" and (missing := _MISSING_FIELD.search(text)):
            key = missing.group(1)
        fields.append({"field": key, "message": text})
    return fields


#: asyncpg's errors that mean the server is gone or cannot serve now, whatever the statement:
#: 08 connection lost or refused, 57 shut down / starting up / cancelled by an operator,
#: 53 out of connections, memory or disk.
_PG_UNREACHABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    # The pool resetting a connection the server was terminating (seen at every stop under load).
    asyncpg.InternalClientError,
)
#: SQLite's result codes that mean the file cannot be used now: locked past the busy timeout,
#: cannot be opened, I/O failed, disk full, read-only (``sqlite3.Error.sqlite_errorcode``).
_SQLITE_UNUSABLE = frozenset({
    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY,
})


def _raised_in_asyncpg(traceback: TracebackType | None) -> bool:
    while traceback is not None:
        if traceback.tb_frame.f_globals.get("__name__", "").startswith("asyncpg"):
            return True
        traceback = traceback.tb_next
    return False


def _unreachable(exc: BaseException) -> bool:
    if isinstance(exc, (*_PG_UNREACHABLE, DatabaseUnavailable)):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        # A dead connection: "the underlying connection is closed", or "released back to the
        # pool" — asyncpg (0.32) takes a connection the server closed back at once, so the next
        # statement of its transaction says that. Other interface errors are the app's misuse.
        return "closed" in str(exc) or "released" in str(exc)
    if isinstance(exc, sqlite3.Error):
        return (getattr(exc, "sqlite_errorcode", -1) & 0xFF) in _SQLITE_UNUSABLE
    # Refused, reset, no route, a name that does not resolve, and the pools' own time limits
    # (ledger.stores.pg_pool) — but only from the driver: the app's files raise OSError too.
    return isinstance(exc, OSError | TimeoutError) and _raised_in_asyncpg(exc.__traceback__)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, what it was raised from or while handling, and the members of exception
    groups, each once: a dead connection often surfaces as a later error about it."""
    pending, seen = [exc], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)


def database_unavailable(exc: BaseException) -> bool:
    """Did ``exc`` happen because the database cannot be reached or used right now (stopped,
    restarting, out of connections, the SQLite file locked past the busy timeout)?"""
    return any(_unreachable(cause) for cause in _causes(exc))


#: asyncpg's refusals of a character (22021 NUL, 22P05 untranslatable), and the message its own
#: encoder gives a string it cannot send (a lone surrogate); SQLite's driver raises UnicodeEncodeError.
_CHARACTER_REFUSALS = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
    UnicodeEncodeError,
)


def refused_value(exc: BaseException) -> str | None:
    """The reason to give when a driver refused a value the request carried — a number beyond its
    column, a character it cannot store — or None. What ``market.storable`` did not catch at the
    door still leaves as a 400, never a 500: the statement failed, so its transaction rolled back."""
    for cause in _causes(exc):
        if isinstance(cause, _CHARACTER_REFUSALS) or (
            isinstance(cause, asyncpg.DataError) and "codec can't encode" in str(cause)
        ):
            return "invalid_character"
        # asyncpg: "value out of int32 range" (its encoder) or 22003 (the server's); SQLite's
        # driver: "Python int too large to convert to SQLite INTEGER".
        if isinstance(cause, asyncpg.exceptions.NumericValueOutOfRangeError) or (
            isinstance(cause, asyncpg.DataError) and "out of int" in str(cause)
        ) or (isinstance(cause, OverflowError) and "SQLite INTEGER" in str(cause)):
            return "out_of_range"
    return None


class Refusal(NamedTuple):
    """A service's or the ledger's refusal as users are told it: the HTTP status, the reason
    (the key of its text in ``market.messages``) and the parameters its text may name."""

    status: int
    reason: str
    params: dict[str, Any]


def refusal_of(error: MarketError | LedgerError) -> Refusal:
    """The one mapping from a domain or ledger error to what the API's problem details and the
    pages' form messages say."""
    if isinstance(error, MarketError):
        return Refusal(error.status, error.reason, {"field": error.field or "", **error.params})
    return Refusal(LEDGER_STATUS.get(error.reason, 409), error.reason, {})


def _classify(exc: Exception) -> tuple[int, str, dict[str, Any], dict[str, str], dict[str, Any]]:
    """(status, reason, message params, headers, extra members) for any exception."""
    if isinstance(exc, MarketError | LedgerError):
        status, reason, params = refusal_of(exc)
        headers = exc.headers if isinstance(exc, MarketError) else {}
        extra: dict[str, Any] = {"field": exc.field} if isinstance(exc, MarketError) and exc.field else {}
        return status, reason, params, headers, extra
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        headers = dict(exc.headers or {})
        if isinstance(exc, ValidationException):
            fields = _invalid_fields(exc)
            names = ", ".join(f["field"] for f in fields) or "body"
            extra = {"field": fields[0]["field"], "errors": fields} if fields else {}
            return 400, "invalid_input", {"field": names}, headers, extra
        for kind, reason in _HTTP_REASONS:
            if isinstance(exc, kind):
                params = {"retry_after": headers.get("Retry-After", "60")}
                return exc.status_code, reason, params, headers, {}
        if exc.status_code == 400:
            # Malformed JSON, numbers out of range: the body as a whole is wrong.
            return 400, "invalid_input", {"field": "body"}, headers, {}
        reason = "too_large" if exc.status_code == 413 else "bad_request"
        return exc.status_code, reason, {}, headers, {}
    if reason := refused_value(exc):
        return 400, reason, {}, {}, {}
    if database_unavailable(exc):
        return 503, "database_unavailable", {}, {"Retry-After": str(RETRY_AFTER)}, {}
    if isinstance(exc, HTTPException) and exc.status_code == 503:
        return 503, "unavailable", {}, dict(exc.headers or {}), {}
    return 500, "internal", {}, {}, {}


#: What a browser's ``Accept`` names for a page, and what an API client's names for JSON.
_PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_JSON_TYPES = frozenset({"application/json", "application/problem+json"})


def _quality(accept: str, types: frozenset[str]) -> float:
    """The highest q the ``Accept`` header gives any of ``types`` by name (wildcards not counted:
    ``*/*`` is what curl and HTTP libraries send, and they want problem details)."""
    best = 0.0
    for item in accept.split(",")[:50]:
        kind, *options = (part.strip() for part in item.split(";"))
        if kind.lower() not in types:
            continue
        q = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def wants_page(request: Request) -> bool:
    """Does a browser ask (``Accept: text/html``, not preferring JSON), outside the API? Such a
    request for a page that does not exist gets a page, never raw problem details."""
    path = request.url.path
    if path == "/api" or path.startswith(("/api/", "/schema")):
        return False
    accept = request.headers.get("accept", "")
    html = _quality(accept, _PAGE_TYPES)
    return html > 0 and html >= _quality(accept, _JSON_TYPES)


def _missing_page(request: Request, status: int, reason: str, headers: dict[str, str]) -> Response:
    """The page a browser gets for an address with no page (404) or a method no page takes
    (405): in the reader's language (the switch's cookie, else the browser's), with a way home."""
    # Imported here: the pages import this module.
    from market.web import i18n
    from market.web.forms import page

    language = i18n.language_of(request)
    reason = "page_not_found" if status == 404 else reason
    response = page(
        request, "not_found.html" if status == 404 else "error.html", status=status, reason=reason,
        detail=message(reason, language), title_code=HTTPStatus(status).phrase,
    )
    response.headers.update({**headers, "Vary": "Accept, Accept-Language"})
    return response


def problem_response(request: Request, exc: Exception) -> Response:
    """The app's only exception handler: every error leaves as problem+json — except a missing
    page (404) or a method a page does not take (405) asked for by a browser, which gets a page."""
    status, reason, params, headers, extra = _classify(exc)
    if isinstance(exc, NotFoundException | MethodNotAllowedException) and wants_page(request):
        return _missing_page(request, status, reason, headers)
    log_failure(request, exc, status, reason)
    language = preferred_language(request.headers.get("accept-language"))
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": message(reason, language, **params),
        "reason": reason,
        **extra,
    }
    if isinstance(exc, MarketError):
        body.update(exc.members(language))
    headers = {
        **headers,
        "Content-Language": "en" if language == "en" else "zh-CN",
        "Vary": "Accept-Language",
    }
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def log_failure(request: Request, exc: BaseException, status: int, reason: str) -> None:
    """Log a request's 5xx (the API's and the pages'): a bug with its traceback, a 503 — the
    database or Redis unreachable, expected for every request during an outage — in one line.
    Only method and path are logged: query strings and bodies may hold phones or secrets."""
    if status == 503:
        lines = str(exc).strip().splitlines()
        log.warning("%s on %s %s: %s%s", reason, request.method, request.url.path,
                    type(exc).__name__, f": {lines[0]}" if lines else "")
    elif status >= 500:
        # The traceback goes to the log, never to the client.
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
