"""Orders reserved online: points held and stock set aside together, then collected, cancelled or expired."""

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import httpx

from ledger import Ledger
from market.shop import orders, stock
from market.tables import Order
from tests.market.support import Enrol, Member
from tests.market.test_redemptions import code_of, everything, funded, product, redeem


async def reserve(resident: Member, items: list[tuple[int, int]], key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await resident.client.post(
        "/api/orders", json={"items": [{"product_id": p, "quantity": q} for p, q in items]}, headers=headers
    )


async def wallet(member: Member) -> dict:
    return (await member.client.get("/api/me/balance")).json()


async def stock_of(member: Member, product_id: int) -> int:
    return (await member.client.get(f"/api/products/{product_id}")).json()["stock"]


async def test_reserve_then_collect(
    enrol: Enrol, admin: Member, shopkeeper: Member, ledger: Ledger, community
) -> None:
    resident = await funded(enrol, admin, "100.00")
    rice = await product(shopkeeper, "12.50", 10)
    made = await reserve(resident, [(rice, 2)])
    assert made.status_code == 201, made.text
    order = made.json()
    assert (order["status"], order["total"]) == ("reserved", "25.00")
    assert datetime.fromisoformat(order["expires_at"]) > datetime.now(UTC) + timedelta(days=1)
    points = await wallet(resident)
    assert (points["balance"], points["held"], points["available"]) == ("100.00", "25.00", "75.00")
    assert await stock_of(shopkeeper, rice) == 8
    # held points cannot be spent twice at the counter
    refused = await redeem(shopkeeper, await code_of(resident), [(rice, 7)])  # 87.50 > 75.00
    assert refused.status_code == 409 and refused.json()["reason"] == "insufficient_points"

    done = await shopkeeper.client.post(f"/api/orders/{order['id']}/fulfil")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "fulfilled" and done.json()["redemption_id"] is not None
    points = await wallet(resident)
    assert (points["balance"], points["held"], points["available"]) == ("75.00", "0.00", "75.00")
    assert await stock_of(shopkeeper, rice) == 8
    receipt = (await shopkeeper.client.get(f"/api/redemptions/{done.json()['redemption_id']}")).json()
    assert receipt["total"] == "25.00" and receipt["balance_after"] == "75.00"
    again = await shopkeeper.client.post(f"/api/orders/{order['id']}/fulfil")
    assert again.status_code == 409 and again.json()["reason"] == "order_closed"
    assert await stock.reconcile(community.id) == [] and (await ledger.verify(community.id)).ok


async def test_cancel_gives_everything_back_once(
    enrol: Enrol, admin: Member, shopkeeper: Member, ledger: Ledger, community
) -> None:
    resident = await funded(enrol, admin, "50.00")
    soap = await product(shopkeeper, "5.00", 10)
    order = (await reserve(resident, [(soap, 3)])).json()
    stranger = await enrol("resident")
    assert (await stranger.client.post(f"/api/orders/{order['id']}/cancel")).status_code == 404
    assert (await stranger.client.get(f"/api/orders/{order['id']}")).status_code == 404
    cancelled = await resident.client.post(f"/api/orders/{order['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    points = await wallet(resident)
    assert (points["balance"], points["held"]) == ("50.00", "0.00")
    assert await stock_of(shopkeeper, soap) == 10
    twice = await shopkeeper.client.post(f"/api/orders/{order['id']}/cancel")
    assert twice.status_code == 409 and twice.json()["reason"] == "order_closed"
    late = await shopkeeper.client.post(f"/api/orders/{order['id']}/fulfil")
    assert late.status_code == 409
    assert await stock.reconcile(community.id) == [] and (await ledger.verify(community.id)).ok


async def test_an_order_not_collected_expires_by_itself(
    enrol: Enrol, admin: Member, shopkeeper: Member, ledger: Ledger, community
) -> None:
    resident = await funded(enrol, admin, "50.00")
    oil = await product(shopkeeper, "10.00", 5)
    order = (await reserve(resident, [(oil, 2)])).json()
    assert await orders.expire_overdue(ledger, datetime.now(UTC)) == 0  # not yet due
    later = datetime.now(UTC) + orders.DEADLINE + timedelta(minutes=1)
    assert await orders.expire_overdue(ledger, later) >= 1
    shown = (await resident.client.get(f"/api/orders/{order['id']}")).json()
    assert shown["status"] == "expired"
    assert (await wallet(resident))["available"] == "50.00"
    assert await stock_of(shopkeeper, oil) == 5
    assert await stock.reconcile(community.id) == [] and (await ledger.verify(community.id)).ok


async def test_collecting_after_the_deadline_is_refused(
    enrol: Enrol, admin: Member, shopkeeper: Member
) -> None:
    resident = await funded(enrol, admin, "50.00")
    oil = await product(shopkeeper, "10.00", 5)
    order = (await reserve(resident, [(oil, 1)])).json()
    await Order.update({Order.expires_at: datetime.now(UTC) - timedelta(seconds=1)}).where(
        Order.id == order["id"]
    )
    late = await shopkeeper.client.post(f"/api/orders/{order['id']}/fulfil")
    assert late.status_code == 409 and late.json()["reason"] == "order_expired"
    assert (await wallet(resident))["held"] == "10.00"  # the sweeper releases it, not the refusal


async def test_a_hold_the_ledger_already_voided_still_gets_its_stock_back(
    enrol: Enrol, admin: Member, shopkeeper: Member, ledger: Ledger, community
) -> None:
    """The server was down past the ledger's own timeout: the ledger voided the hold by itself."""
    resident = await funded(enrol, admin, "50.00")
    oil = await product(shopkeeper, "10.00", 5)
    order = (await reserve(resident, [(oil, 2)])).json()
    row = await Order.select(Order.hold_id).where(Order.id == order["id"]).first()
    await ledger.void(f"{row['hold_id']}-by-ledger", row["hold_id"], memo="expired")
    later = datetime.now(UTC) + orders.DEADLINE + timedelta(minutes=1)
    await orders.expire_overdue(ledger, later)
    assert (await resident.client.get(f"/api/orders/{order['id']}")).json()["status"] == "expired"
    assert await stock_of(shopkeeper, oil) == 5
    assert (await wallet(resident))["available"] == "50.00"
    assert await stock.reconcile(community.id) == [] and (await ledger.verify(community.id)).ok


async def test_refused_reservations_change_nothing(
    enrol: Enrol, admin: Member, shopkeeper: Member, ledger: Ledger, community
) -> None:
    resident = await funded(enrol, admin, "20.00")
    cheap = await product(shopkeeper, "5.00", 2)
    limited = await product(shopkeeper, "1.00", 10, limit_per_person=1, limit_period="month")
    assert (await reserve(resident, [(limited, 1)])).status_code == 201
    for items, reason in [
        ([(cheap, 1), (await product(shopkeeper, "30.00", 5), 1)], "insufficient_points"),
        ([(cheap, 3)], "out_of_stock"),
        ([(limited, 1)], "limit_exceeded"),  # the reserved one counts
    ]:
        before = await everything(ledger, community.id)
        response = await reserve(resident, items)
        assert response.status_code == 409 and response.json()["reason"] == reason, response.text
        assert await everything(ledger, community.id) == before


async def test_parallel_reservations_hold_exactly_what_the_wallet_has(
    enrol: Enrol, admin: Member, shopkeeper: Member, ledger: Ledger, community
) -> None:
    resident = await funded(enrol, admin, "30.00")
    soap = await product(shopkeeper, "3.00", 1000)
    answers = await asyncio.gather(*(reserve(resident, [(soap, 1)]) for _ in range(16)))
    assert sorted(a.status_code for a in answers).count(201) == 10
    assert {a.json()["reason"] for a in answers if a.status_code != 201} == {"insufficient_points"}
    assert (await wallet(resident))["available"] == "0.00"
    assert await stock_of(shopkeeper, soap) == 990
    assert await stock.reconcile(community.id) == [] and (await ledger.verify(community.id)).ok


async def test_the_same_key_reserves_once(enrol: Enrol, admin: Member, shopkeeper: Member) -> None:
    resident = await funded(enrol, admin, "30.00")
    soap = await product(shopkeeper, "3.00", 100)
    key = secrets.token_hex(8)
    answers = await asyncio.gather(*(reserve(resident, [(soap, 2)], key=key) for _ in range(8)))
    assert {a.status_code for a in answers} == {201} and len({a.json()["id"] for a in answers}) == 1
    assert (await wallet(resident))["held"] == "6.00"
    other = await reserve(resident, [(soap, 1)], key=key)
    assert other.status_code == 422 and other.json()["reason"] == "id_conflict"
    listed = (await resident.client.get("/api/orders")).json()["items"]
    assert [o["id"] for o in listed] == [answers[0].json()["id"]]
    staff_view = (await shopkeeper.client.get("/api/orders?status=reserved")).json()["items"]
    assert answers[0].json()["id"] in [o["id"] for o in staff_view]


async def test_an_order_that_cannot_be_settled_does_not_hold_up_the_others(
    enrol: Enrol, admin: Member, shopkeeper: Member, ledger: Ledger, community
) -> None:
    resident = await funded(enrol, admin, "50.00")
    oil = await product(shopkeeper, "10.00", 5)
    broken = (await reserve(resident, [(oil, 1)])).json()
    good = (await reserve(resident, [(oil, 1)])).json()
    # A hold id the ledger never heard of: settling this one fails every time.
    await Order.update({Order.hold_id: f"missing-{secrets.token_hex(6)}"}).where(Order.id == broken["id"])
    later = datetime.now(UTC) + orders.DEADLINE + timedelta(minutes=1)
    await orders.expire_overdue(ledger, later)
    assert (await resident.client.get(f"/api/orders/{good['id']}")).json()["status"] == "expired"
    assert (await resident.client.get(f"/api/orders/{broken['id']}")).json()["status"] == "reserved"
