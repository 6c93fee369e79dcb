"""The shop keeper's pages over HTTP: the counter, receipts and refunds, goods and stock,
reservations to hand out, the day's accounts. Each test founds its own community.
"""

import asyncio
import io
import re

import httpx
import pytest
from litestar import Litestar
from PIL import Image

from market.auth.sessions import Principal
from market.cards.service import card_code
from market.shop import counter, orders, reconciliation
from tests.market.support import Member, adjust, balance
from tests.web.support import browser, csrf_of, sign_in
from tests.web.test_scanner import sign_in_staff

pytestmark = pytest.mark.asyncio

FORGED = "AEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
KEY_FIELD = re.compile(r'name="key" value="([^"]+)"')


def as_principal(member: Member, community) -> Principal:
    """The member as the services see them, for the reads the pages use."""
    return Principal(id=member.id, community_id=community.id, name=member.name,
                     roles=frozenset(member.roles), session_id=0, csrf_token="", via="bearer")


async def product(shopkeeper: Member, name: str, price: str, stock: int, **extra: object) -> dict:
    response = await shopkeeper.client.post(
        "/api/products", json={"name": name, "price": price, "stock": stock} | extra
    )
    assert response.status_code == 201, response.text
    return response.json()


async def member_code(resident: Member) -> str:
    response = await resident.client.get("/api/me/code")
    assert response.status_code == 200, response.text
    return response.json()["code"]


async def stock_of(shopkeeper: Member, product_id: int) -> int:
    response = await shopkeeper.client.get(f"/api/products/{product_id}")
    return response.json()["stock"]


async def counter_form(client: httpx.AsyncClient) -> tuple[str, str]:
    """The counter page's CSRF token and the Idempotency-Key it was rendered with."""
    page = await client.get("/counter")
    assert page.status_code == 200, page.text
    return csrf_of(page.text), KEY_FIELD.search(page.text).group(1)


@pytest.fixture
async def shop(shopkeeper: Member, admin: Member, resident: Member) -> dict:
    """Two goods on the shelf and a resident with 30 points."""
    soap = await product(shopkeeper, "香皂", "5.00", 10)
    oil = await product(shopkeeper, "食用油", "12.50", 3)
    assert (await adjust(admin, resident.id, "30.00")).status_code == 201
    return {"soap": soap, "oil": oil}


async def test_the_counter_shows_the_goods_and_a_scanner(app: Litestar, shopkeeper: Member, shop) -> None:
    async with browser(app) as client:
        await sign_in_staff(client, shopkeeper)
        page = await client.get("/counter")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert "香皂" in html and "食用油" in html and "12.50" in html
    assert f'name="q{shop["soap"]["id"]}"' in html and 'type="number"' in html
    assert 'data-scanner data-target="member_code"' in html
    assert "scanner.js" in html and "shopkeeper.js" in html and "shopkeeper.css" in html
    assert KEY_FIELD.search(html)
    assert 'id="pin-field" hidden' in html
    assert "收银台" in html  # Chinese by default


async def test_strangers_sign_in_first_and_residents_get_the_403_page(
    app: Litestar, resident: Member
) -> None:
    paths = ["/counter", "/counter/receipts/1", "/counter/products", "/counter/products/new",
             "/counter/products/1", "/counter/orders", "/counter/reconciliation"]
    async with browser(app) as client:
        for path in paths:
            response = await client.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/signin?next=")
        await sign_in(client, resident)
        for path in paths:
            response = await client.get(path)
            assert response.status_code == 403, path
            assert "您没有权限进行此操作" in response.text
        csrf = csrf_of((await client.get("/")).text)
        refused = await client.post("/counter", data={"csrf": csrf, "member_code": "X", "key": "k" * 20})
        assert refused.status_code == 403


