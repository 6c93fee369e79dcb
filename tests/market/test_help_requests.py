"""民声 / 微心愿 requests (issue 18) over the API, on both engines: post, claim, release, confirm
with hours → points and hours credited exactly once; self-dealing refused; assisted posts;
disputes and the office; escalation with a moved clock; the board, the figures and the 台账."""

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar

from market import clock
from market.community import service as communities
from market.db import fetch
from market.help_requests import board
from market.points.hours import service_hours
from market.reports import tallies
from market.tables import AuditEntry, Building, GridWorker, Household, Person
from tests.market import records
from tests.market.support import Enrol, Member, balance
from tests.market.test_points_expiry import set_policy


async def home(community_id: int, *members: Member, household_id: int | None = None) -> int:
    """The members live in one household (a new one unless given); its id."""
    household_id = household_id or await records.household(community_id)
    for member in members:
        await Person.update({Person.household: household_id}).where(Person.id == member.id)
    return household_id


async def neighbour_of(community_id: int, household_id: int) -> int:
    """Another household of the same building and grid."""
    row = await Household.select().where(Household.id == household_id).first()
    other = Household(community=community_id, building=row["building"], unit="2",
                      room=secrets.token_hex(4), grid=row["grid"])
    await other.save()
    return other.id


@pytest.fixture
def moved_clock() -> Iterator[list[datetime]]:
    now = [datetime(2026, 12, 7, 2, 0, tzinfo=UTC)]
    saved = clock.clock
    clock.clock = lambda: now[0]
    yield now
    clock.clock = saved


