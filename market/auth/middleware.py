"""Finds who is calling: a bearer token, else the session cookie; anonymous otherwise.

It only identifies. Whether a route needs a signed-in person, a role or a CSRF
token is for the guards in ``market.auth.guards``.
"""

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from market.auth import sessions

SESSION_COOKIE = "market_session"
CSRF_COOKIE = "market_csrf"
CSRF_HEADER = "X-CSRF-Token"


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
        return AuthenticationResult(user=principal, auth=principal)
