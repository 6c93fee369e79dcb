"""The shop's catalogue: create, list, show, edit; who may; bad input refused with nothing changed."""

import secrets

import pytest

from market.community import service as communities
from market.shop import stock
from market.tables import AuditEntry, Product, StockMovement
from tests.market.support import Enrol, Member


def body(**changes: object) -> dict:
    data = {
        "name": f"大米{secrets.token_hex(3)}", "price": "12.5", "stock": 10, "category": "粮油",
        "limit_per_person": 2, "limit_period": "month",
    }
    return {key: value for key, value in (data | changes).items() if value is not ...}


async def make(member: Member, **changes: object) -> dict:
    response = await member.client.post("/api/products", json=body(**changes))
    assert response.status_code == 201, response.text
    return response.json()


async def catalogue(member: Member) -> list[dict]:
    response = await member.client.get("/api/products", params={"include_inactive": "true"})
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def snapshot(community_id: int) -> tuple[list[dict], list[dict]]:
    """Every product and stock movement of the community, to show that nothing changed."""
    products = await Product.select().where(Product.community == community_id).order_by(Product.id)
    moves = await StockMovement.select().where(
        StockMovement.community == community_id).order_by(StockMovement.id)
    return products, moves


async def test_create_list_show(shopkeeper: Member, resident: Member) -> None:
    made = await make(shopkeeper, name="东北大米 5kg")
    assert made == {
        "id": made["id"], "name": "东北大米 5kg", "category": "粮油", "price": "12.50", "stock": 10,
        "limit_per_person": 2, "limit_period": "month", "active": True,
        "photo_url": None, "thumb_url": None,
    }
    # every signed-in member of the community sees it, with its current stock
    shown = await resident.client.get(f"/api/products/{made['id']}")
    assert shown.status_code == 200 and shown.json() == made
    listed = (await resident.client.get("/api/products")).json()["items"]
    assert made in listed


async def test_the_smallest_form_and_exact_prices(admin: Member) -> None:
    made = await make(admin, category=..., stock=..., limit_per_person=..., limit_period=...,
                      price=3)
    assert made["price"] == "3.00" and made["stock"] == 0 and made["category"] == ""
    assert made["limit_per_person"] is None and made["limit_period"] is None
    # a JSON number with two decimals is taken exactly, never through a float
    assert (await make(admin, price=0.1))["price"] == "0.10"
    assert (await make(admin, price="100000"))["price"] == "100000.00"
    row = await Product.select(Product.price).where(Product.id == made["id"]).first()
    assert row["price"] == 300  # integer hundredths inside


async def test_no_stock_no_movement_and_initial_stock_is_recorded(shopkeeper: Member) -> None:
    empty = await make(shopkeeper, stock=0)
    assert await StockMovement.count().where(StockMovement.product == empty["id"]) == 0
    stocked = await make(shopkeeper, stock=7)
    moves = await StockMovement.select().where(StockMovement.product == stocked["id"])
    assert [(m["kind"], m["delta"], m["stock_after"], m["actor"]) for m in moves] == [
        ("initial", 7, 7, shopkeeper.id)
    ]


@pytest.mark.parametrize("role", ["resident", "organizer"])
async def test_only_shop_staff_manage_products(
    enrol: Enrol, shopkeeper: Member, community, role: str
) -> None:
    made = await make(shopkeeper)
    before = await snapshot(community.id)
    outsider = await enrol(role)
    path = f"/api/products/{made['id']}"
    assert (await outsider.client.post("/api/products", json=body())).status_code == 403
    assert (await outsider.client.patch(path, json={"price": "1"})).status_code == 403
    assert (await outsider.client.post(f"{path}/stock", json={"delta": 5, "reason": "x"})
            ).status_code == 403
    assert (await outsider.client.get(f"{path}/stock")).status_code == 403
    assert await snapshot(community.id) == before


