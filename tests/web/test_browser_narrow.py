"""The staff dashboards at 390 px (issue 16: "dashboard tables are cut off at 390 px"), and the
assisted check-in in a real browser: Debian's Chromium driven by Playwright.

The admin enrols an organizer, a shop keeper and residents with long names and addresses through
the API; goods are redeemed and reserved and an activity is attended, so every table has rows.
Then, at 390 × 844, each staff page is opened (admin home and people, the organizer's list, an
activity and its assisted check-in, the shop keeper's counter, goods, a product, reservations and
the day's reconciliation) and measured: the page must not scroll sideways, and no element — a
table's cells first of all — may stick out of the viewport unless it sits in a container that
scrolls sideways by itself (and then that container must fit, and say so with a hint). Then the
organizer checks in a resident with no card and no phone by name and room, and the product and
activity forms show every mistake at once, in Chinese and English.
Screenshots go to ``MARKET_SCREENSHOTS`` (default: a temporary directory).
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import ConsoleMessage, Page, expect, sync_playwright

from tests.web.browser import DENSITY, snapshot
from tests.web.test_browser import (  # noqa: F401  (fixtures)
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    CHROMIUM,
    PHONE_SIZE,
    Server,
    Watch,
    bearer,
    screenshots,
    server,
)

ORGANIZER = ("13900000021", "a-long-organizer-password")
SHOPKEEPER = ("13900000022", "a-long-shopkeeper-password")
RESIDENTS = {
    "欧阳娜娜娜娜娜娜": ("13700000031", "258041"),
    "李阿姨": ("13700000032", "258042"),
    "Alexandria Montgomery-Wellington": ("13700000033", "258043"),
}

#: Everything that sticks out of the 390 px viewport, is cut off by a box that hides its overflow,
#: or is squeezed to a letter or two a line, unless it sits in a box that scrolls sideways by
#: itself (then that box must carry the hint: shaded edges, a gradient background). Elements
#: hidden for screen readers only (1 px boxes) and invisible ones are not looked at.
MEASURE = """() => {
  const width = window.innerWidth;
  const found = [];
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + (typeof el.className === "string" && el.className.trim()
       ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  if (document.documentElement.scrollWidth > width) {
    found.push("the page scrolls sideways: " + document.documentElement.scrollWidth + " > " + width);
  }
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (box.width <= 1 || box.height <= 1 || style.visibility === "hidden") continue;
    if (el.closest("[hidden], template, dialog:not([open])")) continue;
    let scroller = null;
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      const overflow = getComputedStyle(up).overflowX;
      if (overflow === "auto" || overflow === "scroll") { scroller = up; break; }
      if ((overflow === "hidden" || overflow === "clip") && el.matches("td, th, td *, th *")) {
        const outer = up.getBoundingClientRect();
        if (box.right > outer.right + 1) found.push(name(el) + " is cut off by " + name(up));
      }
    }
    // Squeezed to a letter or two a line ("兑/出/数/量" down a column): as unreadable as cut off.
    for (const node of el.childNodes) {
      const text = node.nodeType === 3 ? node.textContent.trim() : "";
      if (text.length < 3) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const words = range.getBoundingClientRect();
      const size = parseFloat(style.fontSize);
      if (words.width < 2.2 * size && words.height > 3.2 * size) {
        found.push(name(el) + " is squeezed to " + Math.round(words.width) + " px: " + text.slice(0, 12));
      }
    }
    if (scroller) {
      // A table wider than the screen scrolls in its own box, which must say so: the edge that
      // hides more of it is shaded (a gradient background), so nobody takes it for the whole.
      if (el.matches("table") && !getComputedStyle(scroller).backgroundImage.includes("gradient")) {
        found.push(name(scroller) + " scrolls a table without a hint");
      }
      continue;
    }
    if (box.right > width + 1 || box.left < -1) {
      found.push(name(el) + " from " + Math.round(box.left) + " to " + Math.round(box.right));
    }
  }
  return [...new Set(found)].slice(0, 20);
}"""


@dataclass
class RefusedWatch(Watch):
    """As ``Watch``, except that a refused form is answered 400, which Chromium reports as a
    failed load of the form's own URL."""

    refused: set[str] = field(default_factory=set)

    def console(self, message: ConsoleMessage) -> None:
        if message.text.startswith("Failed to load resource") and message.location.get("url") in self.refused:
            return
        super().console(message)


