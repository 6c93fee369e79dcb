"""Every error is RFC 9457 problem+json; detail is Chinese unless English is preferred."""

import httpx
import pytest

from market import errors
from market.messages import MESSAGES, message, preferred_language
from tests.market.support import Member

PROBLEM_KEYS = {"type", "title", "status", "detail", "reason"}


async def test_problem_shape_and_chinese_default(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/me")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == 401
    assert body["title"] == "Unauthorized"
    assert body["reason"] == "not_signed_in"
    assert body["detail"] == "请先登录"
    assert response.headers["content-language"] == "zh-CN"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en", "Please sign in first"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "Please sign in first"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "请先登录"),
        ("fr-FR", "请先登录"),
        ("zh;q=0.5, en;q=0.6", "Please sign in first"),
    ],
)
async def test_english_when_preferred(anon: httpx.AsyncClient, header: str, expected: str) -> None:
    response = await anon.get("/api/me", headers={"Accept-Language": header})
    assert response.json()["detail"] == expected


async def test_domain_error_in_english(admin: Member) -> None:
    response = await admin.client.post(
        "/api/people", json={"name": "x", "phone": "123", "roles": ["resident"], "pin": "258036"},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["reason"] == "invalid_phone"
    assert body["field"] == "phone"
    assert body["detail"] == "Enter a valid 11-digit mainland mobile number"


async def test_malformed_json_is_invalid_input(admin: Member) -> None:
    response = await admin.client.post(
        "/api/people", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["reason"] == "invalid_input"


async def test_method_not_allowed(admin: Member) -> None:
    response = await admin.client.put("/api/me/balance")
    assert response.status_code == 405
    assert response.json()["reason"] == "method_not_allowed"
    assert "GET" in response.headers["allow"]


async def test_internal_errors_leak_nothing(
    admin: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("password=hunter2 at /srv/secret/path")

    monkeypatch.setattr("market.people.service.list_people", explode)
    response = await admin.client.get("/api/people")
    assert response.status_code == 500
    body = response.json()
    assert body["reason"] == "internal"
    assert "hunter2" not in response.text and "secret" not in response.text
    assert body["detail"] == MESSAGES["internal"][0]


def test_every_reason_the_code_raises_has_both_languages() -> None:
    reasons = set(errors.LEDGER_STATUS) | {reason for _, reason in errors._HTTP_REASONS}
    for reason in reasons:
        assert reason in MESSAGES, reason
    for zh, en in MESSAGES.values():
        assert zh and en


def test_language_negotiation_defaults_to_chinese() -> None:
    assert preferred_language(None) == "zh"
    assert preferred_language("") == "zh"
    assert preferred_language("en-GB") == "en"
    assert preferred_language("en;q=0") == "zh"
    assert message("too_many_attempts", "en", retry_after=30) == (
        "Too many attempts; try again in 30 seconds"
    )
