"""Helpers for page tests: a browser-like client (cookies, forms with their CSRF field)."""

import re
from datetime import UTC, datetime, timedelta

import httpx
from litestar import Litestar

from tests.market.support import Member, client_for

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def without_times(html: str) -> str:
    """A page without its machine-readable times: an ISO time's seconds (``08.008209``) read like a
    two-decimal amount to a test that looks for one."""
    return re.sub(r'datetime="[^"]*"', "", html)


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "the page has no form with a CSRF field"
    return found.group(1)


def browser(app: Litestar, language: str | None = None) -> httpx.AsyncClient:
    """A client that keeps cookies like a browser; ``language`` as if chosen with the switch."""
    client = client_for(app)
    if language:
        client.cookies.set("market_lang", language)
    return client


async def sign_in(client: httpx.AsyncClient, member: Member, next_path: str = "/") -> httpx.Response:
    form = await client.get("/signin", params={"next": next_path})
    assert form.status_code == 200, form.text
    response = await client.post("/signin", data={
        "csrf": csrf_of(form.text), "next": next_path, "login": member.phone, "secret": member.pin,
    })
    assert response.status_code == 303, response.text
    return response


async def running_activity(organizer: Member, **fields: object) -> dict:
    start = datetime.now(UTC) - timedelta(minutes=10)
    data = {
        "title": "楼道清扫", "category": "collective_labour", "location": "3 号楼",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
        "points_per_checkin": "5", "points_per_hour": "10",
    } | fields
    response = await organizer.client.post("/api/activities", json=data)
    assert response.status_code == 201, response.text
    return response.json()


async def code_url(organizer: Member, activity_id: int) -> str:
    response = await organizer.client.get(f"/api/activities/{activity_id}/code")
    assert response.status_code == 200, response.text
    return response.json()["url"]


def path_of(url: str) -> str:
    return httpx.URL(url).path
