"""The organizer's pages: my activities, create and edit, cancelling, the full-screen rotating
code and the printable A4 poster (an activity's own page, its attendance and check-ins are in
``market.web.attendance``). The activity form shows every mistake at once, each under its field.

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
from functools import partial
from pathlib import Path
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ledger import Ledger
from market.activities import service as activities
from market.activities.schemas import ActivityChanges, ActivityView, NewActivity, StayView
from market.auth.roles import ADMIN, ORGANIZER
from market.auth.sessions import Principal
from market.china_time import CHINA
from market.community import service as communities
from market.community import structure
from market.errors import MarketError
from market.points import categories
from market.settings import Settings
from market.web import i18n
from market.web.forms import Form, check_csrf, form_fields, form_refusal, page, page_member

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


def as_typed(text: str) -> str:
    """Full-width digits and punctuation (a Chinese keyboard's) as ASCII, spaces trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def whole_number(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def scanner_ready() -> bool:
    """The shared camera scanner (``scanner.js``) is there: the scan page offers the camera."""
    return (STATIC / "scanner.js").is_file()


def tally(stays: list[StayView]) -> dict[str, int]:
    return {
        "came": len(stays),
        "present": sum(stay.status == "in" for stay in stays),
        "pending": sum(stay.approval == "pending" for stay in stays),
    }



def scan_window(activity: ActivityView) -> str:
    """Is the activity open for check-in now: "before", "open", "checkout" (out only) or "after"."""
    now = activities.now()
    if now < activity.starts_at - activities.CHECKIN_EARLY:
        return "before"
    if now <= activity.ends_at:
        return "open"
    if now <= activity.ends_at + activities.CHECKOUT_LATE:
        return "checkout"
    return "after"



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
            moment = datetime.fromisoformat(as_typed(v[name]))
        except ValueError:
            errors[name] = i18n.translate(language, "Enter a date and a time.")
            continue
        # The form is in Beijing time, whatever the phone's own time zone is.
        out[name] = moment if moment.tzinfo else moment.replace(tzinfo=CHINA)
    for name in ("points_per_checkin", "points_per_hour", "max_hours"):
        text = as_typed(v[name])
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
    capacity = as_typed(v["capacity"])
    if capacity:
        if not capacity.isdigit():
            errors["capacity"] = i18n.error_text(language, "invalid_capacity")
        else:
            out["capacity"] = int(capacity)
    if team := as_typed(v["team_id"]):
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


async def building_choices(community_id: int) -> list[dict[str, Any]]:
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
        "buildings": await building_choices(community_id),
    }


async def _form_page(
    request: Request, me: Principal, typed: ActivityForm, *, activity: ActivityView | None = None,
    status: int = 200, errors: dict[str, str] | None = None, problem: str | None = None,
    refusal: str | None = None, locked: bool = False,
) -> Template:
    """The activity form; ``locked``: an activity that can no longer be edited (no form then)."""
    action = f"{BASE}/{activity.id}/edit" if activity else f"{BASE}/new"
    return page(
        request, "organizer/form.html", status=status, activity=activity, action=action,
        locked=locked, earning_categories=await categories.list_categories(me.community_id,
                                                                           archived=False),
        form=typed.values, grid_ids=set(typed.grid_ids), building_ids=set(typed.building_ids),
        requires_approval=typed.requires_approval, errors=errors or {}, problem=problem, refusal=refusal,
        max_rate=f"{activities.MAX_RATE:f}", **await _audience_choices(me.community_id),
    )


async def _all_errors(
    me: Principal, values: dict[str, Any], errors: dict[str, str], language: i18n.Language,
    current: str | None = None,
) -> dict[str, str]:
    """What the form could not read, and everything the service would refuse in what it could,
    each under its field: one round shows every mistake (price −3 and stock −10 together)."""
    found = dict(errors)
    for error in await activities.problems(me, ActivityChanges(**values), current):
        if error.field in ACTIVITY_FIELDS and error.field not in found:
            found[error.field] = form_refusal(language, error).problem
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
            if not as_typed(typed.values[name]):
                typed.values[name] = getattr(category, name)
    return typed


@post(f"{BASE}/new", status_code=303, **PAGE)
async def create_activity(request: Request) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    language = i18n.language_of(request)
    typed, fields = await _typed_form(request)
    typed = await _prefilled(me, typed)
    values, errors = _parse(typed, language)
    form = Form(request, partial(_form_page, request, me, typed), fields=ACTIVITY_FIELDS)
    try:
        check_csrf(request, fields)
        errors = await _all_errors(me, values, errors, language)
        if errors:
            return await form.again(400, None, errors)
        made = await activities.create(me, NewActivity(**values))
    except MarketError as error:
        return await form.refused(error)
    return Redirect(f"{BASE}/{made.id}?created=1", status_code=303)


def editable(activity: ActivityView, stays: list[StayView]) -> bool:
    """As the service decides: scheduled, not started, nobody checked in yet."""
    return activity.status == "scheduled" and activities.now() < activity.starts_at and not stays


@get(f"{BASE}/{{activity_id:int}}/edit", name="web:organizer:edit", **PAGE)
async def edit_activity_form(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    activity = await activities.get_managed(me, activity_id)
    stays = (await activities.attendance(me, activity_id)).items
    if not editable(activity, stays):
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
    form = Form(request, partial(_form_page, request, me, typed, activity=activity), fields=ACTIVITY_FIELDS)
    try:
        check_csrf(request, fields)
        errors = await _all_errors(me, values, errors, language, current=activity.category)
        if errors:
            return await form.again(400, None, errors)
        await activities.update(me, activity_id, ActivityChanges(**values))
    except MarketError as error:
        return await form.refused(error)
    return Redirect(f"{BASE}/{activity_id}?saved=1", status_code=303)


# -- cancelling, behind a confirmation page ----------------------------------------------------


@get(f"{BASE}/{{activity_id:int}}/cancel", name="web:organizer:cancel", **PAGE)
async def cancel_form(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    activity = await activities.get_managed(me, activity_id)
    stays = (await activities.attendance(me, activity_id)).items
    return page(request, "organizer/cancel.html", activity=activity, tally=tally(stays),
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
        text = form_refusal(language, error).problem
        errors = {"reason": text} if error.field == "reason" else {}
        return page(request, "organizer/cancel.html", status=error.status, activity=activity,
                    tally=tally(stays), reason=reason, errors=errors,
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
                window=scan_window(activity))


@get(f"{BASE}/{{activity_id:int}}/poster", name="web:organizer:poster", **PAGE)
async def poster(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    """An A4 poster to print and put up: the fixed poster code, valid only around the window."""
    me = page_member(request, ORGANIZER, ADMIN)
    activity = await activities.get_managed(me, activity_id)
    community = await communities.get(me.community_id)
    return page(request, "organizer/poster.html", activity=activity,
                community=community.name if community else "")


PAGES = [
    my_activities, new_activity_form, create_activity, edit_activity_form, edit_activity, cancel_form,
    cancel, screen, poster,
]
