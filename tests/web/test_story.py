"""The whole story, only through the pages, in real Chromium: issue 6's proof.

An admin enrols an organizer, a shop keeper and a resident; the shop keeper puts goods on the
shelf; the organizer creates an activity and shows its rotating code; the resident opens the
code's URL (read off the organizer's screen as a phone camera would), signs in, checks in and
out and sees the points; reserves a product; the shop keeper scans the resident's member code
**through the camera** (Chromium's fake camera plays a video of the code; Chromium on Linux has
no BarcodeDetector, so the frames are decoded by the server), confirms the redemption, prints
the receipt and hands out the reservation. Once in Chinese, once in English with 长辈版 (senior
mode) on. Every role has its own browser context (its own cookies), as on four phones.
"""

import io
import re
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from market.web import i18n
from tests.web.browser import (
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    CHROMIUM,
    DENSITY,
    PHONE_SIZE,
    Server,
    Watch,
    code_on_a_phone,
    snapshot,
    snapshots,
    wait_until,
    write_y4m,
)

CHINA = ZoneInfo("Asia/Shanghai")
ORGANIZER = ("刘组长", "13900000011", "a-long-organizer-password")
KEEPER = ("周店长", "13600000012", "a-long-keeper-password")
RESIDENT = ("李阿姨", "13700000013", "258036")
CHECKIN_POINTS = Decimal("20")
RICE, OIL = ("大米", Decimal("5.00")), ("食用油", Decimal("8.00"))


class Phones:
    """One browser context per person (their own cookies), watched for errors and foreign requests."""

    def __init__(self, browser: Browser, server: Server, lang: str, large: bool, shots: Path) -> None:
        self.browser, self.server, self.lang, self.large, self.shots = browser, server, lang, large, shots
        self.watch = Watch(server.url)
        self.contexts: list[BrowserContext] = []
        self.taken = 0

    def phone(self, browser: Browser | None = None, **options: object) -> Page:
        context = (browser or self.browser).new_context(
            viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True, has_touch=True,
            locale="zh-CN", **options,
        )
        # The reader's choices, as the switches leave them (the switches have their own test).
        cookies = [{"name": "market_lang", "value": self.lang, "url": self.server.url}]
        if self.large:
            cookies.append({"name": "market_text", "value": "large", "url": self.server.url})
        context.add_cookies(cookies)
        context.on("request", self.watch.request)
        page = context.new_page()
        page.on("console", self.watch.console)
        page.on("pageerror", lambda error: self.watch.errors.append(str(error)))
        self.contexts.append(context)
        return page

    def shot(self, page: Page, name: str) -> None:
        self.taken += 1
        snapshot(page, self.shots / f"story-{self.lang}-{self.taken:02d}-{name}.png")

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def sign_in(page: Page, base: str, login: str, secret: str, next_path: str) -> None:
    page.goto(f"{base}/signin?next={next_path}")
    page.locator("#login").fill(login)
    page.locator("#secret").fill(secret)
    page.locator("form[action='/signin'] button[type=submit]").click()


def enrol(page: Page, base: str, person: tuple[str, str, str], role: str) -> None:
    name, phone, secret = person
    page.goto(f"{base}/admin/people/new")
    page.locator("#name").fill(name)
    page.locator("#phone").fill(phone)
    for box in page.locator("input[name=roles]").all():  # the form starts with no role ticked
        box.set_checked(box.get_attribute("value") == role)
    page.locator("#pin" if role == "resident" else "#password").fill(secret)
    page.locator("form[action='/admin/people/new'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/admin/people/\d+"))


def shelve(page: Page, base: str, name: str, price: Decimal, stock: int, colour: tuple[int, int, int],
           photo: Path) -> None:
    picture = Image.new("RGB", (480, 480), colour)
    picture.paste(Image.new("RGB", (240, 300), (250, 246, 232)), (120, 90))
    picture.save(photo, format="JPEG")
    page.goto(f"{base}/counter/products/new")
    page.locator("#name").fill(name)
    page.locator("#price").fill(str(price))
    page.locator("#stock").fill(str(stock))
    page.locator("#photo").set_input_files(photo)
    page.locator("form[action='/counter/products/new'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/counter/products/\d+"))


