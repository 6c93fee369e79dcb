"""Stock: changed only through ``market.shop.stock.move``, never below zero, recorded append-only.

The invariant after every test: a product's stock is the sum of its movements
and its newest movement's ``stock_after`` (``stock.reconcile`` finds no mismatch).
"""

import asyncio
import secrets
import sqlite3

import asyncpg
import pytest

from market.community import service as communities
from market.db import fetch
from market.errors import Conflict, InvalidInput, NotFound
from market.shop import stock
from market.tables import Product, StockMovement
from market.writes import write
from tests.conftest import db_engine as engine_under_test
from tests.market.support import Enrol, Member
from tests.market.test_products import make, snapshot


async def level(member: Member, product_id: int) -> int:
    response = await member.client.get(f"/api/products/{product_id}")
    assert response.status_code == 200, response.text
    return response.json()["stock"]


async def change(member: Member, product_id: int, **data: object):
    return await member.client.post(f"/api/products/{product_id}/stock", json=data)


async def test_donation_purchase_adjustment_and_the_record(
    shopkeeper: Member, admin: Member, community
) -> None:
    made = await make(shopkeeper, stock=10)
    pid = made["id"]
    donated = await change(shopkeeper, pid, delta=5, kind="donation", donor="王大爷", reason="重阳节")
    assert donated.status_code == 200, donated.text
    assert donated.json() == {"product_id": pid, "stock": 15}
    bought = await change(admin, pid, delta=3, kind="purchase")  # a reason is optional here
    assert bought.status_code == 200 and bought.json()["stock"] == 18
    fixed = await change(shopkeeper, pid, delta=-2, reason="盘点：两袋破损")  # kind defaults to adjustment
    assert fixed.status_code == 200 and fixed.json()["stock"] == 16
    assert await level(shopkeeper, pid) == 16

    record = await shopkeeper.client.get(f"/api/products/{pid}/stock")
    assert record.status_code == 200, record.text
    items = record.json()["items"]
    assert record.json()["next_cursor"] is None
    assert [(i["kind"], i["delta"], i["stock_after"], i["actor_id"]) for i in items] == [
        ("adjustment", -2, 16, shopkeeper.id),
        ("purchase", 3, 18, admin.id),
        ("donation", 5, 15, shopkeeper.id),
        ("initial", 10, 10, shopkeeper.id),
    ]
    assert items[0]["reason"] == "盘点：两袋破损" and items[2]["donor"] == "王大爷"
    assert items[1]["reason"] is None and items[0]["at"].endswith(("Z", "+00:00"))
    assert await stock.reconcile(community.id) == []


async def test_never_below_zero(shopkeeper: Member, community) -> None:
    made = await make(shopkeeper, stock=3)
    before = await snapshot(community.id)
    response = await change(shopkeeper, made["id"], delta=-4, reason="报损")
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["reason"] == "out_of_stock"
    assert problem["product_id"] == made["id"] and problem["available"] == 3
    assert "3" in problem["detail"]
    assert await snapshot(community.id) == before
    # exactly to zero is fine; then not one more
    assert (await change(shopkeeper, made["id"], delta=-3, reason="报损")).json()["stock"] == 0
    again = await change(shopkeeper, made["id"], delta=-1, reason="报损")
    assert again.status_code == 409 and again.json()["available"] == 0
    assert await stock.reconcile(community.id) == []


@pytest.mark.parametrize(("data", "reason", "field"), [
    ({"delta": 0, "reason": "无"}, "invalid_stock_delta", "delta"),
    ({"delta": -1, "kind": "donation", "donor": "张三"}, "invalid_stock_delta", "delta"),
    ({"delta": -1, "kind": "purchase"}, "invalid_stock_delta", "delta"),
    ({"delta": stock.MAX_STOCK + 1, "kind": "purchase"}, "invalid_stock_delta", "delta"),
    ({"delta": 2**40, "reason": "x"}, "invalid_stock_delta", "delta"),
    ({"delta": 1.5, "reason": "x"}, "invalid_input", "delta"),
    ({"delta": "abc", "reason": "x"}, "invalid_input", "delta"),
    ({"reason": "x"}, "invalid_input", "delta"),
    ({"delta": 1, "kind": "redemption", "reason": "x"}, "invalid_stock_kind", "kind"),
    ({"delta": 1, "kind": "initial", "reason": "x"}, "invalid_stock_kind", "kind"),
    ({"delta": 1, "kind": "gift", "reason": "x"}, "invalid_stock_kind", "kind"),
    ({"delta": 1}, "invalid_reason", "reason"),
    ({"delta": 1, "reason": "   "}, "invalid_reason", "reason"),
    ({"delta": 1, "reason": "字" * 201}, "invalid_reason", "reason"),
    ({"delta": 1, "reason": "x", "donor": "张三"}, "invalid_donor", "donor"),
    ({"delta": 1, "kind": "purchase", "donor": "张三"}, "invalid_donor", "donor"),
    ({"delta": 1, "kind": "donation", "donor": ""}, "invalid_donor", "donor"),
    ({"delta": 1, "kind": "donation", "donor": "名" * 51}, "invalid_donor", "donor"),
])
async def test_bad_stock_changes_change_nothing(
    shopkeeper: Member, community, data: dict, reason: str, field: str
) -> None:
    made = await make(shopkeeper, stock=5)
    before = await snapshot(community.id)
    response = await change(shopkeeper, made["id"], **data)
    assert response.status_code == 400, response.text
    assert response.json()["reason"] == reason and response.json()["field"] == field
    assert await snapshot(community.id) == before


