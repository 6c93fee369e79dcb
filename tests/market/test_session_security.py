"""Session cookies: attributes, HTTPS behind a trusted proxy only, rotation at sign-in."""

from dataclasses import replace

import httpx
from litestar import Litestar

from market.app import create_app
from market.auth.hashing import SecretHasher
from market.auth.sessions import token_hash
from market.settings import Settings
from market.tables import Person, Session
from tests.market.support import PASSWORD, Member, client_for


def session_cookie(response: httpx.Response) -> str:
    return next(c for c in response.headers.get_list("set-cookie")
                if c.startswith("market_session=")).lower()


async def sign_in(client: httpx.AsyncClient, member: Member, **kwargs) -> httpx.Response:
    response = await client.post(
        "/api/session", json={"login": member.phone, "secret": PASSWORD}, **kwargs
    )
    assert response.status_code == 200, response.text
    return response


async def test_cookie_attributes(anon: httpx.AsyncClient, admin: Member) -> None:
    cookie = session_cookie(await sign_in(anon, admin))
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "domain=" not in cookie


async def test_forwarded_proto_counts_only_behind_a_trusted_proxy(
    app: Litestar, admin: Member
) -> None:
    https = {"X-Forwarded-Proto": "https"}
    settings = app.state.settings
    try:
        for trust, secure in ((False, False), (True, True)):
            app.state.settings = replace(settings, trust_proxy=trust)
            async with client_for(app) as client:
                cookie = session_cookie(await sign_in(client, admin, headers=https))
            assert ("secure" in cookie) is secure, trust
    finally:
        app.state.settings = settings


async def test_sign_in_rotates_the_session(app: Litestar, admin: Member) -> None:
    async with client_for(app) as browser:
        first = await sign_in(browser, admin)
        old_token = first.json()["token"]
        assert (await browser.get("/api/me")).status_code == 200
        second = await sign_in(browser, admin)  # the browser still sends the old cookie
        new_token = second.json()["token"]
        assert new_token != old_token
        assert second.json()["csrf_token"] != first.json()["csrf_token"]
        # The old session is over, by cookie and by bearer; the new one works.
        async with client_for(app) as stale:
            stale.cookies.set("market_session", old_token)
            assert (await stale.get("/api/me")).status_code == 401
            bearer = {"Authorization": f"Bearer {old_token}"}
            assert (await stale.get("/api/me", headers=bearer)).status_code == 401
        assert (await browser.get("/api/me")).status_code == 200
    revoked = await Session.select(Session.revoked_at).where(
        Session.token_hash == token_hash(old_token)
    ).first()
    assert revoked["revoked_at"] is not None


async def test_bearer_tokens_are_revocable_one_by_one(app: Litestar, admin: Member) -> None:
    async with client_for(app) as one, client_for(app) as two:
        tokens = []
        for client in (one, two):
            token = (await sign_in(client, admin)).json()["token"]
            client.cookies.clear()
            client.headers["Authorization"] = f"Bearer {token}"
            tokens.append(token)
        assert (await one.delete("/api/session")).status_code == 204
        assert (await one.get("/api/me")).status_code == 401
        assert (await two.get("/api/me")).status_code == 200  # other devices stay signed in


async def test_secrets_are_hashed_at_owasps_cost_in_the_product(admin: Member) -> None:
    """The suite's apps hash cheaply (conftest.FAST_HASHER_COSTS); the product's hasher, which
    ``create_app`` and ``market serve`` use, is Argon2id at OWASP's minimum."""
    app = create_app(Settings.from_env())
    hashed = await app.state.hasher.hash("a-long-password")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await SecretHasher().verify(hashed, "a-long-password")
    # A hash the suite made would be made again at full cost on the next sign-in.
    stored = await Person.select(Person.password_hash).where(Person.id == admin.id).first()
    assert SecretHasher().needs_rehash(stored["password_hash"])
