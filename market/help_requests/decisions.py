"""How a 民声 request ends: confirmed done with hours (the volunteer's credit), disputed, decided
by the office (a dispute between neighbours reviewed before volunteers see it; a disputed claim
resolved), or withdrawn.

Confirming credits the volunteer through ``lots.earn_steps`` — capped, held for 公示, with its
lot — as one transfer ``help:<request>`` of kind ``help``, inside the confirming unit and after
the request's row is written (the ledger last, ``market.writes``). Its first step is
``lots.earning_rules_steps`` (the volunteer's row, lock 1, where the community caps earning),
then the request's row. The ledger makes a transfer id once and a request is ``done`` once,
so a second tap, a retry or two confirmations at once credit once.

Nobody confirms a claim held by themselves or by a member of their household (409
``help_self_confirm``): only the requester, who posted it, or a worker of its grid may
confirm, and the office when it resolves a dispute.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from ledger import InvalidAmount, Ledger, to_hundredths
from market import audit, clock
from market.activities import validation
from market.auth.sessions import Principal
from market.errors import Conflict, Forbidden, InvalidInput
from market.help_requests import rules
from market.help_requests.rules import CATEGORY_NAMES
from market.help_requests.schemas import HelpRequestView
from market.help_requests.service import (
    Reader,
    get,
    is_office,
    locked_row,
    now_us,
    readable_row,
    reader,
    reopened_steps,
    row_of,
    subject,
    view_of,
)
from market.help_requests.terms import terms_steps
from market.points import lots
from market.points.lots import Credit
from market.points.service import account_id, wallet_id
from market.writes import Steps, write

log = logging.getLogger(__name__)

HELP_KIND = "help"
#: The ledger's chain is published (transparency): the memo names the category, nobody.
MEMO = "民声服务"


def transfer_id(request_id: int) -> str:
    return f"help:{request_id}"


# -- confirming ----------------------------------------------------------------------------------


def hours_of(value: object) -> int:
    """Hours worked as hundredths: more than 0, at most ``rules.MAX_HOURS``, two decimals."""
    try:
        hundredths = to_hundredths(value)
    except InvalidAmount:
        raise InvalidInput("invalid_help_hours", field="hours", max=rules.MAX_HOURS // 100) from None
    if not 0 < hundredths <= rules.MAX_HOURS:
        raise InvalidInput("invalid_help_hours", field="hours", max=rules.MAX_HOURS // 100)
    return hundredths


@dataclass(frozen=True, slots=True)
class _Pay:
    ledger: Ledger
    issuance: int
    wallet: int
    volunteer: int


def _confirm_steps(community_id: int, request_id: int, actor: int, pay: _Pay, hours: int,
                   from_state: str, at: datetime) -> Steps[None]:
    earning = yield from lots.earning_rules_steps(community_id, [pay.volunteer])
    row = yield from locked_row(community_id, request_id)
    if row["state"] == "done" and row["volunteer"] == pay.volunteer:
        return  # a second tap or a retry: confirmed once, credited once
    if row["state"] != from_state or row["volunteer"] != pay.volunteer:
        raise Conflict("help_not_claimed", state=row["state"])
    found = yield from terms_steps(community_id)
    points = found.rate(row["category"]).points(hours)
    at_us = lots.to_us(at)
    yield ("UPDATE help_claim SET ended_us = {}, outcome = 'done' WHERE request = {} AND ended_us IS NULL",
           (at_us, request_id))
    yield ("UPDATE help_request SET state = 'done', hours = {}, points = {}, done_us = {}, confirmed_by = {}"
           " WHERE id = {}", (hours, points, at_us, actor, request_id))
    yield audit.entry(community_id, actor, "help_confirmed", subject(request_id))
    yield from lots.earn_steps(pay.ledger, community_id, pay.issuance, [
        Credit(transfer_id(request_id), pay.volunteer, pay.wallet, points, HELP_KIND,
               f"{MEMO}：{CATEGORY_NAMES[row['category']]}", request=request_id)
    ], at, rules=earning, locked=True)


def _refuse_self_confirmation(who: Reader, row: dict) -> None:
    """Nobody confirms a claim held by themselves or by a member of their household."""
    if who.me.id == row["volunteer"] or rules.same_household(who.place.household, row["volunteer_household"]):
        raise Conflict("help_self_confirm")


async def _confirmed(
    ledger: Ledger, me: Principal, who: Reader, row: dict, hours: int, from_state: str
) -> None:
    if row["volunteer"] is None:
        raise Conflict("help_not_claimed", state=row["state"])
    _refuse_self_confirmation(who, row)
    pay = _Pay(ledger, await account_id(ledger, me.community_id, "issuance"),
               await wallet_id(ledger, me.community_id, row["volunteer"]), row["volunteer"])
    await write(_confirm_steps, me.community_id, row["id"], me.id, pay, hours, from_state, clock.now())
    log.info("help request %s confirmed", row["id"])


async def confirm(ledger: Ledger, me: Principal, request_id: int, hours: object) -> HelpRequestView:
    """The requester (or the grid worker for them) says it was done, and how long it took."""
    worked = hours_of(hours)
    who, row = await readable_row(me, request_id)
    if row["state"] == "done":
        return view_of(row, who)  # confirmed already: the same answer again
    # Self-confirmation first: the volunteer hears why, not only that it is not theirs.
    _refuse_self_confirmation(who, row)
    if not (me.id in (row["requester"], row["posted_by"]) or row["grid"] in who.grids):
        raise Conflict("help_not_yours")
    await _confirmed(ledger, me, who, row, worked, "claimed")
    return await get(me, request_id, who)


# -- disputes, the office, withdrawal ---------------------------------------------------------------


def _note(text: str) -> str:
    cleaned = " ".join(text.split())
    if len(cleaned) > rules.MAX_NOTE:
        raise InvalidInput("invalid_reason", field="note")
    return cleaned


def _dispute_steps(community_id: int, request_id: int, actor: int, reason: str) -> Steps[None]:
    row = yield from locked_row(community_id, request_id)
    if row["state"] != "claimed":
        raise Conflict("help_not_claimed", state=row["state"])
    yield ("UPDATE help_request SET state = 'disputed', note = {} WHERE id = {}", (reason, request_id))
    yield audit.entry(community_id, actor, "help_disputed", subject(request_id))


async def dispute(me: Principal, request_id: int, reason: str) -> HelpRequestView:
    """The requester (or the grid worker) disagrees that it was done: the office decides."""
    who, row = await readable_row(me, request_id)
    if not (me.id in (row["requester"], row["posted_by"]) or row["grid"] in who.grids):
        raise Conflict("help_not_yours")
    note = validation.reason(reason)  # an activity's review reason's rule: 1 to 200, spaces tidied
    await write(_dispute_steps, me.community_id, request_id, me.id, note)
    return await get(me, request_id, who)


def _review_steps(
    community_id: int, request_id: int, actor: int, accept: bool, note: str, at_us: int
) -> Steps[None]:
    row = yield from locked_row(community_id, request_id)
    if row["state"] != "review":
        raise Conflict("help_not_in_review", state=row["state"])
    if accept:
        yield ("UPDATE help_request SET state = 'open', open_since_us = {}, note = {} WHERE id = {}",
               (at_us, note or None, request_id))
    else:
        yield ("UPDATE help_request SET state = 'closed', note = {} WHERE id = {}",
               (note or None, request_id))
    action = "help_accepted" if accept else "help_declined"
    yield audit.entry(community_id, actor, action, subject(request_id))


async def review(me: Principal, request_id: int, decision: str, note: str) -> HelpRequestView:
    """The office lets a dispute between neighbours go to volunteers, or declines it."""
    if not is_office(me):
        raise Forbidden()
    await row_of(me.community_id, request_id)
    await write(_review_steps, me.community_id, request_id, me.id, decision == "accept", _note(note),
                now_us())
    return await get(me, request_id)


def _settle_steps(community_id: int, request_id: int, actor: int, decision: str, note: str,
                  at_us: int) -> Steps[None]:
    row = yield from locked_row(community_id, request_id)
    if row["state"] != "disputed":
        raise Conflict("help_not_disputed", state=row["state"])
    if decision == "reopen":
        yield from reopened_steps(request_id, "reopened", at_us)
    else:
        yield from reopened_steps(request_id, "closed", at_us, state="closed")
    if note:
        yield ("UPDATE help_request SET note = {} WHERE id = {}", (note, request_id))
    yield audit.entry(community_id, actor, f"help_{decision}", subject(request_id))


async def resolve(ledger: Ledger, me: Principal, request_id: int, decision: str, hours: object | None,
                  note: str) -> HelpRequestView:
    """The office on a disputed claim: ``confirm`` (done after all, with hours), ``reopen`` (the
    claim ends; others may take it) or ``close``."""
    if not is_office(me):
        raise Forbidden()
    who = await reader(me)
    row = await row_of(me.community_id, request_id)
    if decision == "confirm":
        if hours is None:
            raise InvalidInput("invalid_help_hours", field="hours", max=rules.MAX_HOURS // 100)
        worked = hours_of(hours)
        if row["state"] == "done":
            return view_of(row, who)
        if row["state"] != "disputed":
            raise Conflict("help_not_disputed", state=row["state"])
        await _confirmed(ledger, me, who, row, worked, "disputed")
    else:
        await write(_settle_steps, me.community_id, request_id, me.id, decision, _note(note), now_us())
    return await get(me, request_id, who)


def _withdraw_steps(community_id: int, request_id: int, actor: int) -> Steps[None]:
    row = yield from locked_row(community_id, request_id)
    if row["state"] not in rules.WITHDRAWABLE:
        raise Conflict("help_not_open", state=row["state"])
    yield ("UPDATE help_request SET state = 'closed', open_since_us = NULL WHERE id = {}", (request_id,))
    yield audit.entry(community_id, actor, "help_withdrawn", subject(request_id))


async def withdraw(me: Principal, request_id: int) -> HelpRequestView:
    """The requester (or who posted it, or the office) withdraws a request nobody holds."""
    who, row = await readable_row(me, request_id)
    if not (me.id in (row["requester"], row["posted_by"]) or who.office):
        raise Conflict("help_not_yours")
    await write(_withdraw_steps, me.community_id, request_id, me.id)
    return await get(me, request_id, who)