async def test_stock_has_a_ceiling(shopkeeper: Member, community) -> None:
    made = await make(shopkeeper, stock=stock.MAX_STOCK - 1)
    before = await snapshot(community.id)
    response = await change(shopkeeper, made["id"], delta=2, kind="purchase")
    assert response.status_code == 409 and response.json()["reason"] == "stock_too_high"
    assert await snapshot(community.id) == before


async def test_thirty_at_once_against_ten(shopkeeper: Member, community) -> None:
    """30 parallel requests of -1 against a stock of 10: exactly 10 succeed, none oversells."""
    made = await make(shopkeeper, stock=10)
    responses = await asyncio.gather(*(
        change(shopkeeper, made["id"], delta=-1, reason=f"并发{i}") for i in range(30)
    ))
    codes = sorted(response.status_code for response in responses)
    assert codes == [200] * 10 + [409] * 20, codes
    assert {r.json()["reason"] for r in responses if r.status_code == 409} == {"out_of_stock"}
    # each success saw a different stock after it: 9 … 0
    assert sorted(r.json()["stock"] for r in responses if r.status_code == 200) == list(range(10))
    assert await level(shopkeeper, made["id"]) == 0
    moves = await StockMovement.select().where(StockMovement.product == made["id"])
    assert sum(m["delta"] for m in moves) == 0 and len(moves) == 11
    assert await stock.reconcile(community.id) == []


