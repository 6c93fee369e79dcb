"""Rotating check-in codes and check-in/out: credits, duplicates, windows, attendance, scan log."""

import asyncio
import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qr
from market import clock
from market.activities import service
from market.cards.service import signer_for
from market.errors import Gone, InvalidInput
from market.settings import Settings
from market.tables import Scan
from qr import Kind
from tests.market.support import Member, balance


async def running_activity(organizer: Member, **fields: object) -> dict:
    start = datetime.now(UTC) - timedelta(minutes=10)
    data = {
        "title": "垃圾分类宣传", "category": "volunteer_service",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
        "points_per_checkin": "2", "points_per_hour": "0",
    } | fields
    response = await organizer.client.post("/api/activities", json=data)
    assert response.status_code == 201, response.text
    return response.json()


async def code_of(organizer: Member, activity_id: int) -> dict:
    response = await organizer.client.get(f"/api/activities/{activity_id}/code")
    assert response.status_code == 200, response.text
    return response.json()


async def scan(organizer: Member, resident: Member, activity_id: int, direction: str = "in"
               ) -> httpx.Response:
    code = await code_of(organizer, activity_id)
    return await resident.client.post(
        "/api/checkins", json={"token": code["url"], "direction": direction}
    )


def move_clock(monkeypatch: pytest.MonkeyPatch, delta: timedelta) -> None:
    monkeypatch.setattr(clock, "clock", lambda: datetime.now(UTC) + delta)


