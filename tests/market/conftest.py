"""Fixtures for the web app: a running app per test, a fresh community, signed-in clients per role.

Requests go through ``httpx.ASGITransport`` on the test's own event loop inside
``app.lifespan()``; Litestar's AsyncTestClient runs the app on another loop,
which breaks asyncpg. Each test founds its own community with its own people,
so tests never see each other's data even though they share one database.
"""

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from ledger import Ledger
from market.app import create_app
from market.auth.hashing import SecretHasher
from market.community import service as communities
from market.people.service import NewPerson, create_person
from market.settings import Settings
from tests.market.support import (
    PASSWORD,
    Enrol,
    Member,
    client_for,
    good_pin,
    random_phone,
    running,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Keep the market code ready for Litestar 3: its deprecations fail the tests.
    for item in items:
        if "tests/market/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.filterwarnings("error::DeprecationWarning"))


#: One app per worker process and settings: building one costs 0.36 s (Litestar registers and
#: copies every route), most of a typical test's time. Each test still gets its own start-up
#: and shutdown (pools, ledger, sweepers on the test's event loop) and its own app state back.
_apps: dict[Settings, Litestar] = {}

#: Argon2id at its cheapest for the apps tests build: every test enrols and signs in people, and
#: at OWASP's cost (≈ 50 ms a hash today) that was most of each test's set-up — about 0.2 s of
#: its 0.27 s. The production costs are checked apart (test_session_security.py), and servers
#: the tests start as processes (`market serve`) hash at full cost.
FAST_HASHER_COSTS = {"time_cost": 1, "memory_cost_kib": 256}


def _new_app(settings: Settings) -> Litestar:
    app = create_app(settings)
    app.state.hasher = SecretHasher(**FAST_HASHER_COSTS)
    return app


@pytest.fixture
async def app() -> AsyncIterator[Litestar]:
    settings = Settings.from_env()
    if settings.redis_url:  # its limiter's connections are closed at shutdown: a new app each time
        app = _new_app(settings)
    elif (app := _apps.get(settings)) is not None:
        # Logging as a new app would set it up: its handlers write to this test's captured
        # stderr, not to an earlier test's, closed since.
        app.get_logger = app.logging_config.configure()
    else:
        app = _apps[settings] = _new_app(settings)
    state = app.state.dict()
    try:
        async with running(app):
            yield app
    finally:
        app.state.clear()
        app.state.update(state)


@pytest.fixture
def ledger(app: Litestar) -> Ledger:
    return app.state.ledger


@pytest.fixture
async def anon(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


@pytest.fixture
async def community(ledger: Ledger) -> communities.CommunityView:
    return await communities.get_or_create(ledger, f"测试社区-{secrets.token_hex(6)}")


@pytest.fixture
async def enrol(
    app: Litestar, ledger: Ledger, community: communities.CommunityView
) -> AsyncIterator[Enrol]:
    """Make a person (directly through the service) and sign them in through the API."""
    clients: list[httpx.AsyncClient] = []

    async def enrol(*roles: str, community_id: int | None = None, name: str = "张三") -> Member:
        roles_list = list(roles or ("resident",))
        phone = random_phone()
        staff = bool(set(roles_list) - {"resident"})
        password = PASSWORD if staff else None
        pin = good_pin(phone) if "resident" in roles_list else None
        view = await create_person(
            community_id or community.id,
            NewPerson(name=name, phone=phone, roles=roles_list, password=password, pin=pin),
            hasher=app.state.hasher, ledger=ledger,
        )
        client = client_for(app)
        clients.append(client)
        response = await client.post(
            "/api/session", json={"login": phone, "secret": password or pin}
        )
        assert response.status_code == 200, response.text
        token = response.json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        client.cookies.clear()  # bearer only: no cookie, so no CSRF involved
        return Member(
            id=view.id, name=view.name, phone=phone, roles=view.roles, card_no=view.card_no,
            password=password, pin=pin, token=token, client=client,
        )

    yield enrol
    for client in clients:
        await client.aclose()


@pytest.fixture
async def admin(enrol: Enrol) -> Member:
    return await enrol("admin")


@pytest.fixture
async def resident(enrol: Enrol) -> Member:
    return await enrol("resident", name="李阿姨")


@pytest.fixture
async def organizer(enrol: Enrol) -> Member:
    return await enrol("organizer")


@pytest.fixture
async def shopkeeper(enrol: Enrol) -> Member:
    return await enrol("shopkeeper")


