"""Approving, cancelling and scanning one activity at the same moment, many times over.

Each of them moves points in the transaction that decides it, and each takes the activity's
row first, so whichever commits first the others see it: a cancelled activity is never left
with a credit, and every credit made before the cancellation is reversed by it.
"""

import asyncio

from market.db import fetch
from tests.market.support import Enrol, Member
from tests.market.test_checkin import running_activity, scan

ROUNDS = 12
RESIDENTS = 4


async def _credits_left(activity_id: int) -> list[str]:
    """Credits of the activity's stays that no reversal took back."""
    stays = await fetch("SELECT id FROM activity_stay WHERE activity = {}", activity_id)
    ids = [f"checkin:{stay['id']}:{leg}" for stay in stays for leg in ("in", "out")]
    if not ids:
        return []
    marks = ", ".join("{}" for _ in ids)
    made = await fetch(f"SELECT id FROM ledger_transfer WHERE id IN ({marks})", *ids)
    undone = await fetch(f"SELECT reverses FROM ledger_transfer WHERE reverses IN ({marks})", *ids)
    return sorted({row["id"] for row in made} - {row["reverses"] for row in undone})


async def test_approve_and_cancel_at_once_never_leave_a_cancelled_activity_credited(
    organizer: Member, admin: Member, enrol: Enrol
) -> None:
    residents = [await enrol("resident") for _ in range(RESIDENTS)]
    outcomes = {"approved first": 0, "cancelled first": 0}
    for _ in range(ROUNDS):
        made = await running_activity(organizer, points_per_checkin="3", requires_approval=True)
        for resident in residents:
            assert (await scan(organizer, resident, made["id"])).status_code == 201
        base = f"/api/activities/{made['id']}"
        approved, cancelled = await asyncio.gather(
            organizer.client.post(f"{base}/approve", json={}),
            admin.client.post(f"{base}/cancel", json={"reason": "临时取消"}),
        )
        assert cancelled.status_code == 200, cancelled.text
        if approved.status_code == 200:
            outcomes["approved first"] += 1
            assert approved.json()["count"] == RESIDENTS
            assert cancelled.json()["reversed"] == RESIDENTS  # it saw the approval's credits
        else:
            outcomes["cancelled first"] += 1
            assert approved.status_code == 409 and approved.json()["reason"] == "activity_cancelled"
            assert cancelled.json()["reversed"] == 0
        assert await _credits_left(made["id"]) == []
    assert sum(outcomes.values()) == ROUNDS
    assert (await admin.client.get("/api/ledger/verify")).json()["ok"] is True


async def test_scans_and_a_cancellation_at_once_leave_nothing_credited(
    organizer: Member, admin: Member, enrol: Enrol
) -> None:
    residents = [await enrol("resident") for _ in range(RESIDENTS * 2)]
    for _ in range(ROUNDS // 2):
        made = await running_activity(organizer, points_per_checkin="2")
        answers = await asyncio.gather(
            *(scan(organizer, resident, made["id"]) for resident in residents),
            admin.client.post(f"/api/activities/{made['id']}/cancel", json={"reason": "暴雨"}),
        )
        *scans, cancelled = answers
        assert cancelled.status_code == 200, cancelled.text
        # A scan either came before the cancellation (and was reversed by it) or was refused.
        assert {s.status_code for s in scans} <= {201, 409}
        assert all(s.json()["reason"] == "not_open" for s in scans if s.status_code == 409)
        assert cancelled.json()["reversed"] == sum(s.status_code == 201 for s in scans)
        assert await _credits_left(made["id"]) == []
    assert (await admin.client.get("/api/ledger/verify")).json()["ok"] is True
