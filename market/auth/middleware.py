"""Finds who is calling: a bearer token, else the session cookie; anonymous otherwise.

It only identifies, with one exception: a session opened with a one-time code
(``market.auth.access_codes``) may do nothing but set a new PIN. Its other API calls are
refused with the problem ``pin_change_required`` and its pages redirect to the PIN form,
here, once for every route, so no page or endpoint can forget the check. Whether a route
needs a signed-in person, a role or a CSRF token is for the guards in ``market.auth.guards``.
"""

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import Receive, Scope, Send

from market.auth import sessions

SESSION_COOKIE = "market_session"
CSRF_COOKIE = "market_csrf"
CSRF_HEADER = "X-CSRF-Token"
#: The page where a session opened with a one-time code sets its PIN.
PIN_PAGE = "/welcome/pin"
#: What such a session may still reach besides routes marked ``opt={"pin_setup": True}``:
#: signing out, and the language and text-size switches.
_SETUP_PATHS = ("/signout", "/lang/", "/elder/", "/text/")


def _allowed_before_pin(scope: Scope) -> bool:
    handler = scope.get("route_handler")
    opt = getattr(handler, "opt", None) or {}
    if opt.get("pin_setup") or opt.get("public"):
        return True
    path = scope.get("path", "")
    return path == PIN_PAGE or path.startswith(_SETUP_PATHS)


class SessionAuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            # An explicit bearer token wins; a bad one does not fall back to the
            # cookie, so a client sees its own token's failure.
            principal = await sessions.resolve(credentials.strip(), via="bearer")
        elif cookie := connection.cookies.get(SESSION_COOKIE):
            principal = await sessions.resolve(cookie, via="cookie")
        else:
            principal = None
        if principal is not None and principal.must_set_pin and not _allowed_before_pin(connection.scope):
            if connection.scope.get("path", "").startswith("/api/"):
                from market.auth.access_codes import PinChangeRequired  # a cycle at import time

                raise PinChangeRequired()
            raise _ToPinPage()
        return AuthenticationResult(user=principal, auth=principal)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except _ToPinPage:
            # A page of a session that must set its PIN first: there, whatever was asked for.
            await send({"type": "http.response.start", "status": 303, "headers": [
                (b"location", PIN_PAGE.encode()), (b"cache-control", b"no-store"),
                (b"content-length", b"0"),
            ]})
            await send({"type": "http.response.body", "body": b""})


class _ToPinPage(Exception):
    """Raised while authenticating a page request of a session that must set its PIN."""