async def test_a_sale_at_the_counter_changes_stock_and_points_and_shows_the_receipt(
    app: Litestar, shopkeeper: Member, resident: Member, shop
) -> None:
    soap, oil = shop["soap"], shop["oil"]
    async with browser(app) as client:
        await sign_in_staff(client, shopkeeper)
        csrf, key = await counter_form(client)
        form = {"csrf": csrf, "key": key, f"q{soap['id']}": "2", f"q{oil['id']}": "1",
                "member_code": await member_code(resident), "pin": ""}
        done = await client.post("/counter", data=form)
        assert done.status_code == 303, done.text
        receipt_path = done.headers["location"]
        assert re.fullmatch(r"/counter/receipts/\d+", receipt_path)
        receipt = await client.get(receipt_path)
        # The same form again (a double tap, a reload): the same receipt, nothing more.
        again = await client.post("/counter", data=form)
        assert again.status_code == 303 and again.headers["location"] == receipt_path
    assert receipt.status_code == 200
    html = receipt.text
    assert 'id="receipt-total">22.50<' in html
    assert 'id="balance-after">7.50<' in html
    assert "李阿姨" in html and "香皂" in html and "食用油" in html
    assert re.search(r'id="receipt-no">\d{8}-\d{6}<', html)
    assert 'data-print hidden' in html
    assert await balance(resident) == "7.50"
    assert await stock_of(shopkeeper, soap["id"]) == 8
    assert await stock_of(shopkeeper, oil["id"]) == 2


async def test_a_refused_redemption_keeps_the_cart_and_says_why(
    app: Litestar, shopkeeper: Member, resident: Member, shop
) -> None:
    soap, oil = shop["soap"], shop["oil"]
    code = await member_code(resident)
    for language, words in (("zh", "积分不足"), ("en", "Not enough points")):
        async with browser(app, language) as client:
            await sign_in_staff(client, shopkeeper)
            csrf, key = await counter_form(client)
            refused = await client.post("/counter", data={
                "csrf": csrf, "key": key, f"q{oil['id']}": "3", f"q{soap['id']}": "1",
                "member_code": code,
            })
        assert refused.status_code == 409
        html = refused.text
        assert 'data-reason="insufficient_points"' in html and words in html
        assert "30.00" in html  # what the resident has to spend
        assert f'name="q{oil["id"]}" type="number"' in html
        assert re.search(rf'name="q{oil["id"]}"[^>]*value="3"', html)
        assert re.search(rf'name="q{soap["id"]}"[^>]*value="1"', html)
        assert f'value="{key}"' in html  # the same sale: nothing was redeemed
        assert 'id="cart-total" for="cart">42.50<' in html
    assert await balance(resident) == "30.00"
    assert await stock_of(shopkeeper, oil["id"]) == 3


async def test_out_of_stock_limit_and_bad_quantities_are_marked_on_their_line(
    app: Litestar, shopkeeper: Member, resident: Member, shop
) -> None:
    soap, oil = shop["soap"], shop["oil"]
    towel = await product(shopkeeper, "毛巾", "1.00", 9, limit_per_person=1, limit_period="month")
    async with browser(app, "en") as client:
        await sign_in_staff(client, shopkeeper)
        csrf, key = await counter_form(client)
        code = await member_code(resident)
        taken = await shopkeeper.client.post(f"/api/products/{oil['id']}/stock",
                                             json={"delta": -2, "reason": "broken"})
        assert taken.status_code == 200, taken.text
        short = await client.post("/counter", data={
            "csrf": csrf, "key": key, f"q{oil['id']}": "2", "member_code": code,
        })
        assert short.status_code == 409
        assert f'id="q{oil["id"]}-error">Not enough stock: only 1 left' in short.text
        limit = await client.post("/counter", data={
            "csrf": csrf, "key": key, f"q{towel['id']}": "2", "member_code": code,
        })
        assert limit.status_code == 409
        assert f'id="q{towel["id"]}-error">“毛巾” is limited to 1' in limit.text
        bad = await client.post("/counter", data={
            "csrf": csrf, "key": key, f"q{soap['id']}": "-1", "member_code": "",
        })
        assert bad.status_code == 400
        assert f'id="q{soap["id"]}-error">Each quantity must be 1–99' in bad.text
        assert "Scan or type the resident" in bad.text
        empty = await client.post("/counter", data={"csrf": csrf, "key": key, "member_code": code})
        assert empty.status_code == 400 and "Choose at least one product" in empty.text
    assert await balance(resident) == "30.00"


async def test_an_expired_or_forged_code_is_cleared_and_the_cart_kept(
    app: Litestar, shopkeeper: Member, resident: Member, shop
) -> None:
    soap = shop["soap"]
    async with browser(app) as client:
        await sign_in_staff(client, shopkeeper)
        csrf, key = await counter_form(client)
        refused = await client.post("/counter", data={
            "csrf": csrf, "key": key, f"q{soap['id']}": "2", "member_code": FORGED,
        })
    assert refused.status_code == 400
    assert 'data-reason="invalid"' in refused.text and "二维码无效" in refused.text
    assert 'name="member_code" value=""' in refused.text
    assert re.search(rf'name="q{soap["id"]}"[^>]*value="2"', refused.text)


