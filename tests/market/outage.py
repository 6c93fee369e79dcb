"""What the outage tests share: ``market serve --workers 2`` on a database of the test's own, a
steady load of reads and writes from a few clients that records every answer, and the checks
that what was acknowledged is there afterwards.

The load: two clients make adjustments (the ledger's pool), two add stock (a Piccolo
transaction), two check residents in with posters' codes (the write executor), two read a
resident's balance, one reads the home page (HTML), and one asks ``/health``. Each answer is
kept with when it was sent and received, its status, ``reason`` and ``Retry-After``.
"""

import asyncio
import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.checkin_load import REPO, free_port, market_command, no_cookies, stop_server

ADMIN_PHONE, ADMIN_PASSWORD = "13800000000", "outage-admin-password"
ORGANIZER_PHONE, ORGANIZER_PASSWORD = "13800000001", "outage-organizer-password"
RESIDENT_PIN = "258036"
RESIDENTS = 24
#: Each resident checks in once to each activity: 960 check-ins, more than a test sends.
ACTIVITIES = 40
#: Each client waits this long between requests: a steady load, not a benchmark, on a shared machine.
PAUSE = 0.05


@dataclass(frozen=True)
class Answer:
    kind: str
    sent: float  # time.monotonic()
    received: float
    status: int  # 0: no HTTP answer at all
    reason: str = ""
    retry_after: str | None = None
    content_type: str = ""
    body: dict | None = None

    @property
    def seconds(self) -> float:
        return self.received - self.sent

    def __str__(self) -> str:
        return (f"{self.kind} {self.status} {self.reason or self.content_type} after "
                f"{self.seconds:.2f} s (sent at {self.sent:.2f})")


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MARKET_BASE_URL")}
    env |= {"DATABASE_URL": database_url, "MARKET_SECRET_KEY": "outage-test-" + "k" * 32,
            "LANG": "en_US.UTF-8", **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def market(env: dict[str, str], workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*market_command(), *args], env=env, cwd=workdir, capture_output=True,
                          text=True, timeout=120)


@contextlib.contextmanager
def serving(env: dict[str, str], workdir: Path, workers: int = 2, ready: str = "/health"
            ) -> Iterator[str]:
    """``market admin create``, then ``market serve --workers N`` until ``ready`` says 200;
    stopped with SIGINT afterwards. Yields its URL."""
    made = market(env, workdir, "admin", "create", "--name", "王主任", "--phone", ADMIN_PHONE,
                  "--password", ADMIN_PASSWORD, "--community", "幸福里社区")
    assert made.returncode == 0, made.stderr
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*market_command(), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
            env=env | {"MARKET_BASE_URL": url}, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        # One client for every probe (``httpx.get`` builds one, SSL context included, each time).
        with httpx.Client(timeout=2) as probe:
            while True:
                assert process.poll() is None, log.read_text()[-3000:]
                with contextlib.suppress(httpx.TransportError):
                    if probe.get(url + ready).status_code == 200:
                        break
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)
        yield url
    finally:
        stop_server(process)


def server_errors(workdir: Path) -> list[str]:
    """Lines of the server's log that report a bug: a 500 ("unhandled error", with its traceback),
    or an error that escaped the app. (asyncpg's warnings while it reopens its pools carry
    tracebacks too; they are not errors.)"""
    text = (workdir / "server.log").read_text(errors="replace")
    return [line for line in text.splitlines()
            if "unhandled error" in line or "Exception in ASGI application" in line]


@dataclass
class World:
    """Who and what the load uses, made over the API before it starts."""

    url: str
    admin: str
    residents: list[tuple[int, str]]  # (person id, bearer token)
    posters: list[tuple[int, str]]  # (activity id, poster token)
    product: int


