"""Delegates (代办) in a real browser: Debian's Chromium at phone size, driven by Playwright.

The admin enrols an elder (王奶奶, 30 points), her son and a product through the API, then links the
son on the office page (a mistyped number first). The son finds "为 王奶奶 代办" on his home page,
sees her points and member code (not his own), reserves rice for her (a double tap reserves once),
cancels nothing; the elder's own statement says her son reserved it. Then the office ends the
link and the son's page for her is refused. Screenshots go to ``MARKET_SCREENSHOTS``.
"""

import re
import secrets
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.web.browser import (  # noqa: F401  (fixtures)
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    CHROMIUM,
    PHONE_SIZE,
    Server,
    Watch,
    bearer,
    screenshots,
    server,
    snapshot,
)

ELDER_PHONE, ELDER_PIN = "13700000021", "258041"
SON_PHONE, SON_PIN = "13700000022", "369152"


def _sign_in(page, base: str, login: str, secret: str) -> None:
    page.goto(base + "/signin")
    page.locator("#login").fill(login)
    page.locator("#secret").fill(secret)
    page.locator("form[action='/signin'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))


def test_a_son_acts_for_his_mother(server: Server, screenshots: Path) -> None:  # noqa: F811
    with bearer(server.url, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        people = {}
        for name, phone, pin in (("王奶奶", ELDER_PHONE, ELDER_PIN), ("王小明", SON_PHONE, SON_PIN)):
            made = admin.post("/api/people", json={"name": name, "phone": phone, "roles": ["resident"],
                                                   "pin": pin})
            assert made.status_code == 201, made.text
            people[name] = made.json()
        elder = people["王奶奶"]
        given = admin.post("/api/adjustments", headers={"Idempotency-Key": secrets.token_hex(8)},
                           json={"person_id": elder["id"], "amount": "30", "reason": "志愿服务"})
        assert given.status_code == 201, given.text
        rice = admin.post("/api/products", json={"name": "大米", "price": "12", "stock": 5})
        assert rice.status_code == 201, rice.text

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        office = browser.new_page(viewport=PHONE_SIZE, locale="zh-CN")
        _sign_in(office, server.url, ADMIN_PHONE, ADMIN_PASSWORD)
        office.goto(f"{server.url}/admin/people/{elder['id']}")
        office.locator("#delegates-link").click()
        office.get_by_label("代办人的手机号或会员卡号（须为本社区居民）").fill("13700000099")
        office.get_by_role("button", name="添加代办人").click()
        expect(office.locator(".alert")).to_contain_text("本社区没有这个手机号")
        office.get_by_label("代办人的手机号或会员卡号（须为本社区居民）").fill(SON_PHONE)
        office.get_by_role("button", name="添加代办人").click()
        expect(office.locator("#delegates")).to_contain_text("王小明")
        snapshot(office, screenshots / "delegates-1-office.png")

        son = browser.new_page(viewport=PHONE_SIZE, locale="zh-CN")
        watch = Watch(server.url)
        son.on("console", watch.console)
        _sign_in(son, server.url, SON_PHONE, SON_PIN)
        son.get_by_role("link", name="为 王奶奶 代办").click()
        expect(son.get_by_role("heading", level=1)).to_have_text("为 王奶奶 代办")
        expect(son.locator("#balance")).to_have_text("30")
        expect(son.locator("#member-code svg")).to_be_visible()
        snapshot(son, screenshots / "delegates-2-for.png")

        son.get_by_role("link", name="为家人预订商品").click()
        son.get_by_role("button", name="为家人预订 大米").dblclick()  # a double tap
        son.wait_for_url(re.compile(r"/for/\d+\?reserved=\d+$"))
        expect(son.locator("#available")).to_have_text("18")
        expect(son.locator("[id^=order-]")).to_have_count(1)
        snapshot(son, screenshots / "delegates-3-reserved.png")
        son.goto(server.url + "/")
        expect(son.locator("#balance")).to_have_text("0")  # his own points: untouched

        mother = browser.new_page(viewport=PHONE_SIZE, locale="zh-CN")
        _sign_in(mother, server.url, ELDER_PHONE, ELDER_PIN)
        mother.goto(server.url + "/statement")
        expect(mother.locator(".acted-by")).to_have_text("由 王小明 代为预订")
        snapshot(mother, screenshots / "delegates-4-statement.png")

        office.get_by_role("button", name="结束代办").click()
        expect(office.locator("#delegates")).to_contain_text("还没有人为这位居民代办")
        refused = son.goto(f"{server.url}/for/{elder['id']}")
        assert refused is not None and refused.status == 403
        son.goto(server.url + "/")
        expect(son.locator("#acting-for-list")).to_have_count(0)
        browser.close()
        assert [e for e in watch.errors if not e.startswith("Failed to load resource")] == []
