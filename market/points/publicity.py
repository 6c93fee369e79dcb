"""公示: credits earned at activities wait in public before they count, and residents may object.

When the community's policy has a 公示 window (``publicity_days`` working days: Monday–Friday,
not one of the policy's holidays), a credit for a check-in, a check-out, an approval or hours set
by hand is made as a *pending* ledger hold (issuance → wallet, no timeout: the issuance account's
``held`` grows, which it may) with a ``points_publicity`` row (``market.points.lots.earn_steps``):
the credit's transfer id, the person, the activity and its title, the amount, when it was made and
the last day of its window, ``policy.working_days_after(made day, publicity_days, holidays)``.
Admin adjustments are the office's own decisions and count at once (they are audited instead).

- The public notice (``/public/notice?community=``, ``GET /api/public/notices``) lists the
  credits still waiting (pending, or frozen by an objection) with names masked as on the public
  boards, the amount, the activity, and the day they will count (the day after the window).
- A signed-in resident of the community objects to a waiting credit while its window is open
  (``POST /api/notices/{id}/objections``): the credit is frozen — it no longer posts by itself.
  Further objections to a frozen credit are recorded too.
- The office decides a frozen credit (``POST /api/notices/{id}/decision``): post it or void it
  (its stay then records 0 points, as a cap that left nothing would). A decision on a credit
  that is not frozen changes nothing (409 ``notice_not_frozen``), so a repeat needs no key.
- Objections are by residents only (role ``resident``) of the credit's community, one or more
  per credit, each recorded (``points_objection``); the window is open through its last day,
  China time (``today``, from ``market.clock``). The objector's own credits may be objected to too:
  the office decides either way.
- After its window an unfrozen credit posts by itself: ``post_due`` (the ``publicity`` job of
  ``market.app``, on one worker under a lease; tests call it with their own moment). Posting is
  one unit per community: a guarded ``UPDATE … WHERE state = 'pending'`` marks the rows, their
  lots are written (earned at the posting, expiring as the policy says then: the 公示 window
  never eats into a credit's life) and the holds are posted with ids derived from the hold's
  (``publicity:<hold id>``), so a rerun, or two runs at once, post nothing twice.
- Caps count a waiting credit from the moment it was made (``lots.earned_sql``); a voided one
  gives its room back.
- An activity cancelled while its credits wait voids their holds (a posted one is reversed, as
  any credit: ``withdrawn_steps``).

Lock order (``market.writes``): the rows of ``points_publicity`` are taken by the statement that
changes them, after any activity and stays and before the community's ledger chain.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ledger import Ledger, LedgerError, Request, format_points, posting, reversal, voiding
from market import clock
from market.china_time import CHINA
from market.db import fetch
from market.errors import Conflict, InvalidInput, MarketError, NotFound
from market.people.rules import mask_name
from market.points import lots
from market.points.policy import Rules, rules_steps, working_days_after
from market.points.rules import MAX_DECISION_NOTE, MAX_OBJECTION_REASON
from market.points.schemas import NoticeItem, Notices, NoticeView, Objection
from market.writes import LedgerStep, Steps, write

log = logging.getLogger(__name__)

#: The prefix of the transfers (and their lots) that post a credit after its window.
POSTED = "publicity:"
#: Rows posted per unit of the job (a community's backlog goes in several units).
POST_BATCH = 500
#: How many notices the public list shows at most per page.
MAX_LIST = 200
STATES = ("pending", "frozen", "posted", "voided")


def post_id(hold_id: str) -> str:
    return f"{POSTED}{hold_id}"


def void_id(hold_id: str) -> str:
    return f"{POSTED}{hold_id}:void"


def counts_on(window_ends: date) -> date:
    """The day a credit whose window ends on ``window_ends`` counts."""
    return window_ends + timedelta(days=1)


def today() -> date:
    return clock.now().astimezone(CHINA).date()


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CHINA)


# -- made with a credit (``lots.earn_steps``) -------------------------------------------------


def noticed_steps(
    community_id: int, credits: list["lots.Credit"], amounts: dict[str, int], at: datetime,
    rules: Rules,
) -> Steps[date]:
    """The 公示 rows of credits about to be held; the last day of their window."""
    made_day = at.astimezone(CHINA).date()
    # Enough holidays for any window (30 working days lie within about 9 weeks plus holidays).
    found = yield ("SELECT day FROM points_holiday WHERE community = {} AND day > {} AND day <= {}",
                   (community_id, made_day.isoformat(), (made_day + timedelta(days=400)).isoformat()))
    holidays = {date.fromisoformat(row["day"]) for row in found}
    ends = working_days_after(made_day, rules.publicity_days, holidays)
    due_us = lots.to_us(_start_of(counts_on(ends)))
    made_us = lots.to_us(at)
    rows = [(c.transfer_id, community_id, c.person, c.activity, c.stay, c.memo[:500], c.kind,
             amounts[c.transfer_id], made_us, ends.isoformat(), due_us) for c in credits]
    yield (
        "INSERT INTO points_publicity (transfer_id, community, person, activity, stay, memo, kind,"
        " amount, made_us, due_day, due_us) VALUES "
        + ", ".join("({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})" for _ in rows)
        + " ON CONFLICT (transfer_id) DO NOTHING",
        tuple(v for row in rows for v in row),
    )
    return ends


def withdrawn_steps(
    community_id: int, credit_ids: list[str], reason: str, at: datetime
) -> Steps[dict[str, tuple[Request, str | None]]]:
    """An activity is cancelled: for those of its credits that went through 公示, what undoes
    each — voiding a waiting hold (its row voided here), or reversing a posted one's posting —
    and the transfer whose lots the reversal negates (None for a void: no lots yet)."""
    if not credit_ids:
        return {}
    marks = ", ".join("{}" for _ in credit_ids)
    rows = yield (f"SELECT transfer_id, state FROM points_publicity WHERE transfer_id IN ({marks})",
                  tuple(credit_ids))
    if not rows:
        return {}
    voided = yield (
        f"UPDATE points_publicity SET state = 'voided', settled_us = {{}}, decision_note = {{}}"
        f" WHERE transfer_id IN ({marks}) AND state IN ('pending', 'frozen') RETURNING transfer_id",
        (lots.to_us(at), reason[:MAX_DECISION_NOTE], *credit_ids),
    )
    undo: dict[str, tuple[Request, str | None]] = {
        row["transfer_id"]: (voiding(void_id(row["transfer_id"]), row["transfer_id"], reason,
                                     ledger=community_id), None)
        for row in voided
    }
    for row in rows:
        if row["state"] == "posted":
            posted = post_id(row["transfer_id"])
            undo[row["transfer_id"]] = (reversal(f"{posted}:rev", posted, reason, ledger=community_id),
                                        posted)
    return undo


# -- posting --------------------------------------------------------------------------------


def _posted_steps(
    ledger: Ledger, community_id: int, rows: list[dict], at: datetime
) -> Steps[None]:
    """The lots of credits that now count, then their holds posted (the ledger last)."""
    if not rows:
        return
    rules = yield from rules_steps(community_id)
    expires = rules.expires_at(at)
    expires_us = None if expires is None else lots.to_us(expires)
    for row in sorted(rows, key=lambda r: r["id"]):
        yield lots.lot_rows(community_id, row["person"], post_id(row["transfer_id"]), row["kind"],
                            [lots.Part(int(row["amount"]), expires_us)], lots.to_us(at))
    yield LedgerStep(ledger, [
        posting(post_id(row["transfer_id"]), row["transfer_id"], ledger=community_id)
        for row in sorted(rows, key=lambda r: r["id"])
    ])


def _due_steps(ledger: Ledger, community_id: int, ids: list[int], at: datetime) -> Steps[int]:
    marks = ", ".join("{}" for _ in ids)
    rows = yield (
        "UPDATE points_publicity SET state = 'posted', settled_us = {} WHERE community = {}"
        f" AND id IN ({marks}) AND state = 'pending' AND due_us <= {{}} RETURNING *",
        (lots.to_us(at), community_id, *ids, lots.to_us(at)),
    )
    yield from _posted_steps(ledger, community_id, rows, at)
    return len(rows)


async def post_due(ledger: Ledger, at: datetime | None = None, *, community_id: int | None = None) -> int:
    """Post every waiting, unfrozen credit whose window has ended by ``at`` (default: now), of
    every community (or one). Safe to run again or at once with itself: it posts each credit
    once. A community whose unit fails is logged and left for the next run; the others go on.
    How many it posted."""
    at = at or clock.now()
    posted = 0
    failed: set[int] = set()
    only = "" if community_id is None else " AND community = {}"
    while True:
        # A community that failed this run is left out of the query, so its backlog cannot fill
        # every batch and keep the others' credits waiting.
        skipped = "".join(" AND community <> {}" for _ in failed)
        due = await fetch(
            "SELECT id, community FROM points_publicity WHERE state = 'pending' AND due_us <= {}"
            + only + skipped + " ORDER BY id LIMIT {}",
            lots.to_us(at), *(() if community_id is None else (community_id,)), *sorted(failed),
            POST_BATCH,
        )
        by_community: dict[int, list[int]] = {}
        for row in due:
            by_community.setdefault(row["community"], []).append(row["id"])
        done, failed_now = 0, False
        for community, ids in by_community.items():
            try:
                done += await write(_due_steps, ledger, community, ids, at)
            except (MarketError, LedgerError):
                log.exception("公示: community %s's credits could not be posted", community)
                failed.add(community)
                failed_now = True
        posted += done
        if len(due) < POST_BATCH or (done == 0 and not failed_now):
            return posted


# -- objections and the office's decision ---------------------------------------------------


def _day(us: int) -> date:
    return lots.from_us(us).astimezone(CHINA).date()


def _item(row: dict) -> NoticeItem:
    ends = date.fromisoformat(row["due_day"])
    return NoticeItem(
        id=row["id"], name=mask_name(row["name"] or ""), amount=format_points(int(row["amount"])),
        activity=row["memo"], made_on=_day(int(row["made_us"])), window_ends=ends,
        counts_on=counts_on(ends), state=row["state"],
    )


_NOTICE = ("SELECT n.id, n.transfer_id, n.community, n.person, n.activity, n.memo, n.kind, n.amount,"
           " n.made_us, n.due_day, n.due_us, n.state, n.decision_note, p.name"
           " FROM points_publicity n LEFT JOIN person p ON p.id = n.person")


async def notices(community_id: int | None, limit: int = 100, cursor: int | None = None) -> Notices:
    """The public notice of a community (None: the first, as the public boards): credits still
    waiting (pending or frozen), in the order they were made."""
    from market.community import service as communities
    from market.points.policy import rules

    found = await (communities.first() if community_id is None else communities.get(community_id))
    if found is None:
        raise NotFound(field="community")
    community_id = found.id
    after = "" if cursor is None else " AND n.id > {}"
    rows = await fetch(
        _NOTICE + " WHERE n.community = {} AND n.state IN ('pending', 'frozen')" + after
        + " ORDER BY n.id LIMIT {}",
        community_id, *(() if cursor is None else (cursor,)), limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Notices(
        community=found.name, publicity_days=(await rules(community_id)).publicity_days,
        items=[_item(row) for row in rows], next_cursor=str(rows[-1]["id"]) if more else None,
    )


async def _notice(community_id: int, notice_id: int) -> dict:
    if not 1 <= notice_id <= 2**31 - 1:
        raise NotFound()
    rows = await fetch(_NOTICE + " WHERE n.id = {} AND n.community = {}", notice_id, community_id)
    if not rows:
        raise NotFound()
    return rows[0]


async def view(community_id: int, notice_id: int, *, office: bool) -> NoticeView:
    """One credit under 公示: for the office in full, with its objections; for a resident masked."""
    row = await _notice(community_id, notice_id)
    if not office:
        item = _item(row)
        return NoticeView(
            id=item.id, name=item.name, amount=item.amount, activity=item.activity,
            made_on=item.made_on, window_ends=item.window_ends, counts_on=item.counts_on,
            state=row["state"],
        )
    objections = [
        Objection(person_id=o["person"], name=o["name"] or "", reason=o["reason"],
                  at=lots.from_us(int(o["at_us"])))
        for o in await fetch(
            "SELECT o.person, o.reason, o.at_us, p.name FROM points_objection o"
            " LEFT JOIN person p ON p.id = o.person WHERE o.notice = {} ORDER BY o.id", notice_id)
    ]
    return _office_view(row, objections)


def _reason(text: str, field: str, limit: int, *, required: bool) -> str:
    text = (text or "").strip()
    if (required and not text) or len(text) > limit:
        raise InvalidInput("invalid_reason", field=field)
    return text


async def object_to(community_id: int, person_id: int, notice_id: int, reason: str) -> NoticeView:
    """A resident objects to a waiting credit inside its window: it is frozen for the office."""
    reason = _reason(reason, "reason", MAX_OBJECTION_REASON, required=True)
    row = await _notice(community_id, notice_id)
    if row["state"] not in ("pending", "frozen"):
        raise Conflict("notice_settled")
    if today() > date.fromisoformat(row["due_day"]):
        raise Conflict("notice_window_closed")
    await write(_objection_steps, notice_id, person_id, reason, lots.to_us(clock.now()))
    return await view(community_id, notice_id, office=False)


def _objection_steps(notice_id: int, person_id: int, reason: str, at_us: int) -> Steps[None]:
    frozen = yield ("UPDATE points_publicity SET state = 'frozen' WHERE id = {}"
                    " AND state IN ('pending', 'frozen') RETURNING id", (notice_id,))
    if not frozen:  # posted or voided between the look and now
        raise Conflict("notice_settled")
    yield ("INSERT INTO points_objection (notice, person, reason, at_us) VALUES ({}, {}, {}, {})",
           (notice_id, person_id, reason, at_us))


async def decide(
    ledger: Ledger, community_id: int, admin_id: int, notice_id: int, post: bool, note: str
) -> NoticeView:
    """The office decides a frozen credit: it counts now (``post``) or is voided."""
    note = _reason(note, "note", MAX_DECISION_NOTE, required=False)
    await _notice(community_id, notice_id)
    await write(_decision_steps, ledger, community_id, admin_id, notice_id, post, note, clock.now())
    return await view(community_id, notice_id, office=True)


def _decision_steps(
    ledger: Ledger, community_id: int, admin_id: int, notice_id: int, post: bool, note: str,
    at: datetime,
) -> Steps[None]:
    if not post:
        # The stay says what was credited (as with a cap): nothing, once voided. Stays before
        # the 公示 row (``market.writes``' lock order); rolled back with the unit if the row turns
        # out not to be frozen any more.
        yield (
            "UPDATE activity_stay SET"
            " points_in = CASE WHEN n.kind = 'checkin' THEN 0 ELSE activity_stay.points_in END,"
            " points_out = CASE WHEN n.kind = 'checkout' THEN 0 ELSE activity_stay.points_out END"
            " FROM points_publicity n WHERE n.id = {} AND n.community = {} AND n.state = 'frozen'"
            " AND activity_stay.id = n.stay",
            (notice_id, community_id),
        )
        # A 民声 request's credit (``market.help_requests``): its request says the same.
        yield (
            "UPDATE help_request SET points = 0 FROM points_publicity n WHERE n.id = {} AND n.community = {}"
            " AND n.state = 'frozen' AND n.kind = 'help' AND n.transfer_id = 'help:' || help_request.id",
            (notice_id, community_id),
        )
    rows = yield (
        "UPDATE points_publicity SET state = {}, settled_us = {}, decided_by = {}, decision_note = {}"
        " WHERE id = {} AND community = {} AND state = 'frozen' RETURNING *",
        ("posted" if post else "voided", lots.to_us(at), admin_id, note or None, notice_id,
         community_id),
    )
    if not rows:
        raise Conflict("notice_not_frozen")
    if post:
        yield from _posted_steps(ledger, community_id, rows, at)
    else:
        (row,) = rows
        yield LedgerStep(ledger, [voiding(void_id(row["transfer_id"]), row["transfer_id"],
                                          note or "公示异议", ledger=community_id)])


# -- what a resident sees of their own ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Waiting:
    """One of my credits under 公示: counts in ``days`` days (on ``counts_on``) unless frozen."""

    amount: str
    activity: str
    counts_on: date
    days: int
    frozen: bool


async def waiting_for(community_id: int, person_id: int) -> list[Waiting]:
    rows = await fetch(
        "SELECT amount, memo, due_day, state FROM points_publicity WHERE community = {}"
        " AND person = {} AND state IN ('pending', 'frozen') ORDER BY due_day, id LIMIT 50",
        community_id, person_id,
    )
    now_day = today()
    found = []
    for row in rows:
        on = counts_on(date.fromisoformat(row["due_day"]))
        found.append(Waiting(amount=format_points(int(row["amount"])), activity=row["memo"],
                             counts_on=on, days=max(0, (on - now_day).days),
                             frozen=row["state"] == "frozen"))
    return found


async def office_list(community_id: int) -> list[NoticeView]:
    """The office's worklist: frozen credits first, with who objected and why, then the waiting
    ones (at most ``MAX_LIST``). Two reads."""
    rows = await fetch(
        _NOTICE + " WHERE n.community = {} AND n.state IN ('pending', 'frozen')"
        " ORDER BY CASE WHEN n.state = 'frozen' THEN 0 ELSE 1 END, n.id LIMIT {}",
        community_id, MAX_LIST,
    )
    frozen = [row["id"] for row in rows if row["state"] == "frozen"]
    objections: dict[int, list[Objection]] = {}
    if frozen:
        for o in await fetch(
            "SELECT o.notice, o.person, o.reason, o.at_us, p.name FROM points_objection o"
            " LEFT JOIN person p ON p.id = o.person"
            f" WHERE o.notice IN ({', '.join('{}' for _ in frozen)}) ORDER BY o.id", *frozen,
        ):
            objections.setdefault(o["notice"], []).append(Objection(
                person_id=o["person"], name=o["name"] or "", reason=o["reason"],
                at=lots.from_us(int(o["at_us"]))))
    return [_office_view(row, objections.get(row["id"], [])) for row in rows]


def _office_view(row: dict, objections: list[Objection]) -> NoticeView:
    item = _item(row)
    return NoticeView(
        id=item.id, name=row["name"] or "", amount=item.amount, activity=item.activity,
        made_on=item.made_on, window_ends=item.window_ends, counts_on=item.counts_on,
        state=row["state"], person_id=row["person"], objections=objections,
        decision_note=row["decision_note"],
    )
