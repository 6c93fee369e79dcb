"""Signing in and out: tokens, cookies, CSRF, identical refusals, lock-out."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from litestar import Litestar

from market.auth.sessions import token_hash
from market.tables import Session
from tests.market.support import PASSWORD, Enrol, Member, client_for


async def test_sign_in_returns_token_person_and_cookies(
    anon: httpx.AsyncClient, admin: Member
) -> None:
    response = await anon.post("/api/session", json={"login": admin.phone, "secret": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["person"] == {"id": admin.id, "name": admin.name, "roles": ["admin"]}
    assert len(body["token"]) >= 43  # 32 random bytes, base64url
    assert body["csrf_token"]
    assert response.headers["cache-control"] == "no-store"
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("market_session="))
    csrf = next(c for c in cookies if c.startswith("market_csrf="))
    assert "httponly" in session.lower() and "samesite=lax" in session.lower()
    assert "secure" not in session.lower()  # plain http here
    assert "httponly" not in csrf.lower()  # the page's script must read it
    assert f"market_csrf={body['csrf_token']}" in csrf

    me = await anon.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == admin.id


async def test_cookie_is_secure_over_https(app: Litestar, admin: Member) -> None:
    async with client_for(app, base_url="https://test") as client:
        response = await client.post(
            "/api/session", json={"login": admin.phone, "secret": PASSWORD}
        )
    session = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("market_session=")
    )
    assert "secure" in session.lower()


async def test_resident_signs_in_with_card_number_and_pin(
    anon: httpx.AsyncClient, resident: Member
) -> None:
    response = await anon.post(
        "/api/session", json={"login": resident.card_no, "secret": resident.pin}
    )
    assert response.status_code == 200
    assert response.json()["person"]["id"] == resident.id


async def test_wrong_secret_and_unknown_login_get_the_same_answer(
    anon: httpx.AsyncClient, admin: Member
) -> None:
    wrong_secret = await anon.post(
        "/api/session", json={"login": admin.phone, "secret": "not the password"}
    )
    unknown_login = await anon.post(
        "/api/session", json={"login": "13000000000", "secret": PASSWORD}
    )
    assert wrong_secret.status_code == unknown_login.status_code == 401
    assert wrong_secret.json() == unknown_login.json()
    assert wrong_secret.json()["reason"] == "bad_credentials"
    assert "set-cookie" not in wrong_secret.headers


async def test_five_failures_lock_the_login(anon: httpx.AsyncClient, admin: Member) -> None:
    for _ in range(5):
        response = await anon.post(
            "/api/session", json={"login": admin.phone, "secret": "wrong password"}
        )
        assert response.status_code == 401
    # Locked now, even with the right password.
    locked = await anon.post("/api/session", json={"login": admin.phone, "secret": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["reason"] == "too_many_attempts"
    retry_after = int(locked.headers["retry-after"])
    assert 0 < retry_after <= 60
    assert str(retry_after) in locked.json()["detail"]
    # Other logins are unaffected.
    other = await anon.post("/api/session", json={"login": "13000000001", "secret": "x" * 8})
    assert other.status_code == 401


async def test_success_resets_the_failure_count(anon: httpx.AsyncClient, admin: Member) -> None:
    for _ in range(4):
        await anon.post("/api/session", json={"login": admin.phone, "secret": "wrong password"})
    assert (await anon.post(
        "/api/session", json={"login": admin.phone, "secret": PASSWORD}
    )).status_code == 200
    for _ in range(4):
        response = await anon.post(
            "/api/session", json={"login": admin.phone, "secret": "wrong password"}
        )
        assert response.status_code == 401


async def test_sign_out_revokes_the_token(admin: Member) -> None:
    assert (await admin.client.get("/api/me")).status_code == 200
    response = await admin.client.delete("/api/session")
    assert response.status_code == 204
    again = await admin.client.get("/api/me")
    assert again.status_code == 401
    assert again.json()["reason"] == "not_signed_in"


async def test_garbage_tokens_are_not_signed_in(anon: httpx.AsyncClient, admin: Member) -> None:
    for header in ("Bearer nonsense", "Bearer " + admin.token[:-2] + "xx", "Basic abc"):
        response = await anon.get("/api/me", headers={"Authorization": header})
        assert response.status_code == 401, header


@dataclass
class Browser:
    """A browser-like client: signed in by cookie, holding the CSRF token it was given."""

    client: httpx.AsyncClient
    csrf: str


@pytest.fixture
async def browser(app: Litestar, admin: Member) -> AsyncIterator[Browser]:
    async with client_for(app) as client:
        response = await client.post(
            "/api/session", json={"login": admin.phone, "secret": PASSWORD}
        )
        assert response.status_code == 200
        yield Browser(client, response.json()["csrf_token"])


async def test_cookie_session_reads_without_csrf(browser: Browser) -> None:
    assert (await browser.client.get("/api/me")).status_code == 200


async def test_cookie_session_needs_csrf_to_change_things(
    browser: Browser, enrol: Enrol
) -> None:
    resident = await enrol("resident")
    body = {"person_id": resident.id, "amount": "5", "reason": "打扫楼道"}

    refused = await browser.client.post(
        "/api/adjustments", json=body, headers={"Idempotency-Key": "csrf-1"}
    )
    assert refused.status_code == 403
    assert refused.json()["reason"] == "csrf"

    wrong = await browser.client.post(
        "/api/adjustments", json=body,
        headers={"Idempotency-Key": "csrf-1", "X-CSRF-Token": "forged"},
    )
    assert wrong.status_code == 403

    accepted = await browser.client.post(
        "/api/adjustments", json=body,
        headers={"Idempotency-Key": "csrf-1", "X-CSRF-Token": browser.csrf},
    )
    assert accepted.status_code == 201, accepted.text
    balance = (await resident.client.get("/api/me/balance")).json()["balance"]
    assert balance == "5.00"  # only the accepted request moved points


async def test_cookie_sign_out_needs_csrf(browser: Browser) -> None:
    assert (await browser.client.delete("/api/session")).status_code == 403
    response = await browser.client.delete(
        "/api/session", headers={"X-CSRF-Token": browser.csrf}
    )
    assert response.status_code == 204
    assert (await browser.client.get("/api/me")).status_code == 401


async def test_bearer_needs_no_csrf(admin: Member, resident: Member) -> None:
    response = await admin.client.post(
        "/api/adjustments",
        json={"person_id": resident.id, "amount": "1", "reason": "x"},
        headers={"Idempotency-Key": "bearer-1"},
    )
    assert response.status_code == 201


async def test_expired_sessions_stop_working(admin: Member) -> None:
    assert (await admin.client.get("/api/me")).status_code == 200
    await Session.update({Session.expires_at: datetime.now(UTC) - timedelta(seconds=1)}).where(
        Session.token_hash == token_hash(admin.token)
    )
    assert (await admin.client.get("/api/me")).status_code == 401


async def test_only_the_token_hash_is_stored(admin: Member) -> None:
    rows = await Session.select(Session.token_hash).where(Session.person == admin.id)
    assert rows and all(row["token_hash"] != admin.token for row in rows)
    assert all(len(row["token_hash"]) == 64 for row in rows)


async def test_unknown_login_costs_one_hash_check_too(
    anon: httpx.AsyncClient, admin: Member, app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Equal work for "no such login" and "wrong secret", so timing tells nothing."""
    hasher = app.state.hasher
    calls: list[str] = []
    real_verify = hasher.verify

    async def counting_verify(hashed: str, secret: str) -> bool:
        calls.append(hashed)
        return await real_verify(hashed, secret)

    monkeypatch.setattr(hasher, "verify", counting_verify)
    await anon.post("/api/session", json={"login": admin.phone, "secret": "wrong password"})
    known = len(calls)
    await anon.post("/api/session", json={"login": "13000000002", "secret": "wrong password"})
    await anon.post("/api/session", json={"login": "no-such-login", "secret": "wrong password"})
    assert known == 1
    assert len(calls) == 3