async def test_paging_through_the_record(shopkeeper: Member) -> None:
    made = await make(shopkeeper, stock=1)
    for i in range(24):
        assert (await change(shopkeeper, made["id"], delta=1, reason=f"第{i}次")).status_code == 200
    path = f"/api/products/{made['id']}/stock"
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        page = (await shopkeeper.client.get(path, params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 25 and seen == sorted(seen, reverse=True)
    for bad in ("abc", "-1", "1.5", "１２"):
        response = await shopkeeper.client.get(path, params={"cursor": bad})
        assert response.status_code == 400 and response.json()["reason"] == "invalid_cursor"
    assert (await shopkeeper.client.get(path, params={"limit": 0})).status_code == 400
    assert (await shopkeeper.client.get(path, params={"limit": 101})).status_code == 400


# -- stock.move, as redemptions and orders call it ------------------------------------------------


async def _product(community_id: int, stock_level: int = 0) -> int:
    row = Product(community=community_id, name=f"测试品{secrets.token_hex(4)}", price=150)
    await row.save()
    if stock_level:
        await write(stock.move_steps, community_id, row.id, stock_level, "initial")
    return row.id


def _moves(community_id: int, moves: list[tuple[int, int, str, dict]], fail: str = ""):
    """Steps: each (product, delta, kind, options) moved in turn; the stocks after; maybe a failure."""
    afters = []
    for product_id, delta, kind, options in moves:
        afters.append((yield from stock.move_steps(community_id, product_id, delta, kind, **options)))
    if fail:
        raise RuntimeError(fail)
    return afters


async def test_move_records_what_caused_it(app, community, shopkeeper: Member) -> None:
    pid = await _product(community.id, 5)
    assert await write(_moves, community.id, [
        (pid, -2, "redemption", {"ref": "r:42", "actor_id": shopkeeper.id}),
        (pid, 2, "refund", {"ref": "r:42", "reason": "退货"}),
    ]) == [3, 5]
    moves = await StockMovement.select().where(StockMovement.product == pid).order_by(StockMovement.id)
    assert [(m["kind"], m["delta"], m["stock_after"], m["ref"]) for m in moves] == [
        ("initial", 5, 5, None), ("redemption", -2, 3, "r:42"), ("refund", 2, 5, "r:42"),
    ]
    assert moves[1]["actor"] == shopkeeper.id and moves[2]["reason"] == "退货"


async def test_move_rolls_back_with_its_caller(app, community) -> None:
    """A redemption that fails after taking stock must leave the stock as it was."""
    pid, other = await _product(community.id, 4), await _product(community.id, 1)
    before = await snapshot(community.id)
    with pytest.raises(RuntimeError, match="points refused"):
        await write(_moves, community.id, [(pid, -3, "redemption", {"ref": "r:1"})], fail="points refused")
    assert await snapshot(community.id) == before
    # a refused move in a basket takes the basket's earlier moves back with it
    with pytest.raises(stock.OutOfStock):
        await write(_moves, community.id, [(pid, -1, "redemption", {}), (other, -2, "redemption", {})])
    assert await snapshot(community.id) == before
    assert await stock.reconcile(community.id) == []


async def test_move_refusals(app, community, ledger) -> None:
    pid = await _product(community.id, 2)
    other = await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(4)}")

    async def refused(community_id: int, product_id: int, delta, kind: str, **options):
        return await write(_moves, community_id, [(product_id, delta, kind, options)])

    with pytest.raises(NotFound):
        await refused(other.id, pid, -1, "redemption")  # not that community's product
    with pytest.raises(NotFound):
        await refused(community.id, 10**9, 1, "refund")
    with pytest.raises(stock.OutOfStock) as out:
        await refused(community.id, pid, -3, "redemption")
    assert (out.value.product_id, out.value.available) == (pid, 2)
    assert out.value.status == 409 and out.value.reason == "out_of_stock"
    for delta in (0, True, 1.0, stock.MAX_STOCK + 1):
        with pytest.raises(InvalidInput):
            await refused(community.id, pid, delta, "adjustment", reason="x")
    with pytest.raises(ValueError, match="kind"):
        await refused(community.id, pid, 1, "theft")
    with pytest.raises(Conflict) as too_high:
        await refused(community.id, pid, stock.MAX_STOCK, "purchase")
    assert too_high.value.reason == "stock_too_high"
    rows = await fetch("SELECT stock FROM product WHERE id = {}", pid)
    assert rows[0]["stock"] == 2
    assert await stock.reconcile(community.id) == []


async def test_reconcile_finds_stock_changed_behind_its_back(app, community) -> None:
    pid = await _product(community.id, 3)
    assert await stock.reconcile(community.id) == []
    await Product.update({Product.stock: Product.stock + 1}).where(Product.id == pid)
    [mismatch] = await stock.reconcile(community.id)
    assert (mismatch.product_id, mismatch.stock, mismatch.movements_total,
            mismatch.last_stock_after) == (pid, 4, 3, 3)
    await Product.update({Product.stock: 3}).where(Product.id == pid)
    assert await stock.reconcile(community.id) == []


# -- what the database itself refuses --------------------------------------------------------


def _refusals(db_engine: str) -> tuple[type[BaseException], ...]:
    return (asyncpg.PostgresError,) if db_engine == "postgres" else (sqlite3.DatabaseError,)


STATEMENTS = [
    "UPDATE stock_movement SET delta = delta + 1 WHERE product = {pid}",
    "UPDATE stock_movement SET reason = 'edited'",
    "DELETE FROM stock_movement WHERE product = {pid}",
    "DELETE FROM stock_movement",
]


# SQLite has no TRUNCATE (its DELETE without WHERE is covered above).
ENGINE_STATEMENTS = STATEMENTS + (["TRUNCATE stock_movement"] if engine_under_test() == "postgres" else [])


@pytest.mark.parametrize("sql", ENGINE_STATEMENTS)
async def test_stock_movements_are_append_only(app, community, db_engine: str, sql: str) -> None:
    pid = await _product(community.id, 5)
    before = await snapshot(community.id)
    with pytest.raises(_refusals(db_engine), match="append-only"):
        await StockMovement.raw(sql.format(pid=pid))
    assert await snapshot(community.id) == before


@pytest.mark.parametrize("sql", [
    "UPDATE product SET stock = -1 WHERE id = {pid}",
    "UPDATE product SET price = 0 WHERE id = {pid}",
    "UPDATE product SET limit_per_person = 2 WHERE id = {pid}",  # a limit without a period
    "UPDATE product SET limit_period = 'decade', limit_per_person = 1 WHERE id = {pid}",
    "INSERT INTO stock_movement (community, product, delta, stock_after, kind, at)"
    " VALUES ({cid}, {pid}, 0, 1, 'adjustment', CURRENT_TIMESTAMP)",
    "INSERT INTO stock_movement (community, product, delta, stock_after, kind, at)"
    " VALUES ({cid}, {pid}, -9, -4, 'adjustment', CURRENT_TIMESTAMP)",
    "INSERT INTO stock_movement (community, product, delta, stock_after, kind, at)"
    " VALUES ({cid}, {pid}, 1, 6, 'theft', CURRENT_TIMESTAMP)",
])
async def test_the_database_checks_the_rules_too(app, community, db_engine: str, sql: str) -> None:
    pid = await _product(community.id, 5)
    before = await snapshot(community.id)
    with pytest.raises(_refusals(db_engine)):
        await StockMovement.raw(sql.format(pid=pid, cid=community.id))
    assert await snapshot(community.id) == before


async def test_stock_record_needs_shop_staff(enrol: Enrol, shopkeeper: Member) -> None:
    made = await make(shopkeeper, stock=2)
    resident = await enrol("resident")
    assert (await resident.client.get(f"/api/products/{made['id']}/stock")).status_code == 403