async def test_a_printed_card_asks_for_the_pin(
    app: Litestar, shopkeeper: Member, resident: Member, shop
) -> None:
    soap = shop["soap"]
    code = card_code(app.state.settings, resident.id, 1)  # a new card's version
    async with browser(app, "en") as client:
        await sign_in_staff(client, shopkeeper)
        csrf, key = await counter_form(client)
        form = {"csrf": csrf, "key": key, f"q{soap['id']}": "1", "member_code": code}
        asked = await client.post("/counter", data=form)
        assert asked.status_code == 400, asked.text
        assert 'data-reason="card_pin_required"' in asked.text
        assert 'id="pin-field" hidden' not in asked.text and 'id="pin-field"' in asked.text
        assert f'value="{code}"' in asked.text  # a card's code is kept: it does not expire
        wrong = await client.post("/counter", data=form | {"pin": "000001"})
        assert 'id="pin-error">The PIN is wrong' in wrong.text
        done = await client.post("/counter", data=form | {"pin": resident.pin})
        assert done.status_code == 303, done.text
    assert await balance(resident) == "25.00"


async def test_the_same_key_twice_at_once_makes_one_redemption(
    app: Litestar, shopkeeper: Member, resident: Member, shop
) -> None:
    soap = shop["soap"]
    async with browser(app) as client:
        await sign_in_staff(client, shopkeeper)
        csrf, key = await counter_form(client)
        form = {"csrf": csrf, "key": key, f"q{soap['id']}": "1", "member_code": await member_code(resident)}
        first, second = await asyncio.gather(client.post("/counter", data=form),
                                             client.post("/counter", data=form))
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert await balance(resident) == "25.00"
    assert await stock_of(shopkeeper, soap["id"]) == 9


async def test_the_counter_needs_its_csrf_token(app: Litestar, shopkeeper: Member, resident: Member,
                                                shop) -> None:
    soap = shop["soap"]
    async with browser(app) as client:
        await sign_in_staff(client, shopkeeper)
        _, key = await counter_form(client)
        refused = await client.post("/counter", data={
            "csrf": "forged", "key": key, f"q{soap['id']}": "1", "member_code": await member_code(resident),
        })
    assert refused.status_code == 403
    assert re.search(rf'name="q{soap["id"]}"[^>]*value="1"', refused.text)
    assert await balance(resident) == "30.00"


async def test_admins_see_the_counter_but_only_keepers_hand_out(
    app: Litestar, admin: Member, resident: Member, shop
) -> None:
    async with browser(app) as client:
        await sign_in_staff(client, admin)
        page = await client.get("/counter")
        assert page.status_code == 200 and 'id="counter-form"' not in page.text
        refused = await client.post("/counter", data={"csrf": csrf_of(page.text), "member_code": "x"})
        assert refused.status_code == 403
        for path in ("/counter/products", "/counter/orders", "/counter/reconciliation"):
            assert (await client.get(path)).status_code == 200


async def redeem_at_counter(client: httpx.AsyncClient, resident: Member, lines: dict[int, int]) -> str:
    csrf, key = await counter_form(client)
    form = {"csrf": csrf, "key": key, "member_code": await member_code(resident)}
    form |= {f"q{product_id}": str(quantity) for product_id, quantity in lines.items()}
    done = await client.post("/counter", data=form)
    assert done.status_code == 303, done.text
    return done.headers["location"]