def set_up(base: str) -> dict:
    """People, goods, sales, a reservation, an activity with stays: every table gets rows."""
    with bearer(base, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        for name, (phone, secret), roles in (
            ("刘组长", ORGANIZER, ["organizer"]), ("张店长", SHOPKEEPER, ["shopkeeper"]),
        ):
            made = admin.post("/api/people", json={"name": name, "phone": phone, "roles": roles,
                                                   "password": secret})
            assert made.status_code == 201, made.text
        # The community's structure: residents live at an address the organizer can search by.
        compound = admin.post("/api/compounds", json={"name": "幸福里小区"}).json()
        building = admin.post("/api/buildings", json={"compound_id": compound["id"], "name": "3号楼"})
        assert building.status_code == 201, building.text
        residents = {}
        for room, (name, (phone, pin)) in enumerate(RESIDENTS.items(), start=301):
            household = admin.post("/api/households", json={
                "building_id": building.json()["id"], "unit": "1单元", "room": str(room)})
            assert household.status_code == 201, household.text
            made = admin.post("/api/people", json={"name": name, "phone": phone, "roles": ["resident"],
                                                   "pin": pin, "household_id": household.json()["id"]})
            assert made.status_code == 201, made.text
            residents[name] = made.json()["id"]
            given = admin.post("/api/adjustments", headers={"Idempotency-Key": f"start-{phone}"},
                               json={"person_id": made.json()["id"], "amount": "500",
                                     "reason": "期初积分"})
            assert given.status_code == 201, given.text
    with bearer(base, *SHOPKEEPER) as shop:
        products = []
        for name, price in (("金龙鱼非转基因压榨一级花生油五升装", "88.50"), ("洗衣皂", "5"),
                            ("Extra-long imported organic jasmine rice 10 kg", "120")):
            made = shop.post("/api/products", json={"name": name, "price": price, "stock": 50,
                                                    "limit_per_person": 2, "limit_period": "month"})
            assert made.status_code == 201, made.text
            products.append(made.json()["id"])
        for index, (phone, pin) in enumerate(RESIDENTS.values()):
            with bearer(base, phone, pin) as resident:
                code = resident.get("/api/me/code").json()["code"]
                sold = shop.post("/api/redemptions", headers={"Idempotency-Key": f"sale-{index}"},
                                 json={"member_code": code, "items": [
                                     {"product_id": products[0], "quantity": 1},
                                     {"product_id": products[2], "quantity": 1}]})
                assert sold.status_code == 201, sold.text
                receipt = sold.json()["id"]
                order = resident.post("/api/orders", json={"items": [
                    {"product_id": products[1], "quantity": 2}]})
                assert order.status_code == 201, order.text
    with bearer(base, *ORGANIZER) as organizer:
        start = datetime.now(UTC) - timedelta(minutes=5)
        made = organizer.post("/api/activities", json={
            "title": "社区义诊志愿服务暨重阳节敬老爱老主题活动（第三期）", "category": "volunteer_service",
            "location": "幸福里社区党群服务中心二楼多功能厅", "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(), "points_per_checkin": "5",
            "points_per_hour": "10"})
        assert made.status_code == 201, made.text
        activity = made.json()["id"]
        first = next(iter(RESIDENTS.values()))
        with bearer(base, *first) as resident:
            code = resident.get("/api/me/code").json()["code"]
        scanned = organizer.post(f"/api/activities/{activity}/attendance",
                                 json={"member_code": code, "direction": "in"})
        assert scanned.status_code == 201, scanned.text
    return {"activity": activity, "products": products, "residents": residents, "receipt": receipt}


def sign_in(page: Page, base: str, phone: str, secret: str, next_path: str) -> None:
    page.goto(f"{base}/signin?next={next_path}")
    page.get_by_label("手机号或会员卡号").fill(phone)
    page.get_by_label(re.compile("密码")).fill(secret)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))


