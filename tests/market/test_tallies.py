"""The tallies behind the boards and dashboards, kept by the database's triggers, agree with the rows
they count after every kind of write the market makes; a tally changed behind the triggers is found.
"""

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from market import clock
from market.activities import service
from market.db import fetch
from market.reports import tallies
from market.reports.board_period import CHINA
from tests.market.support import Enrol, adjust
from tests.market.test_checkin import running_activity, scan
from tests.market.test_dashboards import _product, _redeem


def _month_now() -> int:
    now = datetime.now(CHINA)
    return now.year * 100 + now.month


async def _kept(community_id: int) -> dict[str, list[tuple]]:
    out = {}
    for tally in tallies.TALLIES:
        columns = ", ".join(tally.keys + tally.values)
        rows = await fetch(f"SELECT {columns} FROM {tally.table} WHERE community = {{}} ORDER BY {columns}",
                           community_id)
        out[tally.table] = [tuple(row[c] if isinstance(row[c], str) else int(row[c])
                                  for c in tally.keys + tally.values)
                            for row in rows if any(int(row[v]) for v in tally.values)]
    return out


async def _every_kind_of_write(enrol: Enrol, community_id: int, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Credits, approvals, a rejection, hours by hand, a cancellation (reversals), an adjustment,
    stock in and out, redemptions, a refund, reservations handed out and cancelled."""
    admin = await enrol("admin", community_id=community_id, name="管理员")
    organizer = await enrol("organizer", community_id=community_id, name="周干事")
    keeper = await enrol("shopkeeper", community_id=community_id, name="孙店员")
    people = [await enrol("resident", community_id=community_id, name=name)
              for name in ("张三明", "李四", "王五")]
    zhang, li, wang = people

    reviewed = await running_activity(organizer, requires_approval=True, points_per_checkin="4",
                                      points_per_hour="10")
    plain = await running_activity(organizer, points_per_checkin="2.50", points_per_hour="3.33",
                                   max_hours="1.5")
    cancelled = await running_activity(organizer, points_per_checkin="5", points_per_hour="6")
    for member in people:
        for activity in (reviewed, plain, cancelled):
            assert (await scan(organizer, member, activity["id"])).status_code == 201
    monkeypatch.setattr(clock, "clock", lambda: datetime.now(UTC) + timedelta(minutes=30))
    for member in (zhang, li):
        for activity in (reviewed, plain, cancelled):
            assert (await scan(organizer, member, activity["id"], "out")).status_code == 201
    base = f"/api/activities/{reviewed['id']}"
    rejected = await organizer.client.post(f"{base}/reject", json={"person_ids": [li.id], "reason": "未到场"})
    assert rejected.status_code == 200, rejected.text
    approved = await organizer.client.post(f"{base}/approve", json={})
    assert approved.json()["count"] == 2, approved.text
    # 王五 never checked out of ``plain``: closed for review, then hours by hand.
    monkeypatch.setattr(clock, "clock", lambda: datetime.now(UTC) + timedelta(hours=5))
    assert await service.close_unfinished() >= 1
    by_hand = await organizer.client.post(f"/api/activities/{plain['id']}/attendance/{wang.id}/hours",
                                          json={"hours": "1.25", "reason": "忘记签退"})
    assert by_hand.status_code == 200, by_hand.text
    gone = await organizer.client.post(f"/api/activities/{cancelled['id']}/cancel",
                                       json={"reason": "下雨取消"})
    assert gone.json()["reversed"] >= 3, gone.text
    assert (await adjust(admin, zhang.id, "100.00")).status_code == 201

    rice = await _product(keeper, f"大米{secrets.token_hex(2)}", "2.00", 10)
    oil = await _product(keeper, f"食用油{secrets.token_hex(2)}", "3.00", 5)
    moved = await keeper.client.post(f"/api/products/{rice}/stock",
                                     json={"delta": 4, "kind": "donation", "donor": "爱心企业"})
    assert moved.status_code == 200, moved.text
    moved = await keeper.client.post(f"/api/products/{oil}/stock", json={"delta": -1, "reason": "破损"})
    assert moved.status_code == 200, moved.text
    made = await _redeem(keeper, zhang, [(rice, 3), (oil, 1)])
    back = {"reason": "多拿了", "items": [{"product_id": rice, "quantity": 1}]}
    refund = await keeper.client.post(f"/api/redemptions/{made['id']}/refund", json=back)
    assert refund.status_code == 201, refund.text
    orders = []
    for _ in range(2):
        ordered = await zhang.client.post("/api/orders", json={"items": [{"product_id": oil, "quantity": 1}]},
                                          headers={"Idempotency-Key": secrets.token_hex(8)})
        assert ordered.status_code == 201, ordered.text
        orders.append(ordered.json()["id"])
    handed = await keeper.client.post(f"/api/orders/{orders[0]}/fulfil", json={})
    assert handed.status_code == 200, handed.text
    dropped = await zhang.client.post(f"/api/orders/{orders[1]}/cancel", json={})
    assert dropped.status_code == 200, dropped.text
    return {"zhang": zhang, "li": li, "wang": wang, "rice": rice, "oil": oil}


async def test_every_kind_of_write_keeps_the_tallies_exact(
    enrol: Enrol, community, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await _every_kind_of_write(enrol, community.id, monkeypatch)
    differences, compared = await tallies.check(community.id)
    assert differences == []
    assert compared >= 10
    kept = await _kept(community.id)
    month = _month_now()
    def of(span: str, period: int) -> dict[int, tuple[int, int]]:
        points = {row[3]: row[4] for row in kept["tally_points_period"] if row[1:3] == (span, period)}
        hours = {row[3]: row[4] for row in kept["tally_hours_period"] if row[1:3] == (span, period)}
        return {person: (points.get(person, 0), hours.get(person, 0)) for person in points | hours}

    by_person = of("month", month)
    # The same sums kept for the quarter and the year (nothing else was earned this year).
    now = datetime.now(CHINA)
    assert of("quarter", now.year * 10 + (now.month - 1) // 3 + 1) == of("year", now.year) == by_person
    # 张三明: 4 + 10 × 0.5 (approved) + 2.50 + 3.33 × 0.5; the cancelled activity's credits
    # reversed; the adjustment is not earned. Hours: 0.5 + 0.5.
    assert by_person[made["zhang"].id] == (400 + 500 + 250 + 166, 100)
    # 李四 was rejected in the reviewed activity: only the plain one counts.
    assert by_person[made["li"].id] == (250 + 166, 50)
    # 王五: check-in credits (the reviewed one approved unchecked-out), hours by hand 1.25 h.
    assert by_person[made["wang"].id][1] == 125
    goods = {row[2]: row[3:] for row in kept["tally_goods_month"] if row[1] == month}
    assert goods == {made["rice"]: (2, 400), made["oil"]: (2, 600)}
    stock = {row[2]: row[3] for row in kept["tally_stock_month"] if row[1] == month}
    # rice: 10 + 4 − 3 + 1; oil: 5 − 1 − 1 − 1 (the handed-out reservation; the cancelled one
    # went back).
    assert stock == {made["rice"]: 12, made["oil"]: 2}


async def test_a_tally_changed_behind_the_triggers_is_found(
    enrol: Enrol, community, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await _every_kind_of_write(enrol, community.id, monkeypatch)
    person = made["li"].id
    await fetch("UPDATE tally_points_period SET points = points + 1 WHERE community = {} AND person = {}"
                " AND span = 'year'", community.id, person)
    await fetch("DELETE FROM tally_goods_month WHERE community = {} AND product = {}",
                community.id, made["oil"])
    differences, _ = await tallies.check(community.id)
    await tallies.refill()  # the rest of the session's tests share this database
    assert (await tallies.check(community.id))[0] == []
    found = {(d.table, d.key) for d in differences}
    assert found == {("tally_points_period", (community.id, "year", datetime.now(CHINA).year, person)),
                     ("tally_goods_month", (community.id, _month_now(), made["oil"]))}
    changed = next(d for d in differences if d.table == "tally_points_period")
    assert changed.kept == (changed.counted[0] + 1,)


async def test_refilling_from_the_rows_gives_what_the_triggers_kept(
    enrol: Enrol, community, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _every_kind_of_write(enrol, community.id, monkeypatch)
    before = await _kept(community.id)
    await tallies.refill()
    assert await _kept(community.id) == before
    assert sum(len(rows) for rows in before.values()) >= 10


async def test_approvals_and_check_outs_at_once_keep_the_tallies(
    enrol: Enrol, community, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two organizers approve everyone while the same people check out of both activities: every
    request answers (no deadlock over the tallies' rows on PostgreSQL) and the sums are exact."""
    organizer = await enrol("organizer", community_id=community.id, name="周干事")
    people = [await enrol("resident", community_id=community.id, name=f"居民{n}") for n in range(10)]
    activities = [await running_activity(organizer, requires_approval=True, points_per_checkin="1",
                                         points_per_hour="2") for _ in range(2)]
    for activity in activities:
        for member in people if activity is activities[0] else reversed(people):
            assert (await scan(organizer, member, activity["id"])).status_code == 201
    monkeypatch.setattr(clock, "clock", lambda: datetime.now(UTC) + timedelta(minutes=30))
    for member in people[::2]:  # half of them out already, so the approvals credit their hours
        for activity in activities:
            assert (await scan(organizer, member, activity["id"], "out")).status_code == 201
    requests = [organizer.client.post(f"/api/activities/{a['id']}/approve", json={}) for a in activities]
    requests += [scan(organizer, member, activity["id"], "out")
                 for member in people[1::2] for activity in activities]
    answers = await asyncio.gather(*requests)
    assert [r.status_code for r in answers] == [200, 200] + [201] * 10, [r.text for r in answers]
    assert (await tallies.check(community.id))[0] == []
