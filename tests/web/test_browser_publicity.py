"""公示 in a real browser: Debian's Chromium at phone size, driven by Playwright, zh then en.

A real ``market serve`` on a fresh database (``tests.web.browser``). The community's policy has a
3-working-day window, so a resident's check-in waits on the notice. A neighbour opens the public
notice (masked names), objects — first with no reason (refused on the page), then with one — and
the entry is frozen; the admin opens the same page, sees the objection and counts the points.
Screenshots go to ``MARKET_SCREENSHOTS`` (``publicity-<lang>-<n>-<name>.png``).
"""

import re
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.web.browser import (  # noqa: F401  (fixtures)
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    CHROMIUM,
    DENSITY,
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
)

EARNER_PHONE, EARNER_PIN = "13700000021", "258041"


def earn(base: str, organizer: httpx.Client, title: str) -> None:
    """张三明 checks in to a new activity with its code: 5 points, waiting on the notice."""
    url = activity_code_url(organizer, title)
    with bearer(base, EARNER_PHONE, EARNER_PIN) as earner:
        made = earner.post("/api/checkins", json={"token": url, "direction": "in"})
        assert made.status_code == 201, made.text
        assert made.json()["counts_on"] is not None and made.json()["balance"] == "0.00"


def signed_in(browser: Browser, base: str, locale: str, phone: str, secret: str, watch: Watch) -> Page:
    context = browser.new_context(viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True,
                                  has_touch=True, locale=locale)
    page = context.new_page()
    page.on("console", watch.console)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    context.on("request", watch.request)
    page.goto(base + "/signin")
    page.locator("#login").fill(phone)
    page.locator("#secret").fill(secret)
    page.locator("form button[type=submit]").first.click()
    expect(page).not_to_have_url(re.compile("/signin"))
    return page


def story(browser: Browser, base: str, lang: str, title: str, shots: Path, watch: Watch) -> None:
    en = lang == "en"
    count = iter(range(1, 50))

    def t(zh: str, english: str) -> str:
        return english if en else zh

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=shots / f"publicity-{lang}-{next(count):02d}-{name}.png", full_page=True)

    locale = "en-US" if en else "zh-CN"
    neighbour = signed_in(browser, base, locale, RESIDENT_PHONE, RESIDENT_PIN, watch)
    neighbour.goto(base + "/")
    neighbour.get_by_role("link", name=t("积分公示", "Points notice (公示)")).click()
    expect(neighbour.get_by_role("heading", level=1)).to_contain_text(t("积分公示", "Points notice (公示)"))
    entry = neighbour.locator(".pub-item", has_text=title)
    expect(entry.locator(".pub-name")).to_have_text("张*明")
    expect(entry.locator(".pub-amount")).to_have_text("+5.00")
    expect(neighbour.get_by_text("张三明")).to_have_count(0)
    shot(neighbour, "notice")

    entry.get_by_text(t("对这条提出异议", "Object to this entry")).click()
    entry.get_by_role("button", name=t("提交异议", "Send the objection")).click()
    expect(neighbour.locator("#problem")).to_have_text(
        t("请填写原因（1–200 个字）", "Give a reason (1–200 characters)"))
    entry = neighbour.locator(".pub-item", has_text=title)
    reason = t("他那天没来", "He was not there that day")
    entry.get_by_label(t("为什么这笔积分不应计入？", "Why should these points not count?")).fill(reason)
    entry.get_by_role("button", name=t("提交异议", "Send the objection")).click()
    expect(neighbour.locator("#done")).to_be_visible()
    expect(neighbour.locator(".pub-item.frozen", has_text=title)).to_contain_text(
        t("有异议：等待社区办公室决定", "Objected to: waiting for the office's decision"))
    shot(neighbour, "objected")
    neighbour.context.close()

    office = signed_in(browser, base, locale, ADMIN_PHONE, ADMIN_PASSWORD, watch)
    office.goto(base + "/public/notice?community=1")
    frozen = office.locator(".pub-frozen", has_text=title)
    expect(frozen).to_contain_text("张三明")
    expect(frozen).to_contain_text(reason)
    shot(office, "office")
    frozen.get_by_label(t("备注（可不填）", "Note (optional)")).fill(t("核实到场", "Checked: present"))
    frozen.get_by_role("button", name=t("计入积分", "Count the points")).click()
    expect(office.locator("#done")).to_have_text(
        t("已决定：这笔积分现在计入。", "Decided: the points count now."))
    expect(office.locator(".pub-item", has_text=title)).to_have_count(0)
    shot(office, "decided")
    office.context.close()


def test_publicity_in_chromium(server: Server, screenshots: Path) -> None:  # noqa: F811
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    organizer = set_up_people(server.url)
    with bearer(server.url, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        assert admin.put("/api/points/policy", json={"publicity_days": 3}).status_code == 200
        made = admin.post("/api/people", json={"name": "张三明", "phone": EARNER_PHONE,
                                               "roles": ["resident"], "pin": EARNER_PIN})
        assert made.status_code == 201, made.text
    earn(server.url, organizer, "社区清洁日")
    earn(server.url, organizer, "Park clean-up")
    watch = Watch(server.url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        story(browser, server.url, "zh", "社区清洁日", screenshots, watch)
        story(browser, server.url, "en", "Park clean-up", screenshots, watch)
        browser.close()
    organizer.close()
    with bearer(server.url, EARNER_PHONE, EARNER_PIN) as earner:
        assert earner.get("/api/me/balance").json()["balance"] == "10.00"
    # The one refusal per language (no reason) is logged by Chromium as a failed load; nothing else.
    failed_load = re.compile(r"Failed to load resource: .* status of 400 .*")
    assert len([e for e in watch.errors if failed_load.fullmatch(e)]) == 2, watch.errors
    assert all(failed_load.fullmatch(e) for e in watch.errors), watch.errors
    assert not watch.foreign, watch.foreign
