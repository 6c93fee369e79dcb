"""Deductions, suspensions and appeals in a real browser: Debian's Chromium at phone size.

A real ``market serve`` on a fresh database (``tests.web.browser``). The admin adds a deduction
rule (a bad one first), finds the resident and deducts by the rule — which suspends redemptions —
then by an amount larger than what is left (the page says what could not be taken). The resident
sees the suspension on the home page, the deductions in the statement, and appeals one; the admin
upholds it from the appeals queue; the resident's points come back and the suspension is gone.
In Chinese, then in English. Screenshots go to ``MARKET_SCREENSHOTS`` (``deductions-<lang>-*.png``).
"""

import re
import secrets
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

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
)


def _signed_in(context: BrowserContext, base: str, login: str, secret: str, watch: Watch) -> Page:
    page = context.new_page()
    page.on("console", watch.console)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    page.goto(base + "/signin")
    page.get_by_label("手机号或会员卡号").fill(login)
    page.get_by_label(re.compile("密码")).fill(secret)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(base + "/")
    return page


def story(admin: Page, resident: Page, base: str, lang: str, shots: Path) -> None:
    en = lang == "en"
    count = iter(range(1, 100))

    def t(zh: str, english: str) -> str:
        return english if en else zh

    def shot(page: Page, name: str, *, whole: bool = False) -> None:
        page.screenshot(path=shots / f"deductions-{lang}-{next(count):02d}-{name}.png", full_page=whole)

    rule = t("乱堆乱放", "Litter in the stairwell")
    admin.goto(base + "/admin")
    admin.get_by_role("link", name=t("扣分", "Deductions"), exact=True).click()
    expect(admin.get_by_role("heading", level=1)).to_have_text(t("扣分", "Deductions"))

    # A rule (in Chinese a bad amount first: refused on the page, the name kept).
    form = admin.locator("#rule-form")
    form.get_by_label(t("扣分项名称", "Name of the rule"), exact=True).fill(rule)
    form.get_by_label(t("暂停积分兑换", "Suspension of redemptions")).select_option("this_and_next_year")
    if not en:
        form.get_by_label("扣分分值", exact=True).fill("0")
        form.get_by_role("button", name="添加", exact=True).click()
        expect(admin.locator("#rule-problem")).to_contain_text("扣分须为 0.01")
        form = admin.locator("#rule-form")
        expect(form.get_by_label("扣分项名称", exact=True)).to_have_value(rule)
    form.get_by_label(t("扣分分值", "Points the rule takes"), exact=True).fill("2")
    form.get_by_role("button", name=t("添加", "Add the rule"), exact=True).click()
    expect(admin.locator("#rules .rule").filter(has_text=rule)).to_contain_text("−2.00")
    shot(admin, "rules")

    # The resident, found by name; the deduction by the rule suspends redemptions.
    admin.get_by_label(t("扣谁的积分？输入姓名、手机号或卡号", "Deduct from whom? Name, phone or card number")
                       ).fill("李阿姨")
    admin.get_by_role("button", name=t("查找", "Find"), exact=True).click()
    admin.get_by_role("link", name=re.compile("李阿姨")).click()
    start = 12 if en else 10  # the Chinese round left 2.00, then 10 more were given
    expect(admin.locator("#balance")).to_have_text(f"{start}.00")
    admin.get_by_label(t("扣分项", "Rule"), exact=True).select_option(label=f"{rule} −2.00")
    admin.get_by_label(re.compile(t("原因", "Reason"))).fill(t("3号楼楼道", "Block 3"))
    admin.get_by_role("button", name=t("扣除积分", "Deduct the points")).click()
    expect(admin.locator("#deducted")).to_contain_text("2.00")
    expect(admin.locator("#suspended-until")).to_be_visible()
    expect(admin.locator("#balance")).to_have_text(f"{start - 2}.00")
    # More than is left: 8.00 taken, the rest recorded as not taken; the balance stops at zero.
    admin.get_by_label(re.compile(t("扣除积分（不选", "Points to take"))).fill("50")
    admin.get_by_label(re.compile(t("原因", "Reason"))).fill(t("损坏公物", "Damaged a bench"))
    admin.get_by_role("button", name=t("扣除积分", "Deduct the points")).click()
    expect(admin.locator("#not-taken")).to_contain_text(f"{50 - start + 2}.00")
    expect(admin.locator("#balance")).to_have_text("0.00")
    shot(admin, "partial", whole=True)

    # The resident: suspended on the home page; the statement's deduction entries can be appealed.
    resident.goto(base + "/")
    expect(resident.locator("#suspension")).to_contain_text(t("暂停", "suspended"))
    expect(resident.locator("#suspension")).to_contain_text(rule)
    shot(resident, "home-suspended")
    resident.get_by_role("link", name=t("积分明细", "My points statement"), exact=True).first.click()
    entry = resident.locator("li.entry").filter(has_text=rule)
    expect(entry).to_contain_text(t("扣分", "Deduction"))
    entry.get_by_role("link", name=t("申诉", "Appeal"), exact=True).click()
    resident.get_by_role("button", name=t("提交申诉", "Send the appeal")).click()
    expect(resident.locator("#problem")).to_be_visible()  # no reason given
    resident.get_by_label(t("您认为这次扣分哪里不对？", "Why do you think this deduction is wrong?")).fill(
        t("东西是物业放的", "The things were the property manager's"))
    resident.get_by_role("button", name=t("提交申诉", "Send the appeal")).click()
    expect(resident.locator("#sent")).to_be_visible()
    expect(resident.locator("#appeal-state")).to_have_attribute("data-status", "open")
    shot(resident, "appeal-sent")

    # The office upholds it from the queue.
    admin.goto(base + "/admin/appeals")
    said = t("东西是物业放的", "The things were the property manager's")
    card = admin.locator(".appeal").filter(has_text=said)
    shot(admin, "appeals")
    card.get_by_role("button", name=t("申诉成立，退回积分", "Uphold: give the points back")).click()
    expect(admin.locator("#decided")).to_be_visible()
    expect(admin.locator("#no-appeals")).to_be_visible()

    resident.goto(base + "/statement")
    expect(resident.locator("li.entry").filter(has_text=rule)).to_contain_text(
        t("申诉成立，积分已退回", "Appeal upheld: points given back"))
    shot(resident, "statement-upheld")
    resident.goto(base + "/")
    expect(resident.locator("#suspension")).to_have_count(0)
    expect(resident.locator("#balance")).to_have_text("2")


