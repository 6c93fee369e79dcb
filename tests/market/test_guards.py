"""Who may do what: anonymous → 401, a role that may not → 403, other communities → 404."""

import httpx
import pytest

from ledger import Ledger
from market.community import service as communities
from tests.market.support import Enrol, Member, adjust, balance

ADMIN_ONLY = [
    ("POST", "/api/people"),
    ("GET", "/api/people"),
    ("GET", "/api/people/1"),
    ("POST", "/api/adjustments"),
    ("GET", "/api/ledger/verify"),
]
SIGNED_IN = [("GET", "/api/me"), ("GET", "/api/me/balance"), ("GET", "/api/me/entries"),
             ("DELETE", "/api/session")]


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY + SIGNED_IN)
async def test_anonymous_is_not_signed_in(anon: httpx.AsyncClient, method: str, path: str) -> None:
    response = await anon.request(method, path, json={})
    assert response.status_code == 401
    assert response.json()["reason"] == "not_signed_in"


@pytest.mark.parametrize("role", ["resident", "organizer", "shopkeeper"])
async def test_only_admins_manage_people_and_points(enrol: Enrol, role: str) -> None:
    member = await enrol(role)
    for method, path in ADMIN_ONLY:
        response = await member.client.request(
            method, path, json={"person_id": member.id, "amount": "5", "reason": "x"},
            headers={"Idempotency-Key": "k"},
        )
        assert response.status_code == 403, (role, method, path)
        assert response.json()["reason"] == "forbidden"
    assert await balance(member) == "0.00"  # the refused adjustment moved nothing


async def test_transparency_is_public(anon: httpx.AsyncClient, admin: Member) -> None:
    response = await anon.get("/api/transparency")
    assert response.status_code == 200


async def test_an_admin_cannot_touch_another_communitys_people(
    admin: Member, enrol: Enrol, ledger: Ledger
) -> None:
    other = await communities.get_or_create(ledger, f"邻居社区-{admin.id}")
    stranger = await enrol("resident", community_id=other.id)
    response = await adjust(admin, stranger.id, "10")
    assert response.status_code == 404
    assert response.json()["reason"] == "not_found"
    assert await balance(stranger) == "0.00"
