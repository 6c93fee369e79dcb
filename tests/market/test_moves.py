"""Moving house (搬家, issue 17): a resident of A moves to B, another community of A's subdistrict,
with their points (one crossing through the pair's clearing accounts), their service hours and a
readable history, once A's office asks and B's office approves."""

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from litestar import Litestar

from ledger import Ledger
from market.community import service as communities
from market.community.service import CommunityView
from market.db import fetch
from market.reports import certificate_records as records
from market.subdistricts import service as subdistricts
from tests.market.support import Enrol, Member, adjust, balance
from tests.market.test_certificates import served
from tests.market.test_redemptions import product


class Town:
    """A and B of one subdistrict, their admins, and a resident of A with 100 points."""

    def __init__(self, a: CommunityView, b: CommunityView, admin_a: Member, admin_b: Member,
                 resident: Member) -> None:
        self.a, self.b, self.admin_a, self.admin_b, self.resident = a, b, admin_a, admin_b, resident


@pytest.fixture
async def town(ledger: Ledger, community: CommunityView, enrol: Enrol, admin: Member) -> Town:
    b = await communities.get_or_create(ledger, f"新家社区-{secrets.token_hex(4)}")
    await subdistricts.create(f"搬家街道-{secrets.token_hex(4)}", [community.id, b.id])
    resident = await enrol("resident", name="王阿姨")
    assert (await adjust(admin, resident.id, "100", reason="志愿服务")).status_code == 201
    return Town(community, b, admin, await enrol("admin", community_id=b.id), resident)


async def _ask(town: Town, person_id: int | None = None, to: int | None = None, **headers: str):
    return await town.admin_a.client.post("/api/moves", headers=headers, json={
        "person_id": town.resident.id if person_id is None else person_id,
        "to_community": town.b.id if to is None else to})


async def _wallet(ledger: Ledger, community_id: int, person_id: int) -> str:
    account = await ledger.find_account(community_id, "wallet", str(person_id))
    return "0.00" if account is None else f"{(await ledger.balance(account.id)).balance:.2f}"


async def _clearing(ledger: Ledger, one: int, other: int) -> str:
    account = await ledger.find_account(one, "clearing", str(other))
    return "0.00" if account is None else f"{(await ledger.balance(account.id)).balance:.2f}"


async def _books_balance(ledger: Ledger, town: Town) -> None:
    for community_id in (town.a.id, town.b.id):
        totals = await ledger.totals(community_id)
        assert sum(totals.values()) == 0, (community_id, totals)
        assert (await ledger.verify(community_id)).ok
    pair = [await _clearing(ledger, town.a.id, town.b.id), await _clearing(ledger, town.b.id, town.a.id)]
    assert sum(Decimal(x) for x in pair) == 0, pair
    report = await ledger.verify()
    assert report.ok, report.problem


async def _snapshot(ledger: Ledger, town: Town) -> tuple:
    person = await fetch("SELECT community, household FROM person WHERE id = {}", town.resident.id)
    moves = await fetch("SELECT id, state FROM house_move WHERE person = {} ORDER BY id", town.resident.id)
    return (person, moves, await _wallet(ledger, town.a.id, town.resident.id),
            await _wallet(ledger, town.b.id, town.resident.id), await _clearing(ledger, town.a.id, town.b.id))


