"""The resident's story in a real browser: Debian's Chromium at phone size, driven by Playwright.

A real ``market serve`` on a free port with a fresh database (``tests.web.browser``); the
organizer works through the API with a bearer token; the resident only uses the pages. It runs
in Chinese, then in English with 长辈版 (senior mode) on. Screenshots of every page go to
``MARKET_SCREENSHOTS`` (default: a temporary directory).
"""

import re
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.web.browser import (  # noqa: F401  (fixtures, and names other browser tests import)
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    CHROMIUM,
    DENSITY,
    ORGANIZER_PASSWORD,
    ORGANIZER_PHONE,
    PHONE_SIZE,
    RESIDENT_PHONE,
    RESIDENT_PIN,
    Server,
    Watch,
    activity_code_url,
    bearer,
    screenshots,
    server,
    set_up_people,
    snapshot,
    snapshots,
    wait_until,
)


def resident_story(page: Page, url: str, lang: str, shots: Path, signed_in: bool) -> None:
    """Open an activity's code URL, sign in if asked, check in, then home, code and statement."""
    english = lang == "en"

    def shot(name: str) -> None:
        snapshot(page, shots / f"{lang}-{name}.png")

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
    expect(page.locator("#earned")).to_have_text("+5")
    shot("3-checked-in")
    balance = page.locator("#new-balance").inner_text()

    page.get_by_role("link", name="Back to home" if english else "返回首页").first.click()
    expect(page.locator("#balance")).to_have_text(balance)
    shot("4-home")

    page.get_by_role("link", name="My member code" if english else "我的会员码").click()
    image = page.locator("#code-image")
    expect(image).to_be_visible()
    wait_until(page, "document.getElementById('code-image')?.naturalWidth > 0")
    start = int(page.locator("#countdown").inner_text())
    wait_until(page, f"Number(document.getElementById('countdown').textContent) !== {start}")
    shot("5-code")

    page.goto(page.url.rsplit("/", 1)[0] + "/statement")
    expect(page.locator(".entry").first.locator(".amount")).to_have_text("+5")
    shot("6-statement")


def test_resident_story_in_chromium(server: Server, screenshots: Path) -> None:  # noqa: F811
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    organizer = set_up_people(server.url)
    watch = Watch(server.url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(
            viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True, has_touch=True,
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
        page.get_by_role("switch", name="Senior mode").click()
        expect(page.locator("html")).to_have_class(re.compile(r"\belder\b"))  # 长辈版 (once "larger text")
        assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 22
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/signin$"))
        resident_story(page, activity_code_url(organizer, "Library volunteers"), "en", screenshots,
                       signed_in=False)
        expect(page.locator("#balance")).to_have_count(0)  # on the statement page now
        expect(page.locator(".balance-line .figure")).to_have_text("10")  # whole points, no ".00"

        context.close()
        browser.close()
    organizer.close()
    assert not watch.errors, watch.errors
    assert not watch.foreign, watch.foreign
    assert len(snapshots(screenshots, "*.png")) >= 12
