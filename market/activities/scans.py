"""The scan: a resident checks in or out of an activity, by its code, by their member code or card
at the organizer's phone, or by name and room (``assisted``). One write unit per scan.

- Check-in window: from ``CHECKIN_EARLY`` (30 min) before the start to the end;
  check-out until ``CHECKOUT_LATE`` (2 h) after the end (hours only count inside
  the window anyway). Outside: 409 ``not_open``. A repeat of a scan that already
  succeeded answers ``duplicate`` even after the window closed.
- One stay per (activity, person), enforced by a unique index. A scan is one write
  unit (``market.writes``): it shares the activity's row (``FOR KEY SHARE``: scans run
  side by side; an edit, a cancellation or an approval waits for them, and they for
  it), takes a place of a capped activity with a guarded update of its ``taken``
  count, writes the stay and the scan's log, and credits the ledger last, in the same
  transaction, with a transfer id derived from the stay (``checkin:{stay}:in`` /
  ``:out``): the ledger makes it at most once. A repeat scan re-issues a credit a
  stay from an earlier release may lack.
- Every scan is logged in ``activity_scan`` with its outcome (``scan_logged``: one statement,
  inside the unit or, for a refused scan, on its own).
- With ``requires_approval`` a stay is "pending": nothing is credited (and its
  hours do not count) until the organizer approves it (``market.activities.review``).
- A check-in by the poster's fixed code is always "pending" too (``market.activities.codes``):
  a photo of the poster works anywhere, so the organizer, who saw who came, approves it.
- The time is ``market.clock``'s, read at each scan, so tests can move it.
"""

from collections.abc import Generator
from datetime import datetime, timedelta

from ledger import Ledger, format_points, to_hundredths
from market import audit, clock
from market.activities import earning
from market.activities.audience import eligible_steps
from market.activities.codes import genuine_activity, scanned_code
from market.activities.credits import Wallet, approved, transfer_ids
from market.activities.records import managed_row
from market.activities.schemas import Capped, CheckinResult
from market.auth.sessions import Principal
from market.cards.service import resolve_member_code
from market.errors import Conflict, InvalidInput, MarketError
from market.points import publicity
from market.points.lots import Earned, earning_rules_steps
from market.points.policy import Rules
from market.points.service import account_id, wallet_id
from market.settings import Settings
from market.signing import signer_for
from market.writes import Statement, Steps, on_postgres, statement, write

CHECKIN_EARLY = timedelta(minutes=30)
CHECKOUT_LATE = timedelta(hours=2)


# -- the scan log: every scan, with its outcome ---------------------------------------------------

#: The refusals logged in ``activity_scan``; a scan refused for any other reason is not logged.
SCAN_REASONS = frozenset({
    "invalid", "expired", "not_open", "not_checked_in", "full", "not_eligible", "revoked",
})


def scan_logged(
    community_id: int, activity_id: int | None, person_id: int | None, scanner_id: int | None,
    direction: str, outcome: str, at: datetime,
) -> Statement:
    """The scan's line in ``activity_scan``, returning its id: the one statement that writes it,
    inside the scan's unit (``_logged_first``) or on its own for a refused scan (``_refused``)."""
    return (
        "INSERT INTO activity_scan (community, activity, person, scanner, direction, outcome, at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}) RETURNING id",
        (community_id, activity_id, person_id, scanner_id, direction, outcome, at),
    )


async def _refused(
    error: MarketError, community_id: int, activity_id: int | None, person_id: int | None,
    scanner_id: int | None, direction: str,
) -> None:
    """A refused scan's log line, written on its own (the refused unit rolled back)."""
    if error.reason in SCAN_REASONS:
        sql, args = scan_logged(community_id, activity_id, person_id, scanner_id, direction,
                                error.reason, clock.now())
        await statement(sql, *args)


# -- the scan's unit: a write transaction as steps (``market.writes``), on SQLite in one hop -----


async def _balance(ledger: Ledger, community_id: int, person_id: int) -> str:
    account = await ledger.find_account(community_id, "wallet", str(person_id))
    if account is None:
        return "0.00"
    found = await ledger.balance(account.id)
    return format_points(to_hundredths(found.balance))


