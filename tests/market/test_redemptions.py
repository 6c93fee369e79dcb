"""The counter: goods for points in one transaction, exact under concurrency, refusals leave no trace."""

import asyncio
import secrets
from collections import Counter
from datetime import datetime

import httpx
import pytest

from ledger import Ledger
from market.cards.service import card_code
from market.settings import get_settings
from market.shop import stock
from market.shop.basket import CHINA
from market.tables import Redemption
from tests.market.support import Enrol, Member, adjust
from tests.market.test_products import snapshot


async def product(shopkeeper: Member, price: str = "10.00", stock_count: int = 50, **extra) -> int:
    response = await shopkeeper.client.post(
        "/api/products",
        json={
            "name": f"商品{secrets.token_hex(3)}",
            "price": price,
            "stock": stock_count,
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def code_of(resident: Member) -> str:
    response = await resident.client.get("/api/me/code")
    assert response.status_code == 200
    return response.json()["code"]


async def redeem(
    shopkeeper: Member, code: str, items: list[tuple[int, int]], key: str | None = None, **extra
) -> httpx.Response:
    return await shopkeeper.client.post(
        "/api/redemptions",
        json={"member_code": code, "items": [{"product_id": p, "quantity": q} for p, q in items], **extra},
        headers={"Idempotency-Key": key or secrets.token_hex(8)},
    )


async def balance(member: Member) -> str:
    return (await member.client.get("/api/me/balance")).json()["balance"]


async def funded(enrol: Enrol, admin: Member, points: str) -> Member:
    resident = await enrol("resident")
    if points != "0":
        assert (await adjust(admin, resident.id, points)).status_code == 201
    return resident


@pytest.fixture
async def keeper(enrol: Enrol) -> Member:
    return await enrol("shopkeeper")


async def everything(ledger: Ledger, community_id: int) -> tuple:
    """What a refusal must leave untouched: products, stock record, redemptions, the ledger head."""
    rows = await Redemption.select().where(Redemption.community == community_id)
    return await snapshot(community_id), rows, await ledger.head()


async def test_a_basket_takes_points_and_stock_together(
    enrol: Enrol, admin: Member, keeper: Member, ledger: Ledger, community
) -> None:
    resident = await funded(enrol, admin, "100.00")
    rice, oil = await product(keeper, "12.50", 10), await product(keeper, "30.00", 5)
    response = await redeem(keeper, await code_of(resident), [(rice, 2), (oil, 1)])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["total"] == "55.00" and body["balance_after"] == "45.00"
    assert [(i["product_id"], i["quantity"], i["amount"]) for i in body["items"]] == [
        (rice, 2, "25.00"),
        (oil, 1, "30.00"),
    ]
    assert body["person"]["id"] == resident.id and body["receipt_no"].endswith(f"{body['id']:06d}")
    assert await balance(resident) == "45.00"
    stocks = {p["id"]: p["stock"] for p in (await keeper.client.get("/api/products")).json()["items"]}
    assert (stocks[rice], stocks[oil]) == (8, 4)
    assert await stock.reconcile(community.id) == []
    assert (await ledger.verify(community.id)).ok
    # the resident may look at their own redemption; another resident may not
    assert (await resident.client.get(f"/api/redemptions/{body['id']}")).json() == body
    other = await enrol("resident")
    assert (await other.client.get(f"/api/redemptions/{body['id']}")).status_code == 404


@pytest.mark.parametrize("case", ["insufficient_points", "out_of_stock", "limit_exceeded"])
async def test_a_refusal_moves_nothing_at_all(
    enrol: Enrol, admin: Member, keeper: Member, ledger: Ledger, community, case: str
) -> None:
    resident = await funded(enrol, admin, "20.00")
    first = await product(keeper, "5.00", 10)
    if case == "insufficient_points":
        second = await product(keeper, "16.00", 10)  # 5 + 16 > 20
        items = [(first, 1), (second, 1)]
    elif case == "out_of_stock":
        second = await product(keeper, "1.00", 2)
        items = [(first, 1), (second, 3)]
    else:
        second = await product(keeper, "1.00", 10, limit_per_person=2, limit_period="week")
        assert (await redeem(keeper, await code_of(resident), [(second, 2)])).status_code == 201
        items = [(first, 1), (second, 1)]
    before = await everything(ledger, community.id)
    points = await balance(resident)
    response = await redeem(keeper, await code_of(resident), items)
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["reason"] == case
    if case != "insufficient_points":
        assert problem["product_id"] == second
    assert await everything(ledger, community.id) == before
    assert await balance(resident) == points
    assert (await ledger.verify(community.id)).ok


async def test_the_same_key_at_once_and_again_makes_one_redemption(
    enrol: Enrol, admin: Member, keeper: Member, ledger: Ledger, community
) -> None:
    resident = await funded(enrol, admin, "100.00")
    rice = await product(keeper, "10.00", 50)
    code, key = await code_of(resident), secrets.token_hex(8)
    answers = await asyncio.gather(*(redeem(keeper, code, [(rice, 1)], key=key) for _ in range(15)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.text for a in answers}) == 1
    again = await redeem(keeper, code, [(rice, 1)], key=key)
    assert again.status_code == 201 and again.json() == answers[0].json()
    assert await balance(resident) == "90.00"
    assert await Redemption.count().where(Redemption.person == resident.id) == 1
    other = await redeem(keeper, code, [(rice, 2)], key=key)
    assert other.status_code == 422 and other.json()["reason"] == "id_conflict"
    assert await balance(resident) == "90.00"


async def test_parallel_baskets_against_one_wallet_spend_exactly_what_it_holds(
    enrol: Enrol, admin: Member, keeper: Member, ledger: Ledger, community
) -> None:
    resident = await funded(enrol, admin, "100.00")
    soap = await product(keeper, "10.00", 1000)
    code = await code_of(resident)
    answers = await asyncio.gather(*(redeem(keeper, code, [(soap, 1)]) for _ in range(25)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == 10 and statuses.count(409) == 15, statuses
    assert {a.json()["reason"] for a in answers if a.status_code == 409} == {"insufficient_points"}
    assert await balance(resident) == "0.00"
    stocks = {p["id"]: p["stock"] for p in (await keeper.client.get("/api/products")).json()["items"]}
    assert stocks[soap] == 990
    assert await stock.reconcile(community.id) == [] and (await ledger.verify(community.id)).ok


async def test_parallel_buyers_of_the_last_items_get_exactly_what_is_left(
    enrol: Enrol, admin: Member, keeper: Member, ledger: Ledger, community
) -> None:
    oil = await product(keeper, "1.00", 4)
    buyers = [await funded(enrol, admin, "10.00") for _ in range(12)]
    codes = [await code_of(b) for b in buyers]
    answers = await asyncio.gather(*(redeem(keeper, c, [(oil, 1)]) for c in codes))
    assert sorted(a.status_code for a in answers).count(201) == 4
    assert {a.json()["reason"] for a in answers if a.status_code != 201} == {"out_of_stock"}
    paid = [await balance(b) for b in buyers]
    assert Counter(paid) == {"9.00": 4, "10.00": 8}
    assert await stock.reconcile(community.id) == [] and (await ledger.verify(community.id)).ok


async def test_refunds_bring_points_and_goods_back_once(
    enrol: Enrol, admin: Member, keeper: Member, ledger: Ledger, community
) -> None:
    resident = await funded(enrol, admin, "100.00")
    rice, oil = await product(keeper, "12.50", 10), await product(keeper, "30.00", 5)
    made = (await redeem(keeper, await code_of(resident), [(rice, 2), (oil, 1)])).json()
    url = f"/api/redemptions/{made['id']}/refund"
    part = await keeper.client.post(
        url, json={"reason": "米袋破了", "items": [{"product_id": rice, "quantity": 1}]}
    )
    assert part.status_code == 201, part.text
    assert part.json()["total"] == "12.50" and part.json()["balance_after"] == "57.50"
    too_much = await keeper.client.post(
        url, json={"reason": "再退", "items": [{"product_id": rice, "quantity": 2}]}
    )
    assert too_much.status_code == 400 and too_much.json()["reason"] == "refund_too_much"
    rest = await keeper.client.post(url, json={"reason": "不要了"})
    assert rest.status_code == 201 and rest.json()["total"] == "42.50"
    assert await balance(resident) == "100.00"
    again = await keeper.client.post(url, json={"reason": "不要了"})
    assert again.status_code == 400 and again.json()["reason"] == "already_refunded"
    stocks = {p["id"]: p["stock"] for p in (await keeper.client.get("/api/products")).json()["items"]}
    assert (stocks[rice], stocks[oil]) == (10, 5)
    shown = (await keeper.client.get(f"/api/redemptions/{made['id']}")).json()
    assert shown["total"] == "55.00" and shown["refunded"] == "55.00"  # the original stays visible
    assert await stock.reconcile(community.id) == [] and (await ledger.verify(community.id)).ok
    assert (await keeper.client.post(url, json={"reason": " "})).json()["reason"] == "invalid_reason"


async def test_a_refund_sent_again_with_its_key_refunds_once(
    enrol: Enrol, admin: Member, keeper: Member, ledger: Ledger, community
) -> None:
    """A partial refund is not refused when sent twice (there is more left to refund): only the
    Idempotency-Key tells a resend from a second refund — serially and at the same instant."""
    resident = await funded(enrol, admin, "100.00")
    rice = await product(keeper, "10.00", 20)
    made = (await redeem(keeper, await code_of(resident), [(rice, 5)])).json()
    url = f"/api/redemptions/{made['id']}/refund"
    one = {"reason": "多拿了一袋", "items": [{"product_id": rice, "quantity": 1}]}
    key = {"Idempotency-Key": secrets.token_hex(8)}
    first = await keeper.client.post(url, json=one, headers=key)
    assert first.status_code == 201, first.text
    again = await keeper.client.post(url, json=one, headers=key)
    assert again.status_code == 201 and again.json() == first.json()
    twins = {"Idempotency-Key": secrets.token_hex(8)}
    answers = await asyncio.gather(*(keeper.client.post(url, json=one, headers=twins) for _ in range(5)))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    other = await keeper.client.post(url, json={**one, "reason": "另一件事"}, headers=key)
    assert other.status_code == 422 and other.json()["reason"] == "id_conflict"
    # Two refunds of one bag each: 20.00 back, 3 bags still bought.
    assert await balance(resident) == "70.00"
    shown = (await keeper.client.get(f"/api/redemptions/{made['id']}")).json()
    assert shown["refunded"] == "20.00"
    stocks = {p["id"]: p["stock"] for p in (await keeper.client.get("/api/products")).json()["items"]}
    assert stocks[rice] == 17
    assert await stock.reconcile(community.id) == [] and (await ledger.verify(community.id)).ok


async def test_a_printed_card_needs_its_pin(
    enrol: Enrol, admin: Member, keeper: Member, ledger: Ledger
) -> None:
    resident = await funded(enrol, admin, "50.00")
    soap = await product(keeper, "5.00", 10)
    card = card_code(get_settings(), resident.id, 1)
    missing = await redeem(keeper, card, [(soap, 1)])
    assert missing.status_code == 400 and missing.json()["reason"] == "card_pin_required"
    wrong = await redeem(keeper, card, [(soap, 1)], pin="000000" if resident.pin != "000000" else "111111")
    assert wrong.status_code == 400 and wrong.json()["reason"] == "wrong_card_pin"
    right = await redeem(keeper, card, [(soap, 1)], pin=resident.pin)
    assert right.status_code == 201, right.text
    assert await balance(resident) == "45.00"


@pytest.mark.parametrize(
    "items, reason",
    [
        ([], "empty_basket"),
        ([(0, 1)], "product_unavailable"),
        (["P", 0], "invalid_quantity"),
        (["P", -1], "invalid_quantity"),
        (["P", 100], "invalid_quantity"),
        ("dup", "duplicate_line"),
        ("many", "too_many_lines"),
    ],
)
async def test_bad_baskets_are_refused_and_change_nothing(
    enrol: Enrol, admin: Member, keeper: Member, ledger: Ledger, community, items, reason: str
) -> None:
    resident = await funded(enrol, admin, "50.00")
    soap = await product(keeper, "1.00", 10)
    if items == "dup":
        items = [(soap, 1), (soap, 2)]
    elif items == "many":
        items = [(soap, 1)] * 51
    elif items and items[0] == "P":
        items = [(soap, items[1])]
    before = await everything(ledger, community.id)
    response = await redeem(keeper, await code_of(resident), items)
    assert response.status_code in (400, 409), response.text
    assert response.json()["reason"] == reason
    assert await everything(ledger, community.id) == before


async def test_an_inactive_product_cannot_be_redeemed(
    enrol: Enrol, admin: Member, keeper: Member, ledger: Ledger, community
) -> None:
    resident = await funded(enrol, admin, "50.00")
    soap = await product(keeper, "1.00", 10)
    assert (await keeper.client.patch(f"/api/products/{soap}", json={"active": False})).status_code == 200
    response = await redeem(keeper, await code_of(resident), [(soap, 1)])
    assert response.status_code == 409 and response.json()["reason"] == "product_unavailable"


async def test_a_redemption_needs_an_idempotency_key(enrol: Enrol, admin: Member, keeper: Member) -> None:
    resident = await funded(enrol, admin, "50.00")
    soap = await product(keeper, "1.00", 10)
    response = await keeper.client.post(
        "/api/redemptions",
        json={"member_code": await code_of(resident), "items": [{"product_id": soap, "quantity": 1}]},
    )
    assert response.status_code == 400 and response.json()["reason"] == "idempotency_key_required"


async def test_a_refund_gives_back_room_under_the_limit(enrol: Enrol, admin: Member, keeper: Member) -> None:
    resident = await funded(enrol, admin, "50.00")
    eggs = await product(keeper, "1.00", 20, limit_per_person=2, limit_period="day")
    made = await redeem(keeper, await code_of(resident), [(eggs, 2)])
    assert made.status_code == 201
    over = await redeem(keeper, await code_of(resident), [(eggs, 1)])
    assert over.status_code == 409 and over.json()["remaining"] == 0
    refund = await keeper.client.post(
        f"/api/redemptions/{made.json()['id']}/refund",
        json={"reason": "碎了一个", "items": [{"product_id": eggs, "quantity": 1}]},
    )
    assert refund.status_code == 201
    assert (await redeem(keeper, await code_of(resident), [(eggs, 1)])).status_code == 201


async def test_baskets_listing_the_same_goods_in_any_order_do_not_deadlock(
    enrol: Enrol, admin: Member, keeper: Member, ledger: Ledger, community
) -> None:
    """Found by the kill -9 test on PostgreSQL: rows locked in basket order deadlocked (500)."""
    rice, oil, soap = [await product(keeper, "1.00", 1000) for _ in range(3)]
    buyers = [await funded(enrol, admin, "100.00") for _ in range(4)]
    codes = [await code_of(b) for b in buyers]
    orders_of_goods = [[rice, oil, soap], [soap, oil, rice], [oil, soap, rice], [soap, rice, oil]]
    answers = await asyncio.gather(*(
        redeem(keeper, codes[i % 4], [(p, 1) for p in orders_of_goods[i % 4]]) for i in range(24)
    ))
    assert [a.status_code for a in answers] == [201] * 24, [a.text for a in answers if a.status_code != 201]
    assert await stock.reconcile(community.id) == [] and (await ledger.verify(community.id)).ok


def _today_closed() -> dict:
    """Rules under which the shop is shut right now: open only on another weekday."""
    other_day = datetime.now(CHINA).isoweekday() % 7 + 1
    return {"open_days": [other_day], "opens_at": "08:00", "closes_at": "17:00"}


async def test_the_counter_keeps_the_communitys_rules(
    enrol: Enrol, admin: Member, keeper: Member, ledger: Ledger, community
) -> None:
    resident = await funded(enrol, admin, "50.00")
    soap = await product(keeper, "1.00", 10)
    assert (await admin.client.put("/api/shop/rules", json=_today_closed())).status_code == 200
    before = await everything(ledger, community.id)
    shut = await redeem(keeper, await code_of(resident), [(soap, 1)])
    assert shut.status_code == 409 and shut.json()["reason"] == "shop_closed"
    assert await everything(ledger, community.id) == before
    # reserving online is allowed while the shop is shut; collecting happens when it opens
    one_soap = {"items": [{"product_id": soap, "quantity": 1}]}
    reserved = await resident.client.post("/api/orders", json=one_soap)
    assert reserved.status_code == 201, reserved.text

    every_day = {"open_days": [1, 2, 3, 4, 5, 6, 7], "opens_at": "00:00", "closes_at": "24:00"}
    rules = every_day | {"min_earned": "60.00"}  # the resident was given 50.00
    assert (await admin.client.put("/api/shop/rules", json=rules)).status_code == 200
    short = await redeem(keeper, await code_of(resident), [(soap, 1)])
    assert short.status_code == 409 and short.json()["reason"] == "not_enough_earned"
    too_early = await resident.client.post("/api/orders", json=one_soap)
    assert too_early.status_code == 409 and too_early.json()["reason"] == "not_enough_earned"
    assert (await admin.client.put("/api/shop/rules", json=every_day)).status_code == 200
    assert (await redeem(keeper, await code_of(resident), [(soap, 1)])).status_code == 201
