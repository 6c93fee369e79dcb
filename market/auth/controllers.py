"""POST /api/session signs in (bearer token + cookie); POST /api/session/code signs in once with
the one-time code of an office's slip (the session must set a PIN first); DELETE /api/session
signs out."""

from datetime import UTC, datetime, timedelta

from litestar import Controller, Request, Response, delete, post
from litestar.datastructures import Cookie, Headers
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.types import Scope

from market.auth import access_codes, sessions
from market.auth.hashing import SecretHasher
from market.auth.limiter import LoginLimiter, TotalFailures
from market.auth.middleware import CSRF_COOKIE, SESSION_COOKIE
from market.auth.schemas import CodeSignInRequest, SessionBody, SessionPerson, SignInRequest
from market.auth.sessions import Principal
from market.settings import Settings


def served_over_https(scope: Scope, settings: Settings) -> bool:
    """Whether the browser reached us over HTTPS.

    ``X-Forwarded-Proto`` counts only when ``MARKET_TRUST_PROXY`` says a proxy
    in front of us sets it; otherwise any client could claim it.
    """
    if scope.get("scheme") == "https" or (settings.base_url or "").startswith("https://"):
        return True
    if settings.trust_proxy:
        forwarded = Headers.from_scope(scope).get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return forwarded == "https"
    return False


def session_cookies(request: Request, settings: Settings, token: str, csrf: str, max_age: int) -> list:
    secure = served_over_https(request.scope, settings)
    common = {"path": "/", "secure": secure, "samesite": "lax", "max_age": max_age}
    return [
        Cookie(key=SESSION_COOKIE, value=token, httponly=True, **common),
        # Readable by our own scripts, which copy it into the X-CSRF-Token header.
        Cookie(key=CSRF_COOKIE, value=csrf, httponly=False, **common),
    ]


class SessionController(Controller):
    path = "/session"
    tags = ("sessions",)

    @post("/", status_code=200, opt={"public": True, "problems": (401, 429)}, summary="Sign in")
    async def sign_in(
        self,
        request: Request,
        data: JSONBody[SignInRequest],
        hasher: NamedDependency[SecretHasher],
        limiter: NamedDependency[LoginLimiter],
        source_limiter: NamedDependency[LoginLimiter],
        network_limiter: NamedDependency[LoginLimiter],
        total_failures: NamedDependency[TotalFailures],
        settings: NamedDependency[Settings],
    ) -> Response[SessionBody]:
        signed = await sessions.sign_in(
            data.login, data.secret, hasher=hasher, limiter=limiter,
            secret_key=settings.secret_key, lifetime=timedelta(hours=settings.session_hours),
            source=request.client.host if request.client else None, source_limiter=source_limiter,
            network_limiter=network_limiter, total_failures=total_failures,
        )
        return await _signed_in_response(request, settings, signed)

    @post("/code", status_code=200, opt={"public": True, "problems": (401, 410, 429)},
          summary="Sign in once with a one-time code from the office's slip")
    async def sign_in_with_code(
        self,
        request: Request,
        data: JSONBody[CodeSignInRequest],
        hasher: NamedDependency[SecretHasher],
        limiter: NamedDependency[LoginLimiter],
        source_limiter: NamedDependency[LoginLimiter],
        network_limiter: NamedDependency[LoginLimiter],
        total_failures: NamedDependency[TotalFailures],
        settings: NamedDependency[Settings],
    ) -> Response[SessionBody]:
        signed = await access_codes.sign_in_with_code(
            data.login, data.code, hasher=hasher, limiter=limiter,
            secret_key=settings.secret_key, lifetime=timedelta(hours=settings.session_hours),
            source=request.client.host if request.client else None, source_limiter=source_limiter,
            network_limiter=network_limiter, total_failures=total_failures,
        )
        return await _signed_in_response(request, settings, signed)

    @delete("/", status_code=204, opt={"pin_setup": True}, summary="Sign out")
    async def sign_out(
        self, request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings]
    ) -> Response[None]:
        await sessions.revoke(me.session_id)
        return Response(None, status_code=204, cookies=session_cookies(request, settings, "", "", 0))


async def _signed_in_response(
    request: Request, settings: Settings, signed: sessions.SignedIn
) -> Response[SessionBody]:
    # A fresh session at every sign-in; the one this browser held before
    # ends, so a session id planted before sign-in is worth nothing after.
    if old := request.cookies.get(SESSION_COOKIE):
        await sessions.revoke_token(old)
    body = SessionBody(
        token=signed.token, csrf_token=signed.csrf_token, expires_at=signed.expires_at,
        person=SessionPerson(id=signed.person_id, name=signed.name, roles=sorted(signed.roles)),
        must_set_pin=signed.must_set_pin,
    )
    max_age = int((signed.expires_at - datetime.now(UTC)).total_seconds())
    return Response(
        body, cookies=session_cookies(request, settings, signed.token, signed.csrf_token, max_age),
        headers={"Cache-Control": "no-store"},
    )