async def test_code_and_its_picture(organizer: Member) -> None:
    made = await running_activity(organizer)
    code = await code_of(organizer, made["id"])
    assert code["url"] == f"http://test/C/{code['token']}"
    assert code["token"].isupper() and len(code["token"]) <= 40
    response = await organizer.client.get(f"/api/activities/{made['id']}/code.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert await asyncio.to_thread(qr.decode_png, response.content) == [code["url"]]


def test_the_check_in_url_fits_qr_version_5_at_level_m() -> None:
    signer = signer_for(Settings.from_env())
    token = signer.sign(Kind.ACTIVITY_ROTATING, 2**21 - 1, 2**35)  # big ids, far-future step
    assert qr.version_of(f"HTTPS://JIFEN.EXAMPLE.GOV.CN/C/{token}") <= 5
    assert qr.version_of(f"https://jifen.example.gov.cn/C/{token}") <= 5


async def test_check_in_and_out_credit_exactly(
    organizer: Member, resident: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await running_activity(organizer, points_per_checkin="2.50", points_per_hour="3.33",
                                  max_hours="1")
    response = await scan(organizer, resident, made["id"])
    assert response.status_code == 201, response.text
    first = response.json()
    assert first["activity_id"] == made["id"] and first["direction"] == "in"
    assert first["points"] == "2.50" and first["balance"] == "2.50"
    assert first["duplicate"] is False
    # 40 minutes later (0.66 h; the stay started 10 min after the activity's start)
    move_clock(monkeypatch, timedelta(minutes=40))
    out = await scan(organizer, resident, made["id"], "out")
    assert out.status_code == 201, out.text
    hours = 66  # 0.666… h rounded down; the clock runs a little, so allow 0.67 too
    assert out.json()["points"] in ("2.19", "2.23")  # 3.33 × 0.66 = 2.1978; × 0.67 = 2.2311
    balance_now = (await resident.client.get("/api/me/balance")).json()
    assert balance_now["service_hours"] in (f"0.{hours}", "0.67")
    assert balance_now["stars"] == 0
    # the cap: three hours later still at most 1 h (but the stay is closed: duplicate)
    move_clock(monkeypatch, timedelta(hours=3))
    again = await scan(organizer, resident, made["id"], "out")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["points"] == out.json()["points"]
    entries = (await resident.client.get("/api/me/entries")).json()["items"]
    assert [(e["kind"], e["memo"]) for e in entries] == [
        ("checkout", "垃圾分类宣传"), ("checkin", "垃圾分类宣传"),
    ]


async def test_hours_are_capped(
    organizer: Member, resident: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await running_activity(organizer, points_per_checkin="0", points_per_hour="10",
                                  max_hours="0.5")
    first = await scan(organizer, resident, made["id"])
    assert first.status_code == 201 and first.json()["points"] == "0.00"
    move_clock(monkeypatch, timedelta(minutes=100))
    out = await scan(organizer, resident, made["id"], "out")
    assert out.status_code == 201 and out.json()["points"] == "5.00"
    assert await balance(resident) == "5.00"


async def test_repeat_is_a_duplicate_and_credits_nothing(organizer: Member, resident: Member) -> None:
    made = await running_activity(organizer)
    assert (await scan(organizer, resident, made["id"])).status_code == 201
    for _ in range(3):
        response = await scan(organizer, resident, made["id"])
        assert response.status_code == 200
        assert response.json()["duplicate"] is True and response.json()["points"] == "2.00"
        assert response.json()["balance"] == "2.00"
    assert await balance(resident) == "2.00"


async def test_refusals(organizer: Member, resident: Member, monkeypatch) -> None:
    made = await running_activity(organizer)
    # check-out without check-in
    response = await scan(organizer, resident, made["id"], "out")
    assert response.status_code == 409 and response.json()["reason"] == "not_checked_in"
    # forged
    response = await resident.client.post("/api/checkins", json={"token": "AAAAAAAAAAAAAAAA"})
    assert response.status_code == 400 and response.json()["reason"] == "invalid"
    # a bad direction
    code = await code_of(organizer, made["id"])
    response = await resident.client.post("/api/checkins",
                                          json={"token": code["token"], "direction": "sideways"})
    assert response.status_code == 400 and response.json()["reason"] == "invalid_direction"
    # not open: an activity tomorrow
    later = await running_activity(organizer, starts_at=(datetime.now(UTC) + timedelta(days=1)
                                                         ).isoformat(),
                                   ends_at=(datetime.now(UTC) + timedelta(days=1, hours=1)
                                            ).isoformat())
    response = await scan(organizer, resident, later["id"])
    assert response.status_code == 409 and response.json()["reason"] == "not_open"
    # from 30 minutes before the start it is open
    move_clock(monkeypatch, timedelta(days=1) - timedelta(minutes=29))
    assert (await scan(organizer, resident, later["id"])).status_code == 201
    assert await balance(resident) == "2.00"
    # the organizer cannot check in as a resident
    response = await organizer.client.post("/api/checkins", json={"token": code["token"]})
    assert response.status_code == 403


async def test_rotation_current_previous_and_expired(
    organizer: Member, enrol, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await running_activity(organizer)
    code = await code_of(organizer, made["id"])
    step_start = datetime.fromtimestamp(
        qr.Rotation().step_at(datetime.now(UTC)) * 30, UTC)
    # the next step: still accepted
    first = await enrol("resident")
    monkeypatch.setattr(clock, "clock", lambda: step_start + timedelta(seconds=31))
    ok = await first.client.post("/api/checkins", json={"token": code["token"]})
    assert ok.status_code == 201, ok.text
    # two steps on: expired
    second = await enrol("resident")
    monkeypatch.setattr(clock, "clock", lambda: step_start + timedelta(seconds=61))
    stale = await second.client.post("/api/checkins", json={"token": code["url"]})
    assert stale.status_code == 410 and stale.json()["reason"] == "expired"
    assert await balance(second) == "0.00"
    logged = await Scan.select(Scan.person, Scan.outcome).where(
        Scan.activity == made["id"]).order_by(Scan.id)
    assert [(row["person"], row["outcome"]) for row in logged] == [
        (first.id, "ok"), (second.id, "expired")]


async def test_another_activitys_token_checks_into_that_one_only(
    organizer: Member, resident: Member
) -> None:
    one = await running_activity(organizer, title="活动一")
    two = await running_activity(organizer, title="活动二")
    response = await scan(organizer, resident, two["id"])
    assert response.json()["activity_id"] == two["id"]
    # a member code is not an activity code
    member = (await resident.client.get("/api/me/code")).json()["code"]
    refused = await resident.client.post("/api/checkins", json={"token": member})
    assert refused.status_code == 400 and refused.json()["reason"] == "invalid"
    assert one["id"] != two["id"]


async def test_a_code_of_another_community_is_invalid(
    organizer: Member, enrol, ledger
) -> None:
    import secrets

    from market.community import service as communities

    made = await running_activity(organizer)
    code = await code_of(organizer, made["id"])
    other = await communities.get_or_create(ledger, f"外社区-{secrets.token_hex(4)}")
    stranger = await enrol("resident", community_id=other.id)
    response = await stranger.client.post("/api/checkins", json={"token": code["url"]})
    assert response.status_code == 400 and response.json()["reason"] == "invalid"


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _mutations(token: str, rng: random.Random) -> str:
    """A different token text: flipped characters, cuts, insertions, swaps."""
    while True:
        chars = list(token)
        choice = rng.randrange(5)
        if choice == 0:
            i = rng.randrange(len(chars))
            chars[i] = rng.choice(_ALPHABET.replace(chars[i], ""))
        elif choice == 1:
            del chars[rng.randrange(len(chars))]
        elif choice == 2:
            chars.insert(rng.randrange(len(chars) + 1), rng.choice(_ALPHABET))
        elif choice == 3:
            for _ in range(rng.randint(2, 6)):
                chars[rng.randrange(len(chars))] = rng.choice(_ALPHABET)
        else:
            chars = list(token[: rng.randrange(len(token))]) + [
                rng.choice(_ALPHABET) for _ in range(rng.randrange(8))]
        mutated = "".join(chars)
        if mutated != token:
            return mutated


def test_ten_thousand_mutated_tokens_are_all_refused() -> None:
    signer = signer_for(Settings.from_env())
    now = datetime.now(UTC)
    token = qr.Rotation().issue(signer, Kind.ACTIVITY_ROTATING, 42, now).text
    assert service.checkin_activity(signer, f"https://x.cn/C/{token}", now) == 42
    rng = random.Random(20261123)
    refused = 0
    for _ in range(10_000):
        mutated = _mutations(token, rng)
        with pytest.raises(InvalidInput):
            service.checkin_activity(signer, mutated, now)
        refused += 1
    assert refused == 10_000


@settings(max_examples=2000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(max_size=80) | st.text(alphabet=_ALPHABET, min_size=20, max_size=60))
def test_forged_tokens_are_refused(text: str) -> None:
    signer = signer_for(Settings.from_env())
    with pytest.raises((InvalidInput, Gone)):
        service.checkin_activity(signer, text, datetime.now(UTC))


async def test_attendance_by_member_code_and_card(
    app, organizer: Member, resident: Member, admin: Member
) -> None:
    from market.cards.service import card_code

    made = await running_activity(organizer)
    path = f"/api/activities/{made['id']}/attendance"
    member = (await resident.client.get("/api/me/code")).json()["code"]
    response = await organizer.client.post(path, json={"member_code": member})
    assert response.status_code == 201, response.text
    assert response.json()["points"] == "2.00" and response.json()["balance"] == "2.00"
    again = await organizer.client.post(path, json={"member_code": member})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    # a reissued card's old code is refused at once
    settings_ = app.state.settings
    old_card = card_code(settings_, resident.id, 1)
    reissued = await admin.client.post(f"/api/people/{resident.id}/card/reissue")
    assert reissued.status_code in (200, 201), reissued.text
    refused = await organizer.client.post(
        path, json={"member_code": old_card, "direction": "out"})
    assert refused.status_code == 410 and refused.json()["reason"] == "revoked"
    new_card = card_code(settings_, resident.id, 2)
    out = await organizer.client.post(path, json={"member_code": new_card, "direction": "out"})
    assert out.status_code == 201, out.text
    # the attendance list
    listed = (await organizer.client.get(path)).json()["items"]
    assert len(listed) == 1
    stay = listed[0]
    assert stay["person_id"] == resident.id and stay["name"] == "李阿姨"
    assert "****" in stay["phone"] and stay["status"] == "out" and stay["out_at"]
    # the scan log holds every scan with its outcome
    outcomes = await Scan.select(Scan.outcome, Scan.scanner).where(
        Scan.activity == made["id"]).order_by(Scan.id)
    assert [row["outcome"] for row in outcomes] == ["ok", "duplicate", "revoked", "ok"]
    assert {row["scanner"] for row in outcomes} == {organizer.id}


async def test_only_the_activitys_organizer_or_an_admin_manages_it(
    organizer: Member, enrol, admin: Member
) -> None:
    made = await running_activity(organizer)
    other = await enrol("organizer")
    assert (await other.client.get(f"/api/activities/{made['id']}/code")).status_code == 404
    assert (await admin.client.get(f"/api/activities/{made['id']}/code")).status_code == 200


async def test_capacity(organizer: Member, enrol) -> None:
    made = await running_activity(organizer, capacity=1)
    first, second = await enrol("resident"), await enrol("resident")
    assert (await scan(organizer, first, made["id"])).status_code == 201
    response = await scan(organizer, second, made["id"])
    assert response.status_code == 409 and response.json()["reason"] == "full"
    outcomes = await Scan.select(Scan.outcome).where(Scan.activity == made["id"]).order_by(Scan.id)
    assert [row["outcome"] for row in outcomes] == ["ok", "full"]


async def test_a_poster_check_in_waits_for_approval_and_a_rejected_one_earns_nothing(
    organizer: Member, enrol
) -> None:
    made = await running_activity(organizer, points_per_checkin="3")
    poster = (await organizer.client.get(f"/api/activities/{made['id']}/poster")).json()
    far, near = await enrol("resident"), await enrol("resident")
    for resident in (far, near):
        scanned = await resident.client.post("/api/checkins", json={"token": poster["url"]})
        assert scanned.json()["approval"] == "pending", scanned.text
    # The screen's code, which rotates every 30 s, is credited at once.
    at_the_door = await enrol("resident")
    assert (await scan(organizer, at_the_door, made["id"])).json()["approval"] is None
    rejected = await organizer.client.post(f"/api/activities/{made['id']}/reject",
                                           json={"person_ids": [far.id], "reason": "未到场"})
    assert rejected.status_code == 200, rejected.text
    assert (await organizer.client.post(f"/api/activities/{made['id']}/approve",
                                        json={"person_ids": [near.id]})).status_code == 200
    balances = [(await r.client.get("/api/me/balance")).json()["balance"] for r in (far, near, at_the_door)]
    assert balances == ["0.00", "3.00", "3.00"]


async def test_poster_code_works_only_around_the_window(
    organizer: Member, resident: Member, enrol, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await running_activity(organizer)
    response = await organizer.client.get(f"/api/activities/{made['id']}/poster")
    assert response.status_code == 200, response.text
    poster = response.json()
    assert poster["url"].endswith(f"/C/{poster['token']}")
    picture = await organizer.client.get(f"/api/activities/{made['id']}/poster.png")
    assert await asyncio.to_thread(qr.decode_png, picture.content) == [poster["url"]]
    # hours later the poster still scans (it does not rotate), as long as the window is open
    move_clock(monkeypatch, timedelta(minutes=100))
    ok = await resident.client.post("/api/checkins", json={"token": poster["url"]})
    assert ok.status_code == 201, ok.text
    # A printed code may be a forwarded photo: the check-in waits for the organizer.
    assert ok.json()["approval"] == "pending" and ok.json()["balance"] == "0.00", ok.text
    approved = await organizer.client.post(f"/api/activities/{made['id']}/approve",
                                           json={"person_ids": [resident.id]})
    assert approved.status_code == 200, approved.text
    balance = (await resident.client.get("/api/me/balance")).json()["balance"]
    assert balance == made["points_per_checkin"]
    # after the window: not open
    move_clock(monkeypatch, timedelta(hours=5))
    late = await enrol("resident")
    refused = await late.client.post("/api/checkins", json={"token": poster["token"]})
    assert refused.status_code == 409 and refused.json()["reason"] == "not_open"


async def test_approval_holds_credits_until_approved(
    organizer: Member, enrol, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await running_activity(organizer, requires_approval=True, points_per_checkin="4",
                                  points_per_hour="10")
    assert made["requires_approval"] is True
    yes, no, later = [await enrol("resident") for _ in range(3)]
    for member in (yes, no, later):
        response = await scan(organizer, member, made["id"])
        assert response.status_code == 201
        assert response.json()["approval"] == "pending" and response.json()["balance"] == "0.00"
    move_clock(monkeypatch, timedelta(minutes=30))
    out = await scan(organizer, yes, made["id"], "out")
    assert out.status_code == 201 and out.json()["balance"] == "0.00"
    assert (await yes.client.get("/api/me/balance")).json()["service_hours"] == "0.00"
    base = f"/api/activities/{made['id']}"
    rejected = await organizer.client.post(f"{base}/reject",
                                           json={"person_ids": [no.id], "reason": "未到场"})
    assert rejected.status_code == 200 and rejected.json()["count"] == 1
    approved = await organizer.client.post(f"{base}/approve", json={"person_ids": [yes.id]})
    assert approved.status_code == 200, approved.text
    assert approved.json() == {"count": 1, "credited": "9.00"}  # 4 + 10 × 0.5 h
    assert await balance(yes) == "9.00" and await balance(no) == "0.00"
    assert (await yes.client.get("/api/me/balance")).json()["service_hours"] == "0.50"
    # approving again credits nothing more; "all" picks up the one still pending
    again = await organizer.client.post(f"{base}/approve", json={})
    assert again.json() == {"count": 1, "credited": "4.00"}
    assert await balance(yes) == "9.00" and await balance(later) == "4.00"
    listed = {i["person_id"]: i for i in (await organizer.client.get(f"{base}/attendance")
                                          ).json()["items"]}
    assert listed[no.id]["approval"] == "rejected" and listed[no.id]["review_reason"] == "未到场"


async def test_unfinished_stays_are_closed_for_review(
    organizer: Member, resident: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await running_activity(organizer, points_per_checkin="1", points_per_hour="2",
                                  max_hours="1.5")
    assert (await scan(organizer, resident, made["id"])).status_code == 201
    base = f"/api/activities/{made['id']}"
    early = await organizer.client.post(f"{base}/attendance/{resident.id}/hours",
                                        json={"hours": "1", "reason": "忘记签退"})
    assert early.status_code == 409 and early.json()["reason"] == "not_closed"
    move_clock(monkeypatch, timedelta(hours=5))  # 2 h activity + 2 h grace have passed
    assert await service.close_unfinished() >= 1  # what the app's background task runs
    listed = (await organizer.client.get(f"{base}/attendance")).json()["items"]
    assert listed[0]["status"] == "closed" and listed[0]["points"] == "1.00"
    refused = await scan(organizer, resident, made["id"], "out")
    assert refused.status_code == 409 and refused.json()["reason"] == "not_open"
    bad = await organizer.client.post(f"{base}/attendance/{resident.id}/hours",
                                      json={"hours": "1", "reason": ""})
    assert bad.status_code == 400
    response = await organizer.client.post(f"{base}/attendance/{resident.id}/hours",
                                           json={"hours": "3", "reason": "忘记签退"})
    assert response.status_code == 200, response.text
    stay = response.json()
    assert stay["status"] == "out" and stay["hours"] == "1.50"  # capped by max_hours
    assert stay["points"] == "4.00" and stay["review_reason"] == "忘记签退"
    assert await balance(resident) == "4.00"
    assert (await resident.client.get("/api/me/balance")).json()["service_hours"] == "1.50"
    again = await organizer.client.post(f"{base}/attendance/{resident.id}/hours",
                                        json={"hours": "1", "reason": "再改"})
    assert again.status_code == 409


async def test_only_the_team_or_the_places_it_is_for(
    organizer: Member, community, enrol
) -> None:
    from market.tables import Household, Person, TeamMember
    from tests.market import records

    team = await records.team(community.id)
    household = await records.household(community.id)
    place = await Household.select(Household.grid, Household.building).where(
        Household.id == household).first()
    made = await running_activity(organizer, team_id=team, grid_ids=[place["grid"]])
    assert made["team_id"] == team and made["grid_ids"] == [place["grid"]]
    member, neighbour, outsider = [await enrol("resident") for _ in range(3)]
    await TeamMember.insert(TeamMember(team=team, person=member.id))
    await Person.update({Person.household: household}).where(Person.id == neighbour.id)
    assert (await scan(organizer, member, made["id"])).status_code == 201
    assert (await scan(organizer, neighbour, made["id"])).status_code == 201
    refused = await scan(organizer, outsider, made["id"])
    assert refused.status_code == 409 and refused.json()["reason"] == "not_eligible"
    by_building = await running_activity(organizer, building_ids=[place["building"]])
    assert (await scan(organizer, neighbour, by_building["id"])).status_code == 201
    assert (await scan(organizer, outsider, by_building["id"])).status_code == 409
    # another community's team or grid is refused when creating
    bad = await organizer.client.post("/api/activities", json={
        **{k: made[k] for k in ("title", "category", "starts_at", "ends_at")},
        "points_per_checkin": "1", "points_per_hour": "0", "grid_ids": [10**6]})
    assert bad.status_code == 400 and bad.json()["reason"] == "invalid_audience"