def beijing(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%dT%H:%M")


def read_qr(page: Page, selector: str) -> str:
    """What a phone camera pointed at the organizer's screen reads."""
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(page.locator(selector).screenshot())))
    assert found, "no QR code on the screen"
    return found[0].text


def points(page: Page, selector: str) -> Decimal:
    return Decimal(page.locator(selector).inner_text().strip().lstrip("+"))


def story(playwright: Playwright, server: Server, lang: str, large: bool, shots: Path, tmp: Path) -> Watch:
    english = lang == "en"
    base = server.url
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    phones = Phones(browser, server, lang, large, shots)

    # The admin enrols the people.
    admin = phones.phone()
    sign_in(admin, base, ADMIN_PHONE, ADMIN_PASSWORD, "/admin")
    expect(admin).to_have_url(re.compile(r"/admin$"))
    if large:
        expect(admin.locator("html")).to_have_class(re.compile(r"\belder\b"))  # 长辈版 (once "larger text")
    phones.shot(admin, "admin")
    enrol(admin, base, ORGANIZER, "organizer")
    enrol(admin, base, KEEPER, "shopkeeper")
    enrol(admin, base, RESIDENT, "resident")
    phones.shot(admin, "admin-enrolled")

    # The shop keeper puts goods on the shelf.
    keeper = phones.phone()
    sign_in(keeper, base, KEEPER[1], KEEPER[2], "/counter/products/new")
    shelve(keeper, base, *RICE, 10, (230, 220, 200), tmp / "rice.jpg")
    shelve(keeper, base, *OIL, 5, (220, 170, 40), tmp / "oil.jpg")
    phones.shot(keeper, "keeper-product")

    # The organizer creates an activity and shows its code.
    organizer = phones.phone()
    sign_in(organizer, base, ORGANIZER[1], ORGANIZER[2], "/organizer/activities/new")
    now = datetime.now(CHINA)
    organizer.locator("#title").fill("楼道清扫" if not english else "Stairwell clean-up")
    organizer.locator("input[name=category]").first.check()
    organizer.locator("#location").fill("3 号楼")
    organizer.locator("#starts_at").fill(beijing(now - timedelta(minutes=10)))
    organizer.locator("#ends_at").fill(beijing(now + timedelta(hours=2)))
    organizer.locator("#points_per_checkin").fill(str(CHECKIN_POINTS))
    organizer.locator("#points_per_hour").fill("10")
    phones.shot(organizer, "organizer-new")
    organizer.locator("form.activity-form button[type=submit]").click()
    expect(organizer).to_have_url(re.compile(r"/organizer/activities/\d+(\?created=1)?$"))
    organizer.locator("#show-code").click()
    expect(organizer).to_have_url(re.compile(r"/screen$"))
    wait_until(organizer, "document.getElementById('activity-code-image')?.naturalWidth > 0")
    phones.shot(organizer, "organizer-screen")
    checkin_url = read_qr(organizer, "#activity-code-image")
    assert checkin_url.startswith(base)

    # The resident opens the code's URL, signs in there, checks in, and out.
    resident = phones.phone()
    resident.goto(checkin_url)
    expect(resident).to_have_url(re.compile(r"/signin\?next="))
    resident.locator("#login").fill(RESIDENT[1])
    resident.locator("#secret").fill(RESIDENT[2])
    resident.locator("form[action='/signin'] button[type=submit]").click()
    resident.locator("#checkin-button").click()
    expect(resident.locator("#earned")).to_have_text(f"+{i18n.points(CHECKIN_POINTS)}")
    phones.shot(resident, "resident-checked-in")
    resident.goto(read_qr(organizer, "#activity-code-image"))  # scans again to leave
    expect(resident.locator("#checkin-button")).to_contain_text("Check out" if english else "签退")
    resident.locator("#checkin-button").click()
    expect(resident.locator("#result")).to_be_visible()
    phones.shot(resident, "resident-checked-out")
    resident.goto(f"{base}/")
    earned = points(resident, "#balance")
    assert earned >= CHECKIN_POINTS  # the check-in's points, and the hour's share if any
    phones.shot(resident, "resident-home")
    organizer.goto(organizer.url.removesuffix("/screen"))  # the activity page
    expect(organizer.locator("body")).to_contain_text(RESIDENT[0])  # in the attendance list

    # The resident reserves a bag of rice.
    resident.goto(f"{base}/shop")
    phones.shot(resident, "resident-shop")
    resident.get_by_role("link", name=re.compile(RICE[0])).first.click()
    resident.locator("#quantity").fill("1")
    resident.locator("#reserve-button").click()
    expect(resident).to_have_url(re.compile(r"/orders\?new=\d+"))
    expect(resident.locator("body")).to_contain_text(RICE[0])
    phones.shot(resident, "resident-orders")

    # The shop keeper scans the resident's member code with the camera and hands out oil.
    resident.goto(f"{base}/code")
    code = resident.locator("#code-text").inner_text()
    video = tmp / f"member-code-{lang}.y4m"
    write_y4m(video, code_on_a_phone(code))
    camera = playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ])
    counter = phones.phone(camera, permissions=["camera"])
    decoded: list[str] = []
    counter.on("request", lambda r: decoded.append(r.url) if r.url.endswith("/scan/decode") else None)
    sign_in(counter, base, KEEPER[1], KEEPER[2], "/counter")
    counter.get_by_role("button", name=("One more: " if english else "增加一件：") + OIL[0]).click()
    expect(counter.locator("#cart-total")).to_have_text(str(OIL[1]))
    phones.shot(counter, "counter-cart")
    counter.get_by_role("button", name="Scan" if english else "扫码", exact=True).click()
    expect(counter).to_have_url(re.compile(r"/counter/receipts/\d+$"), timeout=30_000)
    expect(counter.locator("#receipt-total")).to_have_text(str(OIL[1]))
    expect(counter.locator("#resident")).to_have_text(RESIDENT[0])
    phones.shot(counter, "counter-receipt")
    counter.pdf(path=shots / f"story-{lang}-receipt.pdf", width="80mm")
    assert decoded, "the camera's frames never reached the server's decoder"

    counter.goto(f"{base}/counter/orders")
    expect(counter.locator("body")).to_contain_text(RICE[0])
    phones.shot(counter, "counter-orders")
    counter.get_by_role("button", name="Hand out the goods" if english else "交付商品").first.click()
    expect(counter).to_have_url(re.compile(r"/counter/receipts/\d+$"))
    expect(counter.locator("#receipt-total")).to_have_text(str(RICE[1]))

    # The resident's balance and statement say what happened.
    resident.goto(f"{base}/")
    expect(resident.locator("#balance")).to_have_text(i18n.points(earned - OIL[1] - RICE[1]))  # no ".00"
    resident.goto(f"{base}/statement")
    expect(resident.locator(".entry").first).to_contain_text("-")
    phones.shot(resident, "resident-statement")

    phones.close()
    camera.close()
    browser.close()
    return phones.watch


@pytest.mark.parametrize(("lang", "large"), [("zh", False), ("en", True)], ids=["zh", "en-large"])
def test_the_whole_story_through_the_pages(
    server: Server, screenshots: Path, tmp_path: Path, lang: str, large: bool
) -> None:
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    with sync_playwright() as playwright:
        watch = story(playwright, server, lang, large, screenshots, tmp_path)
    assert not watch.errors, watch.errors
    assert not watch.foreign, watch.foreign
    assert len(snapshots(screenshots, f"story-{lang}-*.png")) >= 14
