"""The security headers every response carries: pages, the API, static files, errors.

Set in one place, the app's ``before_send`` hook, which sees every response the app sends —
those of routes and of requests that match none. A header a response sets itself wins.

- ``Content-Security-Policy``: scripts, styles, fonts and requests only from this origin (the
  pages have no inline script or style, and must keep it so), images also as ``data:``/``blob:``
  (the camera's snapshots), no plugins, no ``<base>``, forms posted only here, and framed by
  nobody — unless ``MARKET_FRAME_ANCESTORS`` lists who may (a WeChat mini-program's web-view).
- ``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors`` (it cannot name a
  list, so it is left out when one is allowed).
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` (the pages' ``<meta>``
  says the same for browsers that read only that).
- ``Strict-Transport-Security`` when the browser reached us over HTTPS (as ``served_over_https``
  decides: the URL, ``MARKET_BASE_URL``, or a trusted proxy's ``X-Forwarded-Proto``). A year; no
  ``includeSubDomains``, since the office's other sites under the same domain are not ours to pin.
"""

from collections.abc import Awaitable, Callable

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from market.auth.controllers import served_over_https
from market.settings import Settings

HSTS = "max-age=31536000"


def content_security_policy(frame_ancestors: tuple[str, ...]) -> str:
    ancestors = " ".join(frame_ancestors) or "'none'"
    return "; ".join((
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "media-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        f"frame-ancestors {ancestors}",
    ))


def security_headers(settings: Settings) -> Callable[[Message, Scope], Awaitable[None]]:
    """The app's ``before_send`` hook that adds the headers (see the module)."""
    fixed = {
        "content-security-policy": content_security_policy(settings.frame_ancestors),
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
    }
    if not settings.frame_ancestors:
        fixed["x-frame-options"] = "DENY"

    async def add(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in fixed.items():
            if name not in headers:
                headers[name] = value
        if "strict-transport-security" not in headers and served_over_https(scope, settings):
            headers["strict-transport-security"] = HSTS

    return add