@pytest.mark.parametrize(("changes", "reason", "field"), [
    ({"price": "-1"}, "invalid_price", "price"),
    ({"price": "0"}, "invalid_price", "price"),
    ({"price": 0}, "invalid_price", "price"),
    ({"price": "0.00"}, "invalid_price", "price"),
    ({"price": "100000.01"}, "invalid_price", "price"),
    ({"price": "1e30"}, "invalid_input", "price"),
    ({"price": "1.234"}, "invalid_price", "price"),
    ({"price": 12.345}, "invalid_price", "price"),
    ({"price": "NaN"}, "invalid_input", "price"),
    ({"price": "Infinity"}, "invalid_input", "price"),
    ({"price": "十二"}, "invalid_input", "price"),
    ({"price": "12,50"}, "invalid_input", "price"),
    ({"price": True}, "invalid_input", "price"),
    ({"price": None}, "invalid_input", "price"),
    ({"price": ...}, "invalid_input", "price"),
    ({"name": ""}, "invalid_product_name", "name"),
    ({"name": "   "}, "invalid_product_name", "name"),
    ({"name": "米" * 51}, "invalid_product_name", "name"),
    ({"category": "类" * 31}, "invalid_product_category", "category"),
    ({"stock": -1}, "invalid_stock", "stock"),
    ({"stock": stock.MAX_STOCK + 1}, "invalid_stock", "stock"),
    ({"stock": 1.5}, "invalid_input", "stock"),
    ({"limit_period": None}, "invalid_limit", "limit_period"),
    ({"limit_per_person": None}, "invalid_limit", "limit_per_person"),
    ({"limit_per_person": 0}, "invalid_limit", "limit_per_person"),
    ({"limit_per_person": -3}, "invalid_limit", "limit_per_person"),
    ({"limit_per_person": 10_001}, "invalid_limit", "limit_per_person"),
    ({"limit_period": "fortnight"}, "invalid_limit", "limit_period"),
    ({"limit_period": "Month"}, "invalid_limit", "limit_period"),
])
async def test_bad_input_is_refused_and_changes_nothing(
    shopkeeper: Member, community, changes: dict, reason: str, field: str
) -> None:
    before = await snapshot(community.id)
    response = await shopkeeper.client.post("/api/products", json=body(**changes))
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["reason"] == reason and problem["field"] == field
    assert problem["detail"] and response.headers["content-type"].startswith("application/problem+json")
    assert await snapshot(community.id) == before


async def test_errors_speak_chinese_by_default_and_english_on_request(shopkeeper: Member) -> None:
    chinese = await shopkeeper.client.post("/api/products", json=body(price="-1"))
    assert "价格" in chinese.json()["detail"] and "100000" in chinese.json()["detail"]
    english = await shopkeeper.client.post(
        "/api/products", json=body(limit_period="fortnight"), headers={"Accept-Language": "en"}
    )
    assert "limit" in english.json()["detail"] and "10000" in english.json()["detail"]


async def test_a_name_is_unique_in_its_community(
    shopkeeper: Member, enrol: Enrol, ledger, community
) -> None:
    first = await make(shopkeeper, name="花生油 5L")
    before = await snapshot(community.id)
    for name in ("花生油 5L", "  花生油   5L "):  # spaces are tidied before the comparison
        again = await shopkeeper.client.post("/api/products", json=body(name=name, stock=3))
        assert again.status_code == 409, again.text
        assert again.json()["reason"] == "product_exists" and again.json()["field"] == "name"
    assert await snapshot(community.id) == before  # no product, no stock movement
    # another community may sell a product of the same name
    other = await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(4)}")
    neighbour = await enrol("shopkeeper", community_id=other.id)
    assert (await make(neighbour, name="花生油 5L"))["id"] != first["id"]


async def test_edit_name_price_limits_and_activity(shopkeeper: Member, community) -> None:
    made = await make(shopkeeper)
    path = f"/api/products/{made['id']}"
    response = await shopkeeper.client.patch(path, json={"name": "新米", "price": "9.90"})
    assert response.status_code == 200, response.text
    assert response.json() == made | {"name": "新米", "price": "9.90"}
    # one of the pair changes alone; both null clear the limit
    changed = (await shopkeeper.client.patch(path, json={"limit_per_person": 5})).json()
    assert (changed["limit_per_person"], changed["limit_period"]) == (5, "month")
    cleared = (await shopkeeper.client.patch(
        path, json={"limit_per_person": None, "limit_period": None})).json()
    assert (cleared["limit_per_person"], cleared["limit_period"]) == (None, None)
    added = (await shopkeeper.client.patch(
        path, json={"limit_per_person": 1, "limit_period": "week"})).json()
    assert (added["limit_per_person"], added["limit_period"]) == (1, "week")
    # nothing given, nothing changed
    assert (await shopkeeper.client.patch(path, json={})).json() == added
    actions = await AuditEntry.select(AuditEntry.action).where(
        AuditEntry.subject == f"product:{made['id']}").order_by(AuditEntry.id)
    assert [row["action"] for row in actions] == ["product_created"] + ["product_changed"] * 4


