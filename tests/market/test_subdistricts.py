"""Subdistricts (街道, issue 17): points that travel between communities (通存通兑), and the office.

A resident of A redeems at B's counter with the same ``POST /api/redemptions``; each community keeps
its own chain, the points cross through the pair's clearing accounts, both legs or neither.
"""

import asyncio
import contextlib
import secrets
from datetime import UTC, datetime

import httpx
import pytest
from litestar import Litestar

from ledger import Ledger
from market.auth.roles import ROLES, SUBDISTRICT_ADMIN
from market.community import service as communities
from market.community.service import CommunityView
from market.db import fetch
from market.people.service import NewPerson, create_person
from market.reports.board_period import CHINA
from market.subdistricts import service as subdistricts
from market.subdistricts.schemas import SubdistrictView
from tests.market.support import PASSWORD, Enrol, Member, adjust, client_for, random_phone
from tests.market.test_redemptions import balance, code_of, product, redeem


class Town:
    """Two communities of one subdistrict, a funded resident of A, a shop keeper of B."""

    def __init__(self, a: CommunityView, b: CommunityView, subdistrict: SubdistrictView,
                 resident: Member, keeper_a: Member, keeper_b: Member, admin_a: Member) -> None:
        self.a, self.b, self.subdistrict_id, self.name = a, b, subdistrict.id, subdistrict.name
        self.resident, self.keeper_a, self.keeper_b, self.admin_a = resident, keeper_a, keeper_b, admin_a


@pytest.fixture
async def town(ledger: Ledger, community: CommunityView, enrol: Enrol, admin: Member) -> Town:
    b = await communities.get_or_create(ledger, f"邻里社区-{secrets.token_hex(4)}")
    view = await subdistricts.create(f"街道-{secrets.token_hex(4)}", [community.id, b.id], shared=True)
    resident = await enrol("resident", name="王阿姨")
    assert (await adjust(admin, resident.id, "100")).status_code == 201
    return Town(community, b, view, resident, await enrol("shopkeeper"),
                await enrol("shopkeeper", community_id=b.id), admin)


async def _clearing(ledger: Ledger, one: int, other: int) -> str:
    account = await ledger.find_account(one, "clearing", str(other))
    return "0.00" if account is None else f"{(await ledger.balance(account.id)).balance:.2f}"


async def _shop(ledger: Ledger, community_id: int) -> str:
    account = await ledger.find_account(community_id, "shop")
    return f"{(await ledger.balance(account.id)).balance:.2f}"


async def _zero_sums(ledger: Ledger, *community_ids: int) -> None:
    for community_id in community_ids:
        totals = await ledger.totals(community_id)
        assert sum(totals.values()) == 0, (community_id, totals)
        assert (await ledger.verify(community_id)).ok


async def test_a_resident_of_a_redeems_at_b_and_both_books_show_it(town: Town, ledger: Ledger) -> None:
    soap = await product(town.keeper_b, price="12.50", stock_count=5)
    response = await redeem(town.keeper_b, await code_of(town.resident), [(soap, 2)], key="visit-1")
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["total"] == "25.00" and receipt["balance_after"] == "75.00"
    assert receipt["person"]["name"] == "王阿姨"
    assert await balance(town.resident) == "75.00"
    assert await _shop(ledger, town.b.id) == "25.00"
    assert await _clearing(ledger, town.a.id, town.b.id) == "25.00"  # A owes B
    assert await _clearing(ledger, town.b.id, town.a.id) == "-25.00"
    await _zero_sums(ledger, town.a.id, town.b.id)
    report = await ledger.verify()
    assert report.ok and report.clearing_pairs >= 1

    # The same key again answers the first redemption and moves nothing more.
    again = await redeem(town.keeper_b, await code_of(town.resident), [(soap, 2)], key="visit-1")
    assert again.status_code == 201 and again.json()["id"] == receipt["id"]
    assert await balance(town.resident) == "75.00"
    assert await _clearing(ledger, town.a.id, town.b.id) == "25.00"

    # The resident's statement in A shows the visit.
    entries = (await town.resident.client.get("/api/me/entries")).json()["items"]
    assert entries[0]["kind"] == "redemption" and "25.00" in entries[0]["amount"]


