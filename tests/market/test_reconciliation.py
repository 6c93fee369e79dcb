"""A counter's day, reconciled: exact totals from real redemptions and refunds, and tampering found."""

import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ledger import Ledger
from market.community import service as communities
from market.db import fetch
from market.points.service import account_id, wallet_id
from tests.market.records import person
from tests.market.support import Enrol, Member
from tests.market.test_redemptions import code_of, funded, product, redeem

CHINA = ZoneInfo("Asia/Shanghai")
URL = "/api/shop/reconciliation"


def today() -> str:
    return datetime.now(UTC).astimezone(CHINA).date().isoformat()


async def day_of(member: Member, **params: object) -> dict:
    response = await member.client.get(URL, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def counter(enrol: Enrol, admin: Member) -> dict:
    """Two keepers' day: keeper A redeems twice and refunds part of one; keeper B redeems once.

    A: 2 rice (12.50) + 1 oil (30.00) = 55.00; 1 rice = 12.50; refund 1 rice = 12.50; a
    donation of 5 rice. B: 1 oil = 30.00.
    """
    keeper_a, keeper_b = await enrol("shopkeeper", name="王店员"), await enrol("shopkeeper", name="赵店员")
    rice, oil = await product(admin, "12.50", 20), await product(admin, "30.00", 10)
    first, second = await funded(enrol, admin, "100.00"), await funded(enrol, admin, "50.00")
    made = await redeem(keeper_a, await code_of(first), [(rice, 2), (oil, 1)])
    assert made.status_code == 201, made.text
    assert (await redeem(keeper_a, await code_of(second), [(rice, 1)])).status_code == 201
    assert (await redeem(keeper_b, await code_of(second), [(oil, 1)])).status_code == 201
    refund = await keeper_a.client.post(
        f"/api/redemptions/{made.json()['id']}/refund",
        json={"reason": "米袋破了", "items": [{"product_id": rice, "quantity": 1}]},
    )
    assert refund.status_code == 201, refund.text
    donation = await keeper_a.client.post(
        f"/api/products/{rice}/stock", json={"delta": 5, "kind": "donation", "donor": "刘师傅"}
    )
    assert donation.status_code == 200, donation.text
    return {"a": keeper_a, "b": keeper_b, "rice": rice, "oil": oil, "first": first,
            "redemption": made.json()["id"]}


async def test_a_keepers_day_adds_up_exactly(counter: dict) -> None:
    keeper, rice, oil = counter["a"], counter["rice"], counter["oil"]
    body = await day_of(keeper)
    assert body["date"] == today() and body["keeper_id"] == keeper.id
    assert body["redemptions"] == {"count": 2, "points": "67.50"}
    assert body["refunds"] == {"count": 1, "points": "12.50"}
    by_product = {p["product_id"]: p for p in body["by_product"]}
    assert set(by_product) == {rice, oil}
    assert {k: by_product[rice][k] for k in ("quantity_out", "quantity_back", "points", "points_out",
                                               "points_back")} == {
        "quantity_out": 3, "quantity_back": 1, "points": "25.00", "points_out": "37.50",
        "points_back": "12.50",
    }
    assert (by_product[oil]["quantity_out"], by_product[oil]["quantity_back"], by_product[oil]["points"]) == (
        1, 0, "30.00")
    assert by_product[rice]["name"].startswith("商品")
    moves = {(m["product_id"], m["kind"]): m["delta"] for m in body["stock_movements"]}
    # the products' initial stock was the admin's doing, not this keeper's
    assert moves == {(rice, "redemption"): -3, (rice, "refund"): 1, (rice, "donation"): 5,
                     (oil, "redemption"): -1}
    assert body["ledger"] == {"agrees": True, "redemption_transfers_points": "67.50",
                              "refund_transfers_points": "12.50", "problems": []}
    # the same day asked for by date, and by the keeper's own id
    assert await day_of(keeper, date=today()) == body
    assert await day_of(keeper, date=today(), keeper_id=keeper.id) == body


async def test_an_admin_sees_one_keeper_or_all(counter: dict, admin: Member) -> None:
    assert await day_of(admin, keeper_id=counter["a"].id) == await day_of(counter["a"])
    only_b = await day_of(admin, keeper_id=counter["b"].id)
    assert only_b["redemptions"] == {"count": 1, "points": "30.00"} and only_b["refunds"]["count"] == 0
    everyone = await day_of(admin)
    assert everyone["keeper_id"] is None
    assert everyone["redemptions"] == {"count": 3, "points": "97.50"}
    assert everyone["refunds"] == {"count": 1, "points": "12.50"}
    moves = {(m["product_id"], m["kind"]): m["delta"] for m in everyone["stock_movements"]}
    rice, oil = counter["rice"], counter["oil"]
    assert moves == {(rice, "initial"): 20, (rice, "redemption"): -3, (rice, "refund"): 1,
                     (rice, "donation"): 5, (oil, "initial"): 10, (oil, "redemption"): -2}
    assert sum(Decimal(p["points"]) for p in everyone["by_product"]) == Decimal("85.00")
    assert everyone["ledger"]["agrees"] is True
    assert everyone["ledger"]["redemption_transfers_points"] == "97.50"


async def test_another_day_is_empty(counter: dict, admin: Member) -> None:
    yesterday = (datetime.now(UTC).astimezone(CHINA).date() - timedelta(days=1)).isoformat()
    body = await day_of(admin, date=yesterday)
    assert body["date"] == yesterday
    assert body["redemptions"] == {"count": 0, "points": "0.00"} == body["refunds"]
    assert body["by_product"] == [] and body["stock_movements"] == []
    assert body["ledger"]["agrees"] is True


async def test_who_may_see_which_counter(
    counter: dict, enrol: Enrol, admin: Member, ledger: Ledger, anon
) -> None:
    response = await counter["a"].client.get(URL, params={"keeper_id": counter["b"].id})
    assert response.status_code == 403 and response.json()["reason"] == "forbidden"
    for role in ("resident", "organizer"):
        member = await enrol(role)
        assert (await member.client.get(URL)).status_code == 403
    assert (await anon.get(URL)).status_code == 401
    # a person of another community is not found, even by an admin
    other = await communities.get_or_create(ledger, f"邻居-{secrets.token_hex(4)}")
    outsider = await person(other.id, "shopkeeper")
    assert (await admin.client.get(URL, params={"keeper_id": outsider})).status_code == 404


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday", "2026-1-1", "2026-11-23T00:00", "20261123",
                                 "0001-01-01", "9999-12-31"])
