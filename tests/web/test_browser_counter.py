"""The shop counter in a real browser: the camera reads the resident's member code.

A real ``market serve`` (the fixture of ``test_browser``) and Debian's Chromium at phone
size. Chromium's fake camera plays a Y4M video, written here from Pillow pictures, that
shows the resident's *current* member code; Chromium on Linux has no BarcodeDetector,
so the frames go to POST /scan/decode. The shop keeper builds a cart of two goods,
presses Scan, the redemption confirms and the receipt shows the right total and balance;
it is printed to PDF. Every shop keeper's page is photographed in Chinese, then in English
with 长辈版 (senior mode) on.
"""

import io
import re
import secrets
from decimal import Decimal
from pathlib import Path

import httpx
from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

import qr
from tests.web.browser import (  # noqa: F401  (fixtures)
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    CHROMIUM,
    DENSITY,
    PHONE_SIZE,
    Server,
    Watch,
    bearer,
    code_on_a_phone,
    screenshots,
    server,
    snapshot,
    snapshots,
    write_y4m,
)

KEEPER_PHONE, KEEPER_PASSWORD = "13600000003", "a-long-keeper-password"
RESIDENT_PHONE, RESIDENT_PIN = "13500000004", "369258"


def product_photo(colour: tuple[int, int, int]) -> bytes:
    picture = Image.new("RGB", (400, 400), colour)
    picture.paste(Image.new("RGB", (200, 260), (250, 245, 230)), (100, 70))
    out = io.BytesIO()
    picture.save(out, format="JPEG")
    return out.getvalue()


def set_up_shop(base: str) -> tuple[httpx.Client, httpx.Client, list[dict]]:
    """A shop keeper, a resident with 100 points, three goods with photos, one reservation."""
    with bearer(base, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        for body in (
            {"name": "周店长", "phone": KEEPER_PHONE, "roles": ["shopkeeper"], "password": KEEPER_PASSWORD},
            {"name": "李阿姨", "phone": RESIDENT_PHONE, "roles": ["resident"], "pin": RESIDENT_PIN},
        ):
            made = admin.post("/api/people", json=body)
            assert made.status_code == 201, made.text
            if "resident" in body["roles"]:
                resident_id = made.json()["id"]
        credited = admin.post("/api/adjustments", headers={"Idempotency-Key": secrets.token_hex(8)},
                              json={"person_id": resident_id, "amount": "100", "reason": "志愿服务奖励"})
        assert credited.status_code == 201, credited.text
    keeper = bearer(base, KEEPER_PHONE, KEEPER_PASSWORD)
    resident = bearer(base, RESIDENT_PHONE, RESIDENT_PIN)
    goods = []
    for name, price, stock, colour in (("洗衣液", "12.50", 20, (30, 90, 170)),
                                       ("挂面", "4.00", 50, (200, 160, 60)),
                                       ("牙膏", "6.00", 0, (40, 150, 90))):
        made = keeper.post("/api/products", json={"name": name, "price": price, "stock": stock,
                                                  "category": "日用品"})
        assert made.status_code == 201, made.text
        photo = keeper.put(f"/api/products/{made.json()['id']}/photo",
                           files={"file": ("p.jpg", product_photo(colour), "image/jpeg")})
        assert photo.status_code == 200, photo.text
        goods.append(made.json())
    reserved = resident.post("/api/orders", json={"items": [{"product_id": goods[1]["id"], "quantity": 2}]})
    assert reserved.status_code == 201, reserved.text
    return keeper, resident, goods


def counter_story(page: Page, base: str, lang: str, shots: Path, resident: httpx.Client,
                  goods: list[dict], balance_before: str) -> str:
    """Sign in (the switches for English), build the cart, scan, check the receipt; the balance after."""
    english = lang == "en"

    def shot(name: str) -> None:
        snapshot(page, shots / f"counter-{lang}-{name}.png")

    page.goto(f"{base}/signin?next=/counter")
    page.locator("#login").fill(KEEPER_PHONE)
    page.locator("#secret").fill(KEEPER_PASSWORD)
    page.locator("form[action='/signin'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/counter$"))
    if english:
        page.get_by_role("link", name="English").click()
        page.get_by_role("switch", name="Senior mode").click()
        expect(page.locator("html")).to_have_class(re.compile(r"\belder\b"))  # 长辈版 (once "larger text")
    expect(page.get_by_role("heading", level=1)).to_have_text("Counter" if english else "收银台")
    shot("1-counter")

    more = "One more: " if english else "增加一件："
    page.get_by_role("button", name=more + "洗衣液").click()
    page.get_by_role("button", name=more + "洗衣液").click()
    page.get_by_role("button", name=more + "挂面").click()
    expect(page.locator("#cart-total")).to_have_text("29.00")
    expect(page.locator(f"#q{goods[2]['id']}")).to_be_disabled()  # sold out
    shot("2-cart")

    page.get_by_role("button", name="Scan" if english else "扫码", exact=True).click()
    expect(page).to_have_url(re.compile(r"/counter/receipts/\d+$"), timeout=30_000)
    expect(page.locator("#receipt-total")).to_have_text("29.00")
    after = str(Decimal(balance_before) - 29)
    expect(page.locator("#balance-after")).to_have_text(after)
    expect(page.locator("#resident")).to_have_text("李阿姨")
    expect(page.get_by_role("button", name="Print the receipt" if english else "打印小票")).to_be_visible()
    assert resident.get("/api/me/balance").json()["balance"] == after
    shot("3-receipt")
    page.emulate_media(media="print")
    snapshot(page, shots / f"counter-{lang}-4-receipt-print.png")
    page.pdf(path=shots / f"counter-{lang}-receipt.pdf", width="80mm", print_background=False)
    page.emulate_media(media="screen")
    return after


