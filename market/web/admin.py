"""The admin's pages: community structure, people and roles, roster import, printable member
cards, point adjustments, ledger verification, the shop's opening rules.

Like the resident's pages, handlers call the services directly (people, roles, roster,
cards, points, the shop's rules), which scope every read and write by the admin's
community. A refused form is shown again with the reason in the reader's language and
what was typed still in it, except passwords and PINs, which are never echoed into a
page. Success redirects (POST-redirect-GET) to a page that says what happened.
"""

import secrets
import time
import unicodedata
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ledger import Ledger, LedgerError
from market.auth.hashing import SecretHasher
from market.auth.limiter import LoginLimiter
from market.auth.roles import ADMIN, RESIDENT, ROLES
from market.auth.sessions import Principal
from market.cards import service as cards
from market.community import structure
from market.errors import LEDGER_STATUS, InvalidInput, MarketError, NotFound
from market.paging import parse_cursor
from market.people import import_jobs, roles_service, roster
from market.people import rules as person_rules
from market.people import service as people
from market.points import service as points
from market.settings import Settings
from market.shop import rules as shop_rules
from market.web import i18n
from market.web.forms import check_csrf, form_fields, page, page_member, signed_in

PAGE = {"include_in_schema": False}
PEOPLE_PAGE = 20
HOUSEHOLD_PAGE = 50
CARDS_PER_SHEET = 40
#: A4 holds ten ID-1 cards (85.6 × 54 mm), two across and five down.
CARDS_PER_A4 = 10
#: A ledger verification replays the whole log, so the dashboard shows one at most this old.
VERIFY_FRESH_SECONDS = 300
#: Role order on the pages: the people a community has most of, first.
ROLE_ORDER = ("resident", "organizer", "shopkeeper", "admin")
STRUCTURE_KINDS = ("compound", "building", "grid", "team", "household")
#: Room for the multipart envelope around a roster of the largest accepted size.
_ENVELOPE = 64 * 1024

assert set(ROLE_ORDER) == ROLES


def _say(request: Request, error: MarketError | LedgerError) -> str:
    """A refusal in the reader's language, with the parameters its message names."""
    params = getattr(error, "params", {})
    return i18n.error_text(
        i18n.language_of(request), error.reason,
        **{"field": getattr(error, "field", None) or "", **params},
    )


async def _all(request: Request, name: str) -> list[str]:
    """Every value of a form field sent more than once (ticked check boxes); none ticked: []."""
    return [str(value)[:50] for value in (await request.form()).getall(name, [])][:20]


def _id(text: str | None) -> int | None:
    """A record id typed into a URL or chosen in a form; None when there is none."""
    text = (text or "").strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise InvalidInput("invalid_input", field="id")
    return int(text)


def _digits(text: str) -> str:
    """Full-width digits (a Chinese keyboard's) become ASCII; spaces and dashes go."""
    return "".join(unicodedata.normalize("NFKC", text).split()).replace("-", "")


def _amount(text: str) -> Decimal:
    """An exact amount as typed: "12.5", "+3", "-2.25", "－５"; never a float."""
    typed = unicodedata.normalize("NFKC", text).replace("\u2212", "-").replace(" ", "")
    if not typed or len(typed) > 20:
        raise InvalidInput("invalid_amount", field="amount")
    try:
        value = Decimal(typed)
    except InvalidOperation:
        raise InvalidInput("invalid_amount", field="amount") from None
    if not value.is_finite():
        raise InvalidInput("invalid_amount", field="amount")
    return value


# -- the dashboard ------------------------------------------------------------------------------


@dataclass
class _Verified:
    at: datetime
    monotonic: float
    result: points.VerifyResult


#: Per ledger (the app's), per community: the last check of that community's chain and books.
_verified: "weakref.WeakKeyDictionary[Ledger, dict[int, _Verified]]" = weakref.WeakKeyDictionary()


async def _verification(ledger: Ledger, community_id: int, fresh: bool) -> _Verified:
    """The community's last verification if recent, else a new one (``fresh``: always new)."""
    checks = _verified.setdefault(ledger, {})
    known = checks.get(community_id)
    if fresh or known is None or time.monotonic() - known.monotonic > VERIFY_FRESH_SECONDS:
        result = await points.verify(ledger, community_id)
        known = _Verified(at=datetime.now(UTC), monotonic=time.monotonic(), result=result)
        checks[community_id] = known
    return known