async def test_a_refund_is_checked_then_confirmed_once(
    app: Litestar, shopkeeper: Member, resident: Member, shop
) -> None:
    soap, oil = shop["soap"], shop["oil"]
    async with browser(app, "en") as client:
        await sign_in_staff(client, shopkeeper)
        path = await redeem_at_counter(client, resident, {soap["id"]: 2, oil["id"]: 1})
        receipt = await client.get(path)
        csrf = csrf_of(receipt.text)
        # Nothing goes back by default (issue 16: a prefilled receipt refunded the oil with the soap).
        assert re.search(rf'name="r{soap["id"]}"[^>]*value="0"', receipt.text)
        assert re.search(rf'name="r{oil["id"]}"[^>]*value="0"', receipt.text)
        no_reason = await client.post(path + "/refund", data={
            "csrf": csrf, "step": "review", f"r{soap['id']}": "1", f"r{oil['id']}": "0", "reason": "",
        })
        assert no_reason.status_code == 400 and "Give a reason" in no_reason.text
        assert re.search(rf'name="r{soap["id"]}"[^>]*value="1"', no_reason.text)
        too_many = await client.post(path + "/refund", data={
            "csrf": csrf, "step": "review", f"r{soap['id']}": "3", "reason": "破损",
        })
        assert "more than is left to refund (2)" in too_many.text
        assert "built-in method" not in too_many.text  # issue 16: the form showed dict.items
        review = await client.post(path + "/refund", data={
            "csrf": csrf, "step": "review", f"r{soap['id']}": "1", f"r{oil['id']}": "", "reason": "破损",
        })
        assert review.status_code == 200 and 'id="refund-total">5.00<' in review.text
        assert await balance(resident) == "7.50"  # nothing yet
        confirm = {"csrf": csrf, "step": "confirm", "seen": "0", f"r{soap['id']}": "1", "reason": "破损"}
        done = await client.post(path + "/refund", data=confirm)
        assert done.status_code == 303 and "?refunded=" in done.headers["location"]
        after = await client.get(done.headers["location"])
        assert 'id="refund-done"' in after.text and "破损" in after.text
        assert 'id="receipt-refunded">−5.00<' in after.text
        again = await client.post(path + "/refund", data=confirm)  # sent twice
        assert again.status_code == 409 and "has changed" in again.text
        forged = await client.post(path + "/refund", data=confirm | {"csrf": "x", "seen": "1"})
        assert forged.status_code == 403
    assert await balance(resident) == "12.50"
    assert await stock_of(shopkeeper, soap["id"]) == 9


async def test_two_taps_on_confirm_at_the_same_instant_refund_once(
    app: Litestar, shopkeeper: Member, resident: Member, shop
) -> None:
    soap = shop["soap"]
    before = await stock_of(shopkeeper, soap["id"])
    async with browser(app, "en") as client:
        await sign_in_staff(client, shopkeeper)
        path = await redeem_at_counter(client, resident, {soap["id"]: 2})
        csrf = csrf_of((await client.get(path)).text)
        confirm = {"csrf": csrf, "step": "confirm", "seen": "0", f"r{soap['id']}": "1", "reason": "破损"}
        taps = await asyncio.gather(*(client.post(path + "/refund", data=confirm) for _ in range(4)))
    assert {tap.status_code for tap in taps} <= {303, 409}, [tap.status_code for tap in taps]
    assert len({tap.headers["location"] for tap in taps if tap.status_code == 303}) == 1
    assert await stock_of(shopkeeper, soap["id"]) == before - 2 + 1  # one refund of one


async def test_refunds_of_lists_what_came_back(app: Litestar, shopkeeper: Member, resident: Member,
                                               shop, community) -> None:
    soap = shop["soap"]
    async with browser(app) as client:
        await sign_in_staff(client, shopkeeper)
        path = await redeem_at_counter(client, resident, {soap["id"]: 2})
    redemption_id = int(path.rsplit("/", 1)[1])
    refunded = await shopkeeper.client.post(f"/api/redemptions/{redemption_id}/refund", json={
        "reason": "不要了", "items": [{"product_id": soap["id"], "quantity": 1}]})
    assert refunded.status_code == 201, refunded.text
    async with browser(app) as client:
        await sign_in_staff(client, shopkeeper)
        receipt = await client.get(path)
    assert "不要了" in receipt.text and "香皂 × 1" in receipt.text
    # The read behind the list: the shop's staff see it; the resident sees their own.
    records = await counter.refunds_of(as_principal(shopkeeper, community), redemption_id)
    assert [(r.total, r.reason, [(i.name, i.quantity, i.amount) for i in r.items]) for r in records] == [
        ("5.00", "不要了", [("香皂", 1, "5.00")])
    ]
    assert len(await counter.refunds_of(as_principal(resident, community), redemption_id)) == 1