async def test_a_refund_at_b_crosses_back_to_the_wallet_in_a(
    town: Town, ledger: Ledger, enrol: Enrol
) -> None:
    oil = await product(town.keeper_b, price="30.00")
    receipt = (await redeem(town.keeper_b, await code_of(town.resident), [(oil, 2)])).json()
    refund = await town.keeper_b.client.post(
        f"/api/redemptions/{receipt['id']}/refund", json={"reason": "漏油", "items": [
            {"product_id": oil, "quantity": 1}]}, headers={"Idempotency-Key": "back-1"})
    assert refund.status_code in (200, 201), refund.text
    assert refund.json()["balance_after"] == "70.00"
    assert await balance(town.resident) == "70.00"
    assert await _clearing(ledger, town.a.id, town.b.id) == "30.00"
    assert await _shop(ledger, town.b.id) == "30.00"
    await _zero_sums(ledger, town.a.id, town.b.id)
    assert (await ledger.verify()).ok
    # Replayed, the refund answers the same and moves nothing.
    replay = await town.keeper_b.client.post(
        f"/api/redemptions/{receipt['id']}/refund", json={"reason": "漏油", "items": [
            {"product_id": oil, "quantity": 1}]}, headers={"Idempotency-Key": "back-1"})
    assert replay.json()["id"] == refund.json()["id"] and replay.json()["balance_after"] == "70.00"
    assert await balance(town.resident) == "70.00"
    # B's books of the day agree with its ledger: the visit and the refund are accounted for.
    b_admin = await enrol("admin", community_id=town.b.id)
    day = await b_admin.client.get("/api/shop/reconciliation")
    assert day.status_code == 200, day.text
    check = day.json()["ledger"]
    assert check["agrees"] and check["problems"] == [], check
    assert (check["redemption_transfers_points"], check["refund_transfers_points"]) == ("60.00", "30.00")


async def test_not_shared_is_refused_and_changes_nothing(town: Town, ledger: Ledger, enrol: Enrol) -> None:
    await subdistricts.create(town.name, [], shared=False)
    soap = await product(town.keeper_b, price="5.00", stock_count=3)
    response = await redeem(town.keeper_b, await code_of(town.resident), [(soap, 1)])
    assert response.status_code == 409 and response.json()["reason"] == "not_shared"
    english = await town.keeper_b.client.post(
        "/api/redemptions", headers={"Idempotency-Key": "x-1", "Accept-Language": "en"},
        json={"member_code": await code_of(town.resident), "items": [{"product_id": soap, "quantity": 1}]})
    assert "shared redemption" in english.json()["detail"]
    assert await balance(town.resident) == "100.00"
    assert await _clearing(ledger, town.a.id, town.b.id) == "0.00"
    # A resident of a community outside the subdistrict reads as a forged code, as before.
    outside = await communities.get_or_create(ledger, f"远方社区-{secrets.token_hex(4)}")
    stranger = await enrol("resident", community_id=outside.id)
    refused = await redeem(town.keeper_b, await code_of(stranger), [(soap, 1)])
    assert refused.status_code == 400 and refused.json()["reason"] == "invalid"


