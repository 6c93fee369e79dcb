"""After the scans, the organizer's review: who came (attendance), approving or rejecting pending
stays, closing stays that never checked out, and setting their real hours by hand.

- With ``requires_approval`` (or a check-in by the poster's code) a stay is "pending": nothing
  is credited, and its hours do not count, until the organizer approves it; a rejection keeps
  a reason.
- Stays still checked in ``CHECKOUT_LATE`` after the end can no longer check out: they are
  closed ("closed", check-in credit only) for review, and the organizer may set their real
  hours with a reason.
- Approving, rejecting and setting hours each lock the activity (``FOR UPDATE``) and move their
  points in their own unit; with a cap on earning the people are locked first
  (``market.writes``' lock order).
"""

import logging
from datetime import datetime
from decimal import Decimal

from ledger import Ledger, format_points
from market import clock
from market.activities import earning, validation
from market.activities.credits import Wallet, approved, transfer_ids
from market.activities.records import locked_activity, managed_row, managed_steps
from market.activities.scans import CHECKOUT_LATE
from market.activities.schemas import ApprovalResult, AssistedTally, AttendanceList, StayView
from market.auth.sessions import Principal
from market.db import fetch
from market.errors import Conflict, InvalidInput, NotFound
from market.people.rules import mask_phone
from market.points.lots import Credit, earn_steps, earning_rules_steps
from market.points.service import account_id, wallet_id
from market.tables import Stay
from market.writes import Steps, write

log = logging.getLogger(__name__)


# -- who came --------------------------------------------------------------------------------------


async def attendance(me: Principal, activity_id: int) -> AttendanceList:
    """Who checked in and out (phones masked), once the stays that can no longer check out are
    closed; and who checked in whom by name and room."""
    row = await managed_row(me, activity_id)
    await close_unfinished(row)
    rows = await Stay.select(
        Stay.person, Stay.person.name, Stay.person.phone, Stay.in_at, Stay.out_at, Stay.hours,
        Stay.points_in, Stay.points_out, Stay.status, Stay.approval, Stay.review_reason,
        Stay.assisted_by, Stay.assisted_by.name, Stay.out_assisted_by,
    ).where(Stay.activity == activity_id).order_by(Stay.id)
    items = [
        StayView(
            person_id=row["person"], name=row["person.name"],
            phone=mask_phone(row["person.phone"]), in_at=row["in_at"], out_at=row["out_at"],
            hours=None if row["hours"] is None else format_points(row["hours"]),
            points=format_points(row["points_in"] + (row["points_out"] or 0)),
            status=row["status"], approval=row["approval"], review_reason=row["review_reason"],
            assisted_by=row["assisted_by"], assisted_by_name=row["assisted_by.name"],
            out_assisted_by=row["out_assisted_by"],
        )
        for row in rows
    ]
    return AttendanceList(items=items, assisted=_assisted_tally(items))


def _assisted_tally(items: list[StayView]) -> list[AssistedTally]:
    """Assisted check-ins per organizer, most first (then by name): who helps whom, at a glance."""
    counts: dict[int, AssistedTally] = {}
    for item in items:
        if item.assisted_by is not None:
            tally = counts.setdefault(item.assisted_by, AssistedTally(
                person_id=item.assisted_by, name=item.assisted_by_name or "", count=0))
            tally.count += 1
    return sorted(counts.values(), key=lambda t: (-t.count, t.name, t.person_id))


# -- stays that never checked out, approvals, hours by hand ---------------------------------


async def close_unfinished(activity: dict | None = None) -> int:
    """Close stays that can no longer check out (``CHECKOUT_LATE`` after the end) for review.

    For one activity (a row), or for every activity when None; each activity in a unit of
    its own that locks it first, as every unit that changes many of its stays does.
    Returns how many were closed."""
    cutoff = clock.now() - CHECKOUT_LATE
    if activity is not None:
        if activity["ends_at"] >= cutoff:
            return 0
        due = [(activity["community"], activity["id"])]
    else:
        found = await fetch(
            "SELECT DISTINCT a.community, a.id FROM activity a JOIN activity_stay s ON s.activity = a.id"
            " WHERE s.status = 'in' AND a.ends_at < {} ORDER BY a.id", cutoff,
        )
        due = [(row["community"], row["id"]) for row in found]
    closed = 0
    for community_id, activity_id in due:
        closed += await write(_close_steps, community_id, activity_id, cutoff)
    if closed:
        log.info("%s unfinished stays closed for review", closed)
    return closed


def _close_steps(community_id: int, activity_id: int, cutoff: datetime) -> Steps[int]:
    row = yield from locked_activity(community_id, activity_id)
    if row is None or row["ends_at"] >= cutoff:
        return 0
    closed = yield (
        "UPDATE activity_stay SET status = 'closed', hours = 0, points_out = 0"
        " WHERE activity = {} AND status = 'in' RETURNING id", (activity_id,),
    )
    return len(closed)


def _due(stay: dict) -> list[tuple[str, str, int]]:
    """(transfer id, kind, hundredths) a stay has earned so far."""
    in_id, out_id = transfer_ids(stay["id"])
    due = [(in_id, "checkin", stay["points_in"])]
    if stay["status"] == "out":
        due.append((out_id, "checkout", stay["points_out"] or 0))
    return due


def _pending_where(activity_id: int, person_ids: list[int] | None) -> tuple[str, tuple]:
    """The pending stays of the activity (of some people, or all): a WHERE clause and its args."""
    where, args = "activity = {} AND approval = 'pending'", (activity_id,)
    if person_ids is not None:
        ids = person_ids or [0]
        where += f" AND person IN ({', '.join('{}' for _ in ids)})"
        args += tuple(ids)
    return where, args


