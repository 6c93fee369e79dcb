"""What the browser tests share: a real ``market serve`` on the engine under test, Debian's Chromium,
a watch on the console and on every request, the screenshots' directory, and the fake camera's video.

The server gets a fresh SQLite file, or on PostgreSQL (``MARKET_TEST_DB=postgres``) a fresh schema
of the test database, dropped afterwards: the pages are exercised on both engines. The browser is
never downloaded: without ``/usr/bin/chromium`` (``apt-get install chromium``) a browser test fails,
it is not skipped.
"""

import asyncio
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import ConsoleMessage, Locator, Page, Request

import qr
from bench.checkin_load import REPO, free_port, market_command
from market import first_run
from tests.conftest import PG_URL, db_engine, run_on_postgres

CHROMIUM = "/usr/bin/chromium"
PHONE_SIZE = {"width": 390, "height": 844}
ADMIN_PHONE, ADMIN_PASSWORD = "13800000000", "a-long-admin-password"
ORGANIZER_PHONE, ORGANIZER_PASSWORD = "13900000001", "a-long-organizer-password"
RESIDENT_PHONE, RESIDENT_PIN = "13700000002", "258036"
#: The fake camera's picture size and frame rate.
FRAME = (640, 480)
FPS = 5


@dataclass
class Server:
    url: str
    log: Path
    #: The server's environment: a ``market`` command run with it reaches the same database.
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``market serve`` on a fresh database, its first admin made with the set-up page's form;
    SIGINT afterwards."""
    with serving(tmp_path) as running:
        yield running


@pytest.fixture
def cli_server(tmp_path: Path) -> Iterator[Server]:
    """``market admin create``, then ``market serve``: a server that never was without an admin."""
    with serving(tmp_path, admin_by_cli=True) as running:
        yield running


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """``market serve`` on a fresh database with nobody in it: the first run."""
    with serving(tmp_path, first_admin=False) as running:
        yield running


@contextmanager
def serving(tmp_path: Path, *, first_admin: bool = True, admin_by_cli: bool = False) -> Iterator[Server]:
    """``market serve`` on a fresh database; with ``first_admin``, 王主任 of 幸福里社区 made with the
    set-up page once it answers (as a fresh install's first run does; one request to the server
    already running, where ``market admin create`` would be a second Python process: ~1 s of CPU
    for every browser test), or with ``admin_by_cli`` by ``market admin create`` beforehand."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    schema = f"b_{secrets.token_hex(6)}" if db_engine() == "postgres" else None
    if schema:
        asyncio.run(run_on_postgres(f'CREATE SCHEMA "{schema}"'))
    database = f"{PG_URL}{'&' if '?' in PG_URL else '?'}search_path={schema}" if schema else (
        f"sqlite:///{tmp_path}/market.db")
    env |= {
        "DATABASE_URL": database,
        "MARKET_SECRET_KEY": "browser-test-" + "k" * 32,
        "MARKET_BASE_URL": url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    }
    if first_admin and admin_by_cli:
        subprocess.run(
            [*market_command(), "admin", "create", "--name", "王主任", "--phone", ADMIN_PHONE,
             "--password", ADMIN_PASSWORD, "--community", "幸福里社区"],
            env=env, cwd=tmp_path, check=True, capture_output=True,
        )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*market_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        # One client for every probe (``httpx.get`` builds a client, SSL context included, each
        # time: ~20 ms of CPU a probe), and a short pause, as start-up takes about a second.
        with httpx.Client(timeout=2) as probe:
            while True:
                assert process.poll() is None, log.read_text()[-3000:]
                try:
                    if probe.get(url + "/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)
        if first_admin and not admin_by_cli:
            set_up_first_admin(url, env["MARKET_SECRET_KEY"])
        yield Server(url, log, env)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if schema:
            asyncio.run(run_on_postgres(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def set_up_first_admin(base: str, secret_key: str) -> None:
    """The first admin and the community, sent with the set-up page's form (``/setup``)."""
    with httpx.Client(base_url=base, timeout=30) as client:
        form = client.get("/signin")  # a form token, from a page that has a form
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf, form.text
        made = client.post(first_run.SETUP_PATH, data={
            "csrf": csrf.group(1), "token": first_run.setup_token(secret_key), "community": "幸福里社区",
            "name": "王主任", "phone": ADMIN_PHONE, "password": ADMIN_PASSWORD})
        assert made.status_code == 303 and made.headers["location"] == "/signin?welcome=1", made.text


def bearer(base: str, phone: str, secret: str) -> httpx.Client:
    response = httpx.post(f"{base}/api/session", json={"login": phone, "secret": secret})
    assert response.status_code == 200, response.text
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {response.json()['token']}"})


def set_up_people(base: str) -> httpx.Client:
    """The admin enrols an organizer and a resident; the organizer's client is returned."""
    with bearer(base, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        for body in (
            {"name": "刘组长", "phone": ORGANIZER_PHONE, "roles": ["organizer"],
             "password": ORGANIZER_PASSWORD},
            {"name": "李阿姨", "phone": RESIDENT_PHONE, "roles": ["resident"], "pin": RESIDENT_PIN},
        ):
            response = admin.post("/api/people", json=body)
            assert response.status_code == 201, response.text
    return bearer(base, ORGANIZER_PHONE, ORGANIZER_PASSWORD)


def activity_code_url(organizer: httpx.Client, title: str) -> str:
    start = datetime.now(UTC) - timedelta(minutes=5)
    made = organizer.post("/api/activities", json={
        "title": title, "category": "volunteer_service", "location": "社区服务站",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
        "points_per_checkin": "5", "points_per_hour": "10",
    })
    assert made.status_code == 201, made.text
    code = organizer.get(f"/api/activities/{made.json()['id']}/code")
    assert code.status_code == 200, code.text
    return code.json()["url"]


@dataclass
class Watch:
    """Everything the browser complained about, and every request it made."""

    origin: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def request(self, request: Request) -> None:
        if not request.url.startswith((self.origin + "/", "blob:" + self.origin + "/", "data:")):
            self.foreign.append(request.url)


#: Screenshots are for people to look at: the tests take theirs only when ``MARKET_SCREENSHOTS``
#: names where to keep them (each full page costs a render and a PNG of it: a tenth of a browser
#: test's time, measured).
KEEP_SCREENSHOTS = bool(os.environ.get("MARKET_SCREENSHOTS"))

#: A phone's pixel density (2 device pixels to a CSS pixel) is drawn only for the pictures people
#: look at. Layout, sizes and what the tests measure are in CSS pixels and do not change with it;
#: rasterizing four times the pixels cost a fifth of a browser test's time (measured, 8 files).
DENSITY = 2 if KEEP_SCREENSHOTS else 1


#: Every screenshot a test asked for, taken or not: what a walk's count of pages is checked against.
_ASKED: set[Path] = set()


def snapshot(page: Page | Locator, path: Path, *, full_page: bool = True) -> None:
    """A screenshot (of the whole page unless told otherwise), when someone asked for screenshots
    to look at; counted by ``snapshots`` either way."""
    _ASKED.add(Path(path))
    if KEEP_SCREENSHOTS:
        if isinstance(page, Locator):
            page.screenshot(path=path)
        else:
            page.screenshot(path=path, full_page=full_page)


def snapshots(directory: Path, pattern: str) -> list[Path]:
    """The screenshots asked for in ``directory`` whose names match ``pattern`` (taken or not)."""
    return [p for p in _ASKED | set(directory.glob(pattern)) if p.parent == directory and p.match(pattern)]


@pytest.fixture
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("MARKET_SCREENSHOTS")
    directory = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def write_y4m(path: Path, picture: Image.Image, seconds: int = 3) -> None:
    """A YUV 4:2:0 video of one still picture, the format Chromium's fake camera plays (looped)."""
    width, height = picture.size
    y, cb, cr = picture.convert("YCbCr").split()
    half = (width // 2, height // 2)
    frame = y.tobytes() + cb.resize(half, Image.Resampling.BOX).tobytes() + cr.resize(
        half, Image.Resampling.BOX).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(seconds * FPS):
            out.write(b"FRAME\n" + frame)


def code_on_a_phone(code: str) -> Image.Image:
    """What the camera sees: the member code on a light screen, off-centre, on a grey counter."""
    scene = Image.new("RGB", FRAME, (110, 112, 108))
    screen = Image.new("RGB", (340, 400), (250, 250, 250))
    screen.paste(qr.image(code, box_size=8).convert("RGB"), (22, 40))
    scene.paste(screen, (170, 40))
    return scene


def wait_until(page: Page, expression: str, timeout: float = 30.0) -> None:
    """Poll a JavaScript ``expression`` in ``page`` until it is true.

    Playwright's ``wait_for_function`` builds its predicate with ``eval``, which the pages'
    Content-Security-Policy (no ``'unsafe-eval'``) refuses, as it should; ``evaluate`` is the
    browser's own evaluation, which the policy does not govern."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {expression}")
        page.wait_for_timeout(50)