async def test_no_overspend_with_the_home_shop_and_the_visited_shop_at_once(
    town: Town, ledger: Ledger
) -> None:
    """100 points; ten baskets of 20 at once, half at A's own counter, half at B's: five go through."""
    at_a = await product(town.keeper_a, price="20.00", stock_count=20)
    at_b = await product(town.keeper_b, price="20.00", stock_count=20)
    code = await code_of(town.resident)
    answers = await asyncio.gather(*(
        redeem(town.keeper_a if i % 2 else town.keeper_b, code, [(at_a if i % 2 else at_b, 1)])
        for i in range(10)
    ))
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(201) == 5, [r.text for r in answers]
    assert all(r.json()["reason"] == "insufficient_points" for r in answers if r.status_code != 201)
    assert await balance(town.resident) == "0.00"
    visits = sum(1 for i, r in enumerate(answers) if r.status_code == 201 and not i % 2)
    assert await _clearing(ledger, town.a.id, town.b.id) == f"{20 * visits}.00"
    await _zero_sums(ledger, town.a.id, town.b.id)
    assert (await ledger.verify()).ok


async def _office(app: Litestar, ledger: Ledger, town: Town) -> httpx.AsyncClient:
    phone = random_phone()
    person = await create_person(
        town.a.id, NewPerson(name="街道办", phone=phone, roles=[SUBDISTRICT_ADMIN], password=PASSWORD),
        hasher=app.state.hasher, ledger=ledger, allowed_roles=ROLES | {SUBDISTRICT_ADMIN})
    await subdistricts.add_admin(town.subdistrict_id, person.id)
    client = client_for(app)
    signed = await client.post("/api/session", json={"login": phone, "secret": PASSWORD})
    assert signed.status_code == 200, signed.text
    client.headers["Authorization"] = f"Bearer {signed.json()['token']}"
    client.cookies.clear()
    return client


async def test_the_office_sees_across_and_settles_but_acts_inside_nothing(
    app: Litestar, town: Town, ledger: Ledger, enrol: Enrol
) -> None:
    soap = await product(town.keeper_b, price="12.50")
    assert (await redeem(town.keeper_b, await code_of(town.resident), [(soap, 2)])).status_code == 201
    # B's resident spends 5 at A's shop: the pair's debt nets to 20.
    b_resident = await enrol("resident", community_id=town.b.id)
    b_admin = await enrol("admin", community_id=town.b.id)
    assert (await adjust(b_admin, b_resident.id, "10")).status_code == 201
    rice = await product(town.keeper_a, price="5.00")
    assert (await redeem(town.keeper_a, await code_of(b_resident), [(rice, 1)])).status_code == 201

    office = await _office(app, ledger, town)
    async with contextlib.aclosing(office):
        mine = (await office.get("/api/subdistricts")).json()["items"]
        assert [s["id"] for s in mine] == [town.subdistrict_id]
        base = f"/api/subdistricts/{town.subdistrict_id}"
        overview = (await office.get(f"{base}/overview")).json()
        by_id = {c["community"]["id"]: c for c in overview["communities"]}
        assert by_id[town.a.id]["travelled"] == "20.00" and by_id[town.b.id]["travelled"] == "-20.00"
        assert overview["totals"]["travelled"] == "0.00"
        assert overview["totals"]["redeemed"] == "30.00"
        checks = (await office.get(f"{base}/ledger")).json()
        assert checks["ok"] and checks["clearing"][0]["first_says"] == checks["clearing"][0]["second_says"]

        period = datetime.now(CHINA).strftime("%Y-%m")
        statement = (await office.get(f"{base}/settlement", params={"period": period})).json()
        (pair,) = statement["pairs"]
        assert (pair["debtor"]["id"], pair["creditor"]["id"], pair["owed"]) == (town.a.id, town.b.id, "20.00")
        assert (pair["debtor_residents_spent"], pair["creditor_residents_spent"]) == ("25.00", "5.00")
        assert pair["movements"] == 4 and statement["mirrored"]
        # The statement equals the sum of the clearing legs, read straight from the ledger's rows.
        legs = await fetch(
            "SELECT t.amount, c.kind AS credit_kind FROM ledger_transfer t"
            " JOIN ledger_account c ON c.id = t.credit JOIN ledger_account d ON d.id = t.debit"
            " WHERE (c.ledger = {} AND c.kind = 'clearing' AND c.owner = {})"
            " OR (d.ledger = {} AND d.kind = 'clearing' AND d.owner = {})",
            town.a.id, str(town.b.id), town.a.id, str(town.b.id))
        net = sum(int(leg["amount"]) * (1 if leg["credit_kind"] == "clearing" else -1) for leg in legs)
        assert f"{net / 100:.2f}" == pair["owed"]
        last_year = (await office.get(f"{base}/settlement", params={"period": "2020-01"})).json()
        assert last_year["pairs"] == []
        bad = await office.get(f"{base}/settlement", params={"period": "2026-13"})
        assert bad.status_code == 400 and bad.json()["reason"] == "invalid_month"

        csv = await office.get(f"{base}/overview.csv")
        assert csv.status_code == 200 and csv.text.startswith("\ufeff社区")
        assert town.a.name in csv.text

        # Inside a community the office can do nothing: people, adjustments, phones, counters.
        receipt_id = (await redeem(town.keeper_b, await code_of(town.resident), [(soap, 1)])).json()["id"]
        for method, path, status in (
            ("GET", "/api/people", 403), ("POST", "/api/adjustments", 403),
            ("GET", f"/api/people/{town.resident.id}", 403), ("POST", "/api/redemptions", 403),
            ("GET", f"/api/redemptions/{receipt_id}", 404),  # a resident's own receipts only
        ):
            refused = await office.request(method, path, json={}, headers={"Idempotency-Key": "k"})
            assert refused.status_code == status, (method, path, refused.text)
        assert town.resident.phone not in (await office.get(f"{base}/overview")).text

        # Another subdistrict is not there for this office.
        other = await subdistricts.create(f"别的街道-{secrets.token_hex(3)}", [])
        assert (await office.get(f"/api/subdistricts/{other.id}/overview")).status_code == 404

        # The office turns sharing off: the next visit is refused.
        off = await office.put(base, json={"shared_redemption": False})
        assert off.status_code == 200 and off.json()["shared_redemption"] is False
    refused = await redeem(town.keeper_b, await code_of(town.resident), [(soap, 1)])
    assert refused.json()["reason"] == "not_shared"