async def approve(
    ledger: Ledger, me: Principal, activity_id: int, person_ids: list[int] | None
) -> ApprovalResult:
    """Approve pending stays (some people, or all) and credit what they earned, together."""
    _check_ids(person_ids)
    issuance = await account_id(ledger, me.community_id, "issuance")
    # Whose stays wait: their wallets are looked up before the unit (opening one is the ledger's
    # own write). Someone who checks in after this stays pending, for the next approval.
    waiting = await fetch("SELECT DISTINCT person FROM activity_stay WHERE activity = {}"
                          " AND approval = 'pending' AND community = {}", activity_id, me.community_id)
    chosen = [row["person"] for row in waiting if person_ids is None or row["person"] in person_ids]
    wallets = {person: await wallet_id(ledger, me.community_id, person) for person in chosen}
    result = await write(_approve_steps, ledger, me, activity_id, issuance, wallets, clock.now())
    log.info("activity %s: %s stays approved by person %s", activity_id, result.count, me.id)
    return result


def _approve_steps(
    ledger: Ledger, me: Principal, activity_id: int, issuance: int, wallets: dict[int, int],
    at: datetime,
) -> Steps[ApprovalResult]:
    # With a cap on earning, the people first (``market.writes``' lock order), then the activity.
    rules = yield from earning_rules_steps(me.community_id, list(wallets))
    row = yield from managed_steps(me, activity_id, scheduled=True)
    where, args = _pending_where(activity_id, list(wallets))
    approved = yield (f"UPDATE activity_stay SET approval = 'approved' WHERE {where} RETURNING *", args)
    credits = [
        Credit(transfer_id, stay["person"], wallets[stay["person"]], hundredths, kind, row["title"],
               activity=activity_id, stay=stay["id"])
        for stay in sorted(approved, key=lambda s: s["id"])
        for transfer_id, kind, hundredths in _due(stay) if hundredths > 0
    ]
    earned = yield from earn_steps(ledger, me.community_id, issuance, credits, at, rules=rules, locked=True)
    if earned.cut:
        log.info("activity %s: caps on earning left out %s of the approval", activity_id,
                 format_points(earned.cut))
    return ApprovalResult(count=len(approved), credited=format_points(sum(earned.amounts.values())))


async def reject(
    me: Principal, activity_id: int, person_ids: list[int] | None, reason: str
) -> ApprovalResult:
    """Reject pending stays with a reason: nothing is credited, their hours do not count."""
    reason = validation.reason(reason)
    _check_ids(person_ids)
    rejected = await write(_reject_steps, me, activity_id, person_ids, reason)
    return ApprovalResult(count=rejected, credited="0.00")


def _reject_steps(
    me: Principal, activity_id: int, person_ids: list[int] | None, reason: str
) -> Steps[int]:
    yield from managed_steps(me, activity_id, scheduled=False)
    where, args = _pending_where(activity_id, person_ids)
    rejected = yield (f"UPDATE activity_stay SET approval = 'rejected', review_reason = {{}} WHERE {where}"
                      " RETURNING id", (reason, *args))
    return len(rejected)


def _check_ids(person_ids: list[int] | None) -> None:
    if person_ids is not None and (len(person_ids) > 1000 or any(
        isinstance(i, bool) or not 1 <= i <= 2**31 - 1 for i in person_ids
    )):
        raise InvalidInput("invalid_input", field="person_ids")


async def set_hours(
    ledger: Ledger, me: Principal, activity_id: int, person_id: int, hours: Decimal, reason: str
) -> StayView:
    """The organizer sets the real hours of a stay closed for review (it never checked out).

    Capped like a check-out (the window's length, ``max_hours``); credited as the
    check-out would have been (unless the stay awaits approval or was rejected), in the
    same transaction."""
    wanted = validation.amount(hours, "hours")
    reason = validation.reason(reason)
    row = await managed_row(me, activity_id)
    await close_unfinished(row)
    pay = Wallet(ledger, me.community_id, await account_id(ledger, me.community_id, "issuance"),
                 await wallet_id(ledger, me.community_id, person_id), person_id)
    stay_id = await write(_hours_steps, me, activity_id, person_id, wanted, reason, pay)
    log.info("hours of stay %s set by person %s", stay_id, me.id)
    listed = await attendance(me, activity_id)
    return next(item for item in listed.items if item.person_id == person_id)


def _hours_steps(
    me: Principal, activity_id: int, person_id: int, wanted: int, reason: str, pay: Wallet
) -> Steps[int]:
    # With a cap on earning, the person first (``market.writes``' lock order), then the activity.
    rules = yield from earning_rules_steps(me.community_id, [person_id])
    row = yield from managed_steps(me, activity_id, scheduled=True)
    found = yield (
        "SELECT * FROM activity_stay WHERE activity = {} AND person = {}", (activity_id, person_id)
    )
    if not found:
        raise NotFound(field="person_id")
    stay = found[0]
    if stay["status"] != "closed":
        raise Conflict("not_closed")
    window = earning.hours(row["starts_at"], row["ends_at"], row["starts_at"], row["ends_at"],
                           row["max_hours"])
    counted = min(wanted, window)
    points = earning.checkout_points(row["points_per_hour"], counted)
    yield ("UPDATE activity_stay SET status = 'out', hours = {}, points_out = {}, review_reason = {}"
           " WHERE id = {} AND status = 'closed'", (counted, points, reason, stay["id"]))
    if approved(stay["approval"]) and points > 0:
        yield from pay.credit(stay, "checkout", points, row["title"], clock.now(), rules)
    return stay["id"]
