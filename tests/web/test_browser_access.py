"""The whole way in for an imported resident, in Debian's Chromium at phone size (issue 16).

The roster is imported (residents with no PIN); the office ticks a resident on the people list
and prints the PIN slips; the resident, on their own phone, signs in with card number and the
slip's code, finds every other page leads to the PIN form, sets a PIN and lands on home. Then
the enrol form's fix: a staff member enrolled with no role pre-ticked, after a refusal that
lists every error and keeps what was typed. In Chinese, then in English. Screenshots go to
``MARKET_SCREENSHOTS`` (``access-<lang>-<n>-<page>.png``).
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
    Server,
    Watch,
    bearer,
    screenshots,
    server,
    snapshot,
    snapshots,
    wait_until,
)

A4_AT_96_DPI = {"width": 794, "height": 1123}
ROSTER = "姓名,手机号,小区,楼栋,单元,房号,网格,志愿服务队\n" + (
    "钱奶奶,13700000031,幸福里,1号楼,1单元,101,,\n"
    "钱爷爷,13700000032,幸福里,1号楼,1单元,101,,\n"
    "Alice Wong,13700000033,幸福里,2号楼,,201,,\n"
)


def phone_context(browser: Browser, base: str, lang: str, watch: Watch):
    context = browser.new_context(viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    if lang == "en":
        context.add_cookies([{"name": "market_lang", "value": "en", "url": base}])
    context.on("request", watch.request)
    return context


def watch_page(page: Page, watch: Watch) -> Page:
    page.on("console", watch.console)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    return page


def masked(name: str) -> str:
    """As the slip prints a name (market.web.admin_people._slip_name)."""
    return name[0] + "*" * min(3, len(name) - 2) + name[-1] if len(name) > 2 else name[0] + "*"


def story(browser: Browser, base: str, lang: str, shots: Path, watch: Watch, resident: str,
          household: tuple[str, ...] = ()) -> None:
    en = lang == "en"
    count = iter(range(1, 100))

    def t(zh: str, english: str) -> str:
        return english if en else zh

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=shots / f"access-{lang}-{next(count):02d}-{name}.png", full_page=True)

    # The office: the people list, the resident ticked, the slips printed.
    office_context = phone_context(browser, base, lang, watch)
    office = watch_page(office_context.new_page(), watch)
    office.goto(base + "/admin/people")
    office.locator("#login").fill(ADMIN_PHONE)
    office.locator("#secret").fill(ADMIN_PASSWORD)
    office.locator("form[action='/signin'] button[type=submit]").click()
    expect(office).to_have_url(re.compile(r"/admin/people$"))
    for name in [resident, *household]:
        office.get_by_role("checkbox", name=t(f"选择 {name}", f"Select {name}")).check()
    shot(office, "people-ticked")
    office.get_by_role("button", name=t("打印密码凭条", "Print PIN slips")).click()
    expect(office.locator(".slip-code")).to_have_count(1 + len(household))
    expect(office.locator(".slip")).to_have_count(1)  # one sealed slip per household
    shot(office, "slips")
    code_box = office.locator(".slip-line").filter(has_text=masked(resident)).locator(".slip-code")
    code, card = code_box.inner_text().replace(" ", ""), code_box.get_attribute("data-card")
    assert re.fullmatch(r"\d{8}", code) and card and re.fullmatch(r"\d{10}", card)
    assert resident not in office.locator(".slips").inner_text()  # the name is masked on paper
    # Printed: one A4 page per household.
    pdf = office.pdf(path=shots / f"access-{lang}-slips.pdf", format="A4", print_background=True,
                     prefer_css_page_size=True)
    assert re.search(rb"/MediaBox \[0 0 59[45]\.?\d* 84[12]\.?\d*\]", pdf)
    assert len(re.findall(rb"/Type /Page[^s]", pdf)) == 1
    office.set_viewport_size(A4_AT_96_DPI)
    office.emulate_media(media="print")
    snapshot(office, shots / f"access-{lang}-slips-print.png", full_page=False)
    office.emulate_media(media="no-override")
    office.set_viewport_size(PHONE_SIZE)

    # The resident, on their own phone.
    phone_context_ = phone_context(browser, base, lang, watch)
    phone = watch_page(phone_context_.new_page(), watch)
    phone.goto(base + "/signin")
    shot(phone, "signin")
    phone.get_by_role("link", name=t("用凭条上的码登录", "Sign in with the slip's code")).click()
    expect(phone).to_have_url(re.compile(r"/signin/code$"))
    phone.get_by_label(t("会员卡号（或手机号）", "Member card number (or phone number)")).fill(card)
    phone.get_by_label(t("一次性登录码（凭条上的 8 位数字）", "One-time code (8 digits, on the slip)")).fill(
        f"{code[:4]} {code[4:]}")
    shot(phone, "signin-code")
    phone.get_by_role("button", name=t("继续", "Continue")).click()
    expect(phone).to_have_url(re.compile(r"/welcome/pin$"))
    expect(phone.get_by_role("heading", level=1)).to_have_text(t("设置数字密码", "Choose your PIN"))
    # It cannot be skipped: any other page comes back here.
    phone.goto(base + "/statement")
    expect(phone).to_have_url(re.compile(r"/welcome/pin$"))
    phone.get_by_label(t("新的 6 位数字密码", "New 6-digit PIN")).fill("730418")
    phone.get_by_label(t("再输入一次", "The same PIN again")).fill("730419")
    phone.get_by_role("button", name=t("保存数字密码", "Save my PIN")).click()
    expect(phone.get_by_role("alert")).to_contain_text(t("不一致", "differ"))
    shot(phone, "welcome-pin-refused")
    phone.get_by_label(t("新的 6 位数字密码", "New 6-digit PIN")).fill("730418")
    phone.get_by_label(t("再输入一次", "The same PIN again")).fill("730418")
    phone.get_by_role("button", name=t("保存数字密码", "Save my PIN")).click()
    expect(phone).to_have_url(re.compile(r"/$"))
    expect(phone.locator("footer")).to_contain_text(resident)
    shot(phone, "home")
    phone_context_.close()

    # The person page now says the resident has a PIN; the enrol form ticks no role.
    office.goto(base + "/admin/people")
    office.get_by_role("link", name=re.compile(resident)).click()
    expect(office.locator("#pin-state")).to_have_text(t("该居民已设置数字密码。", "This resident has a PIN."))
    wait_until(office, "document.querySelector('.member-card img')?.naturalWidth > 0")
    shot(office, "person")
    office.goto(base + "/admin/people/new")
    expect(office.locator("input[name=roles]:checked")).to_have_count(0)
    office.locator("#name").fill(t("周店员", "Mr Zhou"))
    office.locator("#phone").fill(f"1390000004{1 if en else 0}")
    office.get_by_label(t("店员", "Shop keeper"), exact=True).check()
    office.locator("#password").fill("short")
    office.locator("#pin").fill("123456")
    office.get_by_role("button", name=t("登记", "Enrol"), exact=True).click()
    expect(office.locator("#problem li")).to_have_count(2)  # the PIN and the password, at once
    expect(office.locator("#password")).to_have_value("short")
    shot(office, "person-new-refused")
    office.locator("#pin").fill("")
    office.locator("#password").fill("a long shop password")
    office.get_by_role("button", name=t("登记", "Enrol"), exact=True).click()
    expect(office.get_by_role("status")).to_contain_text(t("登记成功", "Enrolled"))
    office_context.close()


def test_an_imported_resident_gets_in_with_the_office_slip(
    server: Server, screenshots: Path  # noqa: F811
) -> None:
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    with bearer(server.url, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        imported = admin.post("/api/people/import", files={"file": ("台账.csv", ROSTER.encode(), "text/csv")})
        assert imported.status_code == 200, imported.text
    # Imported residents have no PIN: the card + a guessed PIN gets nobody in.
    assert httpx.post(server.url + "/api/session",
                      json={"login": "13700000031", "secret": "730418"}).status_code == 401
    watch = Watch(server.url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        story(browser, server.url, "zh", screenshots, watch, "钱奶奶", ("钱爷爷",))
        story(browser, server.url, "en", screenshots, watch, "Alice Wong")
        browser.close()
    # Refused forms answer 400/401 and Chromium logs each as a failed load; nothing else.
    failed_load = re.compile(r"Failed to load resource: .* status of 4(00|01|09) .*")
    assert not [e for e in watch.errors if not failed_load.fullmatch(e)], watch.errors
    assert not watch.foreign, watch.foreign
    assert len(snapshots(screenshots, "access-*.png")) >= 16
