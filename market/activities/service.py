"""Activities and check-in: create/edit/cancel, rotating codes, scans, attendance.

Rules decided here:

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
- Cancelling, approving, rejecting and setting hours by hand each lock the activity
  (``FOR UPDATE``) and move their points in their own transaction: a cancellation
  that commits first leaves nothing for a later approval to credit, and one that
  commits after reverses what the approval credited.
- Every scan is logged in ``activity_scan`` with its outcome.
- With ``requires_approval`` a stay is "pending": nothing is credited (and its
  hours do not count) until the organizer approves it; a rejection keeps a reason.
- A poster code (``Kind.POSTER``: activity, version 1) never rotates; it is
  accepted only inside the same scan window as the rotating code. A printed code is a
  bearer token (a photo of the poster, forwarded, works anywhere), so a check-in by
  poster is always "pending", as with ``requires_approval``: the organizer, who saw who
  came, approves it before anything is credited. The rotating code on the screen (30 s)
  and the organizer's scan of a member code credit at once.
- An assisted check-in (``assist``): a resident with neither card nor phone, found by name
  and room (``find_residents``: phones masked, at most ``MAX_MATCHES``), is checked in or out
  by the organizer through the very same scan unit as a member code's — window, audience,
  capacity, caps, 公示, duplicates — and the stay keeps who did it (``assisted_by``,
  ``out_assisted_by``), written with an audit entry in the same transaction.
- Rates are bounded: at most ``MAX_RATE`` points per participation and per hour (the earning
  categories' defaults share it). Every field is checked on its own, so a request with several
  bad fields is refused with all of them (``InvalidFields``), and ``problems`` lets a form show
  them all in one round.
- Stays still checked in ``CHECKOUT_LATE`` after the end can no longer check
  out: they are closed ("closed", check-in credit only) for review, and the
  organizer may set their real hours with a reason.
- The time is ``market.activities.clock``'s, read at each call, so tests can move it.
"""

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger import (
    InvalidAmount,
    Ledger,
    Transfer,
    TransferNotFound,
    format_points,
    reversal,
    to_hundredths,
)
from market import audit
from market.activities import earning
from market.activities.clock import now
from market.activities.schemas import (
    CATEGORIES,
    MAX_CATEGORY_LENGTH,
    MAX_RATE,
    MAX_REASON_LENGTH,
    MAX_TITLE_LENGTH,
    ActivityChanges,
    ActivityCode,
    ActivityList,
    ActivityPoster,
    ActivityView,
    ApprovalResult,
    AssistedTally,
    AttendanceList,
    CancelResult,
    Capped,
    CheckinResult,
    ManagedActivity,
    NewActivity,
    ResidentMatch,
    ResidentMatches,
    StayView,
)
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.cards.service import ROTATION, resolve_member_code, signer_for
from market.db import fetch
from market.errors import Conflict, Gone, InvalidInput, MarketError, NotFound
from market.messages import Language, message
from market.people.rules import mask_phone
from market.points import publicity
from market.points.lots import Credit, Earned, earn_steps, earning_rules_steps, unearned_steps
from market.points.policy import Rules
from market.points.service import account_id, wallet_id
from market.settings import Settings
from market.tables import Activity, Building, Grid, Stay, Team
from market.writes import LedgerStep, Statement, Steps, on_postgres, statement, write
from qr import ExpiredToken, Kind, Signer, TokenError

log = logging.getLogger(__name__)

CHECKIN_EARLY = timedelta(minutes=30)
CHECKOUT_LATE = timedelta(hours=2)
MAX_TOKEN_TEXT = 500
#: How many residents a search by name and room lists (an assisted check-in): a short list to
#: choose from, not a directory.
MAX_MATCHES = 20
#: The path of the check-in URL; uppercase so the whole URL after an uppercase
#: base can stay in QR alphanumeric mode.
CHECKIN_PATH = "/C/"

# -- validation --------------------------------------------------------------------------------


def _text(value: str, field: str, reason: str, low: int, high: int) -> str:
    cleaned = " ".join(value.split())
    if not low <= len(cleaned) <= high:
        raise InvalidInput(reason, field=field)
    return cleaned


def _amount(value: Decimal, field: str) -> int:
    try:
        hundredths = to_hundredths(value)
    except InvalidAmount:
        raise InvalidInput("invalid_activity_amount", field=field) from None
    if hundredths < 0:
        raise InvalidInput("invalid_activity_amount", field=field)
    return hundredths


def rate(value: Decimal, field: str) -> int:
    """Points per participation or per hour, as hundredths: 0 to ``MAX_RATE``, two decimals."""
    hundredths = _amount(value, field)
    if hundredths > to_hundredths(MAX_RATE):
        raise InvalidInput("activity_rate_too_high", field=field, max_rate=f"{MAX_RATE:f}")
    return hundredths