async def test_goods_are_added_with_a_photo_and_stocked_in(app: Litestar, shopkeeper: Member) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (800, 600), (200, 40, 40)).save(picture, format="PNG")
    async with browser(app, "en") as client:
        await sign_in_staff(client, shopkeeper)
        form = await client.get("/counter/products/new")
        csrf = csrf_of(form.text)
        fields = {"csrf": csrf, "name": "大米", "category": "粮油", "price": "20", "stock": "5",
                  "limit_per_person": "2", "limit_period": "week", "active": "1"}
        bad = await client.post("/counter/products/new", data=fields | {"price": "abc"},
                                files={"photo": ("rice.png", picture.getvalue(), "image/png")})
        assert bad.status_code == 400 and 'id="price-error"' in bad.text
        assert 'value="大米"' in bad.text and 'value="abc"' in bad.text
        fake = await client.post("/counter/products/new", data=fields,
                                 files={"photo": ("rice.png", b"not a picture", "image/png")})
        assert fake.status_code == 400 and 'id="photo-error"' in fake.text and 'value="大米"' in fake.text
        made = await client.post("/counter/products/new", data=fields,
                                 files={"photo": ("rice.png", picture.getvalue(), "image/png")})
        assert made.status_code == 303, made.text
        path = made.headers["location"].split("?")[0]
        page = await client.get(made.headers["location"])
        assert "The product was added." in page.text and 'id="stock-now" class="big">5<' in page.text
        assert "/photo.jpg?v=" in page.text
        twice = await client.post("/counter/products/new", data=fields)
        assert twice.status_code == 409 and "already has a product with that name" in twice.text

        donation = await client.post(path + "/stock", data={
            "csrf": csrf, "choice": "donation", "quantity": "10", "donor": "爱心超市", "reason": "",
        })
        assert donation.status_code == 303
        no_reason = await client.post(path + "/stock", data={
            "csrf": csrf, "choice": "adjust_out", "quantity": "3", "reason": "",
        })
        assert no_reason.status_code == 400 and 'id="stock-reason-error"' in no_reason.text
        assert 'value="3"' in no_reason.text
        too_many = await client.post(path + "/stock", data={
            "csrf": csrf, "choice": "adjust_out", "quantity": "99", "reason": "盘点",
        })
        assert too_many.status_code == 409 and "only 15 left" in too_many.text
        broken = await client.post(path + "/stock", data={
            "csrf": csrf, "choice": "adjust_out", "quantity": "2", "reason": "包装破损",
        })
        assert broken.status_code == 303
        page = await client.get(path)
        assert 'id="stock-now" class="big">13<' in page.text
        assert "爱心超市" in page.text and "包装破损" in page.text and "First stock" in page.text

        edited = await client.post(path, data={
            "csrf": csrf, "name": "东北大米", "category": "粮油", "price": "18.5", "limit_per_person": "",
            "limit_period": "", "active": "",
        })
        assert edited.status_code == 303
        listing = await client.get("/counter/products")
        assert "东北大米" in listing.text and "18.50" in listing.text and "Not on sale" in listing.text
        half_limit = await client.post(path, data={
            "csrf": csrf, "name": "东北大米", "price": "18.5", "limit_per_person": "2", "limit_period": "",
        })
        assert half_limit.status_code == 400 and 'id="limit-error"' in half_limit.text

        photo = await client.post(path + "/photo", data={"csrf": csrf},
                                  files={"photo": ("x.png", picture.getvalue(), "image/png")})
        assert photo.status_code == 303
        none = await client.post(path + "/photo", data={"csrf": csrf})
        assert none.status_code == 400 and "Choose a photo" in none.text
        forged = await client.post(path + "/stock", data={"csrf": "x", "choice": "donation", "quantity": "1"})
        assert forged.status_code == 403
    assert "photo_url" in (await shopkeeper.client.get("/api/products/" + path.rsplit("/", 1)[1])).json()


async def test_reservations_are_handed_out_or_cancelled(
    app: Litestar, shopkeeper: Member, resident: Member, shop
) -> None:
    soap = shop["soap"]
    reserve = await resident.client.post("/api/orders", json={"items": [{"product_id": soap["id"],
                                                                         "quantity": 2}]})
    assert reserve.status_code == 201, reserve.text
    second = await resident.client.post("/api/orders", json={"items": [{"product_id": soap["id"],
                                                                        "quantity": 1}]})
    order_id, other_id = reserve.json()["id"], second.json()["id"]
    async with browser(app, "en") as client:
        await sign_in_staff(client, shopkeeper)
        page = await client.get("/counter/orders")
        assert page.status_code == 200
        assert f'id="order-{order_id}"' in page.text and "李阿姨" in page.text
        assert re.search(r"1\d\d\*\*\*\*\d{4}", page.text)  # the phone, masked
        assert resident.phone not in page.text
        csrf = csrf_of(page.text)
        handed = await client.post(f"/counter/orders/{order_id}/fulfil", data={"csrf": csrf})
        assert handed.status_code == 303 and handed.headers["location"].startswith("/counter/receipts/")
        receipt = await client.get(handed.headers["location"])
        assert 'id="receipt-total">10.00<' in receipt.text
        again = await client.post(f"/counter/orders/{order_id}/fulfil", data={"csrf": csrf})
        assert again.status_code == 409 and "already settled" in again.text
        cancelled = await client.post(f"/counter/orders/{other_id}/cancel", data={"csrf": csrf})
        assert cancelled.status_code == 303
        after = await client.get(cancelled.headers["location"])
        assert "was cancelled" in after.text and 'id="no-orders"' in after.text
        forged = await client.post(f"/counter/orders/{other_id}/cancel", data={"csrf": "x"})
        assert forged.status_code == 403
    assert await balance(resident) == "20.00"


