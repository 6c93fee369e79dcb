"""The organizer's pages: my activities, create and edit, the full-screen rotating code, live
attendance, scanning members' codes and cards, checking in by name and room a resident with
neither (assisted: search, then a confirm step), approvals, hours by hand, cancelling, and the
printable A4 poster. The activity form shows every mistake at once, each under its field.

Handlers call ``market.activities.service`` directly; the service decides who may manage an
activity (its organizer, or an admin of the community) and answers 404 for anyone else's.
Forms are plain HTML: a refused one comes back with the reason in the reader's language and
what was typed still in it; a successful one redirects (303) to a page that says what happened
through a few query parameters (``?scanned=…``), so a reload never repeats the action.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ledger import Ledger
from market.activities import service as activities
from market.activities.schemas import ActivityChanges, ActivityView, NewActivity, StayView
from market.auth.roles import ADMIN, ORGANIZER
from market.auth.sessions import Principal
from market.cards import service as cards
from market.china_time import CHINA
from market.community import service as communities
from market.community import structure
from market.errors import InvalidInput, MarketError, NotFound
from market.people.rules import is_card_no
from market.points import categories
from market.settings import Settings
from market.web import i18n
from market.web.forms import check_csrf, form_fields, page, page_member

PAGE = {"include_in_schema": False}
BASE = "/organizer/activities"
#: How the activity form's times travel: what ``<input type="datetime-local">`` sends.
LOCAL_INPUT = "%Y-%m-%dT%H:%M"
ACTIVITY_FIELDS = (
    "title", "category", "location", "starts_at", "ends_at", "points_per_checkin",
    "points_per_hour", "max_hours", "capacity", "team_id", "grid_ids", "building_ids",
)
POINTS_SHOWN = re.compile(r"^\d{1,12}\.\d{2}$")
STATIC = Path(__file__).resolve().parents[2] / "frontend" / "static"


def _typed(text: str) -> str:
    """Full-width digits and punctuation (a Chinese keyboard's) as ASCII, spaces trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _scanner_ready() -> bool:
    """The shared camera scanner (``scanner.js``) is there: the scan page offers the camera."""
    return (STATIC / "scanner.js").is_file()


# -- my activities ---------------------------------------------------------------------------


@get("/organizer", name="web:organizer", **PAGE)
async def my_activities(request: Request) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    now = activities.now()
    groups: dict[str, list[activities.ManagedActivity]] = {
        "ongoing": [], "upcoming": [], "ended": [], "cancelled": [],
    }
    for item in await activities.managed(me):
        found = item.activity
        if found.status == "cancelled":
            groups["cancelled"].append(item)
        elif found.ends_at < now:
            groups["ended"].append(item)
        elif found.starts_at > now:
            groups["upcoming"].append(item)
        else:
            groups["ongoing"].append(item)
    # Upcoming ones read best soonest first; the service lists newest first.
    groups["upcoming"].reverse()
    return page(request, "organizer/index.html", groups=groups)


# -- the activity form: create and edit ----------------------------------------------------------


@dataclass
class ActivityForm:
    """What the organizer typed into the activity form, as text (shown again if refused)."""

    values: dict[str, str]
    grid_ids: list[str]
    building_ids: list[str]
    requires_approval: bool


async def _typed_form(request: Request) -> tuple[ActivityForm, dict[str, str]]:
    fields = await form_fields(request)
    form = await request.form()
    typed = ActivityForm(
        values={name: fields.get(name, "") for name in ACTIVITY_FIELDS},
        grid_ids=[str(v)[:20] for v in form.getall("grid_ids", [])][:200],
        building_ids=[str(v)[:20] for v in form.getall("building_ids", [])][:200],
        requires_approval=fields.get("requires_approval", "") == "on",
    )
    return typed, fields


def _typed_from(activity: ActivityView) -> ActivityForm:
    return ActivityForm(
        values={
            "title": activity.title, "category": activity.category, "location": activity.location,
            "starts_at": activity.starts_at.astimezone(CHINA).strftime(LOCAL_INPUT),
            "ends_at": activity.ends_at.astimezone(CHINA).strftime(LOCAL_INPUT),
            "points_per_checkin": activity.points_per_checkin,
            "points_per_hour": activity.points_per_hour,
            "max_hours": activity.max_hours or "",
            "capacity": "" if activity.capacity is None else str(activity.capacity),
            "team_id": "" if activity.team_id is None else str(activity.team_id),
        },
        grid_ids=[str(i) for i in activity.grid_ids],
        building_ids=[str(i) for i in activity.building_ids],
        requires_approval=activity.requires_approval,
    )


def _blank_form() -> ActivityForm:
    """A new activity: starting at the next full hour, for two hours (Beijing time)."""
    start = (activities.now().astimezone(CHINA) + timedelta(hours=1)).replace(
        minute=0, second=0, microsecond=0
    )
    values = dict.fromkeys(ACTIVITY_FIELDS, "")
    values |= {"starts_at": start.strftime(LOCAL_INPUT),
               "ends_at": (start + timedelta(hours=2)).strftime(LOCAL_INPUT)}
    return ActivityForm(values=values, grid_ids=[], building_ids=[], requires_approval=False)


def _parse(typed: ActivityForm, language: i18n.Language) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's values as the service takes them, and what could not even be read
    (field name → what is wrong with it, in the reader's language)."""
    v = typed.values
    errors: dict[str, str] = {}
    out: dict[str, Any] = {
        "title": v["title"], "location": v["location"],
        "requires_approval": typed.requires_approval,
    }
    # A built-in kind or a catalogue's name: the service knows which names are offered.
    if not v["category"]:
        errors["category"] = i18n.translate(language, "Choose the kind of activity.")
    else:
        out["category"] = v["category"]
    for name in ("starts_at", "ends_at"):
        try:
            moment = datetime.fromisoformat(_typed(v[name]))
        except ValueError:
            errors[name] = i18n.translate(language, "Enter a date and a time.")
            continue
        # The form is in Beijing time, whatever the phone's own time zone is.
        out[name] = moment if moment.tzinfo else moment.replace(tzinfo=CHINA)
    for name in ("points_per_checkin", "points_per_hour", "max_hours"):
        text = _typed(v[name])
        if not text:
            if name != "max_hours":
                errors[name] = i18n.translate(language, "Enter a number of points (0 for none).")
            continue
        try:
            amount = Decimal(text)
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite():
            errors[name] = i18n.error_text(language, "invalid_activity_amount")
        else:
            out[name] = amount
    capacity = _typed(v["capacity"])
    if capacity:
        if not capacity.isdigit():
            errors["capacity"] = i18n.error_text(language, "invalid_capacity")
        else:
            out["capacity"] = int(capacity)
    if team := _typed(v["team_id"]):
        if not team.isdigit():
            errors["team_id"] = i18n.error_text(language, "invalid_audience")
        else:
            out["team_id"] = int(team)
    for name, chosen in (("grid_ids", typed.grid_ids), ("building_ids", typed.building_ids)):
        if not all(item.isdigit() for item in chosen):
            errors[name] = i18n.error_text(language, "invalid_audience")
        else:
            out[name] = [int(item) for item in chosen]
    return out, errors


async def _building_choices(community_id: int) -> list[dict[str, Any]]:
    """The community's buildings, named with their compound ("幸福小区 3号楼")."""
    compounds = {c.id: c.name for c in await structure.list_compounds(community_id)}
    return [
        {"id": b.id, "name": f"{compounds.get(b.compound_id, '')} {b.name}".strip()}
        for b in await structure.list_buildings(community_id)
    ]


async def _audience_choices(community_id: int) -> dict[str, Any]:
    """The community's volunteer teams, grids and buildings, for "who may check in"."""
    return {
        "teams": await structure.list_teams(community_id),
        "grids": await structure.list_grids(community_id),
        "buildings": await _building_choices(community_id),
    }


async def _form_page(
    request: Request, me: Principal, typed: ActivityForm, *, activity: ActivityView | None = None,
    status: int = 200, errors: dict[str, str] | None = None, problem: str | None = None,
    locked: bool = False,
) -> Template:
    """The activity form; ``locked``: an activity that can no longer be edited (no form then)."""
    action = f"{BASE}/{activity.id}/edit" if activity else f"{BASE}/new"
    return page(
        request, "organizer/form.html", status=status, activity=activity, action=action,
        locked=locked, earning_categories=await categories.list_categories(me.community_id,
                                                                           archived=False),
        form=typed.values, grid_ids=set(typed.grid_ids), building_ids=set(typed.building_ids),
        requires_approval=typed.requires_approval, errors=errors or {}, problem=problem,
        max_rate=f"{activities.MAX_RATE:f}", **await _audience_choices(me.community_id),
    )


def _refusal(error: MarketError, language: i18n.Language) -> tuple[dict[str, str], str | None]:
    """A service's refusal: under its field when the form has that field, else at the top
    (each field of a refusal of several, ``InvalidFields``, under its own)."""
    errors: dict[str, str] = {}
    problems: list[str] = []
    for one in getattr(error, "errors", None) or [error]:
        text = i18n.error_text(language, one.reason, **one.params)
        if one.field in ACTIVITY_FIELDS:
            errors.setdefault(one.field, text)
        else:
            problems.append(text)
    return errors, " ".join(problems) or None


async def _all_errors(
    me: Principal, values: dict[str, Any], errors: dict[str, str], language: i18n.Language,
    current: str | None = None,
) -> dict[str, str]:
    """What the form could not read, and everything the service would refuse in what it could,
    each under its field: one round shows every mistake (price −3 and stock −10 together)."""
    found = dict(errors)
    for error in await activities.problems(me, ActivityChanges(**values), current):
        if error.field in ACTIVITY_FIELDS and error.field not in found:
            found[error.field] = i18n.error_text(language, error.reason, **error.params)
    return found


@get(f"{BASE}/new", name="web:organizer:new", **PAGE)
async def new_activity_form(request: Request) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    return await _form_page(request, me, _blank_form())


async def _prefilled(me: Principal, typed: ActivityForm) -> ActivityForm:
    """Rates left empty take the chosen earning category's (the page's script fills them in
    as the category is chosen; without script, this does)."""
    chosen = {c.name: c for c in await categories.list_categories(me.community_id, archived=False)}
    if (category := chosen.get(typed.values["category"])) is not None:
        for name in ("points_per_checkin", "points_per_hour"):
            if not _typed(typed.values[name]):
                typed.values[name] = getattr(category, name)
    return typed


@post(f"{BASE}/new", status_code=303, **PAGE)
async def create_activity(request: Request) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    language = i18n.language_of(request)
    typed, fields = await _typed_form(request)
    typed = await _prefilled(me, typed)
    values, errors = _parse(typed, language)
    try:
        check_csrf(request, fields)
        errors = await _all_errors(me, values, errors, language)
        if errors:
            return await _form_page(request, me, typed, status=400, errors=errors)
        made = await activities.create(me, NewActivity(**values))
    except MarketError as error:
        field_errors, problem = _refusal(error, language)
        return await _form_page(request, me, typed, status=error.status, errors=field_errors,
                                problem=problem)
    return Redirect(f"{BASE}/{made.id}?created=1", status_code=303)


def _editable(activity: ActivityView, stays: list[StayView]) -> bool:
    """As the service decides: scheduled, not started, nobody checked in yet."""
    return activity.status == "scheduled" and activities.now() < activity.starts_at and not stays


@get(f"{BASE}/{{activity_id:int}}/edit", name="web:organizer:edit", **PAGE)
async def edit_activity_form(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    activity = await activities.get_managed(me, activity_id)
    stays = (await activities.attendance(me, activity_id)).items
    if not _editable(activity, stays):
        language = i18n.language_of(request)
        reason = "activity_cancelled" if activity.status == "cancelled" else "already_started"
        return await _form_page(request, me, _typed_from(activity), activity=activity, status=409,
                                problem=i18n.error_text(language, reason), locked=True)
    return await _form_page(request, me, _typed_from(activity), activity=activity)


def _cleared(
    activity: ActivityView, values: dict[str, Any], language: i18n.Language
) -> dict[str, str]:
    """Limits the form emptied: the service keeps a field it is not given, so say so instead."""
    errors: dict[str, str] = {}
    if activity.max_hours is not None and "max_hours" not in values:
        errors["max_hours"] = i18n.translate(
            language, "A limit cannot be removed once set; enter a larger number instead.")
    if activity.capacity is not None and "capacity" not in values:
        errors["capacity"] = i18n.translate(
            language, "A limit cannot be removed once set; enter a larger number instead.")
    if activity.team_id is not None and "team_id" not in values:
        errors["team_id"] = i18n.translate(
            language, "The volunteer team cannot be removed once chosen.")
    return errors


@post(f"{BASE}/{{activity_id:int}}/edit", status_code=303, **PAGE)
async def edit_activity(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    language = i18n.language_of(request)
    activity = await activities.get_managed(me, activity_id)
    typed, fields = await _typed_form(request)
    values, errors = _parse(typed, language)
    errors |= {k: v for k, v in _cleared(activity, values, language).items() if k not in errors}
    try:
        check_csrf(request, fields)
        errors = await _all_errors(me, values, errors, language, current=activity.category)
        if errors:
            return await _form_page(request, me, typed, activity=activity, status=400, errors=errors)
        await activities.update(me, activity_id, ActivityChanges(**values))
    except MarketError as error:
        field_errors, problem = _refusal(error, language)
        return await _form_page(request, me, typed, activity=activity, status=error.status,
                                errors=field_errors, problem=problem)
    return Redirect(f"{BASE}/{activity_id}?saved=1", status_code=303)


# -- the activity: details, live attendance, check-in by code, approvals ---------------------------


def _notice(request: Request, stays: list[StayView]) -> dict[str, Any] | None:
    """What the last action did, from the redirect's query (only ever shown to its reader)."""
    query = request.query_params
    people = {stay.person_id: stay for stay in stays}
    if query.get("created"):
        return {"kind": "created"}
    if query.get("saved"):
        return {"kind": "saved"}
    if (person := _int(query.get("scanned"))) in people:
        direction = "out" if query.get("direction") == "out" else "in"
        points = query.get("points", "")
        return {"kind": "scanned", "stay": people[person], "direction": direction,
                "duplicate": query.get("duplicate") == "1", "assisted": query.get("assisted") == "1",
                "points": points if POINTS_SHOWN.match(points) else None}
    if (count := _int(query.get("approved"))) is not None:
        credited = query.get("credited", "")
        return {"kind": "approved", "count": count,
                "credited": credited if POINTS_SHOWN.match(credited) else "0.00"}
    if (count := _int(query.get("rejected"))) is not None:
        return {"kind": "rejected", "count": count}
    if (person := _int(query.get("hours"))) in people:
        return {"kind": "hours", "stay": people[person]}
    if query.get("cancelled"):
        return {"kind": "cancelled", "reversed": _int(query.get("reversed")) or 0,
                "not_reversed": _int(query.get("not_reversed")) or 0}
    return None


def _tally(stays: list[StayView]) -> dict[str, int]:
    return {
        "came": len(stays),
        "present": sum(stay.status == "in" for stay in stays),
        "pending": sum(stay.approval == "pending" for stay in stays),
    }


def _scan_window(activity: ActivityView) -> str:
    """Is the activity open for check-in now: "before", "open", "checkout" (out only) or "after"."""
    now = activities.now()
    if now < activity.starts_at - activities.CHECKIN_EARLY:
        return "before"
    if now <= activity.ends_at:
        return "open"
    if now <= activity.ends_at + activities.CHECKOUT_LATE:
        return "checkout"
    return "after"


async def _activity_page(
    request: Request, me: Principal, activity_id: int, *, status: int = 200,
    problem: str | None = None, member_code: str = "", direction: str = "in",
) -> Template:
    activity = await activities.get_managed(me, activity_id)
    listed = await activities.attendance(me, activity_id)
    stays = listed.items
    return page(
        request, "organizer/activity.html", status=status, activity=activity, stays=stays,
        assisted=listed.assisted, buildings=await _building_choices(me.community_id),
        tally=_tally(stays), notice=None if problem else _notice(request, stays),
        editable=_editable(activity, stays), window=_scan_window(activity), problem=problem,
        member_code=member_code, direction=direction, as_of=activities.now(),
    )


@get(f"{BASE}/{{activity_id:int}}", name="web:organizer:activity", **PAGE)
async def activity_page(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    return await _activity_page(request, me, activity_id)


async def _scan_page(
    request: Request, me: Principal, activity_id: int, *, status: int = 200,
    problem: str | None = None, member_code: str = "", direction: str | None = None,
) -> Template:
    activity = await activities.get_managed(me, activity_id)
    stays = (await activities.attendance(me, activity_id)).items
    if direction not in ("in", "out"):
        direction = "out" if request.query_params.get("direction") == "out" else "in"
    return page(
        request, "organizer/scan.html", status=status, activity=activity, tally=_tally(stays),
        notice=None if problem else _notice(request, stays), problem=problem,
        member_code=member_code, direction=direction, window=_scan_window(activity),
        scanner=_scanner_ready(),
    )


@get(f"{BASE}/{{activity_id:int}}/scan", name="web:organizer:scan", **PAGE)
async def scan_page(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    return await _scan_page(request, me, activity_id)


@post(f"{BASE}/{{activity_id:int}}/attendance", status_code=303, **PAGE)
async def attend(
    request: Request, activity_id: FromPath[int], ledger: NamedDependency[Ledger],
    settings: NamedDependency[Settings],
) -> Template | Redirect:
    """Check a resident in or out by the member code or card scanned (or typed) here."""
    me = page_member(request, ORGANIZER, ADMIN)
    fields = await form_fields(request)
    language = i18n.language_of(request)
    code = fields.get("member_code", "").strip()
    direction = "out" if fields.get("direction") == "out" else "in"
    back = "scan" if fields.get("back") == "scan" else "activity"
    shown = _scan_page if back == "scan" else _activity_page

    def again(status: int, problem: str) -> Any:
        return shown(request, me, activity_id, status=status, problem=problem, member_code=code,
                     direction=direction)

    try:
        check_csrf(request, fields)
        if not code:
            return await again(400, i18n.translate(language, "Scan or type the member code first."))
        if is_card_no(_typed(code)):
            # The number printed on a card is no proof the resident is here; its QR code is.
            return await again(400, i18n.translate(
                language, "That is a card number, which alone proves nothing. Scan the QR code on the card "
                          "or the phone's member code, or check the resident in by name and room."))
        result = await activities.attend(ledger, me, settings, activity_id, code, direction)
    except MarketError as error:
        return await again(error.status, i18n.error_text(language, error.reason, **error.params))
    # Whose code it was, for the page that says so: the code was accepted a moment ago.
    try:
        member = await cards.resolve_member_code(me.community_id, code, settings=settings,
                                                 now=activities.now())
        person: int | str = member.person_id
    except MarketError:
        person = ""
    target = f"{BASE}/{activity_id}" + ("/scan" if back == "scan" else "")
    query = (f"?scanned={person}&direction={direction}&points={result.points}"
             f"&duplicate={int(result.duplicate)}")
    return Redirect(target + query, status_code=303)


@post(f"{BASE}/{{activity_id:int}}/approve", status_code=303, **PAGE)
async def approve(
    request: Request, activity_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    """Approve one person's pending stay, or every pending stay (no person given)."""
    me = page_member(request, ORGANIZER, ADMIN)
    fields = await form_fields(request)
    language = i18n.language_of(request)
    person = _int(fields.get("person_id"))
    try:
        check_csrf(request, fields)
        done = await activities.approve(ledger, me, activity_id, None if person is None else [person])
    except MarketError as error:
        return await _activity_page(request, me, activity_id, status=error.status,
                                    problem=i18n.error_text(language, error.reason, **error.params))
    return Redirect(f"{BASE}/{activity_id}?approved={done.count}&credited={done.credited}",
                    status_code=303)


async def _stay_of(me: Principal, activity_id: int, person_id: int | None) -> StayView | None:
    stays = (await activities.attendance(me, activity_id)).items
    return next((stay for stay in stays if stay.person_id == person_id), None)


async def _review_page(
    request: Request, me: Principal, activity_id: int, template: str, *, status: int = 200,
    problem: str | None = None, errors: dict[str, str] | None = None, **typed: str,
) -> Template:
    """The reject and set-hours forms: one person's stay, a reason, and what was typed."""
    activity = await activities.get_managed(me, activity_id)
    person = _int(request.query_params.get("person") or typed.get("person_id"))
    stay = await _stay_of(me, activity_id, person)
    language = i18n.language_of(request)
    if stay is None and problem is None:
        status, problem = 404, i18n.error_text(language, "not_found")
    elif (template == "organizer/hours.html" and stay is not None and stay.status != "closed"
          and problem is None):
        # Said before the organizer types anything: the service would refuse it.
        status, problem = 409, i18n.error_text(language, "not_closed")
    return page(request, template, status=status, activity=activity, stay=stay, problem=problem,
                errors=errors or {}, typed=typed)


@get(f"{BASE}/{{activity_id:int}}/reject", name="web:organizer:reject", **PAGE)
async def reject_form(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    return await _review_page(request, me, activity_id, "organizer/reject.html")


@post(f"{BASE}/{{activity_id:int}}/reject", status_code=303, **PAGE)
async def reject(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    fields = await form_fields(request)
    language = i18n.language_of(request)
    person = _int(fields.get("person_id"))
    reason = fields.get("reason", "")
    try:
        check_csrf(request, fields)
        if person is None:
            raise NotFound()
        done = await activities.reject(me, activity_id, [person], reason)
    except MarketError as error:
        text = i18n.error_text(language, error.reason, **error.params)
        errors = {"reason": text} if error.field == "reason" else {}
        return await _review_page(
            request, me, activity_id, "organizer/reject.html", status=error.status,
            problem=None if errors else text, errors=errors, reason=reason,
            person_id=str(person or ""),
        )
    return Redirect(f"{BASE}/{activity_id}?rejected={done.count}", status_code=303)


@get(f"{BASE}/{{activity_id:int}}/hours", name="web:organizer:hours", **PAGE)
async def hours_form(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    return await _review_page(request, me, activity_id, "organizer/hours.html")


@post(f"{BASE}/{{activity_id:int}}/hours", status_code=303, **PAGE)
async def set_hours(
    request: Request, activity_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    """The real hours of a stay that never checked out (closed for review), with a reason."""
    me = page_member(request, ORGANIZER, ADMIN)
    fields = await form_fields(request)
    language = i18n.language_of(request)
    person = _int(fields.get("person_id"))
    typed = {"hours": fields.get("hours", ""), "reason": fields.get("reason", ""),
             "person_id": str(person or "")}

    def again(status: int, field: str | None, text: str) -> Any:
        """The form again: the reason under its field, or at the top."""
        errors = {field: text} if field in ("hours", "reason") else {}
        return _review_page(request, me, activity_id, "organizer/hours.html", status=status,
                            problem=None if errors else text, errors=errors, **typed)

    try:
        check_csrf(request, fields)
        try:
            hours = Decimal(_typed(typed["hours"]))
        except InvalidOperation:
            hours = None
        if hours is None or not hours.is_finite():
            return await again(400, "hours", i18n.error_text(language, "invalid_activity_amount"))
        if person is None:
            raise NotFound()
        await activities.set_hours(ledger, me, activity_id, person, hours, typed["reason"])
    except MarketError as error:
        text = i18n.error_text(language, error.reason, **error.params)
        return await again(error.status, error.field, text)
    return Redirect(f"{BASE}/{activity_id}?hours={person}", status_code=303)


# -- assisted check-in: by name and room, for a resident with no card and no phone ------------------


@dataclass
class AssistSearch:
    """What the organizer searched for (kept through the confirm step and a refusal)."""

    name: str
    building: str
    room: str

    @property
    def query(self) -> str:
        return urlencode({"name": self.name, "building": self.building, "room": self.room})


def _search_of(values: Any) -> AssistSearch:
    return AssistSearch(name=str(values.get("name") or "")[:100],
                        building=str(values.get("building") or "")[:20],
                        room=str(values.get("room") or "")[:40])


async def _assist_page(
    request: Request, me: Principal, activity_id: int, search: AssistSearch, *,
    person_id: int | None = None, direction: str = "in", status: int = 200,
    problem: str | None = None,
) -> Template:
    """The search (name, building, room), its matches, and — a resident chosen — the confirm step."""
    language = i18n.language_of(request)
    activity = await activities.get_managed(me, activity_id)
    matches, chosen = None, None
    if person_id is not None:
        try:
            chosen = await activities.find_resident(me, activity_id, person_id)
        except NotFound:
            status, problem = 404, i18n.error_text(language, "not_found")
    elif search.name or search.building or search.room:
        building = _int(_typed(search.building))
        try:
            if search.building and building is None:
                raise InvalidInput("invalid_search", field="building_id")
            matches = (await activities.find_residents(
                me, activity_id, search.name, building, _typed(search.room))).items
        except MarketError as error:
            if problem is None:
                status, problem = error.status, i18n.error_text(language, error.reason, **error.params)
    return page(
        request, "organizer/assist.html", status=status, activity=activity, search=search,
        matches=matches, chosen=chosen, direction=direction, problem=problem,
        window=_scan_window(activity), buildings=await _building_choices(me.community_id),
    )


@get(f"{BASE}/{{activity_id:int}}/assist", name="web:organizer:assist", **PAGE)
async def assist_page(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    """Find a resident by name (and building, room); choosing one shows the confirm step."""
    me = page_member(request, ORGANIZER, ADMIN)
    query = request.query_params
    direction = "out" if query.get("direction") == "out" else "in"
    return await _assist_page(request, me, activity_id, _search_of(query),
                              person_id=_int(query.get("person")), direction=direction)


@post(f"{BASE}/{{activity_id:int}}/assist", status_code=303, **PAGE)
async def assist(
    request: Request, activity_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    """The confirm step's button: check the chosen resident in (or out), marked as assisted."""
    me = page_member(request, ORGANIZER, ADMIN)
    fields = await form_fields(request)
    language = i18n.language_of(request)
    person = _int(fields.get("person_id"))
    direction = "out" if fields.get("direction") == "out" else "in"
    search = _search_of(fields)
    try:
        check_csrf(request, fields)
        if person is None:
            raise NotFound(field="person_id")
        result = await activities.assist(ledger, me, activity_id, person, direction)
    except MarketError as error:
        return await _assist_page(
            request, me, activity_id, search, person_id=person, direction=direction,
            status=error.status, problem=i18n.error_text(language, error.reason, **error.params))
    query = (f"?scanned={person}&direction={direction}&points={result.points}"
             f"&duplicate={int(result.duplicate)}&assisted=1")
    return Redirect(f"{BASE}/{activity_id}{query}", status_code=303)


# -- cancelling, behind a confirmation page ----------------------------------------------------


@get(f"{BASE}/{{activity_id:int}}/cancel", name="web:organizer:cancel", **PAGE)
async def cancel_form(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    activity = await activities.get_managed(me, activity_id)
    stays = (await activities.attendance(me, activity_id)).items
    return page(request, "organizer/cancel.html", activity=activity, tally=_tally(stays),
                reason="", errors={}, problem=None)


@post(f"{BASE}/{{activity_id:int}}/cancel", status_code=303, **PAGE)
async def cancel(
    request: Request, activity_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    """Cancel the activity: the service reverses every credit it made, with the reason."""
    me = page_member(request, ORGANIZER, ADMIN)
    fields = await form_fields(request)
    language = i18n.language_of(request)
    reason = fields.get("reason", "")
    try:
        check_csrf(request, fields)
        done = await activities.cancel(ledger, me, activity_id, reason)
    except MarketError as error:
        activity = await activities.get_managed(me, activity_id)
        stays = (await activities.attendance(me, activity_id)).items
        text = i18n.error_text(language, error.reason, **error.params)
        errors = {"reason": text} if error.field == "reason" else {}
        return page(request, "organizer/cancel.html", status=error.status, activity=activity,
                    tally=_tally(stays), reason=reason, errors=errors,
                    problem=None if errors else text)
    return Redirect(
        f"{BASE}/{activity_id}?cancelled=1&reversed={done.reversed}"
        f"&not_reversed={done.not_reversed}", status_code=303,
    )


# -- the full-screen rotating code and the printable poster -------------------------------------


@get(f"{BASE}/{{activity_id:int}}/screen", name="web:organizer:screen", **PAGE)
async def screen(
    request: Request, activity_id: FromPath[int], settings: NamedDependency[Settings]
) -> Template | Redirect:
    """The rotating check-in code, big, for a projector or a phone held up at the door.

    The page fetches a fresh code every 30 s by itself (organizer.js); without JS it reloads."""
    me = page_member(request, ORGANIZER, ADMIN)
    activity = await activities.get_managed(me, activity_id)
    code = await activities.code(me, activity_id, settings, str(request.base_url))
    return page(request, "organizer/screen.html", activity=activity, code=code,
                window=_scan_window(activity))


@get(f"{BASE}/{{activity_id:int}}/poster", name="web:organizer:poster", **PAGE)
async def poster(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    """An A4 poster to print and put up: the fixed poster code, valid only around the window."""
    me = page_member(request, ORGANIZER, ADMIN)
    activity = await activities.get_managed(me, activity_id)
    community = await communities.get(me.community_id)
    return page(request, "organizer/poster.html", activity=activity,
                community=community.name if community else "")


PAGES = [
    my_activities, new_activity_form, create_activity, edit_activity_form, edit_activity,
    activity_page, scan_page, attend, approve, reject_form, reject, hours_form, set_hours,
    assist_page, assist, cancel_form, cancel, screen, poster,
]
