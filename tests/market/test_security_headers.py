"""Every response carries the security headers: each GET route of the app (pages, API, files), a
route that does not exist, an error, a POST. HSTS only over HTTPS; framing only by who the
setting names."""

import dataclasses
import re

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from market.app import create_app
from market.settings import Settings, SettingsError, frame_ancestors_from_env
from tests.market.support import Member, client_for, running

PARAM = re.compile(r"\{(\w+):(\w+)\}")


def assert_secured(response, framed_by: str = "'none'") -> None:
    headers = response.headers
    where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
    policy = headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "script-src 'self';" in policy, where
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy, where
    assert f"frame-ancestors {framed_by}" in policy and "object-src 'none'" in policy, where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "same-origin", where
    if framed_by == "'none'":
        assert headers.get("x-frame-options") == "DENY", where
    else:
        assert "x-frame-options" not in headers, where


def get_routes(app: Litestar) -> list[str]:
    paths = set()
    for route in app.routes:
        if isinstance(route, HTTPRoute) and "GET" in route.methods:
            # A number for ids, a word for anything else: the answer may be a 404, which must
            # carry the headers as well.
            paths.add(PARAM.sub(lambda m: "1" if m.group(2) == "int" else "x", route.path))
    return sorted(paths)


async def test_every_get_route_answers_with_the_headers(app: Litestar, admin: Member) -> None:
    paths = get_routes(app)
    assert len(paths) > 80 and "/" in paths and "/api/me" in paths, paths
    for path in paths:
        assert_secured(await admin.client.get(path))
        # Signed out too: the sign-in page, redirects and 401s.
        async with client_for(app) as anonymous:
            assert_secured(await anonymous.get(path))
    assert "strict-transport-security" not in (await admin.client.get("/api/me")).headers


async def test_files_errors_and_unknown_routes_carry_them(app: Litestar, admin: Member) -> None:
    assert_secured(await admin.client.get("/static/market.css"))
    assert_secured(await admin.client.get("/no/such/page"))
    assert_secured(await admin.client.get("/api/no-such-route"))
    assert_secured(await admin.client.post("/api/products", json={"name": ""}))
    assert_secured(await admin.client.delete("/health"))  # 405
    # A header a response sets itself wins over the defaults.
    assert_secured(await admin.client.get("/health"))


@pytest.mark.parametrize(
    ("trust_proxy", "base_url", "headers", "hsts"),
    [
        (True, None, {"X-Forwarded-Proto": "https"}, True),
        (False, None, {"X-Forwarded-Proto": "https"}, False),  # anyone could claim it
        (False, "https://jifen.example.cn", {}, True),
        (True, None, {"X-Forwarded-Proto": "http"}, False),
    ],
)
async def test_hsts_only_over_https(
    trust_proxy: bool, base_url: str | None, headers: dict, hsts: bool
) -> None:
    settings = dataclasses.replace(Settings.from_env(), trust_proxy=trust_proxy, base_url=base_url)
    app = create_app(settings)
    async with running(app), client_for(app) as client:
        answer = await client.get("/signin", headers=headers)
        assert answer.status_code == 200
        assert ("strict-transport-security" in answer.headers) is hsts
        if hsts:
            assert answer.headers["strict-transport-security"] == "max-age=31536000"


async def test_framing_is_allowed_only_to_the_named_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKET_FRAME_ANCESTORS", "https://servicewechat.com, 'self'")
    settings = Settings.from_env()
    assert settings.frame_ancestors == ("https://servicewechat.com", "'self'")
    app = create_app(settings)
    async with running(app), client_for(app) as client:
        assert_secured(await client.get("/signin"), framed_by="https://servicewechat.com 'self'")


@pytest.mark.parametrize("value", ["*", "https://a.cn; script-src *", "javascript:", "'unsafe-inline'", "http://"])
def test_a_frame_ancestor_that_is_no_origin_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MARKET_FRAME_ANCESTORS", value)
    with pytest.raises(SettingsError, match="MARKET_FRAME_ANCESTORS"):
        frame_ancestors_from_env()
