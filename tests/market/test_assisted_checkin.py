"""Assisted check-in (issue 16): an organizer checks in (and out) a resident with no card and no
phone, found by name and room. The same scan as a member code's — the ledger, the caps, 公示,
duplicates, the audience — marked on the stay with who assisted, counted per organizer, audited.
And the bound on an activity's rates (``MAX_RATE``), shared with the earning categories."""

import secrets
from datetime import timedelta

import pytest

from ledger import Ledger
from market.activities import service
from market.community import service as communities
from market.community import structure
from market.db import fetch
from market.tables import Person
from tests.market.support import Enrol, Member, balance
from tests.market.test_checkin import move_clock, running_activity, scan
from tests.market.test_points_expiry import set_policy


async def housed(member: Member, community_id: int, building: str = "3号楼", room: str = "301") -> int:
    """Give the member a household (compound 幸福小区, ``building``, unit 1, ``room``); its building."""
    compounds = await structure.list_compounds(community_id)
    compound = compounds[0] if compounds else await structure.create_compound(community_id, "幸福小区")
    found = [b for b in await structure.list_buildings(community_id) if b.name == building]
    made = found[0] if found else await structure.create_building(community_id, compound.id, building)
    household = await structure.create_household(community_id, made.id, "1单元", room)
    await Person.update({Person.household: household.id}).where(Person.id == member.id)
    return made.id


async def community_of(member: Member) -> int:
    rows = await fetch("SELECT community FROM person WHERE id = {}", member.id)
    return rows[0]["community"]


async def find(organizer: Member, activity_id: int, **params: object):
    return await organizer.client.get(f"/api/activities/{activity_id}/residents", params=params)


async def assist(organizer: Member, activity_id: int, person_id: int, direction: str = "in"):
    return await organizer.client.post(f"/api/activities/{activity_id}/attendance/assisted",
                                       json={"person_id": person_id, "direction": direction})


async def test_find_by_name_building_and_room_with_masked_phones(
    organizer: Member, resident: Member, enrol: Enrol
) -> None:
    community_id = await community_of(resident)
    building = await housed(resident, community_id, "3号楼", "301")
    neighbour = await enrol("resident", name="李大爷")
    await housed(neighbour, community_id, "3号楼", "302")
    made = await running_activity(organizer)

    by_name = await find(organizer, made["id"], name="李")
    assert by_name.status_code == 200, by_name.text
    items = {item["person_id"]: item for item in by_name.json()["items"]}
    assert set(items) == {resident.id, neighbour.id}
    mine = items[resident.id]
    assert mine["name"] == "李阿姨" and mine["stay"] is None
    assert mine["phone"] == resident.phone[:3] + "****" + resident.phone[-4:]
    assert resident.phone not in by_name.text
    assert mine["address"] == "幸福小区 3号楼 1单元 301"

    by_room = await find(organizer, made["id"], building_id=building, room="302")
    assert [item["person_id"] for item in by_room.json()["items"]] == [neighbour.id]
    # Wildcards are letters: "%" finds no one rather than everyone.
    assert (await find(organizer, made["id"], name="%")).json()["items"] == []
    # Staff without the resident role are not residents to check in.
    assert (await find(organizer, made["id"], name=organizer.name)).json()["items"] == []


@pytest.mark.parametrize(("params", "reason", "language", "text"), [
    ({}, "search_needed", "zh", "请输入姓名"),
    ({"name": "  "}, "search_needed", "en", "Type a name"),
    ({"name": "李" * 51}, "invalid_search", "zh", "姓名最多 50 个字"),
    ({"building_id": 1, "room": "1" * 21}, "invalid_search", "en", "a room 20"),
])
async def test_a_search_needs_a_name_or_a_building(
    organizer: Member, params: dict, reason: str, language: str, text: str
) -> None:
    made = await running_activity(organizer)
    response = await organizer.client.get(f"/api/activities/{made['id']}/residents", params=params,
                                          headers={"Accept-Language": language})
    assert response.status_code == 400, response.text
    assert response.json()["reason"] == reason and text in response.json()["detail"]