async def post(member: Member, **fields: object) -> dict:
    body = {"body": "家里水龙头漏水，请帮忙修一下", "category": "repair", "visibility": "building", **fields}
    response = await member.client.post("/api/help-requests", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_post_claim_release_claim_confirm_credits_once(
    enrol: Enrol, admin: Member, community: communities.CommunityView
) -> None:
    asker = await enrol("resident", name="王奶奶")
    helper = await enrol("resident", name="刘志愿")
    other = await enrol("resident", name="陈志愿")
    household_id = await home(community.id, asker)
    await home(community.id, helper, household_id=await neighbour_of(community.id, household_id))
    await home(community.id, other, household_id=await neighbour_of(community.id, household_id))
    saved = await admin.client.put("/api/help-requests/terms", json={
        "escalate_hours": 24, "claims_per_day": 5,
        "rates": [{"category": "repair", "per_request": "2", "per_hour": "10.50"}]})
    assert saved.status_code == 200, saved.text

    request = await post(asker)
    assert request["state"] == "open" and request["mine"] and "withdraw" in request["actions"]
    near = (await helper.client.get("/api/help-requests")).json()["items"]
    assert [r["id"] for r in near] == [request["id"]] and near[0]["actions"] == ["claim"]
    # Not yet near the helper: the place is the building only.
    assert near[0]["place"] == (await Building.select(Building.name).where(
        Building.id == (await Household.select().where(Household.id == household_id).first())["building"]
    ).first())["name"]

    url = f"/api/help-requests/{request['id']}"
    claimed = await helper.client.post(f"{url}/claim")
    assert claimed.status_code == 200 and claimed.json()["state"] == "claimed", claimed.text
    again = await helper.client.post(f"{url}/claim")  # a double tap: still theirs
    assert again.status_code == 200 and again.json()["volunteer"] == "刘*愿"
    taken = await other.client.post(f"{url}/claim")
    assert taken.status_code == 409 and taken.json()["reason"] == "help_not_open"
    released = await helper.client.post(f"{url}/release")
    assert released.status_code == 200 and released.json()["state"] == "open"
    assert (await helper.client.post(f"{url}/release")).json()["reason"] == "help_not_claimed"
    assert (await other.client.post(f"{url}/claim")).status_code == 200
    seen = (await asker.client.get(url)).json()
    assert seen["volunteer"] == "陈*愿" and set(seen["actions"]) == {"confirm", "dispute"}

    # The volunteer cannot confirm their own claim.
    own = await other.client.post(f"{url}/confirm", json={"hours": "1"})
    assert own.status_code == 409 and own.json()["reason"] == "help_self_confirm"
    for bad in ("0", "-1", "24.01", "1.234", "abc"):
        refused = await asker.client.post(f"{url}/confirm", json={"hours": bad})
        assert refused.status_code == 400, (bad, refused.text)
    assert await balance(other) == "0.00"

    # Two taps at once: one credit.
    first, second = await asyncio.gather(
        asker.client.post(f"{url}/confirm", json={"hours": "2"}),
        asker.client.post(f"{url}/confirm", json={"hours": "2"}),
    )
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    done = first.json()
    assert done["state"] == "done" and done["hours"] == "2.00" and done["points"] == "23.00"
    assert await balance(other) == "23.00"  # 2 + 10.50 × 2
    assert await balance(helper) == "0.00"
    assert await service_hours(other.id) == 200 and await service_hours(helper.id) == 0
    # The boards count it: the points as earned, the hours as served (the tallies' triggers).
    assert (await tallies.check(community.id))[0] == []
    hours = await fetch("SELECT hours FROM tally_hours_period WHERE person = {} AND span = 'year'", other.id)
    earned = await fetch("SELECT points FROM tally_points_period WHERE person = {} AND span = 'year'",
                         other.id)
    assert [int(r["hours"]) for r in hours] == [200] and [int(r["points"]) for r in earned] == [2300]
    audit = await AuditEntry.select(AuditEntry.action).where(
        AuditEntry.subject == f"help_request:{request['id']}").order_by(AuditEntry.id)
    assert [row["action"] for row in audit] == [
        "help_posted", "help_claimed", "help_released", "help_claimed", "help_confirmed"]
    mine = (await other.client.get("/api/help-requests", params={"list": "claimed"})).json()["items"]
    assert [r["id"] for r in mine] == [request["id"]]


async def test_nobody_takes_or_confirms_for_their_own_household(
    enrol: Enrol, community: communities.CommunityView
) -> None:
    asker = await enrol("resident", name="赵大爷")
    son = await enrol("resident", name="赵小明")
    helper = await enrol("resident", name="孙阿姨")
    helpers_wife = await enrol("resident", name="周阿姨")
    household_id = await home(community.id, asker, son)
    neighbours = await neighbour_of(community.id, household_id)
    await home(community.id, helper, helpers_wife, household_id=neighbours)
    request = await post(asker)
    url = f"/api/help-requests/{request['id']}"
    refused = await son.client.post(f"{url}/claim")
    assert refused.status_code == 409 and refused.json()["reason"] == "help_own_household"
    assert (await helper.client.post(f"{url}/claim")).status_code == 200
    # The helper's wife is the grid's worker: she may confirm for the requester, but not a claim
    # her own household holds; the volunteer himself is not the requester at all.
    grid_id = (await Household.select(Household.grid).where(Household.id == household_id).first())["grid"]
    await GridWorker.insert(GridWorker(grid=grid_id, person=helpers_wife.id))
    wife = await helpers_wife.client.post(f"{url}/confirm", json={"hours": "1"})
    assert wife.status_code == 409 and wife.json()["reason"] == "help_self_confirm", wife.text
    himself = await helper.client.post(f"{url}/confirm", json={"hours": "1"})
    assert himself.status_code == 409 and himself.json()["reason"] == "help_self_confirm"
    stranger = await son.client.post(f"{url}/confirm", json={"hours": "1"})
    assert stranger.status_code == 409 and stranger.json()["reason"] == "help_not_yours"
    assert await balance(helper) == "0.00"
    assert (await asker.client.post(f"{url}/confirm", json={"hours": "1"})).status_code == 200
    assert await balance(helper) == "15.00"


async def test_a_grid_worker_posts_for_an_elder_and_confirms_for_them(
    enrol: Enrol, admin: Member, community: communities.CommunityView
) -> None:
    elder = await enrol("resident", name="钱奶奶")
    worker = await enrol("resident", "organizer", name="网格员吴")
    helper = await enrol("resident", name="郑志愿")
    household_id = await home(community.id, elder)
    await home(community.id, helper, household_id=await neighbour_of(community.id, household_id))
    grid_id = (await Household.select(Household.grid).where(Household.id == household_id).first())["grid"]
    refused = await worker.client.post("/api/help-requests/assisted", json={
        "person_id": elder.id, "body": "帮忙买菜", "category": "elder_care"})
    # An organizer is the office: allowed. A plain resident grid worker is checked below.
    assert refused.status_code == 201, refused.text
    plain = await enrol("resident", name="网格员冯")
    denied = await plain.client.post("/api/help-requests/assisted", json={
        "person_id": elder.id, "body": "帮忙买菜", "category": "elder_care"})
    assert denied.status_code == 409 and denied.json()["reason"] == "help_not_your_grid"
    await GridWorker.insert(GridWorker(grid=grid_id, person=plain.id))
    posted = await plain.client.post("/api/help-requests/assisted", json={
        "person_id": elder.id, "body": "帮忙取药", "category": "elder_care", "visibility": "grid"})
    assert posted.status_code == 201, posted.text
    request = posted.json()
    assert request["assisted"] and request["requester"] == "钱*奶"
    grid_list = (await plain.client.get("/api/help-requests/grid")).json()["items"]
    assert {r["id"] for r in grid_list} >= {request["id"]}
    url = f"/api/help-requests/{request['id']}"
    assert (await helper.client.post(f"{url}/claim")).status_code == 200
    confirmed = await plain.client.post(f"{url}/confirm", json={"hours": "1.5"})
    assert confirmed.status_code == 200 and confirmed.json()["points"] == "20.00", confirmed.text
    assert await balance(helper) == "20.00"  # the default: 5 + 10 × 1.5
    actions = await AuditEntry.select(AuditEntry.action, AuditEntry.actor).where(
        AuditEntry.subject == f"help_request:{request['id']}").order_by(AuditEntry.id)
    assert actions[0] == {"action": "help_posted_assisted", "actor": plain.id}


async def test_a_dispute_goes_to_the_office_first_and_a_disagreement_after(
    enrol: Enrol, admin: Member, community: communities.CommunityView
) -> None:
    asker = await enrol("resident", name="林先生")
    helper = await enrol("resident", name="何志愿")
    household_id = await home(community.id, asker)
    await home(community.id, helper, household_id=await neighbour_of(community.id, household_id))
    request = await post(asker, body="楼上漏水，邻里协商", category="mediation", visibility="community")
    assert request["state"] == "review"
    url = f"/api/help-requests/{request['id']}"
    assert (await helper.client.get(url)).status_code == 404  # not for volunteers yet
    assert (await helper.client.post(f"{url}/claim")).status_code == 404
    accepted = await admin.client.post(f"{url}/review", json={"decision": "accept"})
    assert accepted.status_code == 200 and accepted.json()["state"] == "open", accepted.text
    assert (await helper.client.post(f"{url}/claim")).status_code == 200
    disputed = await asker.client.post(f"{url}/dispute", json={"reason": "没有来"})
    assert disputed.status_code == 200 and disputed.json()["state"] == "disputed"
    assert (await asker.client.post(f"{url}/confirm", json={"hours": "1"})).status_code == 409
    reopened = await admin.client.post(f"{url}/resolve", json={"decision": "reopen", "note": "重新派单"})
    assert reopened.status_code == 200 and reopened.json()["state"] == "open"
    assert (await helper.client.post(f"{url}/claim")).status_code == 200
    assert (await asker.client.post(f"{url}/dispute", json={"reason": "只修了一半"})).status_code == 200
    settled = await admin.client.post(f"{url}/resolve", json={"decision": "confirm", "hours": "0.5"})
    assert settled.status_code == 200 and settled.json()["state"] == "done", settled.text
    assert await balance(helper) == "10.00"


async def test_claims_per_day_are_capped_and_posts_need_a_home(
    enrol: Enrol, admin: Member, community: communities.CommunityView
) -> None:
    homeless = await enrol("resident", name="无户籍")
    refused = await homeless.client.post("/api/help-requests", json={
        "body": "求助", "category": "other", "visibility": "building"})
    assert refused.status_code == 400 and refused.json()["reason"] == "help_needs_household"
    assert (await homeless.client.post("/api/help-requests", json={
        "body": "求助", "category": "other", "visibility": "community"})).status_code == 201
    await admin.client.put("/api/help-requests/terms", json={"escalate_hours": 24, "claims_per_day": 1})
    asker = await enrol("resident", name="甲")
    helper = await enrol("resident", name="乙")
    household_id = await home(community.id, asker)
    await home(community.id, helper, household_id=await neighbour_of(community.id, household_id))
    one, two = await post(asker), await post(asker)
    assert (await helper.client.post(f"/api/help-requests/{one['id']}/claim")).status_code == 200
    capped = await helper.client.post(f"/api/help-requests/{two['id']}/claim")
    assert capped.status_code == 409 and capped.json()["reason"] == "help_claims_cap", capped.text


async def test_a_request_nobody_takes_is_escalated_once(
    enrol: Enrol, admin: Member, community: communities.CommunityView, moved_clock: list[datetime]
) -> None:
    asker = await enrol("resident", name="老李")
    await home(community.id, asker)
    await admin.client.put("/api/help-requests/terms", json={"escalate_hours": 2, "claims_per_day": 3})
    request = await post(asker)
    moved_clock[0] += timedelta(hours=1, minutes=59)
    await board.escalate()
    shown = (await admin.client.get("/api/help-requests/board", params={"overdue": "true"})).json()
    assert request["id"] not in {r["id"] for r in shown["items"]}
    moved_clock[0] += timedelta(minutes=2)
    assert await board.escalate() >= 1
    await board.escalate()  # again: nothing more for this request
    seen = (await admin.client.get(f"/api/help-requests/{request['id']}")).json()
    assert seen["escalated"]
    shown = (await admin.client.get("/api/help-requests/board", params={"overdue": "true"})).json()
    assert request["id"] in {r["id"] for r in shown["items"]}
    assert sum(g["overdue"] for g in shown["grids"]) == 1
    entries = await AuditEntry.count().where(
        (AuditEntry.subject == f"help_request:{request['id']}") & (AuditEntry.action == "help_escalated"))
    assert entries == 1


async def test_caps_cut_a_help_credit_and_the_request_says_so(
    enrol: Enrol, admin: Member, community: communities.CommunityView
) -> None:
    await set_policy(admin, cap_per_day="4")
    asker = await enrol("resident", name="丙")
    helper = await enrol("resident", name="丁")
    household_id = await home(community.id, asker)
    await home(community.id, helper, household_id=await neighbour_of(community.id, household_id))
    request = await post(asker)
    url = f"/api/help-requests/{request['id']}"
    assert (await helper.client.post(f"{url}/claim")).status_code == 200
    done = await asker.client.post(f"{url}/confirm", json={"hours": "1"})
    assert done.status_code == 200 and done.json()["points"] == "4.00", done.text
    assert await balance(helper) == "4.00"


async def test_the_figures_and_the_export(
    enrol: Enrol, admin: Member, community: communities.CommunityView, app: Litestar
) -> None:
    asker = await enrol("resident", name="戊")
    helper = await enrol("resident", name="己")
    household_id = await home(community.id, asker)
    await home(community.id, helper, household_id=await neighbour_of(community.id, household_id))
    request = await post(asker, body="=HYPERLINK(\"x\")")
    url = f"/api/help-requests/{request['id']}"
    await helper.client.post(f"{url}/claim")
    await asker.client.post(f"{url}/confirm", json={"hours": "1"})
    figures = (await admin.client.get("/api/dashboards/help-requests")).json()
    repair = next(c for c in figures["categories"] if c["category"] == "repair")
    assert repair["posted"] == 1 and repair["solved"] == 1 and repair["median_hours_to_solve"] is not None
    exported = await admin.client.get("/api/exports/help_requests.csv")
    assert exported.status_code == 200, exported.text
    text = exported.content.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "已完成" in text and "戊" not in text


async def test_my_data_lists_my_requests_and_erasure_takes_their_words(
    enrol: Enrol, admin: Member, community: communities.CommunityView
) -> None:
    asker = await enrol("resident", name="壬")
    helper = await enrol("resident", name="癸")
    household_id = await home(community.id, asker)
    await home(community.id, helper, household_id=await neighbour_of(community.id, household_id))
    request = await post(asker, body="我家住3楼，腿脚不便，请帮忙买药")
    url = f"/api/help-requests/{request['id']}"
    assert (await helper.client.post(f"{url}/claim")).status_code == 200
    assert (await asker.client.post(f"{url}/confirm", json={"hours": "1"})).status_code == 200
    mine = (await asker.client.get("/api/me/export")).json()["help_requests"]
    assert [(r["id"], r["role"], r["body"]) for r in mine] == [(request["id"], "requester", request["body"])]
    theirs = (await helper.client.get("/api/me/export")).json()["help_requests"]
    assert [(r["id"], r["role"], r["points"]) for r in theirs] == [(request["id"], "volunteer", "15.00")]
    assert (await admin.client.post(f"/api/people/{asker.id}/erase")).status_code == 200
    (row,) = await fetch("SELECT body, state, points FROM help_request WHERE id = {}", request["id"])
    assert row["body"] == "（已删除）" and row["state"] == "done" and int(row["points"]) == 1500
    assert await balance(helper) == "15.00"  # the volunteer's credit stays


async def test_volunteers_claiming_at_once_one_gets_it_and_the_cap_holds(
    enrol: Enrol, admin: Member, community: communities.CommunityView
) -> None:
    """Real parallel requests: eight volunteers tap 认领 on one request at the same moment; one
    volunteer with a cap of two claims taps six requests at once."""
    asker = await enrol("resident", name="众人求助")
    volunteers = [await enrol("resident", name=f"志愿{n}") for n in range(8)]
    request = await post(asker, visibility="community")
    url = f"/api/help-requests/{request['id']}/claim"
    answers = await asyncio.gather(*(v.client.post(url) for v in volunteers))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 7, [a.text for a in answers]
    assert {a.json()["reason"] for a in answers if a.status_code == 409} == {"help_not_open"}
    (claims,) = await fetch("SELECT COUNT(*) AS n FROM help_claim WHERE request = {}", request["id"])
    assert int(claims["n"]) == 1

    await admin.client.put("/api/help-requests/terms", json={"escalate_hours": 24, "claims_per_day": 2})
    others = [await post(asker, visibility="community", body=f"第{n}件事") for n in range(6)]
    # One who lost the race above: no claim yet today.
    keen = next(v for v, a in zip(volunteers, answers, strict=True) if a.status_code == 409)
    taken = await asyncio.gather(*(keen.client.post(f"/api/help-requests/{r['id']}/claim") for r in others))
    assert sorted(a.status_code for a in taken) == [200, 200, 409, 409, 409, 409], [a.text for a in taken]
    assert {a.json()["reason"] for a in taken if a.status_code == 409} == {"help_claims_cap"}


async def test_a_help_credit_waits_for_publicity_and_a_void_zeroes_the_request(
    enrol: Enrol, admin: Member, community: communities.CommunityView
) -> None:
    """公示: a help credit is an earned credit like a check-in's — it waits on the notice, an
    objection freezes it, and the office's void leaves the request saying nothing was credited."""
    await set_policy(admin, publicity_days=2)
    asker = await enrol("resident", name="公示求助")
    helper = await enrol("resident", name="公示志愿")
    request = await post(asker, visibility="community")
    url = f"/api/help-requests/{request['id']}"
    assert (await helper.client.post(f"{url}/claim")).status_code == 200
    done = await asker.client.post(f"{url}/confirm", json={"hours": "1"})
    assert done.status_code == 200 and done.json()["points"] == "15.00"
    assert await balance(helper) == "0.00"  # held until the window ends
    (notice,) = [n for n in (await admin.client.get("/api/notices")).json()["items"]
                 if n["person_id"] == helper.id]
    assert notice["amount"] == "15.00" and notice["state"] == "pending"
    objected = await asker.client.post(f"/api/notices/{notice['id']}/objections", json={"reason": "没来"})
    assert objected.status_code in (200, 201), objected.text
    voided = await admin.client.post(f"/api/notices/{notice['id']}/decision", json={"post": False})
    assert voided.status_code == 200 and voided.json()["state"] == "voided", voided.text
    assert (await asker.client.get(url)).json()["points"] == "0.00"
    assert await balance(helper) == "0.00"
    assert (await admin.client.get("/api/ledger/verify")).json()["ok"]


async def test_the_grid_workers_list_pages_escalated_ones_first(
    enrol: Enrol, admin: Member, community: communities.CommunityView
) -> None:
    asker = await enrol("resident", name="网格求助")
    worker = await enrol("resident", name="网格员")
    household_id = await home(community.id, asker)
    grid_id = (await Household.select(Household.grid).where(Household.id == household_id).first())["grid"]
    await GridWorker.insert(GridWorker(grid=grid_id, person=worker.id))
    made = [(await post(asker, body=f"第{n}件"))["id"] for n in range(5)]
    # The two oldest waited two days (more than the default 48 hours): escalated.
    await fetch("UPDATE help_request SET open_since_us = open_since_us - {} WHERE id IN ({}, {})",
                49 * 3_600_000_000, made[0], made[1])
    await board.escalate()
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await worker.client.get("/api/help-requests/grid", params=params)).json()
        seen += [(item["id"], item["escalated"]) for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [(made[1], True), (made[0], True), (made[4], False), (made[3], False), (made[2], False)]


async def test_the_office_takes_a_request_back_from_a_quiet_volunteer(
    enrol: Enrol, admin: Member, community: communities.CommunityView
) -> None:
    asker = await enrol("resident", name="等人来")
    helper = await enrol("resident", name="不见了")
    other = await enrol("resident", name="接着办")
    request = await post(asker, visibility="community")
    url = f"/api/help-requests/{request['id']}"
    assert (await helper.client.post(f"{url}/claim")).status_code == 200
    assert (await other.client.post(f"{url}/release")).json()["reason"] == "help_not_claimed"
    assert "release" in (await admin.client.get(url)).json()["actions"]
    taken_back = await admin.client.post(f"{url}/release")
    assert taken_back.status_code == 200 and taken_back.json()["state"] == "open", taken_back.text
    assert (await other.client.post(f"{url}/claim")).status_code == 200
    (ended,) = await fetch("SELECT outcome FROM help_claim WHERE request = {} AND volunteer = {}",
                           request["id"], helper.id)
    assert ended["outcome"] == "reopened"