async def test_a_bad_date_is_refused(admin: Member, bad: str) -> None:
    response = await admin.client.get(URL, params={"date": bad})
    assert response.status_code == 400 and response.json()["reason"] == "invalid_date"


async def test_a_redemption_without_its_transfer_is_named(counter: dict, admin: Member, community) -> None:
    keeper, first = counter["a"], counter["first"]
    (row,) = await fetch(
        "INSERT INTO redemption (community, person, keeper, key, request_hash, total, transfer_id,"
        " balance_after, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
        community.id, first.id, keeper.id, "forged", "0" * 64, 500, "redeem-forged-0001", 0,
        datetime.now(UTC),
    )
    body = await day_of(keeper)
    assert body["redemptions"] == {"count": 3, "points": "72.50"}
    check = body["ledger"]
    assert check["agrees"] is False and check["redemption_transfers_points"] == "67.50"
    assert check["problems"] == [{
        "problem": "transfer_missing", "transfer_id": "redeem-forged-0001", "redemption_id": row["id"],
        "refund_id": None, "expected": None, "found": None,
        "detail": f"兑换单 {row['id']} 的积分记录 redeem-forged-0001 在账本中找不到",
    }]
    english = await keeper.client.get(URL, headers={"Accept-Language": "en"})
    assert english.json()["ledger"]["problems"][0]["detail"] == (
        f"The ledger has no transfer redeem-forged-0001 for redemption {row['id']}"
    )
    # the other keeper's counter is not affected
    assert (await day_of(counter["b"]))["ledger"]["agrees"] is True


async def test_a_redemption_pointing_at_the_wrong_transfer_is_named(
    counter: dict, admin: Member, community, ledger: Ledger
) -> None:
    keeper, first = counter["a"], counter["first"]
    # The resident's funding: issuance → wallet, 100.00; a redemption of 99.00 claims it.
    wallet = await wallet_id(ledger, community.id, first.id)
    (funding,) = await fetch(
        "SELECT id FROM ledger_transfer WHERE credit = {} AND kind = 'adjustment'", wallet
    )
    await fetch(
        "INSERT INTO redemption (community, person, keeper, key, request_hash, total, transfer_id,"
        " balance_after, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
        community.id, first.id, keeper.id, "forged-2", "0" * 64, 9900, funding["id"], 0,
        datetime.now(UTC),
    )
    check = (await day_of(keeper))["ledger"]
    assert check["agrees"] is False
    kinds = {p["problem"]: p for p in check["problems"]}
    assert set(kinds) == {"transfer_amount_differs", "transfer_accounts_differ"}
    assert (kinds["transfer_amount_differs"]["expected"], kinds["transfer_amount_differs"]["found"]) == (
        "99.00", "100.00")
    assert kinds["transfer_accounts_differ"]["found"].startswith(f"issuance@{community.id} → wallet:")
    assert check["redemption_transfers_points"] == "167.50"


async def test_a_shop_transfer_without_a_redemption_is_named_in_the_whole_day(
    counter: dict, admin: Member, community, ledger: Ledger
) -> None:
    wallet = await wallet_id(ledger, community.id, counter["first"].id)
    shop = await account_id(ledger, community.id, "shop")
    stray = f"stray-{secrets.token_hex(4)}"
    await ledger.transfer(stray, debit=wallet, credit=shop, amount=Decimal("1.00"), kind="redemption")
    everyone = (await day_of(admin))["ledger"]
    assert everyone["agrees"] is False
    assert [(p["problem"], p["transfer_id"], p["found"]) for p in everyone["problems"]] == [
        ("transfer_unaccounted", stray, "1.00")
    ]
    # one keeper's counter cannot tell whose the stray transfer was: it is the community's question
    assert (await day_of(counter["a"]))["ledger"]["agrees"] is True
