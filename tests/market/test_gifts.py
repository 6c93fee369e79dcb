"""Households and gifts (issue 15), on both engines: the household's points, the policy's scopes,
the monthly cap, idempotency, which points a gift moves (their expiry kept), what a gift does
not count as, and parallel gifts from one wallet.

Moments of earning and giving come from ``market.clock``, injected; clearing is given its moment.
"""

import asyncio
import secrets
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from ledger import Ledger
from market import clock
from market.community import service as communities
from market.community.service import CommunityView
from market.db import fetch
from market.points import expiry
from market.points.policy import CHINA
from market.reports import tallies
from market.tables import Person
from tests.market import records
from tests.market.support import Enrol, Member, adjust, balance
from tests.market.test_checkin import move_clock, running_activity, scan


def china(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


def at(monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    monkeypatch.setattr(clock, "clock", lambda: china(when))


async def set_policy(admin: Member, **policy: object) -> None:
    response = await admin.client.put("/api/points/policy", json=policy)
    assert response.status_code == 200, response.text


async def earn(admin: Member, person: Member, amount: str) -> None:
    response = await adjust(admin, person.id, amount, reason="志愿服务")
    assert response.status_code == 201, response.text


async def give(giver: Member, to: int, amount: object, key: str | None = None) -> httpx.Response:
    return await giver.client.post(
        "/api/gifts", json={"to_person_id": to, "amount": amount},
        headers={"Idempotency-Key": key or secrets.token_hex(8)},
    )


async def same_household(community_id: int, *people: Member) -> int:
    household = await records.household(community_id)
    for person in people:
        await Person.update({Person.household: household}).where(Person.id == person.id)
    return household


async def verified(admin: Member) -> None:
    body = (await admin.client.get("/api/ledger/verify")).json()
    assert body["ok"] and body["total"] == "0.00", body


@pytest.fixture
async def family(enrol: Enrol, community: CommunityView) -> tuple[Member, Member, Member]:
    """Two residents of one household (欧阳小明 gives, 李四 receives) and an admin."""
    admin = await enrol("admin")
    giver = await enrol("resident", name="欧阳小明")
    receiver = await enrol("resident", name="李四")
    await same_household(community.id, giver, receiver)
    return admin, giver, receiver


async def test_the_household_page_and_each_scope(
    monkeypatch, family: tuple[Member, Member, Member], enrol: Enrol, community: CommunityView,
    ledger: Ledger,
) -> None:
    admin, giver, receiver = family
    neighbour = await enrol("resident", name="王五")
    staff = await enrol("organizer", name="赵六")
    stranger = await enrol("resident", community_id=(await records_community(ledger)), name="钱七")
    at(monkeypatch, "2025-05-01T10:00")
    await earn(admin, giver, "20")
    await earn(admin, receiver, "3.50")

    mine = (await giver.client.get("/api/me/household")).json()
    assert mine["has_household"] is True and mine["address"]
    assert [(m["name"], m["balance"], m["me"]) for m in mine["members"]] == [
        ("欧**明", "20.00", True), ("李*", "3.50", False),
    ]
    assert (mine["total"], mine["gifting"], mine["giftable"]) == ("23.50", "off", "20.00")
    alone = (await neighbour.client.get("/api/me/household")).json()
    assert (alone["has_household"], alone["members"], alone["total"]) == (False, [], "0.00")

    # Off (the default): nobody.
    refused = await give(giver, receiver.id, "1")
    assert (refused.status_code, refused.json()["reason"], refused.json()["scope"]) == (
        409, "gift_not_allowed", "off")

    await set_policy(admin, gifting="household", gift_cap_per_month="100")
    outside = await give(giver, neighbour.id, "1")
    assert (outside.status_code, outside.json()["reason"], outside.json()["scope"]) == (
        409, "gift_not_allowed", "household")
    english = await giver.client.post(
        "/api/gifts", json={"to_person_id": neighbour.id, "amount": "1"},
        headers={"Idempotency-Key": "en-1", "Accept-Language": "en"},
    )
    assert "own household" in english.json()["detail"]
    self_gift = await give(giver, giver.id, "1")
    assert (self_gift.status_code, self_gift.json()["reason"]) == (400, "gift_to_self")
    for nobody in (stranger.id, staff.id, 2**31 - 1, 2**40, 0, -5):
        missing = await give(giver, nobody, "1")
        assert missing.status_code == 404, (nobody, missing.text)
    for amount in ("0", "-1", "1.001", "1e3", "NaN", "99999999999999999", True):
        assert (await give(giver, receiver.id, amount)).status_code == 400, amount
    unknown = await giver.client.post("/api/gifts", json={"to_person_id": receiver.id, "amount": "1", "x": 1},
                                      headers={"Idempotency-Key": "k"})
    assert unknown.status_code == 400
    assert await balance(giver) == "20.00" and await balance(neighbour) == "0.00"

    made = await give(giver, receiver.id, "2.50")
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["to_person_id"], body["to_name"], body["amount"], body["balance_after"]) == (
        receiver.id, "李*", "2.50", "17.50")
    assert (body["given_this_month"], body["left_this_month"]) == ("2.50", "97.50")
    assert await balance(receiver) == "6.00"

    await set_policy(admin, gifting="community", gift_cap_per_month="100")
    assert (await give(giver, neighbour.id, "1")).status_code == 201
    assert (await give(giver, stranger.id, "1")).status_code == 404
    assert await balance(neighbour) == "1.00" and await balance(giver) == "16.50"

    # Statements: out for the giver, in for the receiver; the memo names nobody.
    out = (await giver.client.get("/api/me/entries")).json()["items"][0]
    came = (await receiver.client.get("/api/me/entries")).json()["items"][0]
    assert (out["kind"], out["amount"]) == ("gift", "-1.00")
    assert (came["kind"], came["amount"], came["memo"]) == ("gift", "2.50", "积分赠送")
    await verified(admin)


async def records_community(ledger: Ledger) -> int:
    return (await communities.get_or_create(ledger, f"邻社区-{secrets.token_hex(6)}")).id


async def test_the_monthly_cap_and_not_enough_points(
    monkeypatch, family: tuple[Member, Member, Member]
) -> None:
    admin, giver, receiver = family
    await set_policy(admin, gifting="household", gift_cap_per_month="10")
    at(monkeypatch, "2025-01-05T10:00")
    await earn(admin, giver, "30")

    at(monkeypatch, "2025-01-31T23:00")  # China time: still January
    assert (await give(giver, receiver.id, "6")).status_code == 201
    over = await give(giver, receiver.id, "5")
    assert over.status_code == 409 and over.json()["reason"] == "gift_cap_exceeded"
    assert (over.json()["left"], over.json()["cap"]) == ("4.00", "10.00")
    assert "4.00" in over.json()["detail"]
    assert (await give(giver, receiver.id, "4")).status_code == 201
    assert (await giver.client.get("/api/me/household")).json()["left_this_month"] == "0.00"
    assert (await give(giver, receiver.id, "0.01")).json()["reason"] == "gift_cap_exceeded"

    at(monkeypatch, "2025-02-01T00:00")  # a new month in China (still January in UTC)
    assert (await giver.client.get("/api/me/household")).json()["left_this_month"] == "10.00"
    assert (await give(giver, receiver.id, "10")).status_code == 201
    assert await balance(giver) == "10.00" and await balance(receiver) == "20.00"

    # Not enough points (the cap of March allows it): the ledger's reason, nothing moved.
    at(monkeypatch, "2025-03-01T10:00")
    await set_policy(admin, gifting="household", gift_cap_per_month="100")
    short = await give(giver, receiver.id, "10.01")
    assert (short.status_code, short.json()["reason"], short.json()["available"]) == (
        409, "insufficient_points", "10.00")
    assert await balance(giver) == "10.00" and await balance(receiver) == "20.00"
    await verified(admin)


async def test_idempotency_key_required_replayed_and_reused(
    monkeypatch, family: tuple[Member, Member, Member]
) -> None:
    admin, giver, receiver = family
    await set_policy(admin, gifting="household", gift_cap_per_month="50")
    await earn(admin, giver, "10")
    missing = await giver.client.post("/api/gifts", json={"to_person_id": receiver.id, "amount": "1"})
    assert (missing.status_code, missing.json()["reason"]) == (400, "idempotency_key_required")

    first = await give(giver, receiver.id, "3", key="gift-1")
    again = await give(giver, receiver.id, "3.00", key="gift-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert await balance(giver) == "7.00" and await balance(receiver) == "3.00"
    other = await give(giver, receiver.id, "4", key="gift-1")
    assert (other.status_code, other.json()["reason"]) == (422, "id_conflict")
    assert await balance(giver) == "7.00"
    # Sent twice at once: one gift.
    both = await asyncio.gather(*(give(giver, receiver.id, "2", key="gift-2") for _ in range(2)))
    assert [r.status_code for r in both] == [201, 201] and both[0].json() == both[1].json()
    assert await balance(giver) == "5.00"
    await verified(admin)


async def test_a_gift_keeps_the_expiry_of_the_points_given(
    monkeypatch, family: tuple[Member, Member, Member], ledger: Ledger, community: CommunityView,
) -> None:
    """Calendar year: points given in December expire at the giver's year end in the receiver's
    wallet too; points already expired cannot be given; a later-expiring lot the receiver spent
    does not come back in place of the gift."""
    admin, giver, receiver = family
    await set_policy(admin, expiry="calendar_year", gifting="household", gift_cap_per_month="100")
    at(monkeypatch, "2025-03-01T10:00")
    await earn(admin, giver, "10")                               # expires 2026-01-01
    at(monkeypatch, "2025-12-20T10:00")
    await earn(admin, receiver, "8")                             # expires 2026-01-01
    assert (await adjust(admin, receiver.id, "-8", reason="更正")).status_code == 201
    assert (await give(giver, receiver.id, "4")).status_code == 201

    shown = (await receiver.client.get("/api/me/balance")).json()
    assert [(e["amount"], e["on"]) for e in shown["expiring"]] == [("4.00", "2025-12-31")]
    cleared = await expiry.clear(ledger, community.id, china("2026-01-01T00:00"))
    assert (cleared.hundredths, cleared.people) == (1000, 2)
    assert await balance(giver) == "0.00" and await balance(receiver) == "0.00"

    # 2026: the giver earns 5 (calendar year: expiring 2027-01-01), then, under a one-month
    # policy, 3 (2027-01-30 10:00); the receiver earns 6 (2027-01-31 12:00) and spends them.
    at(monkeypatch, "2026-12-30T10:00")
    await earn(admin, giver, "5")
    await set_policy(admin, expiry={"months": 1}, gifting="household", gift_cap_per_month="100")
    await earn(admin, giver, "3")
    at(monkeypatch, "2026-12-31T12:00")
    await earn(admin, receiver, "6")
    assert (await adjust(admin, receiver.id, "-6", reason="更正")).status_code == 201

    # 2 January: the giver's 5 have expired (not yet cleared) and cannot be given.
    at(monkeypatch, "2027-01-02T10:00")
    assert (await giver.client.get("/api/me/household")).json()["giftable"] == "3.00"
    short = await give(giver, receiver.id, "3.01")
    assert (short.status_code, short.json()["available"]) == (409, "3.00")
    assert await balance(giver) == "8.00"
    assert (await give(giver, receiver.id, "2")).status_code == 201
    shown = (await receiver.client.get("/api/me/balance")).json()
    assert [(e["amount"], e["on"]) for e in shown["expiring"]] == [("2.00", "2027-01-30")]
    # The giver's expired 5 are still the ones that expired (not the 2 given away) …
    cleared = await expiry.clear(ledger, community.id, china("2027-01-02T10:00"))
    assert (cleared.hundredths, cleared.people) == (500, 1)
    assert await balance(giver) == "1.00" and await balance(receiver) == "2.00"
    # … and the gift's 2 expire with the giver's last 1, not with the receiver's spent 6.
    cleared = await expiry.clear(ledger, community.id, china("2027-01-30T10:00"))
    assert (cleared.hundredths, cleared.people) == (300, 2)
    assert await balance(giver) == "0.00" and await balance(receiver) == "0.00"
    await verified(admin)


async def test_a_gift_is_not_earned_and_leaves_hours_and_stars(
    monkeypatch, family: tuple[Member, Member, Member], enrol: Enrol, community: CommunityView,
) -> None:
    admin, giver, receiver = family
    organizer = await enrol("organizer")
    await set_policy(admin, gifting="household", gift_cap_per_month="100")
    made = await running_activity(organizer, points_per_checkin="4", points_per_hour="6")
    assert (await scan(organizer, giver, made["id"])).status_code == 201
    move_clock(monkeypatch, timedelta(minutes=60))
    assert (await scan(organizer, giver, made["id"], "out")).status_code == 201

    async def standing(member: Member) -> tuple:
        wallet = (await member.client.get("/api/me/balance")).json()
        boards = (await member.client.get("/api/leaderboards", params={"period": "month"})).json()
        return wallet["service_hours"], wallet["stars"], boards["mine"]

    giver_before, receiver_before = await standing(giver), await standing(receiver)
    earned = await balance(giver)
    assert (await give(giver, receiver.id, earned)).status_code == 201
    assert await standing(giver) == giver_before and await standing(receiver) == receiver_before
    assert await balance(receiver) == earned and await balance(giver) == "0.00"
    # The receiver's lots are all of kind "gift": none counts towards the earning caps.
    lots_kinds = await fetch(
        "SELECT kind, SUM(amount) AS n FROM points_lot WHERE community = {} AND person = {} GROUP BY kind",
        community.id, receiver.id,
    )
    assert [(row["kind"], int(row["n"])) for row in lots_kinds] == [("gift", int(Decimal(earned) * 100))]
    differences, _ = await tallies.check(community.id)
    assert differences == []
    await verified(admin)


async def test_parallel_gifts_never_overdraw(family: tuple[Member, Member, Member]) -> None:
    admin, giver, receiver = family
    await set_policy(admin, gifting="household", gift_cap_per_month="1000")
    await earn(admin, giver, "10")
    answers = await asyncio.gather(*(give(giver, receiver.id, "3") for _ in range(8)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] * 3 + [409] * 5, [r.text for r in answers]
    assert {r.json()["reason"] for r in answers if r.status_code == 409} == {"insufficient_points"}
    assert await balance(giver) == "1.00" and await balance(receiver) == "9.00"
    assert (await giver.client.get("/api/me/household")).json()["given_this_month"] == "9.00"
    await verified(admin)
