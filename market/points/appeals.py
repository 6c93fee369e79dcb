"""Appeals (申诉) against deductions: a resident asks, the office decides.

A resident appeals a deduction from their statement, naming its entry (the ledger transfer) —
or, for a deduction that took nothing and so has no entry, the deduction itself. A deduction
has at most one open appeal (a unique index); after a rejection the resident may appeal again,
after an upheld appeal there is nothing left to appeal (409 ``deduction_reversed``).

The office (admins) lists the appeals and decides each once (409 ``appeal_not_open`` after):

- **upheld**: a compensating entry — the ledger's reversal of the deduction's transfer, issuance
  → wallet, linked to it (``reverses``); nothing is deleted — and the suspension that came with
  the deduction is lifted, in one write unit with the decision and its audit entry;
- **rejected**: the decision and its note (required: the resident reads why), audited.

A reversal gives back points and never takes any, so it needs no look at the wallet's balance.
"""

import logging
from datetime import UTC, datetime

from ledger import Ledger, format_points, reversal, to_hundredths
from market import audit
from market.auth.sessions import Principal
from market.db import fetch, is_unique_violation
from market.errors import Conflict, InvalidInput, NotFound
from market.points import lots
from market.points.deductions import _moment, now_ms
from market.points.schemas import AppealList, AppealView, Decision, NewAppeal
from market.writes import LedgerStep, Steps, write

log = logging.getLogger(__name__)

MAX_TEXT = 500
LIST_LIMIT = 100
STATUSES = ("open", "upheld", "rejected")


_SELECT = (
    "SELECT a.id, a.deduction, d.transfer_id, a.person, p.name AS person_name, d.taken,"
    " d.reason AS deduction_reason, a.reason, a.status, a.created_ms, a.decided_ms, a.note,"
    " a.reversal_id FROM deduction_appeal a JOIN deduction d ON d.id = a.deduction"
    " JOIN person p ON p.id = a.person"
)


def _view(row: dict) -> AppealView:
    return AppealView(
        id=row["id"], deduction_id=row["deduction"], transfer_id=row["transfer_id"],
        person_id=row["person"], person_name=row["person_name"], taken=format_points(row["taken"]),
        deduction_reason=row["deduction_reason"], reason=row["reason"], status=row["status"],
        created_at=_moment(row["created_ms"]), decided_at=_moment(row["decided_ms"]),  # type: ignore[arg-type]
        note=row["note"], reversal_id=row["reversal_id"],
    )


def _text(value: str, reason: str, field: str) -> str:
    text = " ".join(value.split())
    if not 1 <= len(text) <= MAX_TEXT:
        raise InvalidInput(reason, field=field, max=MAX_TEXT)
    return text


async def get(community_id: int, appeal_id: int) -> AppealView:
    rows = await fetch(f"{_SELECT} WHERE a.id = {{}} AND a.community = {{}}", appeal_id, community_id)
    if not rows:
        raise NotFound(field="appeal_id")
    return _view(rows[0])


async def list_appeals(community_id: int, status: str | None = "open") -> AppealList:
    """The office's queue: open appeals oldest first; decided ones newest first."""
    if status is None:
        rows = await fetch(f"{_SELECT} WHERE a.community = {{}} ORDER BY a.id DESC LIMIT {{}}",
                           community_id, LIST_LIMIT)
    else:
        order = "a.id" if status == "open" else "a.decided_ms DESC, a.id DESC"
        rows = await fetch(f"{_SELECT} WHERE a.community = {{}} AND a.status = {{}} ORDER BY {order}"
                           " LIMIT {}", community_id, status, LIST_LIMIT)
    return AppealList(items=[_view(row) for row in rows])


async def mine(me: Principal) -> AppealList:
    return await of_person(me.community_id, me.id)


async def of_person(community_id: int, person_id: int, limit: int = LIST_LIMIT) -> AppealList:
    """A person's appeals, newest first (theirs to see, and in their data export)."""
    rows = await fetch(f"{_SELECT} WHERE a.community = {{}} AND a.person = {{}} ORDER BY a.id DESC"
                       " LIMIT {}", community_id, person_id, limit)
    return AppealList(items=[_view(row) for row in rows])


async def latest_of(me: Principal, deduction_id: int) -> AppealView | None:
    """The latest appeal of one of the person's deductions, if any."""
    rows = await fetch(f"{_SELECT} WHERE a.community = {{}} AND a.person = {{}} AND a.deduction = {{}}"
                       " ORDER BY a.id DESC LIMIT 1", me.community_id, me.id, deduction_id)
    return _view(rows[0]) if rows else None


async def latest_by_transfer(me: Principal, transfer_ids: list[str]) -> dict[str, AppealView]:
    """The latest appeal of each of these entries of the person's (for the statement)."""
    if not transfer_ids:
        return {}
    marks = ", ".join("{}" for _ in transfer_ids)
    rows = await fetch(f"{_SELECT} WHERE a.community = {{}} AND a.person = {{}} AND d.transfer_id IN"
                       f" ({marks}) ORDER BY a.id", me.community_id, me.id, *transfer_ids)
    return {row["transfer_id"]: _view(row) for row in rows}