async def test_grouping_is_idempotent_and_a_community_has_one_subdistrict(
    ledger: Ledger, community: CommunityView
) -> None:
    b = await communities.get_or_create(ledger, f"甲社区-{secrets.token_hex(4)}")
    name = f"测试街道-{secrets.token_hex(4)}"
    first = await subdistricts.create(name, [community.id, b.id])
    again = await subdistricts.create(name, [b.id, community.id])
    assert again.id == first.id and [c.id for c in again.communities] == sorted([community.id, b.id])
    assert first.shared_redemption is False
    turned_on = await subdistricts.create(name, [], shared=True)
    assert turned_on.shared_redemption and len(turned_on.communities) == 2
    from market.errors import Conflict

    with pytest.raises(Conflict) as refused:
        await subdistricts.create(f"另一街道-{secrets.token_hex(4)}", [b.id])
    assert refused.value.reason == "community_in_other_subdistrict"
    assert (await subdistricts.get(first.id)).communities == turned_on.communities


async def test_settlement_month_bounds_are_beijing_months() -> None:
    from market.subdistricts.settlement import month_bounds

    start, end = month_bounds("2026-12")
    assert start.astimezone(UTC).isoformat() == "2026-11-30T16:00:00+00:00"
    assert end.astimezone(UTC).isoformat() == "2026-12-31T16:00:00+00:00"