def _check_open(row: dict, at: datetime, direction: str) -> None:
    late = CHECKOUT_LATE if direction == "out" else timedelta(0)
    if row["status"] != "scheduled":
        raise Conflict("not_open")
    if not row["starts_at"] - CHECKIN_EARLY <= at <= row["ends_at"] + late:
        raise Conflict("not_open")


#: A stay's columns, as ``_activity_and_stay`` reads them beside its activity's.
_STAY_COLUMNS = (
    "id", "community", "activity", "person", "in_at", "out_at", "hours", "points_in", "points_out",
    "status", "approval", "review_reason", "assisted_by", "out_assisted_by",
)
_ACTIVITY_AND_STAY = (
    "SELECT a.*, " + ", ".join(f"s.{c} AS stay_{c}" for c in _STAY_COLUMNS)
    + " FROM activity a LEFT JOIN activity_stay s ON s.activity = a.id AND s.person = {}"
    " WHERE a.id = {} AND a.community = {}"
)


def _activity_and_stay(
    community_id: int, activity_id: int, person_id: int
) -> Generator[Statement, list[dict], tuple[dict, dict | None]]:
    """The open activity, shared on PostgreSQL (see ``records.locked_activity``), and the person's
    stay, in one statement: every scan runs it."""
    lock = " FOR KEY SHARE OF a" if on_postgres() else ""
    rows = yield (_ACTIVITY_AND_STAY + lock, (person_id, activity_id, community_id))
    if not rows:
        raise InvalidInput("invalid", field="token")
    row = rows[0]
    if row["status"] != "scheduled":
        raise Conflict("not_open")
    stay = None if row["stay_id"] is None else {c: row[f"stay_{c}"] for c in _STAY_COLUMNS}
    return row, stay


def _stay(activity_id: int, person_id: int) -> Generator[Statement, list[dict], dict]:
    (stay,) = yield (
        "SELECT * FROM activity_stay WHERE activity = {} AND person = {}", (activity_id, person_id)
    )
    return stay


def _repaired(
    pay: Wallet, stay: dict, kind: str, hundredths: int, memo: str, at: datetime, rules: Rules
) -> Steps[None]:
    """A repeat scan of a stay whose credit is missing (written by a release that credited after
    the commit, and interrupted between the two) issues it; otherwise nothing."""
    if hundredths <= 0:
        return
    transfer_id = transfer_ids(stay["id"])[0 if kind == "checkin" else 1]
    if not (yield ("SELECT 1 AS yes FROM ledger_transfers WHERE id = {}", (transfer_id,))):
        yield from pay.credit(stay, kind, hundredths, memo, at, rules)


def _counted(stay: dict, column: str, earned: Earned) -> dict:
    """The stay as it was written: ``earn_steps`` wrote back what a cap left of its credit."""
    (amount,) = earned.amounts.values() or (stay[column],)
    return {**stay, column: amount}


def _logged_first(
    community_id: int, activity_id: int, person_id: int, scanner_id: int | None, direction: str,
    duplicate: bool, at: datetime,
) -> Steps[int]:
    """The scan's log line, written before the stay: the stay's write takes the activity's tally
    row (``tally_activity``, one per activity: every scan of it queues there until its commit),
    so the less the unit does after it, the more scans of one activity pass a second. Its id,
    to correct the outcome if the stay turns out to be another scan's (``_was_duplicate``)."""
    (row,) = yield scan_logged(community_id, activity_id, person_id, scanner_id, direction,
                               "duplicate" if duplicate else "ok", at)
    return row["id"]


def _was_duplicate(log_id: int) -> Statement:
    return ("UPDATE activity_scan SET outcome = 'duplicate' WHERE id = {}", (log_id,))