def open_as(browser, base: str, who: tuple[str, str], next_path: str, mode: str, watch: Watch):
    """A phone-sized context signed in as ``who``, in ``mode``: "zh", "en" or "senior" (长辈版)."""
    context = browser.new_context(viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    page = context.new_page()
    page.on("console", watch.console)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    context.on("request", watch.request)
    sign_in(page, base, *who, next_path)
    if mode == "en":
        page.get_by_role("link", name="English").click()
    elif mode == "senior":
        page.locator("#elder-switch").click()
        expect(page.locator("html")).to_have_class(re.compile(r"\blarge\b"))
    return context, page


def test_staff_dashboards_fit_390_px_and_assisted_check_in(
    server: Server, screenshots: Path,  # noqa: F811
) -> None:
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    made = set_up(server.url)
    activity, product = made["activity"], made["products"][0]
    staff = {
        (ADMIN_PHONE, ADMIN_PASSWORD): {
            "admin-home": "/admin", "admin-people": "/admin/people", "dashboards": "/dashboards",
        },
        ORGANIZER: {
            "organizer": "/organizer", "organizer-activity": f"/organizer/activities/{activity}",
            "organizer-assist": f"/organizer/activities/{activity}/assist?name=%E6%9D%8E",
        },
        SHOPKEEPER: {
            "counter": "/counter", "counter-receipt": f"/counter/receipts/{made['receipt']}",
            "counter-products": "/counter/products", "counter-product": f"/counter/products/{product}",
            "counter-orders": "/counter/orders", "counter-reconciliation": "/counter/reconciliation",
        },
    }
    watch = Watch(server.url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        overflowing = {}
        for mode in ("zh", "en", "senior"):
            for who, pages in staff.items():
                context, page = open_as(browser, server.url, who, next(iter(pages.values())), mode, watch)
                for name, path in pages.items():
                    response = page.goto(server.url + path)
                    if response is None or response.status != 200:
                        overflowing[(mode, path)] = [f"answered {response and response.status}"]
                        continue
                    snapshot(page, screenshots / f"narrow-{mode}-{name}.png")
                    if found := page.evaluate(MEASURE):
                        overflowing[(mode, path)] = found
                context.close()
        assert not overflowing, "\n".join(f"{key}: {found}" for key, found in overflowing.items())

        # The organizer checks in a resident who has no card and no phone, by name and room.
        for lang in ("zh", "en"):
            english = lang == "en"

            def say(zh: str, en: str, english: bool = english) -> str:
                return en if english else zh

            context, page = open_as(browser, server.url, ORGANIZER, "/organizer", lang, watch)
            page.goto(f"{server.url}/organizer/activities/{activity}")
            who = "李阿姨" if not english else "Alexandria Montgomery-Wellington"
            if english:
                page.locator("#assist-name").fill("Alexandria")
            else:  # by building and room only: the name may be misheard
                page.locator("#assist-building").select_option(label="幸福里小区 3号楼")
                page.locator("#assist-room").fill("302")
            page.get_by_role("button", name=say("查找居民", "Find the resident")).click()
            expect(page.locator("#matches")).to_contain_text(who)
            phone = RESIDENTS[who][0]
            expect(page.locator("#matches")).to_contain_text(phone[:3] + "****" + phone[-4:])
            expect(page.locator("#matches .match")).to_have_count(1)
            expect(page.locator("#matches")).to_contain_text("幸福里小区 3号楼 1单元")
            assert phone not in page.content()
            assert not page.evaluate(MEASURE)
            snapshot(page, screenshots / f"assist-{lang}-1-found.png")
            page.get_by_role("link", name=say("签到…", "Check in…")).first.click()
            expect(page.locator("#chosen-name")).to_have_text(who)
            snapshot(page, screenshots / f"assist-{lang}-2-confirm.png")
            page.get_by_role("button", name=say("确认签到", "Confirm the check-in")).click()
            expect(page.locator("#notice")).to_contain_text(who)
            expect(page.locator("#assisted-note")).to_be_visible()
            expect(page.locator(f'.stay[data-person="{made["residents"][who]}"] [data-slot=assisted]')
                   ).to_be_visible()
            expect(page.locator("#assisted-by")).to_contain_text("刘组长")
            assert not page.evaluate(MEASURE)
            snapshot(page, screenshots / f"assist-{lang}-3-done.png")
            context.close()

        # The forms report every mistake at once, each under its field, and keep what was typed.
        forms = RefusedWatch(server.url)
        for lang in ("zh", "en"):
            context, page = open_as(browser, server.url, SHOPKEEPER, "/counter", lang, forms)
            page.goto(server.url + "/counter/products/new")
            forms.refused.add(page.url)
            page.locator("#name").fill("花生油")
            page.locator("#price").fill("-3")
            page.locator("#stock").fill("-10")
            page.locator("form[action=\"/counter/products/new\"] button[type=submit]").click()
            expect(page.locator("#price-error")).to_be_visible()
            expect(page.locator("#stock-error")).to_be_visible()
            expect(page.locator("#price")).to_have_value("-3")
            assert not page.evaluate(MEASURE)
            snapshot(page, screenshots / f"forms-{lang}-product-refused.png")
            context.close()
            context, page = open_as(browser, server.url, ORGANIZER, "/organizer", lang, forms)
            page.goto(server.url + "/organizer/activities/new")
            forms.refused.add(page.url)
            page.locator("#title").fill("义诊")
            page.locator("input[name=category]").first.check()
            page.locator("#points_per_checkin").fill("-3")
            page.locator("#points_per_hour").fill("99999999999")
            page.locator("#capacity").fill("0")
            page.locator(".activity-form button[type=submit]").click()
            for field in ("points_per_checkin", "points_per_hour", "capacity"):
                expect(page.locator(f"#{field}-error")).to_be_visible()
            expect(page.locator("#points_per_hour")).to_have_value("99999999999")
            assert not page.evaluate(MEASURE)
            snapshot(page, screenshots / f"forms-{lang}-activity-refused.png")
            context.close()
        browser.close()
    assert not forms.errors, forms.errors
    assert not watch.errors, watch.errors
    assert not watch.foreign, watch.foreign
    with httpx.Client(base_url=server.url) as client, bearer(server.url, *ORGANIZER) as organizer:
        assert client.get("/health").status_code == 200
        listed = organizer.get(f"/api/activities/{activity}/attendance").json()
        assert listed["assisted"][0]["count"] == 2
