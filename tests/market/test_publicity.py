"""公示 (issue 15): credits wait on a public notice before they count; objections freeze them,
the office decides, the window's end posts the others — on the right working day, once.

Credits are made by approvals at an injected moment (``market.clock``); the job
(``publicity.post_due``) is given its moment; objections read "today" from ``market.clock``.
2099-03-05 is a Thursday; with a 3-working-day window and 2099-03-09 (Monday) a listed holiday,
the window is Fri 6, Tue 10, Wed 11: the credit counts on Thursday 2099-03-12. (Far ahead, so
that the app's own 公示 job, which posts what is due by the real clock, never gets there first.)
"""

from datetime import datetime

import pytest

from ledger import Ledger
from market import clock
from market.community.service import CommunityView
from market.db import fetch
from market.points import lots, publicity
from market.points.policy import CHINA
from market.reports import tallies
from tests.market.support import Member, balance
from tests.market.test_checkin import running_activity, scan
from tests.market.test_points_expiry import set_policy


def china(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


THURSDAY = "2099-03-05T10:00"


async def approved_on(monkeypatch, organizer: Member, people: list[Member], when: str, **fields) -> dict:
    """An activity needing approval that ``people`` checked in to, approved at ``when``."""
    made = await running_activity(organizer, points_per_checkin="4", requires_approval=True, **fields)
    for person in people:
        assert (await scan(organizer, person, made["id"])).json()["approval"] == "pending"
    monkeypatch.setattr(clock, "clock", lambda: china(when))
    approved = await organizer.client.post(f"/api/activities/{made['id']}/approve", json={})
    monkeypatch.undo()
    assert approved.status_code == 200, approved.text
    return made


async def notice(anon, community: CommunityView) -> dict:
    response = await anon.get("/api/public/notices", params={"community": community.id})
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_credit_waits_and_posts_after_its_window_on_the_right_day(
    monkeypatch, admin: Member, organizer: Member, enrol, anon, ledger: Ledger,
    community: CommunityView,
) -> None:
    await set_policy(admin, publicity_days=3, holidays=["2099-03-09"], expiry="calendar_year")
    zhang = await enrol("resident", name="张三明")
    li = await enrol("resident", name="李四")
    made = await approved_on(monkeypatch, organizer, [zhang, li], THURSDAY)

    # Pending: it does not count yet, and it is on the public notice with masked names.
    assert await balance(zhang) == "0.00"
    shown = await notice(anon, community)
    assert shown["publicity_days"] == 3
    assert sorted((i["name"], i["amount"], i["activity"], i["made_on"], i["window_ends"],
                   i["counts_on"], i["state"]) for i in shown["items"]) == [
        (name, "4.00", made["title"], "2099-03-05", "2099-03-11", "2099-03-12", "pending")
        for name in ("张*明", "李*")
    ]
    assert "person_id" not in shown["items"][0]
    home = await zhang.client.get("/", headers={"Accept-Language": "zh-CN"})
    assert home.status_code == 200 and "公示中，" in home.text and "日后计入" in home.text
    statement = await zhang.client.get("/statement", headers={"Accept-Language": "zh-CN"})
    assert statement.status_code == 200 and "公示中，期满后计入" in statement.text
    public_page = await anon.get("/public/notice", params={"community": community.id})
    assert public_page.status_code == 200 and "张*明" in public_page.text
    assert "张三明" not in public_page.text and "/objection" not in public_page.text
    assert (await anon.get("/public/notice", params={"community": "x1"})).status_code == 404

    # Not a moment before the window is over (Wednesday 23:59:59 China time) ...
    assert await publicity.post_due(ledger, china("2099-03-11T23:59:59"), community_id=community.id) == 0
    assert await balance(zhang) == "0.00"
    # ... and from Thursday 00:00 on, once.
    assert await publicity.post_due(ledger, china("2099-03-12T00:00"), community_id=community.id) == 2
    assert await publicity.post_due(ledger, china("2099-03-12T00:00"), community_id=community.id) == 0
    assert await publicity.post_due(ledger, china("2099-03-13T09:00"), community_id=community.id) == 0
    assert await balance(zhang) == "4.00" and await balance(li) == "4.00"
    assert (await notice(anon, community))["items"] == []

    # The lots were written when it posted: earned then, expiring by the policy then.
    found = await fetch("SELECT transfer_id, amount, expires_us FROM points_lot WHERE person = {}", zhang.id)
    assert [(row["amount"], row["expires_us"]) for row in found] == [
        (400, lots.to_us(china("2100-01-01T00:00")))
    ]
    assert found[0]["transfer_id"].startswith(publicity.POSTED)
    # The honour roll counts it (the tallies agree with the rows), the books balance.
    differences, _ = await tallies.check(community.id)
    assert differences == []
    points_tally = await fetch("SELECT points FROM tally_points_period WHERE person = {} AND span = 'year'",
                               zhang.id)
    assert [row["points"] for row in points_tally] == [400]
    verified = (await admin.client.get("/api/ledger/verify")).json()
    assert verified["ok"] and verified["total"] == "0.00"


async def test_an_objection_freezes_a_credit_and_the_office_decides(
    monkeypatch, admin: Member, organizer: Member, enrol, anon, ledger: Ledger,
    community: CommunityView,
) -> None:
    await set_policy(admin, publicity_days=3, holidays=["2099-03-09"])
    zhang = await enrol("resident", name="张三明")
    li = await enrol("resident", name="李四")
    wang = await enrol("resident", name="王五")
    neighbour = await enrol("resident", name="赵六")
    made = await approved_on(monkeypatch, organizer, [zhang, li, wang], THURSDAY)
    items = {i["name"]: i for i in (await notice(anon, community))["items"]}

    monkeypatch.setattr(clock, "clock", lambda: china("2099-03-06T15:00"))
    objected = await neighbour.client.post(f"/api/notices/{items['张*明']['id']}/objections",
                                           json={"reason": "他那天没来"})
    assert objected.status_code == 201, objected.text
    assert objected.json()["state"] == "frozen" and objected.json()["name"] == "张*明"
    assert objected.json()["objections"] == [] and objected.json()["person_id"] is None
    also = await neighbour.client.post(f"/api/notices/{items['王*']['id']}/objections",
                                       json={"reason": "重复登记"})
    assert also.status_code == 201
    blank = await neighbour.client.post(f"/api/notices/{items['李*']['id']}/objections", json={"reason": " "})
    assert blank.status_code == 400

    # The window ends: the unfrozen credit posts, the frozen ones wait for the office.
    assert await publicity.post_due(ledger, china("2099-03-12T00:00"), community_id=community.id) == 1
    assert (await balance(li), await balance(zhang), await balance(wang)) == ("4.00", "0.00", "0.00")
    left = {i["name"]: i["state"] for i in (await notice(anon, community))["items"]}
    assert left == {"张*明": "frozen", "王*": "frozen"}
    monkeypatch.setattr(clock, "clock", lambda: china("2099-03-12T08:00"))
    late = await neighbour.client.post(f"/api/notices/{items['张*明']['id']}/objections",
                                       json={"reason": "补充"})
    assert late.status_code == 409 and late.json()["reason"] == "notice_window_closed"
    settled = await neighbour.client.post(f"/api/notices/{items['李*']['id']}/objections",
                                          json={"reason": "补充"})
    assert settled.status_code == 409 and settled.json()["reason"] == "notice_settled"

    # The office sees who objected and why, and decides: post one, void the other.
    office = (await admin.client.get("/api/notices")).json()["items"]
    assert [(n["name"], n["state"], [o["reason"] for o in n["objections"]]) for n in office] == [
        ("张三明", "frozen", ["他那天没来"]), ("王五", "frozen", ["重复登记"])]
    posted = await admin.client.post(f"/api/notices/{items['张*明']['id']}/decision",
                                     json={"post": True, "note": "核实到场"})
    assert posted.status_code == 200, posted.text
    assert posted.json()["state"] == "posted" and posted.json()["decision_note"] == "核实到场"
    voided = await admin.client.post(f"/api/notices/{items['王*']['id']}/decision", json={"post": False})
    assert voided.status_code == 200 and voided.json()["state"] == "voided"
    twice = await admin.client.post(f"/api/notices/{items['王*']['id']}/decision", json={"post": True})
    assert twice.status_code == 409 and twice.json()["reason"] == "notice_not_frozen"
    assert (await balance(zhang), await balance(wang)) == ("4.00", "0.00")
    # The stays say what was credited: nothing for the voided one.
    listed = (await organizer.client.get(f"/api/activities/{made['id']}/attendance")).json()["items"]
    assert {i["person_id"]: i["points"] for i in listed} == {zhang.id: "4.00", li.id: "4.00", wang.id: "0.00"}
    assert await publicity.post_due(ledger, china("2099-03-15T00:00"), community_id=community.id) == 0
    assert (await notice(anon, community))["items"] == []
    verified = (await admin.client.get("/api/ledger/verify")).json()
    assert verified["ok"] and verified["total"] == "0.00"


async def test_a_waiting_credit_counts_toward_the_cap_and_a_cancellation_voids_it(
    admin: Member, organizer: Member, resident: Member, anon, ledger: Ledger,
    community: CommunityView,
) -> None:
    await set_policy(admin, publicity_days=2, cap_per_day="5")
    first = await running_activity(organizer, points_per_checkin="3")
    second = await running_activity(organizer, points_per_checkin="3")
    made = (await scan(organizer, resident, first["id"])).json()
    assert made["points"] == "3.00" and made["balance"] == "0.00" and made["counts_on"] is not None
    capped = (await scan(organizer, resident, second["id"])).json()
    assert capped["capped"] == {"reason": "cap_reached", "credited": "2.00", "cut": "1.00"}
    assert sorted(i["amount"] for i in (await notice(anon, community))["items"]) == ["2.00", "3.00"]
    mine = (await resident.client.get("/api/me/balance")).json()
    assert (mine["balance"], mine["available"]) == ("0.00", "0.00")

    cancelled = await organizer.client.post(f"/api/activities/{first['id']}/cancel", json={"reason": "下雨"})
    assert cancelled.status_code == 200 and cancelled.json()["reversed"] == 1
    assert [i["amount"] for i in (await notice(anon, community))["items"]] == ["2.00"]
    await publicity.post_due(ledger, china("2099-01-01T00:00"), community_id=community.id)
    assert await balance(resident) == "2.00"
    # A posted credit of a cancelled activity is reversed, lots and all.
    undone = await organizer.client.post(f"/api/activities/{second['id']}/cancel", json={"reason": "作废"})
    assert undone.status_code == 200 and undone.json()["reversed"] == 1
    assert await balance(resident) == "0.00"
    (lot_sum,) = await fetch("SELECT SUM(amount) AS s FROM points_lot WHERE person = {}", resident.id)
    assert lot_sum["s"] == 0
    assert (await tallies.check(community.id))[0] == []
    assert (await admin.client.get("/api/ledger/verify")).json()["ok"]


@pytest.mark.parametrize("bad", [{"community": "x"}, {"community": 0}, {"community": 2**31 - 1}])
async def test_the_public_notice_refuses_a_bad_community(anon, bad: dict) -> None:
    response = await anon.get("/api/public/notices", params=bad)
    assert response.status_code in (400, 404)