def _check_in(community_id: int, activity_id: int, person_id: int, scanner_id: int | None,
              pay: Wallet, at: datetime, review: bool = False, assisted_by: int | None = None,
              ) -> Steps[tuple[dict, dict, bool, Earned | None]]:
    """(activity, stay, duplicate, credit) after recording the check-in and crediting it — unless
    the stay is pending: the activity requires approval, or ``review`` (a poster's code).
    ``assisted_by``: the organizer checking the resident in by name and room (kept on the stay,
    audited)."""
    credit = None
    rules = yield from earning_rules_steps(community_id, [person_id])
    row, stay = yield from _activity_and_stay(community_id, activity_id, person_id)
    duplicate = stay is not None
    if stay is not None and stay["status"] == "cancelled":
        raise Conflict("not_open")
    if stay is None:
        _check_open(row, at, "in")
        if not (yield from eligible_steps(row, person_id)):
            raise Conflict("not_eligible")
    log_id = yield from _logged_first(community_id, activity_id, person_id, scanner_id, "in", duplicate, at)
    if stay is None:
        if row["capacity"] is not None:
            # Queues only this activity's scans, until each commits.
            placed = yield ("UPDATE activity SET taken = taken + 1 WHERE id = {} AND taken < capacity"
                            " RETURNING taken", (activity_id,))
            if not placed:
                raise Conflict("full")
        made = yield (
            "INSERT INTO activity_stay (community, activity, person, in_at, points_in, status, approval,"
            " assisted_by) VALUES ({}, {}, {}, {}, {}, 'in', {}, {})"
            " ON CONFLICT (activity, person) DO NOTHING RETURNING *",
            (community_id, activity_id, person_id, at, row["points_per_checkin"],
             "pending" if row["requires_approval"] or review else None, assisted_by),
        )
        if made:
            stay = made[0]
            if assisted_by is not None:
                yield audit.entry(community_id, assisted_by, "checkin_assisted",
                                  f"activity_stay:{stay['id']}")
        else:  # the same person's other scan made it a moment ago (it waited for that one's commit)
            if row["capacity"] is not None:
                yield ("UPDATE activity SET taken = taken - 1 WHERE id = {}", (activity_id,))
            yield _was_duplicate(log_id)
            stay, duplicate = (yield from _stay(activity_id, person_id)), True
    assert stay is not None
    memo = row["title"]
    if duplicate:
        if approved(stay["approval"]):
            yield from _repaired(pay, stay, "checkin", stay["points_in"], memo, at, rules)
    elif stay["approval"] is None and stay["points_in"] > 0:
        # The credit last: on PostgreSQL it takes the community's ledger chain, held to the commit.
        credit = yield from pay.credit(stay, "checkin", stay["points_in"], memo, at, rules)
        stay = _counted(stay, "points_in", credit)
    return row, stay, duplicate, credit


def _check_out(community_id: int, activity_id: int, person_id: int, scanner_id: int | None,
               pay: Wallet, at: datetime, assisted_by: int | None = None,
               ) -> Steps[tuple[dict, dict, bool, Earned | None]]:
    credit = None
    rules = yield from earning_rules_steps(community_id, [person_id])
    row, stay = yield from _activity_and_stay(community_id, activity_id, person_id)
    if stay is None or stay["status"] == "cancelled":
        raise Conflict("not_checked_in")
    if stay["status"] == "closed":
        raise Conflict("not_open")
    duplicate = stay["status"] == "out"
    if not duplicate:
        _check_open(row, at, "out")
    log_id = yield from _logged_first(community_id, activity_id, person_id, scanner_id, "out", duplicate, at)
    if not duplicate:
        hours = earning.hours(stay["in_at"], at, row["starts_at"], row["ends_at"], row["max_hours"])
        points = earning.checkout_points(row["points_per_hour"], hours)
        done = yield (
            "UPDATE activity_stay SET out_at = {}, hours = {}, points_out = {}, status = 'out',"
            " out_assisted_by = {} WHERE id = {} AND status = 'in' RETURNING id",
            (at, hours, points, assisted_by, stay["id"]),
        )
        if done:
            stay = {**stay, "out_at": at, "hours": hours, "points_out": points, "status": "out",
                    "out_assisted_by": assisted_by}
            if assisted_by is not None:
                yield audit.entry(community_id, assisted_by, "checkout_assisted",
                                  f"activity_stay:{stay['id']}")
        else:  # the same person's other scan checked out a moment ago (this one waited for it)
            stay, duplicate = (yield from _stay(activity_id, person_id)), True
            if stay["status"] != "out":
                raise Conflict("not_open")
            yield _was_duplicate(log_id)
    memo = row["title"]
    due = approved(stay["approval"])
    if duplicate:
        if due:
            yield from _repaired(pay, stay, "checkout", stay["points_out"] or 0, memo, at, rules)
    elif due and stay["points_out"] > 0:
        # The credit last: on PostgreSQL it takes the community's ledger chain, held to the commit.
        credit = yield from pay.credit(stay, "checkout", stay["points_out"], memo, at, rules)
        stay = _counted(stay, "points_out", credit)
    return row, stay, duplicate, credit


