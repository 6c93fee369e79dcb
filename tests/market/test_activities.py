"""Activities: create, list, show, edit before the start, cancel (reversing credits), isolation."""

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from market import clock
from tests.market.support import Enrol, Member, balance


def body(**changes: object) -> dict:
    start = datetime.now(UTC) + timedelta(days=1)
    data = {
        "title": "楼道清扫", "category": "collective_labour", "location": "3号楼",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
        "points_per_checkin": "5", "points_per_hour": "10.50", "max_hours": "2", "capacity": 30,
    }
    return data | changes


async def test_create_list_show(organizer: Member, resident: Member) -> None:
    response = await organizer.client.post("/api/activities", json=body())
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["title"] == "楼道清扫" and made["category"] == "collective_labour"
    assert made["points_per_checkin"] == "5.00" and made["points_per_hour"] == "10.50"
    assert made["max_hours"] == "2.00" and made["capacity"] == 30
    assert made["status"] == "scheduled" and made["organizer_id"] == organizer.id
    # every signed-in member of the community sees it
    shown = await resident.client.get(f"/api/activities/{made['id']}")
    assert shown.status_code == 200 and shown.json() == made
    listed = (await resident.client.get("/api/activities")).json()["items"]
    assert made["id"] in [item["id"] for item in listed]