async def test_the_counter_page_serves_a_visitor_and_says_where_they_are_from(
    app: Litestar, town: Town, ledger: Ledger
) -> None:
    """B's shop keeper, at the counter page, with A's resident's member code: a receipt that says
    the resident is visiting; with sharing off, the code field says why, in the page's language."""
    from tests.web.support import browser
    from tests.web.test_scanner import sign_in_staff
    from tests.web.test_shopkeeper import counter_form

    soap = await product(town.keeper_b, price="5.00", stock_count=9)
    async with browser(app) as client:
        await sign_in_staff(client, town.keeper_b)
        csrf, key = await counter_form(client)
        done = await client.post("/counter", data={
            "csrf": csrf, "key": key, f"q{soap}": "3", "member_code": await code_of(town.resident),
            "pin": ""})
        assert done.status_code == 303, done.text
        receipt = await client.get(done.headers["location"])
        assert f"来自{town.a.name}（通存通兑）" in receipt.text
        assert 'id="balance-after">85.00<' in receipt.text
        await subdistricts.create(town.name, [], shared=False)
        csrf, key = await counter_form(client)
        refused = await client.post("/counter", data={
            "csrf": csrf, "key": key, f"q{soap}": "1", "member_code": await code_of(town.resident),
            "pin": ""})
        assert refused.status_code == 409
        assert "尚未开通积分通存通兑" in refused.text
    assert await balance(town.resident) == "85.00"


async def test_a_visitor_without_a_phone_redeems_with_the_printed_card_and_pin(
    town: Town, ledger: Ledger
) -> None:
    from market.cards.service import card_code
    from market.settings import get_settings

    soap = await product(town.keeper_b, price="4.00")
    card = card_code(get_settings(), town.resident.id, 1)
    missing = await redeem(town.keeper_b, card, [(soap, 1)])
    assert missing.status_code == 400 and missing.json()["reason"] == "card_pin_required"
    right = await redeem(town.keeper_b, card, [(soap, 1)], pin=town.resident.pin)
    assert right.status_code == 201, right.text
    assert await balance(town.resident) == "96.00"
    assert await _clearing(ledger, town.a.id, town.b.id) == "4.00"


async def test_the_settlement_separates_spending_refunds_and_moves_of_house(
    town: Town, ledger: Ledger, enrol: Enrol
) -> None:
    """A's resident spends 25 at B and gets 12.50 back; B's resident spends 5 at A; another resident
    of A moves to B with 40 points. A owes B 12.50 − 5 + 40 = 47.50, and each part says what it is."""
    from market.subdistricts.settlement import settlement, this_month

    soap = await product(town.keeper_b, price="12.50")
    sale = (await redeem(town.keeper_b, await code_of(town.resident), [(soap, 2)])).json()
    back = await town.keeper_b.client.post(
        f"/api/redemptions/{sale['id']}/refund", json={"reason": "破损", "items": [
            {"product_id": soap, "quantity": 1}]}, headers={"Idempotency-Key": "settle-back"})
    assert back.status_code in (200, 201), back.text
    b_resident = await enrol("resident", community_id=town.b.id)
    b_admin = await enrol("admin", community_id=town.b.id)
    assert (await adjust(b_admin, b_resident.id, "5")).status_code == 201
    rice = await product(town.keeper_a, price="5.00")
    assert (await redeem(town.keeper_a, await code_of(b_resident), [(rice, 1)])).status_code == 201
    mover = await enrol("resident", name="搬家的人")
    assert (await adjust(town.admin_a, mover.id, "40")).status_code == 201
    asked = await town.admin_a.client.post(
        "/api/moves", json={"person_id": mover.id, "to_community": town.b.id})
    assert asked.status_code == 201, asked.text
    approved = await b_admin.client.post(f"/api/moves/{asked.json()['id']}/approve")
    assert approved.status_code in (200, 201), approved.text

    statement = await settlement(ledger, town.subdistrict_id, this_month())
    (pair,) = statement.pairs
    assert (pair.debtor.id, pair.creditor.id) == (town.a.id, town.b.id)
    assert (pair.debtor_residents_spent, pair.creditor_residents_spent) == ("12.50", "5.00")
    assert (pair.moved_to_creditor, pair.moved_to_debtor, pair.owed) == ("40.00", "0.00", "47.50")
    assert pair.movements == 2 * 4  # four crossings, two legs each
    assert statement.mirrored
    # What the pair owes is what the clearing accounts hold (they started at zero this test).
    assert await _clearing(ledger, town.a.id, town.b.id) == "47.50"