async def test_order_holders_are_for_shop_staff_with_masked_phones(
    shopkeeper: Member, resident: Member, community
) -> None:
    found = await orders.holders(as_principal(shopkeeper, community), [resident.id, resident.id])
    assert list(found) == [resident.id]
    assert found[resident.id].name == "李阿姨"
    assert found[resident.id].phone == resident.phone[:3] + "****" + resident.phone[-4:]
    assert await orders.holders(as_principal(resident, community), [resident.id]) == {}
    assert await orders.holders(as_principal(shopkeeper, community), [999_999_999]) == {}


async def test_the_days_accounts_agree_with_the_ledger(
    app: Litestar, shopkeeper: Member, admin: Member, resident: Member, shop, enrol, community
) -> None:
    soap, oil = shop["soap"], shop["oil"]
    other = await enrol("shopkeeper", name="赵师傅")
    async with browser(app, "en") as client:
        await sign_in_staff(client, shopkeeper)
        await redeem_at_counter(client, resident, {soap["id"]: 1, oil["id"]: 1})
        page = await client.get("/counter/reconciliation")
        assert page.status_code == 200
        assert 'id="redemptions">1 · 17.50 points<' in page.text
        assert "The ledger agrees: 17.50 points redeemed" in page.text
        assert 'id="keeper"' not in page.text  # a keeper sees their own counter only
        bad = await client.get("/counter/reconciliation", params={"date": "2026-13-45"})
        assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
        other_day = await client.get("/counter/reconciliation", params={"date": "2020-01-01"})
        assert "Nothing was handed out this day." in other_day.text
    async with browser(app) as client:
        await sign_in_staff(client, admin)
        everyone = await client.get("/counter/reconciliation")
        assert 'id="keeper"' in everyone.text and "赵师傅" in everyone.text
        assert "账本核对一致" in everyone.text
        theirs = await client.get("/counter/reconciliation", params={"keeper": str(other.id)})
        assert 'id="redemptions">0 · 0.00 积分<' in theirs.text
    admin_view = await reconciliation.keepers(as_principal(admin, community))
    assert {shopkeeper.id, other.id, admin.id} <= {k.id for k in admin_view}
    assert resident.id not in {k.id for k in admin_view}
    own = await reconciliation.keepers(as_principal(shopkeeper, community))
    assert [k.id for k in own] == [shopkeeper.id]


async def test_every_page_renders_in_english(app: Litestar, shopkeeper: Member, resident: Member,
                                             shop) -> None:
    async with browser(app, "en") as client:
        await sign_in_staff(client, shopkeeper)
        receipt = await redeem_at_counter(client, resident, {shop["soap"]["id"]: 1})
        for path, words in (("/counter", "Put the goods in the cart"), (receipt, "Receipt number"),
                            ("/counter/products", "Goods and stock"),
                            ("/counter/products/new", "Add a product"),
                            (f"/counter/products/{shop['soap']['id']}", "Stock record"),
                            ("/counter/orders", "Reservations to hand out"),
                            ("/counter/reconciliation", "Day's accounts")):
            page = await client.get(path)
            assert page.status_code == 200, path
            assert words in page.text, path
            # The page and everything it loads of ours (images aside) stays under 100 KB.
            assets = re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js)\?v=\w+)"', page.text)
            sizes = [len((await client.get(asset)).content) for asset in assets]
            assert len(page.content) + sum(sizes) < 100_000, (path, len(page.content), sizes)
        missing = await client.get("/counter/receipts/999999999")
        assert missing.status_code == 404
        unknown = await client.get("/counter/products/999999999")
        assert unknown.status_code == 404