@pytest.mark.parametrize(("changes", "reason", "field"), [
    ({"title": "  "}, "invalid_title", "title"),
    ({"title": "长" * 101}, "invalid_title", "title"),
    ({"category": "sports"}, "invalid_category", "category"),
    ({"points_per_checkin": "-1"}, "invalid_activity_amount", "points_per_checkin"),
    ({"points_per_hour": "1.234"}, "invalid_activity_amount", "points_per_hour"),
    ({"max_hours": "-0.01"}, "invalid_activity_amount", "max_hours"),
    ({"capacity": 0}, "invalid_capacity", "capacity"),
    ({"starts_at": "2026-11-30T10:00:00"}, "invalid_time", "starts_at"),
])
async def test_bad_input_is_refused_and_changes_nothing(
    organizer: Member, changes: dict, reason: str, field: str
) -> None:
    before = len((await organizer.client.get("/api/activities")).json()["items"])
    response = await organizer.client.post(
        "/api/activities", json=body(**changes), headers={"Accept-Language": "en"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["reason"] == reason and response.json()["field"] == field
    assert response.json()["detail"]
    assert len((await organizer.client.get("/api/activities")).json()["items"]) == before


async def test_end_must_follow_start(organizer: Member) -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    response = await organizer.client.post("/api/activities", json=body(
        starts_at=start.isoformat(), ends_at=start.isoformat()))
    assert response.status_code == 400 and response.json()["reason"] == "invalid_window"
    assert "结束时间" in response.json()["detail"]  # Chinese by default


async def test_residents_cannot_create(resident: Member) -> None:
    response = await resident.client.post("/api/activities", json=body())
    assert response.status_code == 403


async def test_other_community_sees_nothing(organizer: Member, enrol: Enrol, ledger) -> None:
    from market.community import service as communities

    made = (await organizer.client.post("/api/activities", json=body())).json()
    other = await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(4)}")
    stranger = await enrol("admin", community_id=other.id)
    for path in (f"/api/activities/{made['id']}", f"/api/activities/{made['id']}/code",
                 f"/api/activities/{made['id']}/attendance"):
        assert (await stranger.client.get(path)).status_code == 404
    assert (await stranger.client.patch(f"/api/activities/{made['id']}", json={"title": "x"})
            ).status_code == 404
    assert made["id"] not in [
        item["id"] for item in (await stranger.client.get("/api/activities")).json()["items"]
    ]


async def test_edit_until_it_starts(organizer: Member, enrol: Enrol, monkeypatch) -> None:
    made = (await organizer.client.post("/api/activities", json=body())).json()
    path = f"/api/activities/{made['id']}"
    response = await organizer.client.patch(path, json={"title": "楼道大扫除", "capacity": 10})
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "楼道大扫除" and response.json()["capacity"] == 10
    # another organizer does not manage it
    other = await enrol("organizer")
    assert (await other.client.patch(path, json={"title": "x"})).status_code == 404
    # bad edits change nothing
    bad = await organizer.client.patch(path, json={"ends_at": made["starts_at"]})
    assert bad.status_code == 400 and bad.json()["reason"] == "invalid_window"
    # once it started: 409 already_started
    started = datetime.fromisoformat(made["starts_at"]) + timedelta(minutes=1)
    monkeypatch.setattr(clock, "clock", lambda: started)
    late = await organizer.client.patch(path, json={"title": "改名"})
    assert late.status_code == 409 and late.json()["reason"] == "already_started"
    assert (await organizer.client.get(path)).json()["title"] == "楼道大扫除"


async def test_cancel_reverses_credits(
    organizer: Member, resident: Member, admin: Member, app, monkeypatch
) -> None:
    from tests.market.test_checkin import running_activity, scan

    made = await running_activity(organizer, points_per_checkin="5", points_per_hour="6")
    assert (await scan(organizer, resident, made["id"], "in")).status_code == 201
    monkeypatch.setattr(clock, "clock", lambda: datetime.now(UTC) + timedelta(minutes=30))
    assert (await scan(organizer, resident, made["id"], "out")).status_code == 201
    assert await balance(resident) == "8.00"  # 5 + 6 × 0.5 h
    assert (await resident.client.get("/api/me/balance")).json()["service_hours"] == "0.50"

    path = f"/api/activities/{made['id']}/cancel"
    assert (await organizer.client.post(path, json={"reason": " "})).status_code == 400
    response = await organizer.client.post(path, json={"reason": "下雨取消"})
    assert response.status_code == 200, response.text
    assert response.json() == {"id": made["id"], "status": "cancelled",
                               "cancel_reason": "下雨取消", "reversed": 2, "not_reversed": 0}
    assert await balance(resident) == "0.00"
    assert (await resident.client.get("/api/me/balance")).json()["service_hours"] == "0.00"
    entries = (await resident.client.get("/api/me/entries")).json()["items"]
    assert [e["amount"] for e in entries][:2] == ["-3.00", "-5.00"]
    # again: nothing more happens
    again = await organizer.client.post(path, json={"reason": "再次"})
    assert again.status_code == 200 and again.json()["cancel_reason"] == "下雨取消"
    assert await balance(resident) == "0.00"
    # a cancelled activity is closed for scans and edits
    refused = await scan(organizer, resident, made["id"], "in")
    assert refused.status_code == 409 and refused.json()["reason"] == "not_open"
    verify = (await admin.client.get("/api/ledger/verify")).json()
    assert verify["ok"] is True


async def test_cancel_cannot_take_back_points_already_spent(
    organizer: Member, resident: Member, admin: Member
) -> None:
    from tests.market.support import adjust
    from tests.market.test_checkin import running_activity, scan

    made = await running_activity(organizer, points_per_checkin="5")
    assert (await scan(organizer, resident, made["id"])).status_code == 201
    assert (await adjust(admin, resident.id, "-4", "兑换")).status_code == 201
    response = await organizer.client.post(f"/api/activities/{made['id']}/cancel",
                                           json={"reason": "取消"})
    assert response.status_code == 200
    assert response.json()["reversed"] == 0 and response.json()["not_reversed"] == 1
    assert await balance(resident) == "1.00"  # wallets never go negative
    assert (await admin.client.get("/api/ledger/verify")).json()["ok"] is True


async def test_edit_approval_and_audience(organizer: Member, community) -> None:
    from tests.market import records

    made = (await organizer.client.post("/api/activities", json=body())).json()
    team = await records.team(community.id)
    response = await organizer.client.patch(f"/api/activities/{made['id']}", json={
        "requires_approval": True, "team_id": team, "grid_ids": []})
    assert response.status_code == 200, response.text
    assert response.json()["requires_approval"] is True and response.json()["team_id"] == team
    bad = await organizer.client.patch(f"/api/activities/{made['id']}", json={"team_id": 10**7})
    assert bad.status_code == 400 and bad.json()["reason"] == "invalid_audience"