class InvalidFields(InvalidInput):
    """400 for a request with several bad fields: the first one's reason and field, and every
    one of them in ``errors`` (a form shows each next to its field in one round)."""

    def __init__(self, errors: list[MarketError]) -> None:
        first = errors[0]
        super().__init__(first.reason, field=first.field, **first.params)
        self.errors = errors

    def members(self, language: Language) -> dict[str, Any]:
        return {"errors": [
            {"field": error.field or "", "reason": error.reason,
             "message": message(error.reason, language, field=error.field or "", **error.params)}
            for error in self.errors
        ]}


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidInput("invalid_time", field=field)
    return value.astimezone(UTC)


def _category_name(value: object) -> str:
    # Which names are known is the catalogue's to say (``_check_category``).
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CATEGORY_LENGTH:
        raise InvalidInput("invalid_category", field="category")
    return value


def _capacity(value: int) -> int:
    if not 1 <= value <= 1_000_000:
        raise InvalidInput("invalid_capacity", field="capacity")
    return value


def _checked_columns(data: NewActivity | ActivityChanges) -> tuple[dict, list[MarketError]]:
    """Validated column values of the fields given, and what is wrong with each of the others:
    every field is checked on its own, so one round reports them all."""
    checks: list[tuple[str, Callable[[], object]]] = []
    if data.title is not None:
        checks.append(("title", lambda: _text(data.title, "title", "invalid_title", 1, MAX_TITLE_LENGTH)))
    if data.category is not None:
        checks.append(("category", lambda: _category_name(data.category)))
    if data.location is not None:
        checks.append(("location", lambda: _text(
            data.location, "location", "invalid_location", 0, MAX_TITLE_LENGTH)))
    for name in ("starts_at", "ends_at"):
        if (value := getattr(data, name)) is not None:
            checks.append((name, lambda value=value, name=name: _aware(value, name)))
    for name in ("points_per_checkin", "points_per_hour"):
        if (value := getattr(data, name)) is not None:
            checks.append((name, lambda value=value, name=name: rate(value, name)))
    if data.max_hours is not None:
        checks.append(("max_hours", lambda: _amount(data.max_hours, "max_hours")))
    if data.capacity is not None:
        checks.append(("capacity", lambda: _capacity(data.capacity)))
    out: dict = {}
    errors: list[MarketError] = []
    for column, check in checks:
        try:
            out[column] = check()
        except MarketError as error:
            errors.append(error)
    if data.requires_approval is not None:
        out["requires_approval"] = bool(data.requires_approval)
    return out, errors


def _columns(data: NewActivity | ActivityChanges) -> dict:
    """Validated column values of the fields given; every bad one refused at once."""
    out, errors = _checked_columns(data)
    if errors:
        raise errors[0] if len(errors) == 1 else InvalidFields(errors)
    return out