async def test_a_resident_moves_with_their_points_hours_and_history(
    app: Litestar, town: Town, ledger: Ledger
) -> None:
    resident = town.resident
    served_at = datetime.now(UTC) - timedelta(days=3)
    await served(town.a.id, resident.id, "楼道清扫", "volunteer_service", served_at, 250)
    settings = app.state.settings
    before = await records.issue(settings, town.a.id, resident.id, records.Period())
    lots_in_a = await fetch("SELECT SUM(amount) AS n FROM points_lot WHERE community = {} AND person = {}",
                            town.a.id, resident.id)

    asked = await _ask(town)
    assert asked.status_code == 201, asked.text
    move = asked.json()
    assert (move["state"], move["direction"], move["points"]) == ("pending", "out", None)
    assert move["person"] == {"id": resident.id, "name": "王阿姨"}
    incoming = (await town.admin_b.client.get("/api/moves")).json()["items"]
    assert [(m["id"], m["direction"]) for m in incoming] == [(move["id"], "in")]
    assert (await town.admin_b.client.get("/api/moves", params={"direction": "out"})).json()["items"] == []

    approved = await town.admin_b.client.post(f"/api/moves/{move['id']}/approve")
    assert approved.status_code == 200, approved.text
    done = approved.json()
    assert (done["state"], done["points"], done["transfer_id"]) == ("done", "100.00", f"move:{move['id']}")

    # The person is B's now, without A's address; their points crossed whole, the books balance.
    (person,) = await fetch("SELECT community, household FROM person WHERE id = {}", resident.id)
    assert (person["community"], person["household"]) == (town.b.id, None)
    assert await _wallet(ledger, town.a.id, resident.id) == "0.00"
    assert await _wallet(ledger, town.b.id, resident.id) == "100.00"
    assert await _clearing(ledger, town.a.id, town.b.id) == "100.00"  # A owes B what came with her
    assert await _clearing(ledger, town.b.id, town.a.id) == "-100.00"
    await _books_balance(ledger, town)
    # Her points keep their expiries: the same lots, now in B.
    lots_in_b = await fetch("SELECT SUM(amount) AS n FROM points_lot WHERE community = {} AND person = {}",
                            town.b.id, resident.id)
    assert int(lots_in_b[0]["n"]) == int(lots_in_a[0]["n"]) == 10000

    # What she sees: the same balance, her hours, and her history from A under the move.
    mine = (await resident.client.get("/api/me/balance")).json()
    assert (mine["balance"], mine["service_hours"]) == ("100.00", "2.50")
    entries = (await resident.client.get("/api/me/entries")).json()
    assert [(e["kind"], e["amount"], e["memo"]) for e in entries["items"]] == [
        ("move", "100.00", f"迁自 {town.a.name}"),
        ("move", "-100.00", f"迁往 {town.b.name}"),
        ("adjustment", "100.00", "志愿服务"),
    ]
    assert [e["community_id"] for e in entries["items"]] == [town.b.id, town.a.id, town.a.id]
    # One entry a page: the cursor walks the merged history without a gap or a repeat.
    seen, cursor = [], None
    while True:
        page = (await resident.client.get("/api/me/entries", params={"limit": 1, "cursor": cursor})).json()
        seen += [e["id"] for e in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [e["id"] for e in entries["items"]]
    # Her hours of A are on a certificate B issues, and A's certificate of before still checks.
    assert (await resident.client.get("/api/me/certificate.pdf")).status_code == 200
    found = await records.compute(town.b.id, resident.id, datetime.now(UTC), records.Period())
    assert found.total_hours == "2.50" and found.community == town.b.name
    assert (await records.check(settings, before.token)).status == "valid"

    # The offices: A no longer has her, B does; both wrote it in their audit logs.
    assert (await town.admin_a.client.get(f"/api/people/{resident.id}")).status_code == 404
    assert (await town.admin_b.client.get(f"/api/people/{resident.id}")).status_code == 200
    audited = await fetch("SELECT community, action FROM audit_log WHERE subject = {} AND action LIKE {}"
                          " ORDER BY id", f"person:{resident.id}", "%move%")
    assert [(row["community"], row["action"]) for row in audited] == [
        (town.a.id, "move_requested"), (town.a.id, "person_moved_out"), (town.b.id, "person_moved_in")]

    # Approved again: the same move, nothing more moved.
    again = await town.admin_b.client.post(f"/api/moves/{move['id']}/approve")
    assert again.status_code == 200 and again.json() == done
    assert await _wallet(ledger, town.b.id, resident.id) == "100.00"
    assert await _clearing(ledger, town.a.id, town.b.id) == "100.00"


async def test_refusals_change_nothing(town: Town, ledger: Ledger, enrol: Enrol) -> None:
    before = await _snapshot(ledger, town)
    neighbour = await enrol("resident", community_id=town.b.id)
    outside = await communities.get_or_create(ledger, f"外街道社区-{secrets.token_hex(4)}")
    organizer = await enrol("organizer", "resident")
    for response, status, reason in (
        (await _ask(town, person_id=neighbour.id), 404, "not_found"),  # not a resident of A
        (await _ask(town, person_id=2**31 - 1), 404, "not_found"),
        (await _ask(town, to=town.a.id), 400, "move_to_same_community"),
        (await _ask(town, to=outside.id), 409, "not_same_subdistrict"),
        (await _ask(town, to=2**31 - 1), 409, "not_same_subdistrict"),
        (await _ask(town, person_id=organizer.id), 409, "move_staff"),
    ):
        assert (response.status_code, response.json()["reason"]) == (status, reason), response.text
    english = await _ask(town, to=outside.id, **{"Accept-Language": "en"})
    assert "another community of this subdistrict" in english.json()["detail"]
    for body in ({"person_id": "x", "to_community": town.b.id}, {"person_id": 2**70, "to_community": 1},
                 {"person_id": town.resident.id, "to_community": -1}, {"person_id": 0, "to_community": 0}):
        bad = await town.admin_a.client.post("/api/moves", json=body)
        assert 400 <= bad.status_code < 500, (body, bad.text)
    for path in (f"/api/moves/{2**40}/approve", f"/api/moves/{2**70}/cancel", "/api/moves/0/approve"):
        assert 400 <= (await town.admin_b.client.post(path)).status_code < 500, path
    assert await _snapshot(ledger, town) == before

    move = (await _ask(town)).json()
    again = await _ask(town)
    assert (again.status_code, again.json()["reason"]) == (409, "move_pending")
    # B's office refuses, with a reason; nothing of her moved.
    blank = await town.admin_b.client.post(f"/api/moves/{move['id']}/refuse", json={"reason": "  "})
    assert (blank.status_code, blank.json()["reason"]) == (400, "invalid_reason")
    nul = await town.admin_b.client.post(f"/api/moves/{move['id']}/refuse", json={"reason": "房屋\x00未过户"})
    assert nul.status_code == 400, nul.text
    refused = await town.admin_b.client.post(f"/api/moves/{move['id']}/refuse", json={"reason": "房屋未过户"})
    assert refused.status_code == 200 and refused.json()["state"] == "refused"
    assert refused.json()["note"] == "房屋未过户"
    for client, action in ((town.admin_b.client, "approve"), (town.admin_a.client, "cancel")):
        late = await client.post(f"/api/moves/{move['id']}/{action}")
        assert (late.status_code, late.json()["reason"]) == (409, "move_not_pending")
    (person,) = await fetch("SELECT community FROM person WHERE id = {}", town.resident.id)
    assert person["community"] == town.a.id
    assert await _wallet(ledger, town.a.id, town.resident.id) == "100.00"

    # Asked again, then withdrawn by A: B can no longer approve it.
    second = (await _ask(town)).json()
    cancelled = await town.admin_a.client.post(f"/api/moves/{second['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    late = await town.admin_b.client.post(f"/api/moves/{second['id']}/approve")
    assert (late.status_code, late.json()["reason"]) == (409, "move_not_pending")
    assert await _wallet(ledger, town.a.id, town.resident.id) == "100.00"
    assert await _clearing(ledger, town.a.id, town.b.id) == "0.00"


async def test_the_moves_of_other_communities_are_not_there(town: Town, ledger: Ledger, enrol: Enrol) -> None:
    move = (await _ask(town)).json()
    c = await communities.get_or_create(ledger, f"第三社区-{secrets.token_hex(4)}")
    await subdistricts.create(f"另一街道-{secrets.token_hex(4)}", [c.id])
    stranger = await enrol("admin", community_id=c.id)
    for action, body in (("approve", None), ("refuse", {"reason": "不认识"}), ("cancel", None)):
        response = await stranger.client.post(f"/api/moves/{move['id']}/{action}", json=body)
        assert response.status_code == 404, (action, response.text)
    assert (await stranger.client.get("/api/moves")).json()["items"] == []
    # Each side does only its own part: A does not approve, B does not cancel.
    assert (await town.admin_a.client.post(f"/api/moves/{move['id']}/approve")).status_code == 404
    assert (await town.admin_b.client.post(f"/api/moves/{move['id']}/cancel")).status_code == 404
    resident = await enrol("resident", community_id=town.b.id)
    assert (await resident.client.get("/api/moves")).status_code == 403
    (row,) = await fetch("SELECT state FROM house_move WHERE id = {}", move["id"])
    assert row["state"] == "pending"


async def test_two_approvals_at_once_move_once(town: Town, ledger: Ledger) -> None:
    move = (await _ask(town)).json()
    answers = await asyncio.gather(*(
        town.admin_b.client.post(f"/api/moves/{move['id']}/approve") for _ in range(2)))
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["points"] == "100.00"
    assert await _wallet(ledger, town.b.id, town.resident.id) == "100.00"
    assert await _wallet(ledger, town.a.id, town.resident.id) == "0.00"
    assert await _clearing(ledger, town.a.id, town.b.id) == "100.00"
    legs = await fetch("SELECT id FROM ledger_transfer WHERE id LIKE {} ORDER BY id", f"move:{move['id']}:%")
    assert [leg["id"] for leg in legs] == [f"move:{move['id']}:in", f"move:{move['id']}:out"]
    await _books_balance(ledger, town)


async def test_a_resident_with_a_reservation_is_refused_until_it_is_settled(
    town: Town, ledger: Ledger, enrol: Enrol
) -> None:
    keeper = await enrol("shopkeeper")
    rice = await product(keeper, price="30.00", stock_count=5)
    order = await town.resident.client.post("/api/orders",
                                            json={"items": [{"product_id": rice, "quantity": 1}]})
    assert order.status_code == 201, order.text
    move = (await _ask(town)).json()
    before = await _snapshot(ledger, town)
    refused = await town.admin_b.client.post(f"/api/moves/{move['id']}/approve")
    assert (refused.status_code, refused.json()["reason"]) == (409, "open_reservations")
    assert "预订" in refused.json()["detail"]
    assert await _snapshot(ledger, town) == before
    assert (await town.resident.client.get("/api/me/balance")).json()["available"] == "70.00"

    cancelled = await town.resident.client.post(f"/api/orders/{order.json()['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    approved = await town.admin_b.client.post(f"/api/moves/{move['id']}/approve")
    assert approved.status_code == 200 and approved.json()["points"] == "100.00"
    assert await balance(town.resident) == "100.00"
    await _books_balance(ledger, town)


async def test_an_empty_wallet_moves_the_person_and_no_points(
    town: Town, ledger: Ledger, enrol: Enrol
) -> None:
    newcomer = await enrol("resident", name="刘大爷")
    move = (await _ask(town, person_id=newcomer.id)).json()
    approved = await town.admin_b.client.post(f"/api/moves/{move['id']}/approve")
    assert approved.status_code == 200, approved.text
    assert (approved.json()["points"], approved.json()["transfer_id"]) == ("0.00", None)
    (person,) = await fetch("SELECT community FROM person WHERE id = {}", newcomer.id)
    assert person["community"] == town.b.id
    assert await _clearing(ledger, town.a.id, town.b.id) == "0.00"
    assert (await newcomer.client.get("/api/me/entries")).json()["items"] == []
    await _books_balance(ledger, town)
