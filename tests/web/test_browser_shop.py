"""The resident's shop in a real browser: Debian's Chromium at phone size, driven by Playwright.

The admin and the shop keeper set things up through the API (people, points, goods with a real
photo, activities); the resident only uses the pages: browses the shop, reserves, sees the order,
cancels it, and opens the activities near them. In Chinese, then in English with 长辈版 (senior
mode). Screenshots of every page go to ``MARKET_SCREENSHOTS`` (default: a temporary directory).
"""

import io
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect, sync_playwright

from tests.web.browser import DENSITY, snapshot, snapshots, wait_until
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

RESIDENT_PHONE, RESIDENT_PIN = "13700000003", "258037"
KEEPER_PHONE, KEEPER_PASSWORD = "13600000004", "a-long-shopkeeper-password"


def oil_photo() -> bytes:
    """A small photo of a bottle of cooking oil on a shelf, as a phone would take it (4:3)."""
    picture = Image.new("RGB", (640, 480), (236, 230, 218))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 400, 640, 480), fill=(150, 110, 70))  # the shelf
    draw.rounded_rectangle((250, 120, 390, 410), radius=36, fill=(232, 180, 40))  # the bottle
    draw.rectangle((295, 70, 345, 125), fill=(232, 180, 40))
    draw.rectangle((288, 50, 352, 78), fill=(180, 30, 30))  # the cap
    draw.rectangle((262, 220, 378, 320), fill=(190, 30, 30))  # the label
    draw.ellipse((300, 245, 340, 295), fill=(250, 240, 200))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def set_up_shop(base: str) -> int:
    """People, points, goods and activities, all through the API as the staff would; returns
    the id of the activity going on now."""
    with bearer(base, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        enrolled = {}
        for body in (
            {"name": "李阿姨", "phone": RESIDENT_PHONE, "roles": ["resident"], "pin": RESIDENT_PIN},
            {"name": "钱店长", "phone": KEEPER_PHONE, "roles": ["shopkeeper"], "password": KEEPER_PASSWORD},
        ):
            response = admin.post("/api/people", json=body)
            assert response.status_code == 201, response.text
            enrolled[body["phone"]] = response.json()["id"]
        resident_id = enrolled[RESIDENT_PHONE]
        given = admin.post("/api/adjustments", json={"person_id": resident_id, "amount": "60",
                                                     "reason": "重阳节志愿服务"},
                           headers={"Idempotency-Key": secrets.token_hex(8)})
        assert given.status_code == 201, given.text
        start = datetime.now(UTC) - timedelta(minutes=20)
        activities = []
        for title, category, begins in (("社区义诊志愿服务", "volunteer_service", start),
                                        ("楼栋议事会", "self_governance", start + timedelta(days=1))):
            made = admin.post("/api/activities", json={
                "title": title, "category": category, "location": "社区服务站",
                "starts_at": begins.isoformat(), "ends_at": (begins + timedelta(hours=2)).isoformat(),
                "points_per_checkin": "5", "points_per_hour": "10", "max_hours": "2",
            })
            assert made.status_code == 201, made.text
            activities.append(made.json()["id"])
    with bearer(base, KEEPER_PHONE, KEEPER_PASSWORD) as keeper:
        for body in (
            {"name": "金龙鱼花生油 1L", "price": "25", "stock": 6, "category": "粮油",
             "limit_per_person": 2, "limit_period": "month"},
            {"name": "东北大米 5kg", "price": "30", "stock": 0, "category": "粮油"},
            {"name": "洗洁精", "price": "8.50", "stock": 12, "category": "日用品"},
        ):
            made = keeper.post("/api/products", json=body)
            assert made.status_code == 201, made.text
            if body["name"].startswith("金龙鱼"):
                uploaded = keeper.put(f"/api/products/{made.json()['id']}/photo",
                                      files={"file": ("oil.jpg", oil_photo(), "image/jpeg")})
                assert uploaded.status_code == 200, uploaded.text
    return activities[0]


def checkin_url(base: str, activity_id: int) -> str:
    """The activity's current rotating check-in URL, as the organizer's screen shows it."""
    with bearer(base, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        code = admin.get(f"/api/activities/{activity_id}/code")
        assert code.status_code == 200, code.text
        return code.json()["url"]


def shop_story(page: Page, base: str, lang: str, shots: Path, check_in: str | None) -> None:
    """Sign in, browse, reserve two bottles of oil, see the order, cancel it; check in at the
    activity's code if ``check_in`` is its URL; then the activities near me."""
    english = lang == "en"

    def shot(name: str) -> None:
        snapshot(page, shots / f"shop-{lang}-{name}.png")

    def text(zh: str, en: str) -> str:
        return en if english else zh

    page.goto(base + "/shop")
    expect(page).to_have_url(re.compile(r"/signin\?next=/shop$"))
    page.get_by_label(text("手机号或会员卡号", "Phone number or member card number")).fill(RESIDENT_PHONE)
    page.get_by_label(text("6 位数字密码（或登录密码）", "PIN (6 digits) or password")).fill(RESIDENT_PIN)
    page.get_by_role("button", name=text("登录", "Sign in")).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(text("积分超市", "The shop"))
    points = "60" if check_in else "65"  # the English round comes after the check-in
    expect(page.locator("#available")).to_have_text(points)
    thumb = page.locator(".product img.thumb")
    expect(thumb).to_have_count(1)
    wait_until(page, "document.querySelector('.product img.thumb')?.naturalWidth > 0")
    expect(page.locator(".product").filter(has_text="东北大米")).to_contain_text(text("已售完", "Sold out"))
    shot("1-catalogue")

    page.get_by_role("link", name="日用品").click()
    expect(page.locator(".product")).to_have_count(1)
    page.get_by_role("link", name=text("全部商品", "All goods")).click()
    expect(page.locator(".product")).to_have_count(3)

    page.locator(".product").filter(has_text="金龙鱼").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("金龙鱼花生油 1L")
    wait_until(page, "document.querySelector('img.photo')?.naturalWidth > 0")
    quantity = page.get_by_label(text("要几件？", "How many?"))
    quantity.fill("3")  # more than the limit: refused, with the 3 still typed in
    page.get_by_role("button", name=text("预约", "Reserve")).click()
    expect(page.locator("#refusal")).to_contain_text(text("每人限兑 2 件", "limited to 2 per person"))
    expect(quantity).to_have_value("3")
    shot("2-refused")
    page.get_by_role("button", name=text("减少一件", "One fewer")).click()
    expect(quantity).to_have_value("2")
    expect(page.locator("#total")).to_have_text(text("50 积分", "50 points"))
    shot("3-product")
    page.get_by_role("button", name=text("预约", "Reserve")).click()

    expect(page).to_have_url(re.compile(r"/orders\?new=\d+#order-\d+$"))
    expect(page.locator("#reserved")).to_be_visible()
    order = page.locator(".order.new")
    expect(order).to_contain_text("金龙鱼花生油 1L × 2")
    expect(order.locator(".held")).to_have_text("50")
    expect(page.locator("#held")).to_have_text("50")
    shot("4-orders")

    order.get_by_role("link", name=text("取消这个预约", "Cancel this reservation")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        text("要取消这个预约吗？", "Cancel this reservation?"))
    shot("5-cancel")
    page.get_by_role("button", name=text("确定取消", "Yes, cancel it")).click()
    expect(page.locator("#cancelled")).to_be_visible()
    expect(page.locator("#held")).to_have_text("0")
    expect(page.locator("#available")).to_have_text(points)
    expect(page.locator('.past [data-status="cancelled"]').first).to_contain_text("金龙鱼花生油 1L × 2")
    shot("6-cancelled")

    if check_in:
        page.goto(check_in)
        page.get_by_role("button", name=text("签到", "Check in")).click()
        expect(page.locator("#earned")).to_have_text("+5")
    page.goto(base + "/")
    page.get_by_role("link", name=text("附近的活动", "Activities near me")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(text("附近的活动", "Activities near me"))
    expect(page.locator(".activity")).to_have_count(2)
    expect(page.locator(".activity").first).to_contain_text("社区义诊志愿服务")
    expect(page.locator(".activity").first).to_contain_text(text("志愿服务", "Volunteer service"))
    expect(page.locator(".activity").first).to_contain_text(text("您已签到", "You have checked in"))
    expect(page.locator("#my-activities .entry .amount").first).to_have_text("+5")
    shot("7-activities")


def test_resident_shop_in_chromium(server: Server, screenshots: Path) -> None:  # noqa: F811
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    activity_id = set_up_shop(server.url)
    watch = Watch(server.url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(
            viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True, has_touch=True, locale="zh-CN",
        )
        page = context.new_page()
        page.on("console", watch.console)
        page.on("pageerror", lambda error: watch.errors.append(str(error)))
        context.on("request", watch.request)

        shop_story(page, server.url, "zh", screenshots, checkin_url(server.url, activity_id))

        page.get_by_role("link", name="English").click()
        page.get_by_role("switch", name="Senior mode").click()
        expect(page.locator("html")).to_have_class(re.compile(r"\belder\b"))  # 长辈版 (once "larger text")
        assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 22
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/signin$"))
        shop_story(page, server.url, "en", screenshots, None)

        context.close()
        browser.close()
    # Chromium logs a refused form's answer (409, on purpose) as a failed load; nothing else may show.
    refused = "Failed to load resource: the server responded with a status of 409 (Conflict)"
    assert watch.errors.count(refused) == 2, watch.errors
    assert not [error for error in watch.errors if error != refused], watch.errors
    assert not watch.foreign, watch.foreign
    assert len(snapshots(screenshots, "shop-*.png")) == 14
    assert httpx.get(server.url + "/health").status_code == 200
