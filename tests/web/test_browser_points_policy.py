"""The points rules in a real browser: Debian's Chromium at phone size (390 px), in Chinese, then
in English.

The admin sets the policy on its page — calendar-year expiry, a holiday, caps per day and month,
after one refusal that keeps what was typed — and adds an earning category from the link on it.
The resident, who then gets points by an adjustment (so they expire on 31 December), sees the
expiry notice on the home page and the how-to-earn page with the rules, the category and its
coming activity. Screenshots go to ``MARKET_SCREENSHOTS`` (``points-<lang>-<n>-<page>.png``).
"""

import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

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
    bearer,
    screenshots,
    server,
    set_up_people,
    snapshots,
)

CHINA = ZoneInfo("Asia/Shanghai")


def phone(browser: Browser, watch: Watch, lang: str) -> Page:
    context = browser.new_context(viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    page = context.new_page()
    page.on("console", watch.console)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    context.on("request", watch.request)
    return page


def sign_in(page: Page, base: str, login: str, secret: str, lang: str) -> None:
    page.goto(f"{base}/lang/{lang}?next=/signin")
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=secret]").fill(secret)
    page.locator("form[action='/signin'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/$"))


def story(browser: Browser, served: Server, watch: Watch, lang: str, shots: Path) -> None:
    en = lang == "en"
    count = iter(range(1, 100))

    def t(zh: str, english: str) -> str:
        return english if en else zh

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=shots / f"points-{lang}-{next(count):02d}-{name}.png", full_page=True)

    base = served.url
    admin = phone(browser, watch, lang)
    sign_in(admin, base, ADMIN_PHONE, ADMIN_PASSWORD, lang)
    admin.goto(base + "/admin")
    admin.get_by_role("link", name=t("积分规则", "Points policy")).click()
    expect(admin.get_by_role("heading", level=1)).to_have_text(t("积分规则", "Points policy"))
    expect(admin.locator("#from-now-on")).to_be_visible()
    expect(admin.locator("nav a[href='/admin/deductions']")).to_be_visible()  # the deductions' page

    # A day's cap above the month's: refused on the page, what was typed kept.
    calendar_year = admin.get_by_label(
        t("获得当年的 12 月 31 日后清零", "Cleared after 31 December of the year earned"))
    calendar_year.check()
    holiday = "2026-10-01" if not en else "2026-10-02"
    admin.get_by_label(t("添加节假日", "Add a holiday")).fill(holiday)
    admin.get_by_label(t("每人每天最多获得", "Most a person may earn a day")).fill("50")
    admin.get_by_label(t("每人每月最多获得", "Most a person may earn a month")).fill("20")
    admin.get_by_role("button", name=t("保存积分规则", "Save the policy")).click()
    expect(admin.locator("#problem")).to_have_text(
        t("每日上限不能大于每月上限", "The daily cap cannot be more than the monthly cap"))
    expect(admin.get_by_label(t("每人每天最多获得", "Most a person may earn a day"))).to_have_value("50")
    expect(calendar_year).to_be_checked()
    shot(admin, "policy-refused")
    admin.get_by_label(t("每人每月最多获得", "Most a person may earn a month")).fill("200")
    admin.get_by_role("button", name=t("保存积分规则", "Save the policy")).click()
    expect(admin.locator("#saved")).to_have_text(t("积分规则已保存。", "The policy is saved."))
    expect(admin.locator(f"input[name=holidays][value='{holiday}']")).to_be_checked()
    shot(admin, "policy-saved")

    # The catalogue, from the link on the policy page.
    admin.locator("nav").get_by_role("link", name=t("积分类别", "Earning categories")).click()
    name = t("环境整治", "Tidy-up")
    new = admin.locator("#new-category")
    new.get_by_label(t("类别名称", "Category name")).fill(name)
    new.get_by_label(t("每次参与积分", "Points per participation")).fill("3")
    new.get_by_label(t("说明", "Description")).fill(t("清理楼道、绿化带", "Stairwells and lawns"))
    new.get_by_role("button", name=t("添加", "Add the category")).click()
    expect(admin.get_by_role("heading", name=name)).to_be_visible()
    shot(admin, "categories")

    # Points the resident earns now expire at the year's end; an activity of the category is coming.
    with bearer(base, ADMIN_PHONE, ADMIN_PASSWORD) as office:
        (person,) = [p for p in office.get("/api/people", params={"q": RESIDENT_PHONE}).json()["items"]]
        made = office.post("/api/adjustments", json={"person_id": person["id"], "amount": "12.50",
                                                      "reason": "志愿服务"},
                           headers={"Idempotency-Key": secrets.token_hex(8)})
        assert made.status_code == 201, made.text
        start = datetime.now(UTC) + timedelta(days=1)
        activity = office.post("/api/activities", json={
            "title": t("周六大扫除", "Saturday clean-up"), "category": name, "location": "3 号楼",
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
            "points_per_checkin": "3", "points_per_hour": "0"})
        assert activity.status_code == 201, activity.text
        expiring = office.get("/api/points/expiring").json()["items"]
        assert [item["person_id"] for item in expiring] == [person["id"]]
    year_end = datetime.now(CHINA).replace(month=12, day=31)
    admin.goto(base + "/admin/points/expiring")
    expect(admin.locator("#expiring")).to_contain_text(year_end.strftime("%Y-%m-%d"))
    shot(admin, "expiring")
    admin.context.close()

    resident = phone(browser, watch, lang)
    sign_in(resident, base, RESIDENT_PHONE, RESIDENT_PIN, lang)
    total = "25" if en else "12.5"  # the second run's adjustment adds to the first's
    day = year_end.strftime("%-d December %Y") if en else f"{year_end.year}年12月31日"
    expect(resident.locator("#expiring")).to_contain_text(
        t(f"{total} 积分将于 {day} 到期", f"{total} points will expire on {day}"))
    shot(resident, "home")
    resident.get_by_role("link", name=t("怎样赚积分", "How to earn")).click()
    expect(resident.get_by_role("heading", level=1)).to_have_text(t("怎样赚积分", "How to earn"))
    expect(resident.locator("#expiry-rule")).to_have_text(
        t("积分在获得当年的 12 月 31 日后清零",
          "Points are cleared after 31 December of the year they were earned"))
    expect(resident.locator("#cap-day")).to_have_text(
        t("每天最多获得 50 积分", "At most 50 points a day"))
    expect(resident.locator("#cap-month")).to_have_text(
        t("每月最多获得 200 积分", "At most 200 points a month"))
    section = resident.locator("section.category", has=resident.get_by_role("heading", name=name))
    expect(section).to_contain_text(t("参与一次 3 积分", "3 for taking part"))
    expect(section).to_contain_text(t("周六大扫除", "Saturday clean-up"))
    width = resident.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_SIZE["width"], f"the page is {width} px wide on a 390 px phone"
    shot(resident, "how-to-earn")
    resident.context.close()


def test_points_policy_in_chromium(server: Server, screenshots: Path) -> None:  # noqa: F811
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    set_up_people(server.url).close()
    watch = Watch(server.url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for lang in ("zh", "en"):
            story(browser, server, watch, lang, screenshots)
        browser.close()
    # The one refused form of each language answers 400, which Chromium logs as a failed load.
    failed_load = re.compile(r"Failed to load resource: .* status of 400 .*")
    refused = [error for error in watch.errors if failed_load.fullmatch(error)]
    assert len(refused) == 2, watch.errors
    assert not set(watch.errors) - set(refused), watch.errors
    assert not watch.foreign, watch.foreign
    assert len(snapshots(screenshots, "points-*.png")) == 12
