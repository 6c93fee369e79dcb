"""The resident's story in a real browser: Debian's Chromium at phone size, driven by Playwright.

A real ``market serve`` on a free port with a fresh SQLite file; the organizer works through
the API with a bearer token; the resident only uses the pages. It runs in Chinese, then in
English with the larger-text switch on. Screenshots of every page go to ``MARKET_SCREENSHOTS``
(default: a temporary directory). The browser is never downloaded: without
``/usr/bin/chromium`` (``apt-get install chromium``) this test fails, it is not skipped.
"""

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, expect, sync_playwright

from bench.checkin_load import REPO, free_port, market_command

CHROMIUM = "/usr/bin/chromium"
PHONE_SIZE = {"width": 390, "height": 844}
ADMIN_PHONE, ADMIN_PASSWORD = "13800000000", "a-long-admin-password"
ORGANIZER_PHONE, ORGANIZER_PASSWORD = "13900000001", "a-long-organizer-password"
RESIDENT_PHONE, RESIDENT_PIN = "13700000002", "258036"


@dataclass
class Server:
    url: str
    log: Path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``market admin create`` and ``market serve`` on a fresh SQLite file; SIGINT afterwards."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env |= {
        "DATABASE_URL": f"sqlite:///{tmp_path}/market.db",
        "MARKET_SECRET_KEY": "browser-test-" + "k" * 32,
        "MARKET_BASE_URL": url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    }
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
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        yield Server(url, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


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
        if not request.url.startswith(self.origin + "/") and not request.url.startswith("data:"):
            self.foreign.append(request.url)


@pytest.fixture
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("MARKET_SCREENSHOTS")
    directory = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def resident_story(page: Page, url: str, lang: str, shots: Path, signed_in: bool) -> None:
    """Open an activity's code URL, sign in if asked, check in, then home, code and statement."""
    english = lang == "en"

    def shot(name: str) -> None:
        page.screenshot(path=shots / f"{lang}-{name}.png", full_page=True)

    page.goto(url)
    if not signed_in:
        expect(page).to_have_url(re.compile(r"/signin\?next=/C/"))
        expect(page.locator("html")).to_have_attribute("lang", "en" if english else "zh-CN")
        shot("1-signin")
        page.get_by_label("Phone number or member card number" if english else "手机号或会员卡号").fill(
            RESIDENT_PHONE
        )
        page.get_by_label("PIN (6 digits) or password" if english else "6 位数字密码（或登录密码）").fill(
            RESIDENT_PIN
        )
        page.get_by_role("button", name="Sign in" if english else "登录").click()
    expect(page).to_have_url(re.compile(r"/C/[A-Z0-9]+$"))
    button = page.get_by_role("button", name="Check in" if english else "签到")
    expect(button).to_be_visible()
    shot("2-checkin")
    button.click()
    expect(page.locator("#earned")).to_have_text("+5.00")
    shot("3-checked-in")
    balance = page.locator("#new-balance").inner_text()

    page.get_by_role("link", name="Back to home" if english else "返回首页").first.click()
    expect(page.locator("#balance")).to_have_text(balance)
    shot("4-home")

    page.get_by_role("link", name="My member code" if english else "我的会员码").click()
    image = page.locator("#code-image")
    expect(image).to_be_visible()
    page.wait_for_function("document.getElementById('code-image').naturalWidth > 0")
    start = int(page.locator("#countdown").inner_text())
    page.wait_for_function(f"Number(document.getElementById('countdown').textContent) !== {start}")
    shot("5-code")

    page.goto(page.url.rsplit("/", 1)[0] + "/statement")
    expect(page.locator(".entry").first).to_contain_text("+5.00")
    shot("6-statement")


def test_resident_story_in_chromium(server: Server, screenshots: Path) -> None:
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    organizer = set_up_people(server.url)
    watch = Watch(server.url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(
            viewport=PHONE_SIZE, device_scale_factor=2, is_mobile=True, has_touch=True,
            locale="zh-CN",
        )
        page = context.new_page()
        page.on("console", watch.console)
        page.on("pageerror", lambda error: watch.errors.append(str(error)))
        context.on("request", watch.request)

        resident_story(page, activity_code_url(organizer, "社区义诊志愿服务"), "zh", screenshots,
                       signed_in=False)
        expect(page.locator("html")).not_to_have_class("large")

        # The switches, from any page; then the whole story again, signed out first.
        page.get_by_role("link", name="English").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("My points statement")
        page.get_by_role("link", name="Larger text").click()
        expect(page.locator("html")).to_have_class("large")
        assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 22
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/signin$"))
        resident_story(page, activity_code_url(organizer, "Library volunteers"), "en", screenshots,
                       signed_in=False)
        expect(page.locator("#balance")).to_have_count(0)  # on the statement page now
        assert "10.00" in page.content()

        context.close()
        browser.close()
    organizer.close()
    assert not watch.errors, watch.errors
    assert not watch.foreign, watch.foreign
    assert len(list(screenshots.glob("*.png"))) >= 12