def test_deductions_and_appeals_in_chromium(server: Server, screenshots: Path) -> None:  # noqa: F811
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    with bearer(server.url, ADMIN_PHONE, ADMIN_PASSWORD) as api:
        made = api.post("/api/people", json={"name": "李阿姨", "phone": RESIDENT_PHONE,
                                             "roles": ["resident"], "pin": RESIDENT_PIN})
        assert made.status_code == 201, made.text
        resident_id = made.json()["id"]

        def fund() -> None:
            response = api.post("/api/adjustments", headers={"Idempotency-Key": secrets.token_hex(8)},
                                json={"person_id": resident_id, "amount": "10", "reason": "志愿服务"})
            assert response.status_code == 201, response.text

        watch = Watch(server.url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            contexts = [browser.new_context(viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True,
                                            has_touch=True, locale="zh-CN") for _ in range(2)]
            for context in contexts:
                context.on("request", watch.request)
            admin = _signed_in(contexts[0], server.url, ADMIN_PHONE, ADMIN_PASSWORD, watch)
            resident = _signed_in(contexts[1], server.url, RESIDENT_PHONE, RESIDENT_PIN, watch)
            for lang in ("zh", "en"):
                if lang == "en":
                    for page in (admin, resident):
                        page.goto(server.url + "/")
                        page.get_by_role("link", name="English").click()
                fund()
                story(admin, resident, server.url, lang, screenshots)
            for context in contexts:
                context.close()
            browser.close()
    # Each refused form (a bad rule, an empty appeal ×2) is a 400 page, logged as a failed load.
    failed_load = re.compile(r"Failed to load resource: .* status of 400 .*")
    refused = [error for error in watch.errors if failed_load.fullmatch(error)]
    assert len(refused) == 3, watch.errors
    assert not set(watch.errors) - set(refused), watch.errors
    assert not watch.foreign, watch.foreign