@pytest.mark.parametrize(("changes", "reason"), [
    ({"price": "0"}, "invalid_price"),
    ({"price": "1.001"}, "invalid_price"),
    ({"name": ""}, "invalid_product_name"),
    ({"limit_per_person": None}, "invalid_limit"),  # the period would be left alone
    ({"limit_period": None}, "invalid_limit"),
    ({"limit_period": "century"}, "invalid_limit"),
    ({"limit_per_person": 0}, "invalid_limit"),
    ({"active": "no"}, "invalid_input"),
])
async def test_bad_edits_change_nothing(
    shopkeeper: Member, community, changes: dict, reason: str
) -> None:
    made = await make(shopkeeper)
    before = await snapshot(community.id)
    response = await shopkeeper.client.patch(f"/api/products/{made['id']}", json=changes)
    assert response.status_code == 400, response.text
    assert response.json()["reason"] == reason
    assert await snapshot(community.id) == before


async def test_renaming_onto_another_product_is_a_conflict(shopkeeper: Member, community) -> None:
    await make(shopkeeper, name="酱油")
    vinegar = await make(shopkeeper, name="醋")
    before = await snapshot(community.id)
    response = await shopkeeper.client.patch(f"/api/products/{vinegar['id']}", json={"name": "酱油"})
    assert response.status_code == 409 and response.json()["reason"] == "product_exists"
    assert await snapshot(community.id) == before


async def test_stock_is_not_edited_through_patch(shopkeeper: Member, community) -> None:
    made = await make(shopkeeper, stock=4)
    response = await shopkeeper.client.patch(
        f"/api/products/{made['id']}", json={"stock": 400, "price": "2"})
    assert response.status_code == 200 and response.json()["stock"] == 4
    assert await stock.reconcile(community.id) == []


async def test_inactive_products_are_hidden_from_residents(
    shopkeeper: Member, resident: Member, organizer: Member
) -> None:
    made = await make(shopkeeper)
    path = f"/api/products/{made['id']}"
    hidden = (await shopkeeper.client.patch(path, json={"active": False})).json()
    assert hidden["active"] is False
    for member in (resident, organizer):
        assert (await member.client.get(path)).status_code == 404
        for query in ({}, {"include_inactive": "true"}):
            items = (await member.client.get("/api/products", params=query)).json()["items"]
            assert made["id"] not in [item["id"] for item in items]
    # shop staff see it when they ask
    assert (await shopkeeper.client.get(path)).json() == hidden
    staff_default = (await shopkeeper.client.get("/api/products")).json()["items"]
    assert made["id"] not in [item["id"] for item in staff_default]
    assert hidden in await catalogue(shopkeeper)
    # and back on sale
    assert (await shopkeeper.client.patch(path, json={"active": True})).json()["active"] is True
    assert (await resident.client.get(path)).status_code == 200


async def test_another_community_sees_and_changes_nothing(
    shopkeeper: Member, enrol: Enrol, ledger, community
) -> None:
    made = await make(shopkeeper)
    before = await snapshot(community.id)
    other = await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(4)}")
    for role in ("admin", "shopkeeper", "resident"):
        stranger = await enrol(role, community_id=other.id)
        path = f"/api/products/{made['id']}"
        assert (await stranger.client.get(path)).status_code == 404
        assert made["id"] not in [
            item["id"] for item in (await stranger.client.get(
                "/api/products", params={"include_inactive": "true"})).json()["items"]
        ]
        if role != "resident":
            assert (await stranger.client.patch(path, json={"price": "1"})).status_code == 404
            assert (await stranger.client.post(
                f"{path}/stock", json={"delta": -1, "reason": "偷"})).status_code == 404
            assert (await stranger.client.get(f"{path}/stock")).status_code == 404
    assert await snapshot(community.id) == before


async def test_unknown_product_is_404(shopkeeper: Member) -> None:
    response = await shopkeeper.client.get("/api/products/999999999")
    assert response.status_code == 404 and response.json()["reason"] == "not_found"
