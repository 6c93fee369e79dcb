"""The 街道 office in a real browser: Debian's Chromium at 390 px, driven by Playwright.

Two communities (幸福里社区, made by the set-up page, and 和平社区 by ``market admin create``) are grouped
by ``market subdistrict create … --shared-redemption`` and given an office by ``market subdistrict
admin``, as an installer does; a resident of 幸福里 then redeems at 和平's counter (the API). The
office signs in on the sign-in page and lands on its overview, turns 通存通兑 off through the form
(answering the question on the page), opens the month's settlement and the honour roll, and reads
them again in English; no page scrolls sideways and the console stays clean. Screenshots go to
``MARKET_SCREENSHOTS``.
"""

import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from bench.checkin_load import market_command
from tests.web.browser import (
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    CHROMIUM,
    PHONE_SIZE,
    Server,
    Watch,
    bearer,
    serving,
    snapshot,
)

B_ADMIN_PHONE, B_ADMIN_PASSWORD = "13800000031", "a-long-peace-admin-password"
KEEPER_PHONE, KEEPER_PASSWORD = "13800000032", "a-long-keeper-password"
OFFICE_PHONE, OFFICE_PASSWORD = "13800000033", "a-long-office-password"
RESIDENT_PHONE, RESIDENT_PIN = "13700000034", "258036"


@pytest.fixture
def town(tmp_path: Path) -> Iterator[tuple[Server, dict[str, str]]]:
    """The server, and its environment for the CLI (the same database: a SQLite file, or a schema
    made for this test)."""
    with serving(tmp_path) as running:
        yield running, running.env


def market(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen:
    """A ``market`` command started in the background (each is a Python process of its own: the
    test does its API calls meanwhile); ``done`` waits for it."""
    return subprocess.Popen([*market_command(), *args], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def done(command: subprocess.Popen) -> None:
    _, errors = command.communicate(timeout=60)
    assert command.returncode == 0, errors


def no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


def test_the_office_walks_its_pages(town: tuple[Server, dict[str, str]], tmp_path: Path,
                                    screenshots: Path) -> None:
    server, env = town
    peace = market(env, tmp_path, "admin", "create", "--name", "李主任", "--phone", B_ADMIN_PHONE,
                   "--password", B_ADMIN_PASSWORD, "--community", "和平社区")
    with bearer(server.url, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        made = admin.post("/api/people", json={"name": "王秀英", "phone": RESIDENT_PHONE,
                                               "roles": ["resident"], "pin": RESIDENT_PIN})
        assert made.status_code == 201, made.text
        given = admin.post("/api/adjustments", headers={"Idempotency-Key": secrets.token_hex(8)},
                           json={"person_id": made.json()["id"], "amount": "50", "reason": "志愿服务"})
        assert given.status_code == 201, given.text
    done(peace)
    grouped = market(env, tmp_path, "subdistrict", "create", "幸福街道", "--community", "幸福里社区",
                     "--community", "和平社区", "--shared-redemption")
    with bearer(server.url, B_ADMIN_PHONE, B_ADMIN_PASSWORD) as peace_admin:
        keeper = peace_admin.post("/api/people", json={
            "name": "赵店长", "phone": KEEPER_PHONE, "roles": ["shopkeeper"], "password": KEEPER_PASSWORD})
        assert keeper.status_code == 201, keeper.text
        oil = peace_admin.post("/api/products", json={"name": "花生油", "price": "12.5", "stock": 5})
        assert oil.status_code == 201, oil.text
    resident = bearer(server.url, RESIDENT_PHONE, RESIDENT_PIN)
    counter = bearer(server.url, KEEPER_PHONE, KEEPER_PASSWORD)
    done(grouped)
    office = market(env, tmp_path, "subdistrict", "admin", "--subdistrict", "幸福街道", "--name", "街道办",
                    "--phone", OFFICE_PHONE, "--password", OFFICE_PASSWORD)

    def visit() -> httpx.Response:
        """王秀英 of 幸福里 buys oil at 和平's counter."""
        return counter.post("/api/redemptions", headers={"Idempotency-Key": secrets.token_hex(8)}, json={
            "member_code": resident.get("/api/me/code").json()["code"],
            "items": [{"product_id": oil.json()["id"], "quantity": 2}]})

    with resident, counter:
        sold = visit()
        assert sold.status_code == 201, sold.text
        walk(server, screenshots, office)
        refused = visit()
        assert refused.status_code == 409 and refused.json()["reason"] == "not_shared"


def walk(server: Server, screenshots: Path, office: subprocess.Popen) -> None:
    """The office's walk, Chromium started while ``market subdistrict admin`` makes its account."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        page = chromium.new_page(viewport=PHONE_SIZE, locale="zh-CN")
        watch = Watch(server.url)
        page.on("console", watch.console)
        page.on("request", watch.request)
        done(office)
        page.goto(server.url + "/signin")
        page.locator("#login").fill(OFFICE_PHONE)
        page.locator("#secret").fill(OFFICE_PASSWORD)
        page.locator("form[action='/signin'] button[type=submit]").click()
        page.wait_for_url(re.compile(r"/subdistrict$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("街道管理")
        expect(page.locator("#sd-name")).to_have_text("幸福街道")
        expect(page.locator("[id^=community-] [data-figure=travelled]")).to_have_text(["25.00", "-25.00"])
        expect(page.locator("#sharing-state")).to_have_attribute("data-on", "true")
        no_sideways_scroll(page)
        snapshot(page, screenshots / "subdistrict-1-overview.png")

        page.get_by_role("button", name="立即核对账本").click()
        expect(page.locator("#checks-status")).to_have_attribute("data-ok", "true")
        expect(page.locator("#checks-pairs li")).to_have_count(1)
        snapshot(page, screenshots / "subdistrict-2-checks.png")

        page.get_by_text("关闭", exact=True).click()  # the radio button's label
        page.get_by_role("button", name="保存设置").click()
        expect(page.locator("#sharing [data-question]")).to_be_visible()  # asked on the page first
        page.get_by_role("button", name="确定保存").click()
        expect(page.locator("#sharing-saved")).to_be_visible()
        expect(page.locator("#sharing-state")).to_have_attribute("data-on", "false")
        snapshot(page, screenshots / "subdistrict-3-sharing-off.png")

        page.get_by_role("link", name="结算").click()
        expect(page.locator(".sd-pair h3")).to_have_text("幸福里社区 应付 和平社区")
        expect(page.locator(".sd-pair [data-figure=owed]")).to_contain_text("25.00")
        no_sideways_scroll(page)
        snapshot(page, screenshots / "subdistrict-4-settlement.png")

        page.get_by_role("link", name="红榜").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("街道红榜")
        no_sideways_scroll(page)

        page.get_by_role("link", name="English").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Honour roll of the subdistrict")
        no_sideways_scroll(page)
        snapshot(page, screenshots / "subdistrict-5-boards-en.png")
        page.get_by_role("link", name="Settlement").click()
        expect(page.locator(".sd-pair h3")).to_have_text("幸福里社区 owes 和平社区")
        page.get_by_role("link", name="Overview").click()
        expect(page.locator("#sharing-state")).to_contain_text("Off: residents redeem only")
        no_sideways_scroll(page)
        snapshot(page, screenshots / "subdistrict-6-overview-en.png")
        page.locator("#sd-public-link").click()  # the public page, for anyone
        expect(page.locator("[id^=public-community-] a.button")).to_have_count(2)
        no_sideways_scroll(page)
        snapshot(page, screenshots / "subdistrict-7-public-en.png")
        chromium.close()
    assert watch.errors == [] and watch.foreign == []