@get("/admin", name="web:admin", **PAGE)
async def dashboard(request: Request, ledger: NamedDependency[Ledger]) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fresh = request.query_params.get("verify") == "now"
    verified = await _verification(ledger, me.community_id, fresh)
    totals = await points.transparency(ledger, me.community_id)
    return page(request, "admin/dashboard.html", verified=verified, totals=totals, fresh=fresh)


# -- the community's structure ---------------------------------------------------------------------


async def _structure_page(
    request: Request, me: Principal, *, status: int = 200, errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    cursor = request.query_params.get("cursor") or None
    compounds = await structure.list_compounds(me.community_id)
    buildings = await structure.list_buildings(me.community_id)
    grids = await structure.list_grids(me.community_id)
    teams = await structure.list_teams(me.community_id)
    households = await structure.list_households(
        me.community_id, limit=HOUSEHOLD_PAGE, after=parse_cursor(cursor)
    )
    compound_names = {c.id: c.name for c in compounds}
    return page(
        request, "admin/structure.html", status=status, compounds=compounds, buildings=buildings,
        grids=grids, teams=teams, households=households, first_page=cursor is None,
        compound_names=compound_names,
        building_names={b.id: f"{compound_names.get(b.compound_id, '')} {b.name}" for b in buildings},
        grid_names={g.id: g.name for g in grids},
        errors=errors or {}, values=values or {}, added=request.query_params.get("added"),
    )


@get("/admin/structure", name="web:admin-structure", **PAGE)
async def structure_page(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    return await _structure_page(request, me)


async def _add_to_structure(me: Principal, kind: str, fields: dict[str, str]) -> None:
    cid = me.community_id
    if kind == "compound":
        await structure.create_compound(cid, fields.get("compound_name", ""))
    elif kind == "building":
        compound = _id(fields.get("building_compound"))
        if compound is None:
            raise InvalidInput("invalid_input", field="compound_id")
        await structure.create_building(cid, compound, fields.get("building_name", ""))
    elif kind == "grid":
        await structure.create_grid(cid, fields.get("grid_name", ""))
    elif kind == "team":
        await structure.create_team(cid, fields.get("team_name", ""))
    else:  # a household
        building = _id(fields.get("household_building"))
        if building is None:
            raise InvalidInput("invalid_input", field="building_id")
        await structure.create_household(
            cid, building, fields.get("household_unit", ""), fields.get("household_room", ""),
            _id(fields.get("household_grid")),
        )


@post("/admin/structure", status_code=303, **PAGE)
async def add_to_structure(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    kind = fields.get("kind", "")
    if kind not in STRUCTURE_KINDS:
        raise InvalidInput("invalid_input", field="kind")
    try:
        await _add_to_structure(me, kind, fields)
    except MarketError as error:
        return await _structure_page(
            request, me, status=error.status, errors={kind: _say(request, error)}, values=fields
        )
    return Redirect(f"/admin/structure?added={kind}#{kind}", status_code=303)


# -- people ---------------------------------------------------------------------------------------


@get("/admin/people", name="web:admin-people", **PAGE)
async def people_page(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    q = (request.query_params.get("q") or "").strip()[:50]
    cursor = request.query_params.get("cursor") or None
    query = _digits(q) if _digits(q).isdigit() else q
    found = await people.list_people(me.community_id, q=query or None, limit=PEOPLE_PAGE,
                                     cursor=cursor)
    return page(request, "admin/people.html", q=q, found=found, first_page=cursor is None,
                role_order=ROLE_ORDER)


def _new_person_page(request: Request, *, status: int = 200, values: dict | None = None,
                     roles: list[str] | None = None, problem: str | None = None,
                     bad_field: str | None = None, buildings: list | None = None) -> Template:
    return page(request, "admin/person_new.html", status=status, values=values or {},
                chosen=set(roles if roles is not None else [RESIDENT]), problem=problem,
                bad_field=bad_field, buildings=buildings or [], role_order=ROLE_ORDER)


async def _building_choices(community_id: int) -> list[tuple[int, str]]:
    compounds = {c.id: c.name for c in await structure.list_compounds(community_id)}
    return [
        (b.id, f"{compounds.get(b.compound_id, '')} {b.name}")
        for b in await structure.list_buildings(community_id)
    ]


@get("/admin/people/new", name="web:admin-person-new", **PAGE)
async def new_person_form(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    return _new_person_page(request, buildings=await _building_choices(me.community_id))


async def _household_for(me: Principal, fields: dict[str, str]) -> int | None:
    """The household at the address typed into the form, created if it is new."""
    building = _id(fields.get("building"))
    if building is None:
        return None
    unit, room = fields.get("unit", ""), fields.get("room", "")
    found = await structure.find_household(me.community_id, building, unit, room)
    if found is not None:
        return found.id
    return (await structure.create_household(me.community_id, building, unit, room)).id


@post("/admin/people/new", status_code=303, **PAGE)
async def create_person(
    request: Request, hasher: NamedDependency[SecretHasher], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    chosen = await _all(request, "roles")
    values = {key: fields.get(key, "") for key in ("name", "phone", "building", "unit", "room")}
    values["phone"] = _digits(values["phone"])
    password = fields.get("password") or None
    pin = _digits(fields.get("pin", "")) or None
    if not values["building"] and (values["unit"].strip() or values["room"].strip()):
        return _new_person_page(
            request, status=400, values=values, roles=chosen, bad_field="building_id",
            problem=i18n.translate(i18n.language_of(request),
                                   "Choose the building of the address, or leave the unit and room empty."),
            buildings=await _building_choices(me.community_id),
        )
    try:
        # The person's own rules first, so a refused form leaves no new household behind.
        checked = person_rules.check_roles(chosen)
        person_rules.clean_name(values["name"])
        person_rules.check_phone(values["phone"])
        person_rules.check_password(password, checked)
        person_rules.check_pin(pin, checked, values["phone"])
        household = await _household_for(me, fields)
        made = await people.create_person(
            me.community_id,
            people.NewPerson(name=values["name"], phone=values["phone"], roles=chosen,
                             password=password, pin=pin, household_id=household),
            hasher=hasher, ledger=ledger,
        )
    except MarketError as error:
        return _new_person_page(
            request, status=error.status, values=values, roles=chosen, problem=_say(request, error),
            bad_field=error.field, buildings=await _building_choices(me.community_id),
        )
    return Redirect(f"/admin/people/{made.id}?done=created", status_code=303)


@dataclass
class _Refusal:
    """A refused form on a person's page: which form, and why."""

    form: str
    text: str
    values: dict[str, str] = field(default_factory=dict)


async def _address(community_id: int, household_id: int | None) -> str | None:
    if household_id is None:
        return None
    household = await structure.get_household(community_id, household_id)
    building = await structure.get_building(community_id, household.building_id)
    compound = await structure.get_compound(community_id, building.compound_id)
    parts = [compound.name, building.name, household.unit, household.room]
    if household.grid_id is not None:
        parts.append(f"（{(await structure.get_grid(community_id, household.grid_id)).name}）")
    return " ".join(part for part in parts if part)


async def _person_page(
    request: Request, me: Principal, ledger: Ledger, person_id: int, *, status: int = 200,
    refusal: _Refusal | None = None, roles: list[str] | None = None,
) -> Template:
    person = await people.get_person(me.community_id, person_id)
    wallet = await points.wallet_of(ledger, me.community_id, person_id)
    history = await points.person_entries(ledger, me.community_id, person_id, 10, None)
    return page(
        request, "admin/person.html", status=status, person=person, wallet=wallet,
        entries=history.items, address=await _address(me.community_id, person.household_id),
        refusal=refusal, chosen=set(roles if roles is not None else person.roles),
        done=request.query_params.get("done"), role_order=ROLE_ORDER,
        resident=RESIDENT in person.roles,
    )


@get("/admin/people/{person_id:int}", name="web:admin-person", **PAGE)
async def person_page(
    request: Request, person_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    me = page_member(request, ADMIN)
    return await _person_page(request, me, ledger, person_id)


@post("/admin/people/{person_id:int}/roles", status_code=303, **PAGE)
async def change_roles(
    request: Request, person_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    chosen = await _all(request, "roles")
    try:
        await roles_service.set_roles(me.community_id, person_id, chosen, actor_id=me.id)
    except MarketError as error:
        if isinstance(error, NotFound):
            raise
        return await _person_page(request, me, ledger, person_id, status=error.status,
                                  refusal=_Refusal("roles", _say(request, error)), roles=chosen)
    return Redirect(f"/admin/people/{person_id}?done=roles", status_code=303)


@post("/admin/people/{person_id:int}/card", status_code=303, **PAGE)
async def reissue_card(
    request: Request, person_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    me = page_member(request, ADMIN)
    check_csrf(request, await form_fields(request))
    try:
        await cards.reissue_card(me.community_id, person_id, actor_id=me.id)
    except MarketError as error:
        if isinstance(error, NotFound):
            raise
        return await _person_page(request, me, ledger, person_id, status=error.status,
                                  refusal=_Refusal("card", _say(request, error)))
    return Redirect(f"/admin/people/{person_id}?done=card", status_code=303)


@post("/admin/people/{person_id:int}/pin", status_code=303, **PAGE)
async def set_pin(
    request: Request, person_id: FromPath[int], ledger: NamedDependency[Ledger],
    hasher: NamedDependency[SecretHasher], limiter: NamedDependency[LoginLimiter],
    settings: NamedDependency[Settings],
) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    try:
        await cards.set_pin(me.community_id, person_id, _digits(fields.get("pin", "")),
                            actor_id=me.id, hasher=hasher, limiter=limiter,
                            secret_key=settings.secret_key)
    except MarketError as error:
        if isinstance(error, NotFound):
            raise
        return await _person_page(request, me, ledger, person_id, status=error.status,
                                  refusal=_Refusal("pin", _say(request, error)))
    return Redirect(f"/admin/people/{person_id}?done=pin", status_code=303)


# -- the roster import -----------------------------------------------------------------------------


def _import_form(request: Request, *, status: int = 200, problem: str | None = None) -> Template:
    return page(request, "admin/import.html", status=status, problem=problem,
                columns=list(roster.COLUMNS), max_mb=roster.MAX_BYTES // 2**20)


@get("/admin/import", name="web:admin-import", **PAGE)
async def import_form(request: Request) -> Template | Redirect:
    page_member(request, ADMIN)
    return _import_form(request)


@post("/admin/import", status_code=303, request_max_body_size=roster.MAX_BYTES + _ENVELOPE, **PAGE)
async def upload_roster(request: Request, ledger: NamedDependency[Ledger]) -> Template | Redirect:
    me = page_member(request, ADMIN)
    form = await request.form()
    fields = {key: str(value)[:500] for key, value in form.items() if isinstance(value, str)}
    check_csrf(request, fields)
    language = i18n.language_of(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _import_form(request, status=400, problem=i18n.translate(
            language, "Choose the roster file (.xlsx or .csv) to upload."))
    data = await upload.read(roster.MAX_BYTES + 1)
    if len(data) > roster.MAX_BYTES:
        return _import_form(request, status=413, problem=i18n.error_text(
            language, "file_too_large", max_mb=roster.MAX_BYTES // 2**20))
    try:
        roster.file_kind(data, upload.filename)
    except InvalidInput as error:
        return _import_form(request, status=400, problem=_say(request, error))
    job = await import_jobs.check(me.community_id, me.id, data, upload.filename, ledger=ledger)
    # A small roster is checked in a moment: show its result straight away, not a progress bar.
    await import_jobs.settle(job.id, 2)
    return Redirect(f"/admin/import/{job.id}", status_code=303)


@get("/admin/import/{job_id:str}", name="web:admin-import-job", **PAGE)
async def import_job(request: Request, job_id: FromPath[str]) -> Template | Redirect:
    me = page_member(request, ADMIN)
    job = await import_jobs.get(me.community_id, job_id)
    language = i18n.language_of(request)
    bad = [(b.row, b.detail(language)) for b in job.bad]
    problem = None if job.reason is None else i18n.error_text(language, job.reason, **job.params)
    return page(request, "admin/import_job.html", job=job, bad=bad, problem=problem,
                columns=list(roster.COLUMNS), max_mb=roster.MAX_BYTES // 2**20)


@get("/admin/import/{job_id:str}/status", **PAGE)
async def import_status(request: Request, job_id: FromPath[str]) -> dict[str, Any]:
    """What the job page's script polls to move its progress bar."""
    me = signed_in(request)
    if me is None or not me.has_role(ADMIN):
        raise NotFound()
    return (await import_jobs.get(me.community_id, job_id)).status()


async def _next_step(
    request: Request, job_id: str, ledger: Ledger,
    step: Callable[..., Awaitable[import_jobs.ImportJob]],
) -> Redirect:
    """Confirm a checked roster, or start a stopped job again, then show its page (its
    result straight away when the step is over in a moment, as for the upload)."""
    me = page_member(request, ADMIN)
    check_csrf(request, await form_fields(request))
    job = await step(me.community_id, job_id, ledger=ledger)
    await import_jobs.settle(job.id, 2)
    return Redirect(f"/admin/import/{job.id}", status_code=303)


@post("/admin/import/{job_id:str}", status_code=303, **PAGE)
async def confirm_import(
    request: Request, job_id: FromPath[str], ledger: NamedDependency[Ledger]
) -> Redirect:
    return await _next_step(request, job_id, ledger, import_jobs.confirm)


@post("/admin/import/{job_id:str}/again", status_code=303, **PAGE)
async def restart_import(
    request: Request, job_id: FromPath[str], ledger: NamedDependency[Ledger]
) -> Redirect:
    """Start again a job whose worker stopped (its page offers it), from the kept file."""
    return await _next_step(request, job_id, ledger, import_jobs.restart)


# -- printable member cards ---------------------------------------------------------------------


@get("/admin/cards", name="web:admin-cards", **PAGE)
async def card_sheet(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    params = request.query_params
    # One choice: "all", "b<building id>" or "g<grid id>".
    who = params.get("who") or "all"
    chosen = _id(who[1:]) if who[:1] in ("b", "g") else None
    if chosen is None:
        who = "all"
    building = chosen if who.startswith("b") else None
    grid = chosen if who.startswith("g") else None
    cursor = params.get("cursor") or None
    holders = await cards.card_holders(
        me.community_id, building_id=building, grid_id=grid, limit=CARDS_PER_SHEET,
        after=parse_cursor(cursor),
    )
    sheets = [holders.items[i:i + CARDS_PER_A4] for i in range(0, len(holders.items), CARDS_PER_A4)]
    return page(
        request, "admin/cards.html", who=who, sheets=sheets,
        count=len(holders.items), next_cursor=holders.next_cursor, first_page=cursor is None,
        buildings=await _building_choices(me.community_id),
        grid_choices=[(g.id, g.name) for g in await structure.list_grids(me.community_id)],
    )


# -- point adjustments ------------------------------------------------------------------------------


async def _adjustment_page(
    request: Request, me: Principal, ledger: Ledger, *, status: int = 200,
    person_id: int | None = None, values: dict[str, str] | None = None,
    problem: str | None = None, bad_field: str | None = None,
) -> Template:
    params = request.query_params
    q = (params.get("q") or "").strip()[:50]
    found = None
    if person_id is None and q:
        typed = _digits(q)
        found = (await people.list_people(
            me.community_id, q=typed if typed.isdigit() else q, limit=PEOPLE_PAGE
        )).items
        # A whole card number found one person: straight to their form.
        if person_rules.is_card_no(typed) and len(found) == 1 and found[0].card_no == typed:
            person_id = found[0].id
    person = wallet = adjusted = None
    if person_id is not None:
        person = await people.get_person(me.community_id, person_id)
        wallet = await points.wallet_of(ledger, me.community_id, person_id)
        done = params.get("done") or ""
        if done and status == 200 and len(done) <= 100:
            adjusted = await points.adjustment_of(ledger, me.community_id, person_id, done)
    values = values or {}
    # Made once per form shown: submitting this form again can never adjust twice.
    values.setdefault("key", secrets.token_urlsafe(18))
    return page(request, "admin/adjustments.html", status=status, q=q, found=found, person=person,
                wallet=wallet, adjusted=adjusted, values=values, problem=problem,
                bad_field=bad_field)


@get("/admin/adjustments", name="web:admin-adjustments", **PAGE)
async def adjustments_page(request: Request, ledger: NamedDependency[Ledger]) -> Template | Redirect:
    me = page_member(request, ADMIN)
    return await _adjustment_page(request, me, ledger, person_id=_id(request.query_params.get("person")))


@post("/admin/adjustments", status_code=303, **PAGE)
async def adjust(request: Request, ledger: NamedDependency[Ledger]) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    language = i18n.language_of(request)
    person_id = _id(fields.get("person_id"))
    if person_id is None:
        raise NotFound()
    values = {key: fields.get(key, "").strip() for key in ("amount", "reason", "key")}
    try:
        amount = _amount(values["amount"])
        if not values["reason"]:
            raise InvalidInput("invalid_reason", field="reason")
        key = points.check_idempotency_key(values["key"])
        made = await points.adjust(ledger, me, person_id=person_id, amount=amount,
                                   reason=values["reason"], key=key)
    except (MarketError, LedgerError) as error:
        if isinstance(error, NotFound):
            raise
        problem = _say(request, error)
        bad_field = getattr(error, "field", None)
        if error.reason in ("id_conflict", "invalid_idempotency_key", "idempotency_key_required"):
            # This form already made another adjustment (or its key was damaged): a new form.
            problem = i18n.translate(language, "This form was already used for another adjustment. "
                                               "Check the amount and submit again.")
            values.pop("key")
        elif error.reason == "invalid_input" and bad_field == "reason":
            problem = i18n.error_text(language, "invalid_reason")
        elif error.reason == "invalid_amount":
            bad_field = "amount"
        status = error.status if isinstance(error, MarketError) else LEDGER_STATUS.get(error.reason, 409)
        return await _adjustment_page(request, me, ledger, status=status, person_id=person_id,
                                      values=values, problem=problem, bad_field=bad_field)
    return Redirect(f"/admin/adjustments?person={person_id}&done={made.id}", status_code=303)


# -- the shop's opening rules --------------------------------------------------------------------


def _rules_page(request: Request, current: shop_rules.ShopRules, *, status: int = 200,
                values: dict[str, Any] | None = None, problem: str | None = None,
                bad_field: str | None = None) -> Template:
    language = i18n.language_of(request)
    shown = values or {
        "open_days": set(current.open_days), "opens_at": current.opens_at,
        "closes_at": current.closes_at, "min_earned": current.min_earned,
        "min_hours": current.min_hours,
    }
    return page(request, "admin/shop_rules.html", status=status, current=current, values=shown,
                problem=problem, bad_field=bad_field, saved=request.query_params.get("saved"),
                weekdays=shop_rules.WEEKDAY_NAMES[language][1:])


@get("/admin/shop-rules", name="web:admin-shop-rules", **PAGE)
async def rules_page(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    return _rules_page(request, await shop_rules.rules(me.community_id))


def _minimum(text: str, field_name: str) -> Decimal:
    try:
        return _amount(text or "0")
    except InvalidInput:
        raise InvalidInput("invalid_minimum", field=field_name, max=shop_rules.MAX_MINIMUM) from None


@post("/admin/shop-rules", status_code=303, **PAGE)
async def save_rules(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    days = await _all(request, "open_days")
    values: dict[str, Any] = {
        key: unicodedata.normalize("NFKC", fields.get(key, "")).strip()
        for key in ("opens_at", "closes_at", "min_earned", "min_hours")
    }
    values["open_days"] = {int(day) for day in days if day.isdigit() and len(day) == 1}
    try:
        if len(values["open_days"]) != len(days):
            raise InvalidInput("invalid_open_days", field="open_days")
        await shop_rules.set_rules(me, shop_rules.RulesChange(
            open_days=sorted(values["open_days"]), opens_at=values["opens_at"],
            closes_at=values["closes_at"], min_earned=_minimum(values["min_earned"], "min_earned"),
            min_hours=_minimum(values["min_hours"], "min_hours"),
        ))
    except MarketError as error:
        return _rules_page(request, await shop_rules.rules(me.community_id), status=error.status,
                           values=values, problem=_say(request, error), bad_field=error.field)
    return Redirect("/admin/shop-rules?saved=1", status_code=303)


PAGES = [
    dashboard, structure_page, add_to_structure, people_page, new_person_form, create_person,
    person_page, change_roles, reissue_card, set_pin, import_form, upload_roster, import_job,
    import_status, confirm_import, restart_import, card_sheet, adjustments_page, adjust, rules_page,
    save_rules,
]
