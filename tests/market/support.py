"""Helpers for the market tests: people, signed-in members, and common requests.

A module of its own, not conftest, so tests can import it.
"""

import asyncio
import contextlib
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin

from market.auth import credentials
from market.errors import InvalidInput

PASSWORD = "correct horse battery"


def random_phone() -> str:
    return "1" + secrets.choice("3456789") + "".join(secrets.choice("0123456789") for _ in range(9))


def good_pin(phone: str) -> str:
    """A random PIN that the enrolment rules accept for this phone."""
    while True:
        pin = "".join(secrets.choice("0123456789") for _ in range(6))
        try:
            return credentials.check_pin(pin, frozenset({"resident"}), phone) or pin
        except InvalidInput:
            continue


@dataclass
class Member:
    """A person of the test community, signed in with a bearer token."""

    id: int
    name: str
    phone: str
    roles: list[str]
    card_no: str
    password: str | None
    pin: str | None
    token: str
    client: httpx.AsyncClient


Enrol = Callable[..., Awaitable[Member]]


@contextlib.asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[Litestar]:
    """The app between start-up and shutdown, with its lifespan in a task of its own.

    ``app.lifespan()`` opens an anyio task group, which must be left by the task
    that entered it; pytest-asyncio may run a fixture's setup and teardown in
    different tasks, so the lifespan gets a task that does both.
    """
    started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            async with app.lifespan():
                started.set_result(None)
                await stop.wait()
        except BaseException as error:
            if not started.done():
                started.set_exception(error)
            raise

    task = asyncio.create_task(serve())
    await started
    try:
        yield app
    finally:
        stop.set()
        await task


def client_for(app: Litestar, **kwargs) -> httpx.AsyncClient:
    """A client of the app in this process. Every answer of an API operation it gets, in every
    test, must be one the OpenAPI document lists: its status and its content type."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=kwargs.pop("base_url", "http://test"),
        event_hooks={"response": [_documented_answer(app)]}, **kwargs,
    )


class Undocumented(AssertionError):
    """An API answer the OpenAPI document does not list."""


def _documented_answer(app: Litestar) -> Callable[[httpx.Response], Awaitable[None]]:
    async def check(response: httpx.Response) -> None:
        path = response.request.url.path
        if not path.startswith("/api/"):
            return
        document = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
        template = _template_of(document, path)
        operation = document["paths"][template].get(response.request.method.lower()) if template else None
        if operation is None or response.status_code == 500:
            # No such operation: the router's own 404/405. A 500 is a bug, never documented; the
            # tests that provoke one on purpose check what it says.
            return
        listed = operation["responses"]
        status = str(response.status_code)
        where = f"{response.request.method} {template}"
        if status not in listed:
            raise Undocumented(f"{where} answered {status}; the OpenAPI document lists {sorted(listed)}")
        kind = response.headers.get("content-type", "").split(";")[0]
        documented = {media.split(";")[0] for media in listed[status].get("content", {})}
        if (documented or response.status_code >= 400) and kind not in documented:
            raise Undocumented(f"{where} answered {status} as {kind}, documented as {sorted(documented)}")

    return check


def _template_of(document: dict, path: str) -> str | None:
    """The document's path template ``path`` is an instance of; the most literal one wins."""
    candidates = []
    for template in document["paths"]:
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            candidates.append((template.count("{"), template))
    return min(candidates)[1] if candidates else None


async def adjust(
    admin: Member, person_id: int, amount: object, reason: str = "测试", key: str | None = None
) -> httpx.Response:
    """POST /api/adjustments with a fresh Idempotency-Key unless one is given."""
    return await admin.client.post(
        "/api/adjustments",
        json={"person_id": person_id, "amount": amount, "reason": reason},
        headers={"Idempotency-Key": key or secrets.token_hex(8)},
    )


async def balance(member: Member) -> str:
    response = await member.client.get("/api/me/balance")
    assert response.status_code == 200, response.text
    return response.json()["balance"]
