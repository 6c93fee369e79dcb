"""A doorplate (数字门牌, issue 18) in a real browser: Debian's Chromium at phone size, zh and en.

A real ``market serve`` (``tests.web.browser``). The office sets the 民声 hotline and a household
at 3号楼 2单元 301 gets a resident; the office prints the plate from the structure page (a PDF
whose QR, read back with zxing, is the plate's link). A stranger's phone opens the link: the
address, the hotline and the public pages. The resident opens it, signs in, and lands on their
household. The office reissues the plate on the page (after an on-page confirm) and the old
link says the plate was replaced. No console errors; no sideways scroll.
Screenshots go to ``MARKET_SCREENSHOTS`` (``doorplate-<lang>-<n>-<name>.png``).
"""

import re
import subprocess
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, expect, sync_playwright

import qr
from tests.web.browser import (
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    CHROMIUM,
    DENSITY,
    PHONE_SIZE,
    Server,
    Watch,
    bearer,
    set_up_people,
)

#: The resident of the household (the one tests.web.browser enrols lives elsewhere).
HOME_PHONE, HOME_PIN = "13700000301", "258301"


def _household(base: str) -> int:
    """3号楼 2单元 301 with a resident enrolled into it, and the hotline set (over the API)."""
    with bearer(base, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        assert admin.put("/api/community/hotline", json={"hotline": "010-6512 3456"}).status_code == 200
        compound = admin.post("/api/compounds", json={"name": "幸福里小区"}).json()["id"]
        building = admin.post("/api/buildings", json={"compound_id": compound, "name": "3号楼"}).json()["id"]
        made = admin.post("/api/households", json={"building_id": building, "unit": "2单元", "room": "301"})
        assert made.status_code == 201, made.text
        household = made.json()["id"]
        enrolled = admin.post("/api/people", json={
            "name": "王大爷", "phone": HOME_PHONE, "roles": ["resident"], "pin": HOME_PIN,
            "household_id": household})
        assert enrolled.status_code == 201, enrolled.text
        return household


def _no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def story(browser: Browser, base: str, lang: str, shots: Path, watch: Watch, household: int) -> None:
    en = lang == "en"
    count = iter(range(1, 100))

    def t(zh: str, english: str) -> str:
        return english if en else zh

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=shots / f"doorplate-{lang}-{next(count):02d}-{name}.png", full_page=True)

    def phone() -> Page:
        context = browser.new_context(viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True,
                                      has_touch=True, locale="en-GB" if en else "zh-CN")
        page = context.new_page()
        context.on("request", watch.request)
        page.on("console", watch.console)
        page.on("pageerror", lambda error: watch.errors.append(str(error)))
        return page

    # The office prints the plate from the structure page.
    office = phone()
    office.goto(base + "/signin")
    office.locator("#login").fill(ADMIN_PHONE)
    office.locator("#secret").fill(ADMIN_PASSWORD)
    office.locator("form button[type=submit]").first.click()
    expect(office).not_to_have_url(re.compile("/signin"))
    office.goto(base + "/admin/structure#household")
    link = office.locator(f"#plate-{household}")
    expect(link).to_have_text(t("门牌（PDF）", "Doorplate (PDF)"))
    _no_sideways_scroll(office)
    shot(office, "structure")
    pdf = office.request.get(base + link.get_attribute("href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    (shots / f"doorplate-{lang}.pdf").write_bytes(pdf.body())
    picture = subprocess.run(["pdftoppm", "-png", "-r", "150", "-singlefile", "-"], input=pdf.body(),
                             capture_output=True, check=True).stdout
    (shots / f"doorplate-{lang}-plate.png").write_bytes(picture)
    (url,) = qr.decode_png(picture)
    plate = httpx.URL(url).path
    assert plate.startswith("/d/")

    # A stranger's phone: the address, the hotline, the public pages.
    stranger = phone()
    stranger.goto(base + plate)
    expect(stranger.locator("#plate-title")).to_contain_text("3号楼2单元301")
    expect(stranger.locator("#hotline")).to_have_text("010-6512 3456")
    expect(stranger.locator("#public-links")).to_be_visible()
    _no_sideways_scroll(stranger)
    shot(stranger, "stranger")

    # The resident scans their own door, signs in, and is home.
    resident = phone()
    resident.goto(base + plate)
    resident.locator("#plate-sign-in").click()
    resident.locator("#login").fill(HOME_PHONE)
    resident.locator("#secret").fill(HOME_PIN)
    resident.locator("form button[type=submit]").first.click()
    expect(resident).to_have_url(re.compile("/household$"))
    expect(resident.locator("#members")).to_be_visible()
    shot(resident, "household")

    # The office reissues the plate; the old link now says so.
    office.goto(base + "/admin/structure#household")
    office.locator(f"#reissue-plate-{household}").click()
    # The question on the page first (no pop-up), and the second press sends.
    expect(office.locator(f"#household-{household} [data-question]")).to_contain_text(
        t("旧门牌的二维码将立即失效", "The old plate will stop working at once"))
    shot(office, "confirm")
    office.locator(f"#reissue-plate-{household}").click()
    expect(office.locator("#plate-reissued")).to_be_visible()
    shot(office, "reissued")
    response = stranger.goto(base + plate)
    assert response is not None and response.status == 410
    expect(stranger.locator("body")).to_contain_text(
        t("此门牌已重新制作", "This doorplate has been replaced"))
    shot(stranger, "replaced")


def test_a_doorplate_in_chromium(server: Server, screenshots: Path) -> None:
    set_up_people(server.url).close()
    household = _household(server.url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            for lang in ("zh", "en"):
                watch = Watch(server.url)
                story(browser, server.url, lang, screenshots, watch, household)
                # The replaced plate's page answers 410 on purpose, and Chromium says so; nothing else.
                expected = "Failed to load resource: the server responded with a status of 410 (Gone)"
                assert [error for error in watch.errors if error != expected] == [], watch.errors
                assert not watch.foreign, watch.foreign
        finally:
            browser.close()