def tour(page: Page, base: str, lang: str, shots: Path, goods: list[dict], watch: Watch) -> None:
    """A refund, a refused sale, and every other page of the shop keeper, photographed."""
    english = lang == "en"

    def shot(name: str) -> None:
        snapshot(page, shots / f"counter-{lang}-{name}.png")

    receipt_url = page.url
    page.locator("#refund-box summary").click()
    # Quantities start at 0: all of the first good comes back, none of the second.
    first = page.locator(f"#r{goods[0]['id']}")
    first.fill(first.get_attribute("max") or "")
    expect(page.locator(f"#r{goods[1]['id']}")).to_have_value("0")
    page.locator("#reason").fill("包装破损" if not english else "Torn packet")
    page.get_by_role("button", name="Check the refund" if english else "核对退货").click()
    expect(page.locator("#refund-total")).to_have_text("25.00")
    shot("5-refund-confirm")
    page.locator("#confirm-refund").click()
    expect(page.locator("#refund-done")).to_be_visible()
    assert page.url.startswith(receipt_url)
    shot("6-refunded")

    # A code typed wrong: refused on the page, the cart kept.
    page.goto(f"{base}/counter")
    page.locator(f"#q{goods[0]['id']}").fill("1")
    page.locator("#member_code").fill("AEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    page.locator("#confirm").click()
    expect(page.locator("#refusal")).to_contain_text("The code is not valid" if english else "二维码无效")
    # The refused form comes back as a 400 page on purpose, and Chromium logs that status.
    refused = [e for e in watch.errors if "status of 400" in e]
    assert len(refused) == 1, watch.errors
    watch.errors.remove(refused[0])
    expect(page.locator(f"#q{goods[0]['id']}")).to_have_value("1")
    shot("7-refused")

    page.goto(f"{base}/counter/orders")
    expect(page.locator(".order").first).to_contain_text("李阿姨")
    shot("8-orders")
    page.goto(f"{base}/counter/products")
    expect(page.locator(".goods-line")).to_have_count(3)
    shot("9-products")
    page.goto(f"{base}/counter/products/{goods[0]['id']}")
    expect(page.locator("#movements .movement").first).to_be_visible()
    shot("10-product")
    page.goto(f"{base}/counter/products/new")
    shot("11-product-new")
    page.goto(f"{base}/counter/reconciliation")
    expect(page.locator("#ledger-check")).to_contain_text("The ledger agrees" if english else "账本核对一致")
    shot("12-reconciliation")


def photo_of_the_code(page: Page, base: str, lang: str, shots: Path, resident: httpx.Client,
                      goods: list[dict], path: Path) -> None:
    """The fallback for browsers without a camera API: a photo of the code, decoded the same way."""
    page.goto(f"{base}/counter")
    page.locator(f"#q{goods[1]['id']}").fill("1")
    qr.image(resident.get("/api/me/code").json()["code"], box_size=12).save(path)
    page.locator("input[type=file][capture]").set_input_files(path)
    expect(page).to_have_url(re.compile(r"/counter/receipts/\d+$"), timeout=20_000)
    expect(page.locator("#receipt-total")).to_have_text("4.00")
    shot = shots / f"counter-{lang}-13-receipt-from-photo.png"
    snapshot(page, shot)


def test_the_counter_scans_a_member_code_through_the_camera(
    server: Server, screenshots: Path, tmp_path: Path  # noqa: F811
) -> None:
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    keeper, resident, goods = set_up_shop(server.url)
    balance = "100.00"
    decoded: list[str] = []
    with sync_playwright() as playwright:
        for lang in ("zh", "en"):
            # The code is fetched right before the camera starts: it rotates every 30 s.
            video = tmp_path / f"member-code-{lang}.y4m"
            write_y4m(video, code_on_a_phone(resident.get("/api/me/code").json()["code"]))
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ])
            context = browser.new_context(
                viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True, has_touch=True,
                locale="zh-CN", permissions=["camera"],
            )
            watch = Watch(server.url)
            page = context.new_page()
            page.on("console", watch.console)
            page.on("pageerror", lambda error, watch=watch: watch.errors.append(str(error)))
            context.on("request", watch.request)
            context.on("request", lambda request: decoded.append(request.url)
                       if request.url.endswith("/scan/decode") else None)
            balance = counter_story(page, server.url, lang, screenshots, resident, goods, balance)
            balance = str(Decimal(balance) + 25)  # the refund in the tour
            tour(page, server.url, lang, screenshots, goods, watch)
            if lang == "en":
                photo_of_the_code(page, server.url, lang, screenshots, resident, goods,
                                  tmp_path / "photo.png")
                balance = str(Decimal(balance) - 4)
                assert resident.get("/api/me/balance").json()["balance"] == balance
            context.close()
            browser.close()
            assert not watch.errors, watch.errors
            # blob: URLs of this origin are the photo drawn in the page (URL.createObjectURL).
            foreign = [url for url in watch.foreign if not url.startswith(f"blob:{server.url}/")]
            assert not foreign, foreign
    keeper.close()
    resident.close()
    assert decoded, "the frames were read by BarcodeDetector, not by the server"
    assert len(snapshots(screenshots, "counter-*.png")) >= 24
