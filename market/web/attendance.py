"""An activity's page for its organizer: details, live attendance, checking in by scanning members'
codes and cards, checking in by name and room a resident with neither (assisted: search, then a
confirm step), approvals and rejections, hours by hand. Split from ``market.web.organizer`` (my
activities, the form, cancelling, the screen and the poster), whose helpers these pages share.
Handlers call ``market.activities.service``, which answers 404 for anyone else's activity; a
successful form redirects (303) to the activity's page with what happened in the query
(``?scanned=…``), so a reload never repeats it.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ledger import Ledger
from market.activities import service as activities
from market.activities.schemas import StayView
from market.auth.roles import ADMIN, ORGANIZER
from market.auth.sessions import Principal
from market.cards import service as cards
from market.errors import InvalidInput, MarketError, NotFound
from market.people.rules import is_card_no
from market.settings import Settings
from market.web import i18n
from market.web.forms import Form, check_csrf, form_fields, form_refusal, page, page_member
from market.web.organizer import (
    BASE,
    PAGE,
    POINTS_SHOWN,
    as_typed,
    building_choices,
    editable,
    scan_window,
    scanner_ready,
    tally,
    whole_number,
)

# -- the activity: details, live attendance, check-in by code, approvals ---------------------------


def _notice(request: Request, stays: list[StayView]) -> dict[str, Any] | None:
    """What the last action did, from the redirect's query (only ever shown to its reader)."""
    query = request.query_params
    people = {stay.person_id: stay for stay in stays}
    if query.get("created"):
        return {"kind": "created"}
    if query.get("saved"):
        return {"kind": "saved"}
    if (person := whole_number(query.get("scanned"))) in people:
        direction = "out" if query.get("direction") == "out" else "in"
        points = query.get("points", "")
        return {"kind": "scanned", "stay": people[person], "direction": direction,
                "duplicate": query.get("duplicate") == "1", "assisted": query.get("assisted") == "1",
                "points": points if POINTS_SHOWN.match(points) else None}
    if (count := whole_number(query.get("approved"))) is not None:
        credited = query.get("credited", "")
        return {"kind": "approved", "count": count,
                "credited": credited if POINTS_SHOWN.match(credited) else "0.00"}
    if (count := whole_number(query.get("rejected"))) is not None:
        return {"kind": "rejected", "count": count}
    if (person := whole_number(query.get("hours"))) in people:
        return {"kind": "hours", "stay": people[person]}
    if query.get("cancelled"):
        return {"kind": "cancelled", "reversed": whole_number(query.get("reversed")) or 0,
                "not_reversed": whole_number(query.get("not_reversed")) or 0}
    return None


async def _activity_page(
    request: Request, me: Principal, activity_id: int, *, status: int = 200,
    problem: str | None = None, member_code: str = "", direction: str = "in",
    errors: dict[str, str] | None = None, refusal: str | None = None,
) -> Template:
    activity = await activities.get_managed(me, activity_id)
    listed = await activities.attendance(me, activity_id)
    stays = listed.items
    return page(
        request, "organizer/activity.html", status=status, activity=activity, stays=stays,
        assisted=listed.assisted, buildings=await building_choices(me.community_id),
        tally=tally(stays), notice=None if problem else _notice(request, stays),
        editable=editable(activity, stays), window=scan_window(activity), problem=problem,
        errors=errors or {}, refusal=refusal, member_code=member_code, direction=direction,
        as_of=activities.now(),
    )