def _ids(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


async def _audience(community_id: int, data: NewActivity | ActivityChanges) -> dict:
    """Validated team, grids and buildings: of this community and not archived."""
    out: dict = {}
    if data.team_id is not None:
        found = await Team.select(Team.id).where(
            (Team.id == data.team_id) & (Team.community == community_id)
            & Team.archived_at.is_null()
        ).first()
        if found is None:
            raise InvalidInput("invalid_audience", field="team_id")
        out["team"] = data.team_id
    for name, table, column in (("grid_ids", Grid, "grids"), ("building_ids", Building, "buildings")):
        wanted = getattr(data, name)
        if wanted is None:
            continue
        unique = sorted(set(wanted))
        if len(unique) > 200:
            raise InvalidInput("invalid_audience", field=name)
        if unique:
            found = await table.count().where(
                table.id.is_in(unique) & (table.community == community_id)  # type: ignore[attr-defined]
                & table.archived_at.is_null()  # type: ignore[attr-defined]
            )
            if found != len(unique):
                raise InvalidInput("invalid_audience", field=name)
        out[column] = ",".join(str(i) for i in unique)
    return out


def _check_window(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise InvalidInput("invalid_window", field="ends_at")
    if ends_at - starts_at > timedelta(days=31):
        raise InvalidInput("invalid_window", field="ends_at")


async def problems(
    me: Principal, data: NewActivity | ActivityChanges, current: str | None = None
) -> list[MarketError]:
    """Everything wrong with the fields given, each on its own (the activity form shows them all
    in one round); empty when the service would take them. ``create``/``update`` still decide.
    ``current``: the category an edited activity has (it may keep it, even archived)."""
    values, errors = _checked_columns(data)
    if "starts_at" in values and "ends_at" in values:
        try:
            _check_window(values["starts_at"], values["ends_at"])
        except MarketError as error:
            errors.append(error)
    if "category" in values and data.category not in CATEGORIES:
        try:
            await _check_category(me.community_id, data.category, current)
        except MarketError as error:
            errors.append(error)
    for name in ("team_id", "grid_ids", "building_ids"):
        try:
            await _audience(me.community_id, ActivityChanges(**{name: getattr(data, name)}))
        except MarketError as error:
            errors.append(error)
    return errors


def _view(row: dict) -> ActivityView:
    return ActivityView(
        id=row["id"], title=row["title"], category=row["category"], location=row["location"],
        starts_at=row["starts_at"], ends_at=row["ends_at"],
        points_per_checkin=format_points(row["points_per_checkin"]),
        points_per_hour=format_points(row["points_per_hour"]),
        max_hours=None if row["max_hours"] is None else format_points(row["max_hours"]),
        capacity=row["capacity"], requires_approval=row["requires_approval"],
        status=row["status"], organizer_id=row["organizer"], cancel_reason=row["cancel_reason"],
        team_id=row["team"], grid_ids=_ids(row["grids"]), building_ids=_ids(row["buildings"]),
    )


# -- activities ------------------------------------------------------------------------------


# Every scan reads its activity and stay: hand-written SQL there (see market.db.fetch).
_ACTIVITY = "SELECT * FROM activity WHERE id = {} AND community = {}"


async def _activity(community_id: int, activity_id: int) -> dict | None:
    rows = await fetch(_ACTIVITY, activity_id, community_id)
    return rows[0] if rows else None


def _locked_activity(
    community_id: int, activity_id: int, mode: str = "FOR UPDATE"
) -> Generator[Statement, list[dict], dict | None]:
    """The activity, row-locked to the end of the unit on PostgreSQL (SQLite's one writer
    already serialises units): ``FOR UPDATE`` to change it or what hangs on it (waits for
    the scans in flight), ``FOR KEY SHARE`` for a scan (scans do not wait for each other)."""
    rows = yield (_ACTIVITY + (f" {mode}" if on_postgres() else ""), (activity_id, community_id))
    return rows[0] if rows else None


def _may_manage(me: Principal, row: dict) -> bool:
    return ADMIN in me.roles or row["organizer"] == me.id


async def _managed(me: Principal, activity_id: int) -> dict:
    """The activity if ``me`` organizes it or is an admin; 404 otherwise (as if absent)."""
    row = await _activity(me.community_id, activity_id)
    if row is None or not _may_manage(me, row):
        raise NotFound()
    return row


async def _check_category(community_id: int, name: str | None, current: str | None = None) -> None:
    """A built-in kind, or the name of one of the community's earning categories still offered
    (``market.points.categories``); an activity may keep the category it has."""
    if name is None or name in CATEGORIES or name == current:
        return
    from market.points import categories  # the catalogue lists activities through this module

    if not await categories.offered(community_id, name):
        raise InvalidInput("invalid_category", field="category")


async def create(me: Principal, data: NewActivity) -> ActivityView:
    await _check_category(me.community_id, data.category)
    values = _columns(data)
    _check_window(values["starts_at"], values["ends_at"])
    values |= await _audience(me.community_id, data)
    row = Activity(community=me.community_id, organizer=me.id, **values)
    await row.save()
    log.info("activity %s created by person %s", row.id, me.id)
    found = await _activity(me.community_id, row.id)
    assert found is not None
    return _view(found)


async def list_activities(me: Principal) -> ActivityList:
    rows = await Activity.select().where(Activity.community == me.community_id).order_by(
        Activity.starts_at, ascending=False
    ).limit(500)
    return ActivityList(items=[_view(row) for row in rows])


async def places_of(me: Principal) -> tuple[set[int], int | None, int | None]:
    """(my volunteer teams, my grid, my building): who an activity's audience may name."""
    teams = await fetch("SELECT team FROM team_member WHERE person = {}", me.id)
    homes = await fetch(
        "SELECT h.grid, h.building FROM person p JOIN household h ON h.id = p.household"
        " WHERE p.id = {} AND p.community = {}", me.id, me.community_id,
    )
    home = homes[0] if homes else {"grid": None, "building": None}
    return {row["team"] for row in teams}, home["grid"], home["building"]


def open_to(activity: ActivityView, places: tuple[set[int], int | None, int | None]) -> bool:
    """The check-in's audience rule (as ``_eligible_steps``) for a listed activity: everyone,
    unless the activity names a team, grids or buildings."""
    teams, grid, building = places
    if activity.team_id is None and not activity.grid_ids and not activity.building_ids:
        return True
    return (activity.team_id in teams or grid in activity.grid_ids
            or building in activity.building_ids)


async def open_to_me(me: Principal, at: datetime) -> list[ActivityView]:
    """The community's scheduled activities not yet ended at ``at`` that ``me`` may check in to,
    soonest first (the resident's activities page, the how-to-earn page)."""
    places = await places_of(me)
    listed = [
        activity for activity in (await list_activities(me)).items
        if activity.status == "scheduled" and activity.ends_at >= at and open_to(activity, places)
    ]
    listed.sort(key=lambda activity: activity.starts_at)
    return listed


async def managed(me: Principal) -> list[ManagedActivity]:
    """The activities ``me`` may manage, newest first: their own, or every one for an admin."""
    where = Activity.community == me.community_id
    if ADMIN not in me.roles:
        where &= Activity.organizer == me.id
    rows = await Activity.select().where(where).order_by(Activity.starts_at, ascending=False).limit(500)
    ids = [row["id"] for row in rows]
    # Counted by the database, for the listed activities only: a busy one has hundreds of stays.
    found = await fetch(
        "SELECT activity, count(*) AS came, sum(CASE WHEN status = 'in' THEN 1 ELSE 0 END) AS present"
        " FROM activity_stay WHERE community = {} AND activity IN (" + ", ".join("{}" for _ in ids)
        + ") GROUP BY activity",
        me.community_id, *ids,
    ) if ids else []
    counts = {row["activity"]: (int(row["came"]), int(row["present"] or 0)) for row in found}
    return [
        ManagedActivity(activity=_view(row), checked_in=counts.get(row["id"], (0, 0))[0],
                        present=counts.get(row["id"], (0, 0))[1])
        for row in rows
    ]


async def get(me: Principal, activity_id: int) -> ActivityView:
    row = await _activity(me.community_id, activity_id)
    if row is None:
        raise NotFound()
    return _view(row)


async def get_managed(me: Principal, activity_id: int) -> ActivityView:
    """One activity ``me`` organizes (any of the community's for an admin); 404 otherwise."""
    return _view(await _managed(me, activity_id))


async def update(me: Principal, activity_id: int, changes: ActivityChanges) -> ActivityView:
    if changes.category is not None and changes.category not in CATEGORIES:
        current = await _activity(me.community_id, activity_id)
        await _check_category(me.community_id, changes.category, current and current["category"])
    values = _columns(changes) | await _audience(me.community_id, changes)
    await write(_update_steps, me, activity_id, values, now())
    found = await _activity(me.community_id, activity_id)
    assert found is not None
    return _view(found)


def _update_steps(me: Principal, activity_id: int, values: dict, at: datetime) -> Steps[None]:
    row = yield from _locked_activity(me.community_id, activity_id)
    if row is None or not _may_manage(me, row):
        raise NotFound()
    if row["status"] != "scheduled":
        raise Conflict("activity_cancelled")
    started = yield ("SELECT 1 AS yes FROM activity_stay WHERE activity = {} LIMIT 1", (activity_id,))
    if at >= row["starts_at"] or started:
        raise Conflict("already_started")
    _check_window(values.get("starts_at", row["starts_at"]), values.get("ends_at", row["ends_at"]))
    if values:
        assignments = ", ".join(f"{column} = {{}}" for column in values)
        yield (f"UPDATE activity SET {assignments} WHERE id = {{}}", (*values.values(), activity_id))


def _transfer_ids(stay_id: int) -> tuple[str, str]:
    return f"checkin:{stay_id}:in", f"checkin:{stay_id}:out"


async def cancel(ledger: Ledger, me: Principal, activity_id: int, reason: str) -> CancelResult:
    """Cancel the activity and reverse every credit it made, with the reason, in one transaction.

    Safe to repeat: reversal ids are derived from the credits' ids. A credit
    whose points were already spent cannot be reversed (wallets never go
    negative): it is counted in ``not_reversed`` and logged.
    """
    reason = _text(reason, "reason", "invalid_reason", 1, MAX_REASON_LENGTH)
    result = await write(_cancel_steps, ledger, me, activity_id, reason, now())
    log.info("activity %s cancelled: %s credits reversed, %s not", activity_id, result.reversed,
             result.not_reversed)
    return result


def _cancel_steps(
    ledger: Ledger, me: Principal, activity_id: int, reason: str, at: datetime
) -> Steps[CancelResult]:
    row = yield from _locked_activity(me.community_id, activity_id)
    if row is None or not _may_manage(me, row):
        raise NotFound()
    if row["status"] == "cancelled":
        reason = row["cancel_reason"] or reason
    else:
        yield ("UPDATE activity SET status = 'cancelled', cancel_reason = {}, cancelled_at = {}"
               " WHERE id = {}", (reason, at, activity_id))
    stays = yield ("SELECT id FROM activity_stay WHERE activity = {} ORDER BY id", (activity_id,))
    yield ("UPDATE activity_stay SET status = 'cancelled' WHERE activity = {} AND status <> 'cancelled'",
           (activity_id,))
    credits = [transfer_id for stay in stays for transfer_id in _transfer_ids(stay["id"])]
    done = failed = 0
    if credits:
        # Credits under 公示: a waiting hold is voided, a posted one's posting reversed.
        undo = yield from publicity.withdrawn_steps(me.community_id, credits, reason, at)
        outcomes = yield LedgerStep(ledger, [
            undo[transfer_id][0] if transfer_id in undo
            else reversal(f"{transfer_id}:rev", transfer_id, reason, ledger=me.community_id)
            for transfer_id in credits
        ], each=True)
        reversed_credits = []
        for transfer_id, outcome in zip(credits, outcomes, strict=True):
            if isinstance(outcome, Transfer):
                done += 1
                lots_of = undo[transfer_id][1] if transfer_id in undo else transfer_id
                if lots_of is not None:  # a voided hold had no lots yet
                    reversed_credits.append((outcome.id, lots_of))
            elif not isinstance(outcome, TransferNotFound):  # not found: nothing was credited
                failed += 1  # spent already (wallets never go negative), or not reversible
                log.warning("credit %s not reversed: %s", transfer_id, outcome.reason)
        yield from unearned_steps(reversed_credits, at)
    return CancelResult(
        id=activity_id, status="cancelled", cancel_reason=reason, reversed=done, not_reversed=failed,
    )


# -- codes -----------------------------------------------------------------------------------


async def code(
    me: Principal, activity_id: int, settings: Settings, request_base: str
) -> ActivityCode:
    row = await _managed(me, activity_id)
    at = now()
    issued = ROTATION.issue(signer_for(settings), Kind.ACTIVITY_ROTATING, row["id"], at)
    base = (settings.base_url or request_base).rstrip("/")
    return ActivityCode(
        token=issued.text, url=f"{base}{CHECKIN_PATH}{issued.text}",
        expires_at=issued.expires_at, refresh_in=max(1, round(issued.refresh_in(at))),
    )


POSTER_VERSION = 1


async def poster(
    me: Principal, activity_id: int, settings: Settings, request_base: str
) -> ActivityPoster:
    """The printable poster code: fixed, valid only inside the activity's scan window."""
    row = await _managed(me, activity_id)
    token = signer_for(settings).sign(Kind.POSTER, row["id"], POSTER_VERSION)
    base = (settings.base_url or request_base).rstrip("/")
    return ActivityPoster(token=token, url=f"{base}{CHECKIN_PATH}{token}")


@dataclass(frozen=True, slots=True)
class ScannedCode:
    activity_id: int
    #: The printed poster's fixed code: its check-ins wait for the organizer's approval.
    poster: bool


def checkin_activity(signer: Signer, text: object, at: datetime) -> int:
    """The activity id a scanned check-in token (or the whole URL) stands for."""
    return scanned_code(signer, text, at).activity_id


def scanned_code(signer: Signer, text: object, at: datetime) -> ScannedCode:
    """The activity a scanned check-in token (or the whole URL) stands for, and its kind.

    400 ``invalid`` for anything forged, malformed or of another kind; 410
    ``expired`` for a genuine code older than the previous 30-second step."""
    if not isinstance(text, str) or len(text) > MAX_TOKEN_TEXT:
        raise InvalidInput("invalid", field="token")
    cleaned = "".join(text.split()).split("?")[0].split("#")[0].rstrip("/")
    cleaned = cleaned.rsplit("/", 1)[-1].upper()
    try:
        token = signer.open(cleaned)
    except TokenError:
        raise InvalidInput("invalid", field="token") from None
    if token.kind == Kind.POSTER:
        activity_id, version = token.fields
        if version != POSTER_VERSION:
            raise Gone("revoked", field="token")
        return ScannedCode(activity_id, poster=True)
    if token.kind != Kind.ACTIVITY_ROTATING:
        raise InvalidInput("invalid", field="token")
    activity_id, step = token.fields
    try:
        ROTATION.check_step(step, at)
    except ExpiredToken:
        raise Gone("expired", field="token") from None
    except TokenError:
        raise InvalidInput("invalid", field="token") from None
    return ScannedCode(activity_id, poster=False)


# -- scans -------------------------------------------------------------------------------------


async def _log_scan(
    community_id: int, activity_id: int | None, person_id: int | None, scanner_id: int | None,
    direction: str, outcome: str,
) -> None:
    """A refused scan's log line, written on its own (the refused unit rolled back)."""
    sql, args = _scan_logged(community_id, activity_id, person_id, scanner_id, direction, outcome, now())
    await statement(sql, *args)


SCAN_REASONS = frozenset({
    "invalid", "expired", "not_open", "not_checked_in", "full", "not_eligible", "revoked",
})


async def _refused(
    error: MarketError, community_id: int, activity_id: int | None, person_id: int | None,
    scanner_id: int | None, direction: str,
) -> None:
    if error.reason in SCAN_REASONS:
        await _log_scan(community_id, activity_id, person_id, scanner_id, direction, error.reason)


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


# A scan's write transaction as steps (``market.db.write_steps``): on SQLite it runs in one hop.


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
    """The open activity, shared on PostgreSQL (see ``_locked_activity``), and the person's
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


def _eligible_steps(row: dict, person_id: int) -> Generator[Statement, list[dict], bool]:
    """Is the person in the activity's audience (its team, grids or buildings; everyone if none)?"""
    grids, buildings = _ids(row["grids"]), _ids(row["buildings"])
    if row["team"] is None and not grids and not buildings:
        return True
    if row["team"] is not None:
        member = yield ("SELECT 1 AS yes FROM team_member WHERE team = {} AND person = {}",
                        (row["team"], person_id))
        if member:
            return True
    if grids or buildings:
        homes = yield ("SELECT h.grid, h.building FROM person p JOIN household h ON h.id = p.household"
                       " WHERE p.id = {}", (person_id,))
        if homes and (homes[0]["grid"] in grids or homes[0]["building"] in buildings):
            return True
    return False


def _scan_logged(
    community_id: int, activity_id: int | None, person_id: int | None, scanner_id: int | None,
    direction: str, outcome: str, at: datetime,
) -> Statement:
    return (
        "INSERT INTO activity_scan (community, activity, person, scanner, direction, outcome, at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {})",
        (community_id, activity_id, person_id, scanner_id, direction, outcome, at),
    )


@dataclass(frozen=True)
class _Wallet:
    """Where a scan's points come from and go to: the ledger joins the scan's unit."""

    ledger: Ledger
    community_id: int
    issuance: int
    wallet: int
    person: int

    def credit(
        self, stay: dict, kind: str, hundredths: int, memo: str, at: datetime, rules: Rules
    ) -> Steps[Earned]:
        """The stay's earned points, capped, held for 公示 or credited with their lot
        (``market.points.lots.earn_steps``); the unit took ``earning_rules_steps`` first."""
        transfer_id = _transfer_ids(stay["id"])[0 if kind == "checkin" else 1]
        return earn_steps(self.ledger, self.community_id, self.issuance, [
            Credit(transfer_id, self.person, self.wallet, hundredths, kind, memo,
                   activity=stay["activity"], stay=stay["id"])
        ], at, rules=rules, locked=True)


def _repaired(
    pay: _Wallet, stay: dict, kind: str, hundredths: int, memo: str, at: datetime, rules: Rules
) -> Steps[None]:
    """A repeat scan of a stay whose credit is missing (written by a release that credited after
    the commit, and interrupted between the two) issues it; otherwise nothing."""
    if hundredths <= 0:
        return
    transfer_id = _transfer_ids(stay["id"])[0 if kind == "checkin" else 1]
    if not (yield ("SELECT 1 AS yes FROM ledger_transfer WHERE id = {}", (transfer_id,))):
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
    sql, args = _scan_logged(community_id, activity_id, person_id, scanner_id, direction,
                             "duplicate" if duplicate else "ok", at)
    (row,) = yield (sql + " RETURNING id", args)
    return row["id"]


def _was_duplicate(log_id: int) -> Statement:
    return ("UPDATE activity_scan SET outcome = 'duplicate' WHERE id = {}", (log_id,))


def _check_in(community_id: int, activity_id: int, person_id: int, scanner_id: int | None,
              pay: _Wallet, at: datetime, review: bool = False, assisted_by: int | None = None,
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
        if not (yield from _eligible_steps(row, person_id)):
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
        if stay["approval"] in (None, "approved"):
            yield from _repaired(pay, stay, "checkin", stay["points_in"], memo, at, rules)
    elif stay["approval"] is None and stay["points_in"] > 0:
        # The credit last: on PostgreSQL it takes the community's ledger chain, held to the commit.
        credit = yield from pay.credit(stay, "checkin", stay["points_in"], memo, at, rules)
        stay = _counted(stay, "points_in", credit)
    return row, stay, duplicate, credit


def _check_out(community_id: int, activity_id: int, person_id: int, scanner_id: int | None,
               pay: _Wallet, at: datetime, assisted_by: int | None = None,
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
    due = stay["approval"] in (None, "approved")
    if duplicate:
        if due:
            yield from _repaired(pay, stay, "checkout", stay["points_out"] or 0, memo, at, rules)
    elif due and stay["points_out"] > 0:
        # The credit last: on PostgreSQL it takes the community's ledger chain, held to the commit.
        credit = yield from pay.credit(stay, "checkout", stay["points_out"], memo, at, rules)
        stay = _counted(stay, "points_out", credit)
    return row, stay, duplicate, credit


async def _scan(
    ledger: Ledger, community_id: int, activity_id: int, person_id: int,
    scanner_id: int | None, direction: str, review: bool = False, assisted: bool = False,
) -> CheckinResult:
    if direction not in ("in", "out"):
        raise InvalidInput("invalid_direction", field="direction")
    # Known before the unit (and remembered by the ledger): opening an account is the
    # ledger's own write, which would wait behind ours on SQLite's one write lock.
    pay = _Wallet(ledger, community_id, await account_id(ledger, community_id, "issuance"),
                  await wallet_id(ledger, community_id, person_id), person_id)
    # Whether a check-out is pending was settled at its check-in.
    assisted_by = scanner_id if assisted else None
    step, options = ((_check_in, {"review": review, "assisted_by": assisted_by}) if direction == "in"
                     else (_check_out, {"assisted_by": assisted_by}))
    try:
        _, stay, duplicate, credit = await write(
            step, community_id, activity_id, person_id, scanner_id, pay, now(), **options)
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
        code = scanned_code(signer, token, now())
    except MarketError as error:
        known = await _genuine_activity(signer, token, me.community_id) if error.status == 410 else None
        await _refused(error, me.community_id, known, me.id, None, _direction(direction))
        raise
    return await _scan(ledger, me.community_id, code.activity_id, me.id, None, direction, review=code.poster)


async def _genuine_activity(signer: Signer, text: str, community_id: int) -> int | None:
    """For the scan log: the activity of a genuine but refused (stale) code of this community."""
    try:
        token = signer.open(text.rsplit("/", 1)[-1].strip().upper())
    except TokenError:
        return None
    found = await _activity(community_id, token.fields[0])
    return None if found is None else found["id"]


def _direction(direction: str) -> str:
    return direction if direction in ("in", "out") else "in"


async def attend(
    ledger: Ledger, me: Principal, settings: Settings, activity_id: int, member_code: str,
    direction: str,
) -> CheckinResult:
    """An organizer scanned a resident's member code or card for the activity."""
    await _managed(me, activity_id)
    try:
        member = await resolve_member_code(me.community_id, member_code, settings=settings,
                                           now=now())
    except MarketError as error:
        await _refused(error, me.community_id, activity_id, None, me.id, _direction(direction))
        raise
    return await _scan(ledger, me.community_id, activity_id, member.person_id, me.id, direction)


async def attendance(me: Principal, activity_id: int) -> AttendanceList:
    row = await _managed(me, activity_id)
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


# -- assisted check-in: a resident with no card and no phone, found by name and room ------------


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def find_residents(
    me: Principal, activity_id: int, name: str = "", building_id: int | None = None, room: str = "",
) -> ResidentMatches:
    """Residents of the community by (part of) their name, and/or building and room, for an
    organizer to check in by hand; at most ``MAX_MATCHES``, phones masked, with their stay at
    the activity. A name or a building is needed: this is a search, not a list of everyone."""
    await _managed(me, activity_id)
    name = " ".join(name.split())
    room = "".join(room.split())
    if len(name) > 50:
        raise InvalidInput("invalid_search", field="name")
    if len(room) > 20:
        raise InvalidInput("invalid_search", field="room")
    if building_id is not None and not 1 <= building_id <= 2**31 - 1:
        raise InvalidInput("invalid_search", field="building_id")
    if not name and building_id is None:
        raise InvalidInput("search_needed", field="name")
    sql, args = _RESIDENTS, [activity_id, me.community_id, "%resident%"]
    if name:
        sql += " AND p.name LIKE {} ESCAPE '\\'"
        args.append(_like(name))
    if building_id is not None:
        sql += " AND h.building = {}"
        args.append(building_id)
    if room:
        sql += " AND h.room = {}"
        args.append(room)
    rows = await fetch(sql + " ORDER BY p.name, p.id LIMIT {}", *args, MAX_MATCHES)
    return ResidentMatches(items=[_match(row) for row in rows])


#: Residents (not erased) of a community with their address and their stay at an activity.
_RESIDENTS = (
    "SELECT p.id, p.name, p.phone, h.unit, h.room, b.name AS building, c.name AS compound,"
    " s.status AS stay FROM person p"
    " LEFT JOIN household h ON h.id = p.household"
    " LEFT JOIN building b ON b.id = h.building"
    " LEFT JOIN compound c ON c.id = b.compound"
    " LEFT JOIN activity_stay s ON s.activity = {} AND s.person = p.id"
    " WHERE p.community = {} AND p.erased_at IS NULL AND p.roles LIKE {}"
)


def _match(row: dict) -> ResidentMatch:
    return ResidentMatch(person_id=row["id"], name=row["name"], phone=mask_phone(row["phone"] or ""),
                         address=_address(row), stay=row["stay"])


async def find_resident(me: Principal, activity_id: int, person_id: int) -> ResidentMatch:
    """One resident chosen from a search, for the confirm step; 404 if not a resident here."""
    await _managed(me, activity_id)
    if isinstance(person_id, bool) or not 1 <= person_id <= 2**31 - 1:
        raise NotFound(field="person_id")
    rows = await fetch(_RESIDENTS + " AND p.id = {}", activity_id, me.community_id, "%resident%",
                       person_id)
    if not rows:
        raise NotFound(field="person_id")
    return _match(rows[0])


def _address(row: dict) -> str:
    if row["building"] is None:
        return ""
    parts = [row["compound"] or "", row["building"], row["unit"] or "", row["room"] or ""]
    return " ".join(part for part in parts if part)


async def assist(
    ledger: Ledger, me: Principal, activity_id: int, person_id: int, direction: str
) -> CheckinResult:
    """An organizer checks a resident in (or out) by name and room: no card, no phone. The same
    scan as a member code's (caps, 公示, duplicates, the audience, the window), marked as
    assisted by ``me`` on the stay and in the audit log."""
    await find_resident(me, activity_id, person_id)
    result = await _scan(ledger, me.community_id, activity_id, person_id, me.id, direction,
                         assisted=True)
    if not result.duplicate:
        log.info("activity %s: person %s checked %s by hand by person %s", activity_id, person_id,
                 direction, me.id)
    return result


# -- review: approvals, unfinished stays, hours by hand ----------------------------------------


async def close_unfinished(activity: dict | None = None) -> int:
    """Close stays that can no longer check out (``CHECKOUT_LATE`` after the end) for review.

    For one activity (a row), or for every activity when None; each activity in a unit of
    its own that locks it first, as every unit that changes many of its stays does.
    Returns how many were closed."""
    cutoff = now() - CHECKOUT_LATE
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
    row = yield from _locked_activity(community_id, activity_id)
    if row is None or row["ends_at"] >= cutoff:
        return 0
    closed = yield (
        "UPDATE activity_stay SET status = 'closed', hours = 0, points_out = 0"
        " WHERE activity = {} AND status = 'in' RETURNING id", (activity_id,),
    )
    return len(closed)


def _due(stay: dict) -> list[tuple[str, str, int]]:
    """(transfer id, kind, hundredths) a stay has earned so far."""
    in_id, out_id = _transfer_ids(stay["id"])
    due = [(in_id, "checkin", stay["points_in"])]
    if stay["status"] == "out":
        due.append((out_id, "checkout", stay["points_out"] or 0))
    return due


def _managed_steps(me: Principal, activity_id: int, *, scheduled: bool) -> Steps[dict]:
    """The activity, locked (``FOR UPDATE``), if ``me`` may manage it (404 otherwise); with
    ``scheduled``, 409 ``activity_cancelled`` once it is cancelled."""
    row = yield from _locked_activity(me.community_id, activity_id)
    if row is None or not _may_manage(me, row):
        raise NotFound()
    if scheduled and row["status"] != "scheduled":
        raise Conflict("activity_cancelled")
    return row


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
    result = await write(_approve_steps, ledger, me, activity_id, issuance, wallets, now())
    log.info("activity %s: %s stays approved by person %s", activity_id, result.count, me.id)
    return result


def _approve_steps(
    ledger: Ledger, me: Principal, activity_id: int, issuance: int, wallets: dict[int, int],
    at: datetime,
) -> Steps[ApprovalResult]:
    # With a cap on earning, the people first (``market.writes``' lock order), then the activity.
    rules = yield from earning_rules_steps(me.community_id, list(wallets))
    row = yield from _managed_steps(me, activity_id, scheduled=True)
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
    reason = _text(reason, "reason", "invalid_reason", 1, MAX_REASON_LENGTH)
    _check_ids(person_ids)
    rejected = await write(_reject_steps, me, activity_id, person_ids, reason)
    return ApprovalResult(count=rejected, credited="0.00")


def _reject_steps(
    me: Principal, activity_id: int, person_ids: list[int] | None, reason: str
) -> Steps[int]:
    yield from _managed_steps(me, activity_id, scheduled=False)
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
    wanted = _amount(hours, "hours")
    reason = _text(reason, "reason", "invalid_reason", 1, MAX_REASON_LENGTH)
    row = await _managed(me, activity_id)
    await close_unfinished(row)
    pay = _Wallet(ledger, me.community_id, await account_id(ledger, me.community_id, "issuance"),
                  await wallet_id(ledger, me.community_id, person_id), person_id)
    stay_id = await write(_hours_steps, me, activity_id, person_id, wanted, reason, pay)
    log.info("hours of stay %s set by person %s", stay_id, me.id)
    listed = await attendance(me, activity_id)
    return next(item for item in listed.items if item.person_id == person_id)


def _hours_steps(
    me: Principal, activity_id: int, person_id: int, wanted: int, reason: str, pay: _Wallet
) -> Steps[int]:
    # With a cap on earning, the person first (``market.writes``' lock order), then the activity.
    rules = yield from earning_rules_steps(me.community_id, [person_id])
    row = yield from _managed_steps(me, activity_id, scheduled=True)
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
    if stay["approval"] in (None, "approved") and points > 0:
        yield from pay.credit(stay, "checkout", points, row["title"], now(), rules)
    return stay["id"]