async def test_a_refund_after_a_move_of_house_reaches_the_new_wallet(
    town: Town, ledger: Ledger, enrol: Enrol
) -> None:
    """Bought at A, moved to B, brought the goods back to A's shop: the points reach the wallet in
    B (the one the resident has now), crossing back through the clearing accounts, and A's day
    still reconciles."""
    rice = await product(town.keeper_a, price="10.00")
    sale = await redeem(town.keeper_a, await code_of(town.resident), [(rice, 3)])
    assert sale.status_code == 201
    b_admin = await enrol("admin", community_id=town.b.id)
    asked = await town.admin_a.client.post(
        "/api/moves", json={"person_id": town.resident.id, "to_community": town.b.id})
    assert asked.status_code == 201, asked.text
    approved = await b_admin.client.post(f"/api/moves/{asked.json()['id']}/approve")
    assert approved.status_code in (200, 201), approved.text
    assert await balance(town.resident) == "70.00"  # now in B
    back = await town.keeper_a.client.post(
        f"/api/redemptions/{sale.json()['id']}/refund", json={"reason": "发霉"},
        headers={"Idempotency-Key": "after-move"})
    assert back.status_code in (200, 201), back.text
    assert back.json()["balance_after"] == "100.00"
    assert await balance(town.resident) == "100.00"
    # 70 moved A → B, then 30 crossed back from A's shop to the wallet in B: A owes B 100.
    assert await _clearing(ledger, town.a.id, town.b.id) == "100.00"
    await _zero_sums(ledger, town.a.id, town.b.id)
    assert (await ledger.verify()).ok
    day = await town.admin_a.client.get("/api/shop/reconciliation")
    check = day.json()["ledger"]
    assert check["agrees"] and check["problems"] == [], check


async def test_a_visitor_meets_the_shops_minimum_with_points_earned_at_home(
    town: Town, enrol: Enrol
) -> None:
    """B asks residents to have earned 50 points before redeeming; A's resident earned 100 at home."""
    b_admin = await enrol("admin", community_id=town.b.id)
    rules = await b_admin.client.put("/api/shop/rules", json={
        "open_days": [1, 2, 3, 4, 5, 6, 7], "opens_at": "00:00", "closes_at": "24:00", "min_earned": "50"})
    assert rules.status_code == 200, rules.text
    soap = await product(town.keeper_b, price="1.00")
    visit = await redeem(town.keeper_b, await code_of(town.resident), [(soap, 1)])
    assert visit.status_code == 201, visit.text
    newcomer = await enrol("resident")
    refused = await redeem(town.keeper_b, await code_of(newcomer), [(soap, 1)])
    assert refused.status_code == 409 and refused.json()["reason"] == "not_enough_earned"


async def test_a_resident_who_moved_exports_every_wallet_they_had(town: Town, enrol: Enrol) -> None:
    b_admin = await enrol("admin", community_id=town.b.id)
    asked = await town.admin_a.client.post(
        "/api/moves", json={"person_id": town.resident.id, "to_community": town.b.id})
    assert (await b_admin.client.post(f"/api/moves/{asked.json()['id']}/approve")).status_code in (200, 201)
    mine = await town.resident.client.get("/api/me/export")
    assert mine.status_code == 200, mine.text
    data = mine.json()
    assert data["balance"] == "100.00"
    kinds = [(entry["kind"], entry["amount"]) for entry in data["entries"]]
    # The move's two legs (into B's wallet, out of A's) and the credit A gave before it.
    assert [kind for kind, _ in kinds].count("move") == 2 and ("adjustment", "100.00") in kinds, kinds