async def test_an_assisted_check_in_credits_like_a_scan_and_is_marked(
    organizer: Member, resident: Member, admin: Member
) -> None:
    made = await running_activity(organizer, points_per_checkin="2.50")
    response = await assist(organizer, made["id"], resident.id)
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["points"] == "2.50" and result["balance"] == "2.50"
    assert result["duplicate"] is False and result["assisted_by"] == organizer.id
    assert await balance(resident) == "2.50"
    # The ledger's transfer is the scan's own, from the stay: one credit, the usual id.
    stays = await fetch("SELECT id, assisted_by FROM activity_stay WHERE activity = {}", made["id"])
    assert [row["assisted_by"] for row in stays] == [organizer.id]
    transfers = await fetch("SELECT id FROM ledger_transfer WHERE id = {}", f"checkin:{stays[0]['id']}:in")
    assert len(transfers) == 1

    listed = (await organizer.client.get(f"/api/activities/{made['id']}/attendance")).json()
    (stay,) = listed["items"]
    assert stay["assisted_by"] == organizer.id and stay["assisted_by_name"] == organizer.name
    assert listed["assisted"] == [{"person_id": organizer.id, "name": organizer.name, "count": 1}]
    audit = await fetch("SELECT actor, action, subject FROM audit_log WHERE action = {}",
                        "checkin_assisted")
    assert {"actor": organizer.id, "action": "checkin_assisted",
            "subject": f"activity_stay:{stays[0]['id']}"} in [dict(row) for row in audit]
    scans = await fetch("SELECT scanner, outcome FROM activity_scan WHERE activity = {}", made["id"])
    assert [dict(row) for row in scans] == [{"scanner": organizer.id, "outcome": "ok"}]
    assert (await admin.client.get("/api/ledger/verify")).json()["ok"]


async def test_duplicates_are_refused_whoever_checked_in_first(
    organizer: Member, resident: Member, enrol: Enrol
) -> None:
    made = await running_activity(organizer, points_per_checkin="2")
    assert (await assist(organizer, made["id"], resident.id)).status_code == 201
    again = await assist(organizer, made["id"], resident.id)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert await balance(resident) == "2.00"
    # Scanned by themself first: the assisted check-in after it is a duplicate, not marked.
    other = await enrol("resident", name="赵奶奶")
    assert (await scan(organizer, other, made["id"])).status_code == 201
    late = await assist(organizer, made["id"], other.id)
    assert late.status_code == 200 and late.json()["duplicate"] is True
    assert late.json()["assisted_by"] is None
    assert await balance(other) == "2.00"
    listed = (await organizer.client.get(f"/api/activities/{made['id']}/attendance")).json()
    assert listed["assisted"][0]["count"] == 1


async def test_caps_and_publicity_apply_as_to_a_scan(
    admin: Member, organizer: Member, resident: Member
) -> None:
    await set_policy(admin, cap_per_day="3", publicity_days=2)
    first = await assist(organizer, (await running_activity(organizer, points_per_checkin="2"))["id"],
                         resident.id)
    assert first.status_code == 201, first.text
    assert first.json()["counts_on"] is not None  # held for 公示, as a scan's would be
    second = await assist(organizer, (await running_activity(organizer, points_per_checkin="2"))["id"],
                          resident.id)
    assert second.json()["capped"] == {"reason": "cap_reached", "credited": "1.00", "cut": "1.00"}


