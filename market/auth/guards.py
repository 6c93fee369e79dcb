"""Guards: signed in (with CSRF for cookie sessions), and role checks.

``signed_in`` sits on the whole /api router; a handler opts out with
``opt={"public": True}``. Role guards go on handlers: ``requires_role("admin")``.
"""

import secrets
from collections.abc import Awaitable, Callable

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from market.auth.middleware import CSRF_HEADER
from market.auth.sessions import Principal
from market.errors import CsrfRejected, NotSignedIn

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Guard = Callable[[ASGIConnection, BaseRouteHandler], Awaitable[None]]


def principal_of(connection: ASGIConnection) -> Principal | None:
    # scope["user"] is absent on routes outside the auth middleware; treat as anonymous.
    user = connection.scope.get("user")
    return user if isinstance(user, Principal) else None


# Guards are coroutines: Litestar runs a plain function guard in a worker thread,
# two thread hops on every request for a few attribute checks.
async def signed_in(connection: ASGIConnection, route_handler: BaseRouteHandler) -> None:
    unsafe = connection.scope.get("method", "GET") not in SAFE_METHODS
    if unsafe and connection.headers.get("sec-fetch-site", "").lower() == "cross-site":
        # A browser telling us another site's page sent this: refused everywhere,
        # sign-in included (login CSRF), whatever credentials came along.
        raise CsrfRejected()
    if route_handler.opt.get("public"):
        # Public routes act on no one's session, so there is nothing to forge.
        return
    principal = principal_of(connection)
    if principal is None:
        raise NotSignedIn()
    if principal.via == "cookie" and unsafe:
        # A browser attaches the cookie to cross-site requests too; only our own
        # pages know the CSRF token. Bearer tokens are never sent automatically.
        sent = connection.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(sent.encode(), principal.csrf_token.encode()):
            raise CsrfRejected()


def requires_role(*roles: str) -> Guard:
    """A guard letting through people holding any of ``roles``."""
    wanted = frozenset(roles)

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        principal = principal_of(connection)
        if principal is None:
            raise NotSignedIn()
        if principal.roles.isdisjoint(wanted):
            raise PermissionDeniedException()

    guard.roles = wanted  # type: ignore[attr-defined]  (read by market.openapi: a 403 is possible)
    return guard