async def appeal(me: Principal, data: NewAppeal) -> AppealView:
    """A resident appeals one of their own deductions (anyone else's is 404)."""
    if (data.transfer_id is None) == (data.deduction_id is None):
        raise InvalidInput("transfer_or_deduction", field="transfer_id")
    reason = _text(data.reason, "invalid_appeal_reason", "reason")
    if data.transfer_id is not None:
        if len(data.transfer_id) > 200:
            raise NotFound(field="transfer_id")
        where, value, field = "transfer_id = {}", data.transfer_id, "transfer_id"
    else:
        where, value, field = "id = {}", data.deduction_id, "deduction_id"
    rows = await fetch(f"SELECT id FROM deduction WHERE {where} AND community = {{}} AND person = {{}}",
                       value, me.community_id, me.id)
    if not rows:
        raise NotFound(field=field)
    deduction_id = rows[0]["id"]
    states = {row["status"] for row in await fetch(
        "SELECT status FROM deduction_appeal WHERE deduction = {}", deduction_id)}
    if "upheld" in states:
        raise Conflict("deduction_reversed", field=field)
    if "open" in states:
        raise Conflict("appeal_open", field=field)
    try:
        appeal_id = await write(_appeal_steps, me, deduction_id, reason)
    except Exception as error:
        if is_unique_violation(error):  # another appeal of it came in at the same moment
            raise Conflict("appeal_open", field=field) from None
        raise
    log.info("appeal %s of deduction %s by person %s", appeal_id, deduction_id, me.id)
    return await get(me.community_id, appeal_id)


def _appeal_steps(me: Principal, deduction_id: int, reason: str) -> Steps[int]:
    (row,) = yield (
        "INSERT INTO deduction_appeal (community, deduction, person, reason, status, created_ms)"
        " VALUES ({}, {}, {}, {}, 'open', {}) RETURNING id",
        (me.community_id, deduction_id, me.id, reason, now_ms()),
    )
    yield audit.entry(me.community_id, me.id, "appeal", f"appeal:{row['id']}")
    return row["id"]


async def decide(ledger: Ledger, me: Principal, appeal_id: int, decision: Decision) -> AppealView:
    """The office's decision on an open appeal (see the module)."""
    note = " ".join(decision.note.split())
    if len(note) > MAX_TEXT or (not decision.uphold and not note):
        raise InvalidInput("invalid_decision_note", field="note", max=MAX_TEXT)
    rows = await fetch(
        "SELECT a.status, d.id AS deduction, d.transfer_id, d.suspension FROM deduction_appeal a"
        " JOIN deduction d ON d.id = a.deduction WHERE a.id = {} AND a.community = {}",
        appeal_id, me.community_id,
    )
    if not rows:
        raise NotFound(field="appeal_id")
    found = rows[0]
    if found["status"] != "open":
        raise Conflict("appeal_not_open", status=found["status"])
    reversal_id = None
    if decision.uphold and found["transfer_id"] is not None:
        reversal_id = f"{found['transfer_id']}/appeal"
    await write(_decide_steps, ledger, me, appeal_id, decision.uphold, note, found["transfer_id"],
                reversal_id, found["suspension"])
    log.info("appeal %s %s by %s", appeal_id, "upheld" if decision.uphold else "rejected", me.id)
    return await get(me.community_id, appeal_id)


def _decide_steps(
    ledger: Ledger, me: Principal, appeal_id: int, uphold: bool, note: str, transfer_id: str | None,
    reversal_id: str | None, suspension_id: int | None,
) -> Steps[None]:
    status = "upheld" if uphold else "rejected"
    at_ms = now_ms()
    # The guarded change decides between two decisions sent at once: the second finds it decided.
    rows = yield (
        "UPDATE deduction_appeal SET status = {}, decided_ms = {}, decided_by = {}, note = {},"
        " reversal_id = {} WHERE id = {} AND status = 'open' RETURNING id",
        (status, at_ms, me.id, note or None, reversal_id, appeal_id),
    )
    if not rows:
        raise Conflict("appeal_not_open")
    yield audit.entry(me.community_id, me.id, f"appeal_{status}", f"appeal:{appeal_id}")
    if not uphold:
        return
    if suspension_id is not None:
        lifted = yield (
            "UPDATE redemption_suspension SET lifted_ms = {}, lifted_by = {}"
            " WHERE id = {} AND lifted_ms IS NULL RETURNING person", (at_ms, me.id, suspension_id),
        )
        if lifted:
            yield audit.entry(me.community_id, me.id, "suspension_lifted",
                              audit.person_subject(lifted[0]["person"]))
    if transfer_id is not None and reversal_id is not None:
        memo = "申诉成立" + (f"：{note}" if note else "")
        (back,) = yield LedgerStep(ledger, [reversal(reversal_id, transfer_id, memo[:200],
                                                     ledger=me.community_id)])
        yield from lots.covered_steps(me.community_id, back.credit_account, reversal_id,
                                      to_hundredths(back.amount), datetime.fromtimestamp(at_ms / 1000, UTC))