async def scan(
    ledger: Ledger, community_id: int, activity_id: int, person_id: int,
    scanner_id: int | None, direction: str, review: bool = False, assisted: bool = False,
) -> CheckinResult:
    """One scan of the person at the activity, "in" or "out", as one unit; a refusal is logged.
    ``review``: a poster's code (the stay waits for approval); ``assisted``: the scanner checked
    the person in by name and room."""
    if direction not in ("in", "out"):
        raise InvalidInput("invalid_direction", field="direction")
    # Known before the unit (and remembered by the ledger): opening an account is the
    # ledger's own write, which would wait behind ours on SQLite's one write lock.
    pay = Wallet(ledger, community_id, await account_id(ledger, community_id, "issuance"),
                 await wallet_id(ledger, community_id, person_id), person_id)
    # Whether a check-out is pending was settled at its check-in.
    assisted_by = scanner_id if assisted else None
    step, options = ((_check_in, {"review": review, "assisted_by": assisted_by}) if direction == "in"
                     else (_check_out, {"assisted_by": assisted_by}))
    try:
        _, stay, duplicate, credit = await write(
            step, community_id, activity_id, person_id, scanner_id, pay, clock.now(), **options)
    except MarketError as error:
        await _refused(error, community_id, activity_id, person_id, scanner_id, direction)
        raise
    if direction == "in":
        hundredths, at = stay["points_in"], stay["in_at"]
    else:
        hundredths, at = stay["points_out"] or 0, stay["out_at"]
    made = None if credit is None else credit.one()
    if made is not None:
        # The wallet's balance right after this credit (or, for a hold under 公示, as it stays):
        # saves two reads on the busy path.
        balance = format_points(to_hundredths(made.credit_balance_after))
    else:
        balance = await _balance(ledger, community_id, person_id)
    capped = None
    if credit is not None and credit.cut:
        capped = Capped(reason="cap_reached", credited=format_points(hundredths),
                        cut=format_points(credit.cut))
    return CheckinResult(
        activity_id=activity_id, direction=direction, at=at, points=format_points(hundredths),
        balance=balance, duplicate=duplicate, approval=stay["approval"], capped=capped,
        counts_on=None if credit is None or credit.window_ends is None or made is None
        else publicity.counts_on(credit.window_ends),
        assisted_by=stay.get("assisted_by" if direction == "in" else "out_assisted_by"),
    )


async def check_in_by_token(
    ledger: Ledger, me: Principal, settings: Settings, token: str, direction: str
) -> CheckinResult:
    """A resident scanned an activity's code."""
    signer = signer_for(settings)
    try:
        code = scanned_code(signer, token, clock.now())
    except MarketError as error:
        known = await genuine_activity(signer, token, me.community_id) if error.status == 410 else None
        await _refused(error, me.community_id, known, me.id, None, _direction(direction))
        raise
    return await scan(ledger, me.community_id, code.activity_id, me.id, None, direction, review=code.poster)


def _direction(direction: str) -> str:
    return direction if direction in ("in", "out") else "in"


async def attend(
    ledger: Ledger, me: Principal, settings: Settings, activity_id: int, member_code: str,
    direction: str,
) -> CheckinResult:
    """An organizer scanned a resident's member code or card for the activity."""
    await managed_row(me, activity_id)
    try:
        member = await resolve_member_code(me.community_id, member_code, settings=settings,
                                           now=clock.now())
    except MarketError as error:
        await _refused(error, me.community_id, activity_id, None, me.id, _direction(direction))
        raise
    return await scan(ledger, me.community_id, activity_id, member.person_id, me.id, direction)