@dataclass
class Load:
    """Clients sending requests until ``stop()``; every answer, and every write acknowledged."""

    world: World
    answers: list[Answer] = field(default_factory=list)
    #: transfer ids of the adjustments answered 201
    adjustments: list[str] = field(default_factory=list)
    #: (activity id, person id) of the check-ins answered 201
    checkins: list[tuple[int, int]] = field(default_factory=list)
    stock_sent: int = 0
    stock_acked: int = 0
    _running: bool = True

    def stop(self) -> None:
        self._running = False

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.world.url, timeout=60, cookies=no_cookies(),
                                     limits=httpx.Limits(max_connections=20)) as client:
            check_in = self._check_in()
            await asyncio.gather(
                self._loop(client, "adjustment", self._adjust),
                self._loop(client, "adjustment", self._adjust),
                self._loop(client, "stock", self._add_stock),
                self._loop(client, "stock", self._add_stock),
                self._loop(client, "checkin", check_in),
                self._loop(client, "checkin", check_in),
                self._loop(client, "balance", self._balance),
                self._loop(client, "balance", self._balance),
                self._loop(client, "page", self._page),
                self._loop(client, "health", self._health),
            )

    def during(self, start: float, end: float, *kinds: str) -> list[Answer]:
        """The answers to requests sent at or after ``start`` and answered by ``end``."""
        return [a for a in self.answers if a.sent >= start and a.received <= end
                and (not kinds or a.kind in kinds)]

    async def _loop(self, client: httpx.AsyncClient, kind: str, send) -> None:
        while self._running:
            sent = time.monotonic()
            try:
                response = await send(client)
                if response is None:  # nothing left to send
                    return
            except httpx.TransportError as error:
                self.answers.append(Answer(kind, sent, time.monotonic(), 0, type(error).__name__))
                await asyncio.sleep(PAUSE)
                continue
            self.record(kind, sent, response)
            await asyncio.sleep(PAUSE)

    def record(self, kind: str, sent: float, response: httpx.Response) -> None:
        """Keep the answer to a request of ``kind`` sent at ``sent``."""
        content_type = response.headers.get("content-type", "")
        body = response.json() if "json" in content_type else None
        self.answers.append(Answer(
            kind, sent, time.monotonic(), response.status_code,
            (body or {}).get("reason", "") if response.status_code >= 400 else "",
            response.headers.get("retry-after"), content_type.split(";")[0], body,
        ))

    async def _adjust(self, client: httpx.AsyncClient) -> httpx.Response:
        person, _ = self.world.residents[0]
        response = await client.post(
            "/api/adjustments", json={"person_id": person, "amount": "1", "reason": "志愿服务补记"},
            headers=bearer(self.world.admin) | {"Idempotency-Key": uuid.uuid4().hex},
        )
        if response.status_code == 201:
            self.adjustments.append(response.json()["id"])
        return response

    async def _add_stock(self, client: httpx.AsyncClient) -> httpx.Response:
        self.stock_sent += 1
        response = await client.post(
            f"/api/products/{self.world.product}/stock", headers=bearer(self.world.admin),
            json={"delta": 1, "kind": "donation", "donor": "爱心人士"},
        )
        self.stock_acked += response.status_code == 200
        return response

    def _check_in(self):
        pairs = iter([(activity, token, person, resident_token)
                      for activity, token in self.world.posters
                      for person, resident_token in self.world.residents])

        async def send(client: httpx.AsyncClient) -> httpx.Response | None:
            pair = next(pairs, None)
            if pair is None:
                return None
            activity, token, person, resident_token = pair
            response = await client.post("/api/checkins", headers=bearer(resident_token),
                                         json={"token": token, "direction": "in"})
            if response.status_code == 201:
                self.checkins.append((activity, person))
            return response

        return send

    async def _balance(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/api/me/balance", headers=bearer(self.world.residents[0][1]))

    async def _page(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/", headers=bearer(self.world.residents[1][1]))

    async def _health(self, client: httpx.AsyncClient) -> httpx.Response:
        await asyncio.sleep(0.1)  # a load balancer's probe, not a client
        return await client.get("/health")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _ok(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, f"{response.request.url.path}: {response.text}"
    return response.json()


async def set_up(url: str) -> World:
    """An admin's and residents' sessions, activities open now with their posters, a product."""
    async with httpx.AsyncClient(base_url=url, timeout=30, cookies=no_cookies()) as client:
        async def sign_in(login: str, secret: str) -> str:
            return _ok(await client.post("/api/session", json={"login": login, "secret": secret}),
                       200)["token"]

        admin = await sign_in(ADMIN_PHONE, ADMIN_PASSWORD)
        _ok(await client.post("/api/people", headers=bearer(admin), json={
            "name": "刘组长", "phone": ORGANIZER_PHONE, "roles": ["organizer"],
            "password": ORGANIZER_PASSWORD,
        }), 201)
        organizer = await sign_in(ORGANIZER_PHONE, ORGANIZER_PASSWORD)
        residents = []
        for i in range(RESIDENTS):
            phone = f"139{i:08d}"
            person = _ok(await client.post("/api/people", headers=bearer(admin), json={
                "name": f"居民{i}", "phone": phone, "roles": ["resident"], "pin": RESIDENT_PIN,
            }), 201)["id"]
            residents.append((person, await sign_in(phone, RESIDENT_PIN)))
        start = datetime.now(UTC) - timedelta(minutes=5)
        posters = []
        for i in range(ACTIVITIES):
            activity = _ok(await client.post("/api/activities", headers=bearer(organizer), json={
                "title": f"楼道清扫 {i}", "category": "collective_labour", "location": "3号楼",
                "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=3)).isoformat(),
                "points_per_checkin": "2", "points_per_hour": "0",
            }), 201)["id"]
            poster = _ok(await client.get(f"/api/activities/{activity}/poster",
                                          headers=bearer(organizer)), 200)
            posters.append((activity, poster["token"]))
        product = _ok(await client.post("/api/products", headers=bearer(admin),
                                        json={"name": "大米", "price": "5", "stock": 0}), 201)["id"]
    return World(url, admin, residents, posters, product)


def unexpected(answers: list[Answer], *allowed: int) -> list[str]:
    """The answers whose status is not one of ``allowed`` (a list to show when it is not empty)."""
    return [str(a) for a in answers if a.status not in allowed]


def unavailable_but_not_503(answers: list[Answer]) -> list[str]:
    """503s that are not the database's problem: without Retry-After, or (API) another reason."""
    bad = []
    for a in answers:
        if a.status != 503:
            continue
        if a.retry_after is None or (a.content_type != "text/html"
                                     and a.reason != "database_unavailable"):
            bad.append(f"{a} retry-after={a.retry_after}")
    return bad