@get(f"{BASE}/{{activity_id:int}}", name="web:organizer:activity", **PAGE)
async def activity_page(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    return await _activity_page(request, me, activity_id)


async def _scan_page(
    request: Request, me: Principal, activity_id: int, *, status: int = 200,
    problem: str | None = None, member_code: str = "", direction: str | None = None,
    errors: dict[str, str] | None = None, refusal: str | None = None,
) -> Template:
    activity = await activities.get_managed(me, activity_id)
    stays = (await activities.attendance(me, activity_id)).items
    if direction not in ("in", "out"):
        direction = "out" if request.query_params.get("direction") == "out" else "in"
    return page(
        request, "organizer/scan.html", status=status, activity=activity, tally=tally(stays),
        notice=None if problem else _notice(request, stays), problem=problem, errors=errors or {},
        refusal=refusal, member_code=member_code, direction=direction, window=scan_window(activity),
        scanner=scanner_ready(),
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

    form = Form(request, partial(shown, request, me, activity_id, member_code=code, direction=direction),
                fields=("member_code",))

    try:
        check_csrf(request, fields)
        if not code:
            return await form.again(400, i18n.translate(language, "Scan or type the member code first."))
        if is_card_no(as_typed(code)):
            # The number printed on a card is no proof the resident is here; its QR code is.
            return await form.again(400, i18n.translate(
                language, "That is a card number, which alone proves nothing. Scan the QR code on the card "
                          "or the phone's member code, or check the resident in by name and room."))
        result = await activities.attend(ledger, me, settings, activity_id, code, direction)
    except MarketError as error:
        return await form.refused(error)
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
    person = whole_number(fields.get("person_id"))
    try:
        check_csrf(request, fields)
        done = await activities.approve(ledger, me, activity_id, None if person is None else [person])
    except MarketError as error:
        return await _activity_page(request, me, activity_id, status=error.status,
                                    problem=form_refusal(language, error).problem)
    return Redirect(f"{BASE}/{activity_id}?approved={done.count}&credited={done.credited}",
                    status_code=303)


async def _stay_of(me: Principal, activity_id: int, person_id: int | None) -> StayView | None:
    stays = (await activities.attendance(me, activity_id)).items
    return next((stay for stay in stays if stay.person_id == person_id), None)


async def _review_page(
    request: Request, me: Principal, activity_id: int, template: str, *, status: int = 200,
    problem: str | None = None, errors: dict[str, str] | None = None, refusal: str | None = None,
    **typed: str,
) -> Template:
    """The reject and set-hours forms: one person's stay, a reason, and what was typed."""
    activity = await activities.get_managed(me, activity_id)
    person = whole_number(request.query_params.get("person") or typed.get("person_id"))
    stay = await _stay_of(me, activity_id, person)
    language = i18n.language_of(request)
    if stay is None and problem is None:
        status, problem = 404, i18n.error_text(language, "not_found")
    elif (template == "organizer/hours.html" and stay is not None and stay.status != "closed"
          and problem is None):
        # Said before the organizer types anything: the service would refuse it.
        status, problem = 409, i18n.error_text(language, "not_closed")
    return page(request, template, status=status, activity=activity, stay=stay, problem=problem,
                errors=errors or {}, refusal=refusal, typed=typed)


@get(f"{BASE}/{{activity_id:int}}/reject", name="web:organizer:reject", **PAGE)
async def reject_form(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    return await _review_page(request, me, activity_id, "organizer/reject.html")


@post(f"{BASE}/{{activity_id:int}}/reject", status_code=303, **PAGE)
async def reject(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ORGANIZER, ADMIN)
    fields = await form_fields(request)
    person = whole_number(fields.get("person_id"))
    reason = fields.get("reason", "")
    form = Form(request, partial(_review_page, request, me, activity_id, "organizer/reject.html",
                                 reason=reason, person_id=str(person or "")), fields=("reason",))
    try:
        check_csrf(request, fields)
        if person is None:
            raise NotFound()
        done = await activities.reject(me, activity_id, [person], reason)
    except MarketError as error:
        return await form.refused(error)
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
    person = whole_number(fields.get("person_id"))
    typed = {"hours": fields.get("hours", ""), "reason": fields.get("reason", ""),
             "person_id": str(person or "")}

    form = Form(request, partial(_review_page, request, me, activity_id, "organizer/hours.html", **typed),
                fields=("hours", "reason"))

    try:
        check_csrf(request, fields)
        try:
            hours = Decimal(as_typed(typed["hours"]))
        except InvalidOperation:
            hours = None
        if hours is None or not hours.is_finite():
            return await form.refused(InvalidInput("invalid_activity_amount", field="hours"))
        if person is None:
            raise NotFound()
        await activities.set_hours(ledger, me, activity_id, person, hours, typed["reason"])
    except MarketError as error:
        return await form.refused(error)
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
        building = whole_number(as_typed(search.building))
        try:
            if search.building and building is None:
                raise InvalidInput("invalid_search", field="building_id")
            matches = (await activities.find_residents(
                me, activity_id, search.name, building, as_typed(search.room))).items
        except MarketError as error:
            if problem is None:
                status, problem = error.status, form_refusal(language, error).problem
    return page(
        request, "organizer/assist.html", status=status, activity=activity, search=search,
        matches=matches, chosen=chosen, direction=direction, problem=problem,
        window=scan_window(activity), buildings=await building_choices(me.community_id),
    )


@get(f"{BASE}/{{activity_id:int}}/assist", name="web:organizer:assist", **PAGE)
async def assist_page(request: Request, activity_id: FromPath[int]) -> Template | Redirect:
    """Find a resident by name (and building, room); choosing one shows the confirm step."""
    me = page_member(request, ORGANIZER, ADMIN)
    query = request.query_params
    direction = "out" if query.get("direction") == "out" else "in"
    return await _assist_page(request, me, activity_id, _search_of(query),
                              person_id=whole_number(query.get("person")), direction=direction)


@post(f"{BASE}/{{activity_id:int}}/assist", status_code=303, **PAGE)
async def assist(
    request: Request, activity_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    """The confirm step's button: check the chosen resident in (or out), marked as assisted."""
    me = page_member(request, ORGANIZER, ADMIN)
    fields = await form_fields(request)
    language = i18n.language_of(request)
    person = whole_number(fields.get("person_id"))
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
            status=error.status, problem=form_refusal(language, error).problem)
    query = (f"?scanned={person}&direction={direction}&points={result.points}"
             f"&duplicate={int(result.duplicate)}&assisted=1")
    return Redirect(f"{BASE}/{activity_id}{query}", status_code=303)


PAGES = [
    activity_page, scan_page, attend, approve, reject_form, reject, hours_form, set_hours, assist_page,
    assist,
]