async def test_an_assisted_check_out_counts_hours(
    organizer: Member, resident: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await running_activity(organizer, points_per_checkin="0", points_per_hour="10")
    assert (await assist(organizer, made["id"], resident.id)).status_code == 201
    move_clock(monkeypatch, timedelta(minutes=30))
    out = await assist(organizer, made["id"], resident.id, "out")
    assert out.status_code == 201, out.text
    assert out.json()["direction"] == "out" and out.json()["assisted_by"] == organizer.id
    assert out.json()["points"] == "5.00"
    rows = await fetch("SELECT out_assisted_by, hours FROM activity_stay WHERE activity = {}", made["id"])
    assert [dict(row) for row in rows] == [{"out_assisted_by": organizer.id, "hours": 50}]
    found = (await find(organizer, made["id"], name="李阿姨")).json()["items"]
    assert found[0]["stay"] == "out"


async def test_the_same_rules_refuse_as_for_a_scan(
    organizer: Member, resident: Member, enrol: Enrol, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = await running_activity(organizer, capacity=1)
    assert (await assist(organizer, full["id"], resident.id)).status_code == 201
    other = await enrol("resident", name="钱叔叔")
    refused = await assist(organizer, full["id"], other.id)
    assert refused.status_code == 409 and refused.json()["reason"] == "full"
    not_in = await assist(organizer, full["id"], other.id, "out")
    assert not_in.status_code == 409 and not_in.json()["reason"] == "not_checked_in"
    bad = await assist(organizer, full["id"], other.id, "sideways")
    assert bad.status_code == 400 and bad.json()["reason"] == "invalid_direction"
    later = await running_activity(organizer)
    move_clock(monkeypatch, timedelta(hours=5))
    closed = await assist(organizer, later["id"], other.id)
    assert closed.status_code == 409 and closed.json()["reason"] == "not_open"
    assert await balance(other) == "0.00"


async def test_only_the_organizer_of_the_activity_and_only_residents_here(
    organizer: Member, resident: Member, enrol: Enrol, admin: Member, ledger: Ledger
) -> None:
    made = await running_activity(organizer)
    someone_else = await enrol("organizer")
    assert (await assist(someone_else, made["id"], resident.id)).status_code == 404
    assert (await find(someone_else, made["id"], name="李")).status_code == 404
    forbidden = await resident.client.post(f"/api/activities/{made['id']}/attendance/assisted",
                                           json={"person_id": resident.id})
    assert forbidden.status_code == 403
    assert (await resident.client.get(f"/api/activities/{made['id']}/residents",
                                      params={"name": "李"})).status_code == 403
    # A staff member (no resident role) and a resident of another community: not found.
    assert (await assist(organizer, made["id"], someone_else.id)).status_code == 404
    other = await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(4)}")
    elsewhere = await enrol("resident", community_id=other.id, name="李阿姨")
    assert (await assist(organizer, made["id"], elsewhere.id)).status_code == 404
    assert [i["person_id"] for i in (await find(organizer, made["id"], name="李")).json()["items"]] \
        == [resident.id]
    # The admin may assist at any activity of the community; the tally says who did.
    assert (await assist(admin, made["id"], resident.id)).status_code == 201
    listed = (await organizer.client.get(f"/api/activities/{made['id']}/attendance")).json()
    assert listed["assisted"] == [{"person_id": admin.id, "name": admin.name, "count": 1}]
    assert await balance(resident) == "2.00"


# -- the bound on rates ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["points_per_hour", "points_per_checkin"])
@pytest.mark.parametrize("value", ["99999999999", "1000.01"])
async def test_rates_above_the_bound_are_refused_by_the_api(
    organizer: Member, field: str, value: str
) -> None:
    response = await organizer.client.post("/api/activities", json={
        "title": "义诊", "category": "volunteer_service", "starts_at": "2030-01-01T09:00:00+08:00",
        "ends_at": "2030-01-01T11:00:00+08:00", "points_per_checkin": "1", "points_per_hour": "1",
        field: value}, headers={"Accept-Language": "en"})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["reason"] == "activity_rate_too_high" and body["field"] == field
    assert "at most 1000" in body["detail"]
    assert (await organizer.client.get("/api/activities")).json()["items"] == []


async def test_the_bound_itself_is_accepted_and_edits_are_bounded_too(organizer: Member) -> None:
    made = await running_activity(organizer, points_per_hour="1000", points_per_checkin="1000")
    assert made["points_per_hour"] == "1000.00"
    start = "2030-01-01T09:00:00+08:00"
    later = await organizer.client.post("/api/activities", json={
        "title": "义诊", "category": "volunteer_service", "starts_at": start,
        "ends_at": "2030-01-01T11:00:00+08:00", "points_per_checkin": "1", "points_per_hour": "1"})
    edit = await organizer.client.patch(f"/api/activities/{later.json()['id']}",
                                        json={"points_per_hour": "5000"})
    assert edit.status_code == 400 and edit.json()["reason"] == "activity_rate_too_high"
    assert (await organizer.client.get(f"/api/activities/{later.json()['id']}")).json()[
        "points_per_hour"] == "1.00"


async def test_every_bad_field_is_listed_in_one_answer(organizer: Member) -> None:
    response = await organizer.client.post("/api/activities", json={
        "title": "", "category": "volunteer_service", "starts_at": "2030-01-01T09:00:00+08:00",
        "ends_at": "2030-01-01T11:00:00+08:00", "points_per_checkin": "-3",
        "points_per_hour": "99999999999", "capacity": 0})
    assert response.status_code == 400, response.text
    errors = {e["field"]: e["reason"] for e in response.json()["errors"]}
    assert errors == {"title": "invalid_title", "points_per_checkin": "invalid_activity_amount",
                      "points_per_hour": "activity_rate_too_high", "capacity": "invalid_capacity"}


def test_one_bound_for_activities_and_earning_categories() -> None:
    from market.points import categories

    assert categories.MAX_RATE is service.MAX_RATE


async def test_a_category_rate_above_the_bound_is_refused(admin: Member) -> None:
    response = await admin.client.post("/api/points/categories", json={
        "name": "义诊", "points_per_hour": "1000.01"})
    assert response.status_code == 400 and response.json()["reason"] == "invalid_category_rate"
