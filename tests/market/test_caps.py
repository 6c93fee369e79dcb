"""Caps on earning (issue 15): ``cap_per_day``/``cap_per_month`` bound what a person earns at
activities, per China day and month, on both engines — and hold when one person's scans race."""

import asyncio

from market.db import fetch
from tests.market.support import Member, adjust, balance
from tests.market.test_checkin import running_activity, scan
from tests.market.test_points_expiry import set_policy


async def attendance_points(organizer: Member, activity_id: int) -> list[str]:
    response = await organizer.client.get(f"/api/activities/{activity_id}/attendance")
    assert response.status_code == 200, response.text
    return [item["points"] for item in response.json()["items"]]


async def test_a_daily_cap_cuts_the_credit_beyond_it(
    admin: Member, organizer: Member, resident: Member
) -> None:
    await set_policy(admin, cap_per_day="5")
    made = [await running_activity(organizer, points_per_checkin="3") for _ in range(3)]

    first = (await scan(organizer, resident, made[0]["id"])).json()
    assert (first["points"], first["capped"], first["balance"]) == ("3.00", None, "3.00")
    second = await scan(organizer, resident, made[1]["id"])
    assert second.status_code == 201, second.text
    assert second.json()["points"] == "2.00" and second.json()["balance"] == "5.00"
    assert second.json()["capped"] == {"reason": "cap_reached", "credited": "2.00", "cut": "1.00"}
    # Nothing left: the check-in still counts (the stay is there), with no points.
    third = (await scan(organizer, resident, made[2]["id"])).json()
    assert third["capped"] == {"reason": "cap_reached", "credited": "0.00", "cut": "3.00"}
    assert third["points"] == "0.00" and third["balance"] == "5.00"
    assert await attendance_points(organizer, made[2]["id"]) == ["0.00"]
    assert await attendance_points(organizer, made[1]["id"]) == ["2.00"]  # the stay says what was paid
    # A repeat scan repairs nothing and credits nothing more.
    again = (await scan(organizer, resident, made[2]["id"])).json()
    assert again["duplicate"] is True and again["points"] == "0.00"

    # Adjustments are the office's: neither capped nor counted against the cap.
    assert (await adjust(admin, resident.id, "10", reason="表彰")).status_code == 201
    assert await balance(resident) == "15.00"
    entries = (await resident.client.get("/api/me/entries")).json()["items"]
    assert [e["amount"] for e in entries if e["kind"] == "checkin"] == ["2.00", "3.00"]
    assert (await admin.client.get("/api/ledger/verify")).json()["ok"]


async def test_a_monthly_cap_and_an_approval(admin: Member, organizer: Member, enrol) -> None:
    """The month's cap counts every credit of the month; an approval is capped like a scan, and
    adjustments made before do not use up the cap."""
    await set_policy(admin, cap_per_month="4")
    someone = await enrol("resident", name="王小明")
    assert (await adjust(admin, someone.id, "50", reason="补录")).status_code == 201
    first = (await scan(organizer, someone, (await running_activity(organizer))["id"])).json()
    assert (first["points"], first["capped"]) == ("2.00", None)
    needs_ok = await running_activity(organizer, points_per_checkin="6", requires_approval=True)
    pending = (await scan(organizer, someone, needs_ok["id"])).json()
    assert pending["approval"] == "pending" and pending["capped"] is None
    approved = await organizer.client.post(f"/api/activities/{needs_ok['id']}/approve", json={})
    assert approved.status_code == 200, approved.text
    assert approved.json() == {"count": 1, "credited": "2.00"}
    assert await attendance_points(organizer, needs_ok["id"]) == ["2.00"]
    assert await balance(someone) == "54.00"


async def test_parallel_scans_of_one_person_never_pass_the_cap(
    admin: Member, organizer: Member, resident: Member
) -> None:
    """Eight check-ins of one resident at once, 3 points each, a cap of 5 a day: 5 credited in
    all, whatever the order (on PostgreSQL the person's row is locked first)."""
    await set_policy(admin, cap_per_day="5")
    made = [await running_activity(organizer, points_per_checkin="3") for _ in range(8)]
    answers = await asyncio.gather(*(scan(organizer, resident, a["id"]) for a in made))
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    credited = sorted(a.json()["points"] for a in answers)
    assert credited == ["0.00"] * 6 + ["2.00", "3.00"]
    assert await balance(resident) == "5.00"
    (stays,) = await fetch("SELECT SUM(points_in) AS points FROM activity_stay WHERE person = {}",
                           resident.id)
    assert int(stays["points"]) == 500
    assert (await admin.client.get("/api/ledger/verify")).json()["ok"]


async def test_the_check_in_page_says_what_the_cap_cut_and_when_it_counts(
    app, admin: Member, organizer: Member, resident: Member
) -> None:
    from tests.web.support import browser, code_url, csrf_of, path_of, sign_in

    await set_policy(admin, cap_per_day="4", publicity_days=2)
    made = await running_activity(organizer, points_per_checkin="5")
    checkin = path_of(await code_url(organizer, made["id"]))
    async with browser(app) as client:
        await sign_in(client, resident, next_path=checkin)
        form = await client.get(checkin)
        done = await client.post(checkin, data={"csrf": csrf_of(form.text), "direction": "in"})
        assert done.status_code == 200, done.text
        assert 'id="earned">+4<' in done.text and 'id="new-balance">0<' in done.text  # whole points
        assert "1 积分未计入" in done.text and 'id="counts-on"' in done.text
