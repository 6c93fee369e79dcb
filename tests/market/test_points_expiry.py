"""Points that expire (issue 15): the policy, lots, clearing by the lot rule, on both engines.

The lot rule (``market.points.lots``): a wallet's balance is made of its latest-expiring lots;
clearing at T moves what has expired from the wallet to the community's expiry account. Times
of earning come from ``market.clock`` (adjustments), injected here; clearing is given its moment.
"""

import asyncio
from datetime import datetime
from decimal import Decimal

import pytest

from ledger import Ledger
from market import clock
from market.community.service import CommunityView
from market.points import expiry
from market.points.policy import CHINA
from tests.market.support import Enrol, Member, adjust, balance
from tests.market.test_orders import reserve
from tests.market.test_redemptions import code_of, product, redeem


def china(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


async def set_policy(admin: Member, **policy: object) -> dict:
    response = await admin.client.put("/api/points/policy", json=policy)
    assert response.status_code == 200, response.text
    return response.json()


async def earn(monkeypatch, admin: Member, person: Member, amount: str, when: str) -> None:
    monkeypatch.setattr(clock, "clock", lambda: china(when))
    response = await adjust(admin, person.id, amount, reason="志愿服务")
    assert response.status_code == 201, response.text


async def expired_total(ledger: Ledger, community_id: int) -> Decimal:
    return (await ledger.totals(community_id))["expiry"]


async def test_the_worked_example_calendar_year(
    monkeypatch, admin: Member, resident: Member, shopkeeper: Member, ledger: Ledger,
    community: CommunityView,
) -> None:
    """+10 on 2025-03-01, +5 on 2025-12-30, 8 spent on 2025-12-31: 7.00 expire at the year's end."""
    await set_policy(admin, expiry="calendar_year")
    await earn(monkeypatch, admin, resident, "10", "2025-03-01T09:00")
    await earn(monkeypatch, admin, resident, "5", "2025-12-30T15:00")
    soap = await product(shopkeeper, price="8.00")
    spent = await redeem(shopkeeper, await code_of(resident), [(soap, 1)])
    assert spent.status_code == 201, spent.text

    monkeypatch.setattr(clock, "clock", lambda: china("2025-12-31T12:00"))
    shown = (await resident.client.get("/api/me/balance")).json()
    assert shown["balance"] == "7.00"
    assert [(e["amount"], e["on"]) for e in shown["expiring"]] == [("7.00", "2025-12-31")]
    hours_before = shown["service_hours"], shown["stars"]

    # A moment before the year ends nothing has expired yet.
    early = await expiry.clear(ledger, community.id, china("2025-12-31T23:59:59"))
    assert early.hundredths == 0 and await balance(resident) == "7.00"

    cleared = await expiry.clear(ledger, community.id, china("2026-01-01T00:00"))
    assert (cleared.hundredths, cleared.people) == (700, 1)
    again = await expiry.clear(ledger, community.id, china("2026-01-01T00:00"))
    assert (again.hundredths, again.people) == (0, 0)
    later = await expiry.clear(ledger, community.id, china("2026-01-02T00:00"))
    assert later.hundredths == 0

    after = (await resident.client.get("/api/me/balance")).json()
    assert after["balance"] == "0.00" and after["expiring"] == []
    assert (after["service_hours"], after["stars"]) == hours_before
    assert await expired_total(ledger, community.id) == Decimal("7.00")
    entry = (await resident.client.get("/api/me/entries")).json()["items"][0]
    assert (entry["kind"], entry["amount"], entry["balance_after"]) == ("expiry", "-7.00", "0.00")
    verified = (await admin.client.get("/api/ledger/verify")).json()
    assert verified["ok"] and verified["total"] == "0.00"
    public = (await admin.client.get("/api/transparency", params={"community": community.id})).json()
    assert public["expired"] == "7.00"


async def test_three_years_with_lots_of_different_ages(
    monkeypatch, admin: Member, resident: Member, ledger: Ledger, community: CommunityView,
) -> None:
    """36 months (黄山): each lot expires on its own day; spending took the oldest first."""
    await set_policy(admin, expiry={"months": 36})
    await earn(monkeypatch, admin, resident, "4", "2023-02-28T10:00")   # expires 2026-02-28 10:00
    await earn(monkeypatch, admin, resident, "6", "2024-06-15T10:00")   # 2027-06-15
    await earn(monkeypatch, admin, resident, "3", "2025-01-31T10:00")   # 2028-01-31
    monkeypatch.setattr(clock, "clock", lambda: china("2025-05-01T10:00"))
    assert (await adjust(admin, resident.id, "-5", reason="更正")).status_code == 201  # the 4, and 1 of the 6

    shown = (await resident.client.get("/api/me/balance")).json()
    assert [(e["amount"], e["on"]) for e in shown["expiring"]] == [
        ("5.00", "2027-06-15"), ("3.00", "2028-01-31"),
    ]
    first = await expiry.clear(ledger, community.id, china("2026-03-01T00:00"))
    assert first.hundredths == 0  # the 2023 lot was spent
    second = await expiry.clear(ledger, community.id, china("2027-06-15T10:00"))
    assert second.hundredths == 500 and await balance(resident) == "3.00"
    third = await expiry.clear(ledger, community.id, china("2028-02-01T00:00"))
    assert third.hundredths == 300 and await balance(resident) == "0.00"
    assert (await admin.client.get("/api/ledger/verify")).json()["ok"]


async def test_points_earned_before_a_policy_keep_their_expiry(
    monkeypatch, admin: Member, resident: Member, ledger: Ledger, community: CommunityView,
) -> None:
    await earn(monkeypatch, admin, resident, "4", "2025-02-01T10:00")  # default: never expires
    await set_policy(admin, expiry="calendar_year")
    await earn(monkeypatch, admin, resident, "6", "2025-03-01T10:00")
    assert (await expiry.clear(ledger, community.id, china("2026-01-01T00:00"))).hundredths == 600
    assert await balance(resident) == "4.00"


async def test_held_points_are_not_taken_from_an_open_reservation(
    monkeypatch, admin: Member, resident: Member, shopkeeper: Member, ledger: Ledger,
    community: CommunityView,
) -> None:
    await set_policy(admin, expiry="calendar_year")
    await earn(monkeypatch, admin, resident, "10", "2025-06-01T10:00")
    rice = await product(shopkeeper, price="6.00")
    order = await reserve(resident, [(rice, 1)])
    assert order.status_code == 201, order.text

    first = await expiry.clear(ledger, community.id, china("2026-01-01T00:00"))
    assert (first.hundredths, first.held_back) == (400, 1)
    shown = (await resident.client.get("/api/me/balance")).json()
    assert (shown["balance"], shown["held"]) == ("6.00", "6.00")
    # Held back, looked at again by every run: nothing while the reservation is open.
    assert (await expiry.clear(ledger, community.id, china("2026-01-01T01:00"))).hundredths == 0

    cancelled = await resident.client.post(f"/api/orders/{order.json()['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    after = await expiry.clear(ledger, community.id, china("2026-01-01T02:00"))
    assert (after.hundredths, after.held_back) == (600, 0)
    assert await balance(resident) == "0.00"
    assert await expired_total(ledger, community.id) == Decimal("10.00")


async def test_a_cancelled_activity_takes_its_lots_back(
    monkeypatch, admin: Member, enrol: Enrol, ledger: Ledger, community: CommunityView,
) -> None:
    """A reversed credit's lot is negated: it cannot keep other points alive past their expiry."""
    from tests.market.test_checkin import running_activity, scan

    await set_policy(admin, expiry="calendar_year")
    resident, organizer = await enrol("resident"), await enrol("organizer")
    await earn(monkeypatch, admin, resident, "5", "2025-03-01T10:00")
    monkeypatch.undo()  # back to today: the activity runs now, and the scan reads the one clock
    made = await running_activity(organizer, points_per_checkin="7", points_per_hour="0")
    assert (await scan(organizer, resident, made["id"], "in")).status_code == 201
    cancelled = await organizer.client.post(f"/api/activities/{made['id']}/cancel", json={"reason": "下雨"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["reversed"] == 1
    assert await balance(resident) == "5.00"
    # The check-in's lot (expiring at the end of this year) and its negation cancel out.
    rows = await lots_of(community.id, resident.id)
    assert sorted(amount for amount, _ in rows) == [-700, 500, 700]
    assert (await expiry.clear(ledger, community.id, china("2026-01-01T00:00"))).hundredths == 500


async def lots_of(community_id: int, person_id: int) -> list[tuple[int, int | None]]:
    from market.db import fetch

    rows = await fetch("SELECT amount, expires_us FROM points_lot WHERE community = {} AND person = {}",
                       community_id, person_id)
    return [(row["amount"], row["expires_us"]) for row in rows]


async def test_clearing_from_two_workers_at_once_moves_each_point_once(
    monkeypatch, admin: Member, enrol: Enrol, ledger: Ledger, community: CommunityView,
) -> None:
    await set_policy(admin, expiry="calendar_year")
    people = [await enrol("resident") for _ in range(6)]
    for number, person in enumerate(people, start=1):
        await earn(monkeypatch, admin, person, str(number), "2025-04-01T10:00")
    moment = china("2026-01-01T00:00")
    runs = await asyncio.gather(*(expiry.clear(ledger, community.id, moment) for _ in range(3)))
    assert sum(run.hundredths for run in runs) == 2100
    assert await expired_total(ledger, community.id) == Decimal("21.00")
    assert (await admin.client.get("/api/ledger/verify")).json()["ok"]


async def test_the_office_sees_who_has_points_expiring_soon(
    monkeypatch, admin: Member, enrol: Enrol,
) -> None:
    await set_policy(admin, expiry="calendar_year")
    soon, later = await enrol("resident", name="王大爷"), await enrol("resident", name="赵阿姨")
    await earn(monkeypatch, admin, soon, "9", "2025-05-01T10:00")
    await earn(monkeypatch, admin, later, "4", "2026-01-05T10:00")
    monkeypatch.setattr(clock, "clock", lambda: china("2025-12-10T10:00"))
    listed = await admin.client.get("/api/points/expiring", params={"days": 30})
    assert listed.status_code == 200, listed.text
    assert [(i["person_id"], i["name"], i["amount"], i["on"]) for i in listed.json()["items"]] == [
        (soon.id, "王大爷", "9.00", "2025-12-31"),
    ]
    assert (await admin.client.get("/api/points/expiring", params={"days": 0})).status_code == 400


async def test_the_policy_round_trip_and_its_refusals(admin: Member, resident: Member) -> None:
    default = (await admin.client.get("/api/points/policy")).json()
    assert default == {
        "expiry": "none", "publicity_days": 0, "gifting": "off", "gift_cap_per_month": "0.00",
        "cap_per_day": None, "cap_per_month": None, "holidays": [],
    }
    saved = await set_policy(
        admin, expiry={"months": 36}, publicity_days=3, gifting="household",
        gift_cap_per_month="50", cap_per_day=10, cap_per_month="100.5",
        holidays=["2026-10-01", "2026-10-02", "2026-10-01"],
    )
    assert saved == {
        "expiry": {"months": 36}, "publicity_days": 3, "gifting": "household",
        "gift_cap_per_month": "50.00", "cap_per_day": "10.00", "cap_per_month": "100.50",
        "holidays": ["2026-10-01", "2026-10-02"],
    }
    # Holidays left out are kept; everything else is replaced.
    kept = await set_policy(admin, expiry="calendar_year")
    assert kept["holidays"] == ["2026-10-01", "2026-10-02"] and kept["cap_per_day"] is None
    for bad, reason in [
        ({"expiry": {"months": 0}}, "invalid_expiry"),
        ({"expiry": {"months": 121}}, "invalid_expiry"),
        ({"expiry": "weekly"}, None),
        ({"publicity_days": 31}, "invalid_publicity_days"),
        ({"cap_per_day": "-1"}, "invalid_cap"),
        ({"cap_per_day": "20", "cap_per_month": "10"}, "cap_day_over_month"),
        ({"gift_cap_per_month": "0.001"}, None),
        ({"gifting": "anyone"}, None),
        ({"holidays": ["2026-13-01"]}, None),
        ({"surprise": 1}, None),
    ]:
        response = await admin.client.put("/api/points/policy", json=bad)
        assert response.status_code == 400, (bad, response.text)
        if reason:
            assert response.json()["reason"] == reason, bad
    assert (await admin.client.get("/api/points/policy")).json() == kept
    assert (await resident.client.get("/api/points/policy")).status_code == 403


@pytest.mark.parametrize("months, earned, expires", [
    (1, "2025-01-31T10:00", "2025-02-28T10:00"),
    (1, "2024-01-31T10:00", "2024-02-29T10:00"),
    (12, "2025-12-31T23:59", "2026-12-31T23:59"),
    (36, "2025-03-01T00:00", "2028-03-01T00:00"),
])
def test_months_after_earning(months: int, earned: str, expires: str) -> None:
    from market.points.policy import Rules

    assert Rules(expiry="months", expiry_months=months).expires_at(china(earned)) == china(expires)


def test_the_calendar_year_ends_in_china() -> None:
    from market.points.policy import Rules

    # 2025-12-31 20:00 UTC is already 2026 in China.
    earned = datetime.fromisoformat("2025-12-31T20:00:00+00:00")
    assert Rules(expiry="calendar_year").expires_at(earned) == china("2027-01-01T00:00")


def test_market_points_expire_from_the_command_line(monkeypatch, capsys) -> None:
    """`market points expire --at … --community …`: the same clearing, from a shell; repeatable."""
    import secrets

    from market.app import create_app
    from market.cli import main
    from market.settings import Settings
    from tests.market.support import client_for, good_pin, random_phone, running

    community, phone, password = f"清零社区 {secrets.token_hex(4)}", random_phone(), "a long admin password"
    assert main(["admin", "create", "--name", "管理员", "--phone", phone, "--password", password,
                 "--community", community]) == 0
    capsys.readouterr()

    async def earned_in_2025() -> None:
        async with running(create_app(Settings.from_env())) as app, client_for(app) as client:
            signed_in = await client.post("/api/session", json={"login": phone, "secret": password})
            client.headers["Authorization"] = f"Bearer {signed_in.json()['token']}"
            client.cookies.clear()
            policy = await client.put("/api/points/policy", json={"expiry": "calendar_year"})
            assert policy.status_code == 200, policy.text
            resident_phone = random_phone()
            made = await client.post("/api/people", json={
                "name": "钱奶奶", "phone": resident_phone, "roles": ["resident"],
                "pin": good_pin(resident_phone),
            })
            assert made.status_code == 201, made.text
            monkeypatch.setattr(clock, "clock", lambda: china("2025-05-01T10:00"))
            credited = await client.post(
                "/api/adjustments", json={"person_id": made.json()["id"], "amount": "3", "reason": "扫雪"},
                headers={"Idempotency-Key": secrets.token_hex(8)},
            )
            assert credited.status_code == 201, credited.text

    asyncio.run(earned_in_2025())
    assert main(["points", "expire", "--at", "2026-01-01T00:00", "--community", community]) == 0
    assert "3.00 points of 1 people" in capsys.readouterr().out
    assert main(["points", "expire", "--at", "2026-01-01T00:00:00+08:00", "--community", community]) == 0
    assert "0.00 points of 0 people" in capsys.readouterr().out
    assert main(["points", "expire", "--at", "tomorrow", "--community", community]) == 1
    assert "时间格式不对" in capsys.readouterr().err
    assert main(["points", "expire", "--community", f"没有的社区 {secrets.token_hex(4)}"]) == 1


async def test_points_given_back_after_a_gift_come_back_as_they_were(
    monkeypatch, admin: Member, enrol: Enrol, ledger: Ledger, community: CommunityView,
) -> None:
    """A deduction took points expiring later; a gift then brought points expiring sooner (the
    receiver's spent lots are written off); the appeal upheld gives the later ones back — they
    still expire, when they would have (``lots.covered_steps``)."""
    await set_policy(admin, expiry={"months": 12}, gifting="community", gift_cap_per_month="100")
    giver, receiver = await enrol("resident"), await enrol("resident")
    await earn(monkeypatch, admin, giver, "5", "2025-01-10T10:00")      # expires 2026-01-10
    await earn(monkeypatch, admin, receiver, "10", "2025-06-01T10:00")  # expires 2026-06-01
    monkeypatch.setattr(clock, "clock", lambda: china("2025-07-01T10:00"))
    deducted = await admin.client.post(
        "/api/deductions", json={"person_id": receiver.id, "amount": "10", "reason": "乱堆乱放"},
        headers={"Idempotency-Key": "d1"},
    )
    assert deducted.status_code == 201, deducted.text
    monkeypatch.setattr(clock, "clock", lambda: china("2025-08-01T10:00"))
    gift = await giver.client.post("/api/gifts", json={"to_person_id": receiver.id, "amount": "5"},
                                   headers={"Idempotency-Key": "g1"})
    assert gift.status_code == 201, gift.text
    appeal = await receiver.client.post(
        "/api/appeals", json={"transfer_id": deducted.json()["transfer_id"], "reason": "不是我"})
    assert appeal.status_code == 201, appeal.text
    upheld = await admin.client.post(f"/api/appeals/{appeal.json()['id']}/decision",
                                     json={"uphold": True, "note": "核实"})
    assert upheld.status_code == 200, upheld.text
    assert await balance(receiver) == "15.00"
    assert sum(amount for amount, _ in await lots_of(community.id, receiver.id)) == 1500

    assert (await expiry.clear(ledger, community.id, china("2026-01-10T10:00"))).hundredths == 500
    assert (await expiry.clear(ledger, community.id, china("2026-06-01T10:00"))).hundredths == 1000
    assert await balance(receiver) == "0.00"


async def test_a_gift_gives_living_points_and_leaves_the_expired_to_clear(
    monkeypatch, admin: Member, enrol: Enrol, ledger: Ledger, community: CommunityView,
) -> None:
    """Points expired but not yet cleared cannot be given: the gift takes the earliest of the
    living ones, and the expired ones still clear from the giver."""
    await set_policy(admin, expiry={"months": 12}, gifting="community", gift_cap_per_month="100")
    giver, receiver = await enrol("resident"), await enrol("resident")
    await earn(monkeypatch, admin, giver, "5", "2025-01-10T10:00")   # expires 2026-01-10
    await earn(monkeypatch, admin, giver, "6", "2025-06-01T10:00")   # expires 2026-06-01
    monkeypatch.setattr(clock, "clock", lambda: china("2026-02-01T10:00"))
    too_much = await giver.client.post("/api/gifts", json={"to_person_id": receiver.id, "amount": "7"},
                                       headers={"Idempotency-Key": "g0"})
    assert too_much.status_code == 409 and too_much.json()["reason"] == "insufficient_points"
    gift = await giver.client.post("/api/gifts", json={"to_person_id": receiver.id, "amount": "6"},
                                   headers={"Idempotency-Key": "g1"})
    assert gift.status_code == 201, gift.text
    shown = (await receiver.client.get("/api/me/balance")).json()
    assert [(e["amount"], e["on"]) for e in shown["expiring"]] == [("6.00", "2026-06-01")]
    cleared = await expiry.clear(ledger, community.id, china("2026-02-01T10:00"))
    assert (cleared.hundredths, cleared.people) == (500, 1)
    assert (await balance(giver), await balance(receiver)) == ("0.00", "6.00")


async def test_points_given_back_after_their_lot_expired_are_cleared_at_the_next_run(
    monkeypatch, admin: Member, resident: Member, ledger: Ledger, community: CommunityView,
) -> None:
    """Found by the points model: a deduction upheld on appeal after the deducted points' lot had
    expired and been cleared past gave back points the clearing never looked at again."""
    await set_policy(admin, expiry={"months": 12})
    await earn(monkeypatch, admin, resident, "5", "2025-01-10T10:00")  # expires 2026-01-10
    monkeypatch.setattr(clock, "clock", lambda: china("2025-02-01T10:00"))
    deducted = await admin.client.post(
        "/api/deductions", json={"person_id": resident.id, "amount": "5", "reason": "乱堆乱放"},
        headers={"Idempotency-Key": "d1"},
    )
    assert deducted.status_code == 201, deducted.text
    assert (await expiry.clear(ledger, community.id, china("2026-02-01T00:00"))).hundredths == 0
    monkeypatch.setattr(clock, "clock", lambda: china("2026-03-01T10:00"))
    appeal = await resident.client.post(
        "/api/appeals", json={"transfer_id": deducted.json()["transfer_id"], "reason": "不是我"})
    upheld = await admin.client.post(f"/api/appeals/{appeal.json()['id']}/decision",
                                     json={"uphold": True, "note": "核实"})
    assert upheld.status_code == 200, upheld.text
    assert await balance(resident) == "5.00"
    # They come back as they were: of a lot that has expired, so the next run clears them.
    assert (await expiry.clear(ledger, community.id, china("2026-03-01T11:00"))).hundredths == 500
    assert await balance(resident) == "0.00"
