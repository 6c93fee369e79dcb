"""The admin's pages for people: the list and its search, enrolling, a person's page (roles, card,
PIN, password, PIN slips) and the roster import (an uploaded .xlsx or .csv checked, shown and
confirmed). Split from ``market.web.admin`` (the community's other admin pages), whose helpers
these pages share. Refused forms are shown again with the reason and what was typed.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ledger import Ledger
from market.auth import access_codes, credentials
from market.auth.hashing import SecretHasher
from market.auth.limiter import LoginLimiter
from market.auth.roles import ADMIN, RESIDENT, STAFF_ROLES
from market.auth.sessions import Principal
from market.cards import service as cards
from market.community import service as communities
from market.community import structure
from market.errors import InvalidInput, MarketError, NotFound
from market.people import import_jobs, roles_service, roster
from market.people import rules as person_rules
from market.people import service as people
from market.points import service as points
from market.settings import Settings
from market.subdistricts import moves
from market.web import i18n
from market.web.admin import (
    MULTIPART_ENVELOPE,
    PAGE,
    PEOPLE_PAGE,
    ROLE_ORDER,
    building_choices,
    ticked,
    typed_id,
)
from market.web.forms import (
    check_csrf,
    form_fields,
    normalise_login,
    page,
    page_member,
    refusal_for,
    refusal_text,
    signed_in,
)

# -- people ---------------------------------------------------------------------------------------


async def _people_page(
    request: Request, me: Principal, *, status: int = 200, problem: str | None = None,
    selected: set[int] | None = None, q: str | None = None, cursor: str | None = None,
) -> Template:
    params = request.query_params
    q = (q if q is not None else params.get("q") or "").strip()[:50]
    cursor = cursor if cursor is not None else params.get("cursor") or None
    query = normalise_login(q) if normalise_login(q).isdigit() else q
    found = await people.list_people(me.community_id, q=query or None, limit=PEOPLE_PAGE,
                                     cursor=cursor)
    return page(request, "admin/people.html", status=status, q=q, found=found,
                first_page=cursor is None, role_order=ROLE_ORDER, problem=problem,
                selected=selected or set(), cursor=cursor or "",
                done=params.get("done") if status == 200 else None,
                count=params.get("count", "") if status == 200 else "")


@get("/admin/people", name="web:admin-people", **PAGE)
async def people_page(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    return await _people_page(request, me)


async def _selection(request: Request) -> list[int]:
    """The people ticked on the list (ids), in their order; anything else is refused."""
    values = (await request.form()).getall("ids", [])[: access_codes.MAX_BATCH + 1]
    ids = [typed_id(str(value)[:20]) for value in values]
    return [i for i in ids if i is not None]


def _slip_name(name: str) -> str:
    """赵*奶, 李*: enough for a household to see whose slip it is, not a full name on paper
    that may pass through other hands before it is opened."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    # At most three stars: their number would otherwise tell a long name's length.
    return name[0] + "*" * min(3, len(name) - 2) + name[-1]


async def _slips_page(request: Request, me: Principal, issued: list, settings: Settings) -> Template:
    """One A4 slip per household (each resident without a household gets their own), with
    every chosen resident of it: masked name, card number, the one-time code, its expiry."""
    households: list[dict[str, Any]] = []
    by_household: dict[int, dict[str, Any]] = {}
    for code in issued:
        line = {"name": _slip_name(code.name), "card_no": code.card_no, "purpose": code.purpose,
                "code": f"{code.code[:4]} {code.code[4:]}"}
        if code.household_id is not None and code.household_id in by_household:
            by_household[code.household_id]["lines"].append(line)
            continue
        slip = {"address": await _address(me.community_id, code.household_id), "lines": [line],
                "to": _slip_name(code.name)}
        households.append(slip)
        if code.household_id is not None:
            by_household[code.household_id] = slip
    found = await communities.get(me.community_id)
    community = found.name if found else ""
    expires = issued[0].expires_at if issued else None
    return page(request, "admin/slips.html", slips=households, count=len(issued),
                expires=expires, community=community,
                signin_url=(settings.base_url or str(request.base_url)).rstrip("/") + "/signin/code")


@post("/admin/people/bulk", status_code=303, **PAGE)
async def bulk_people(
    request: Request, hasher: NamedDependency[SecretHasher], settings: NamedDependency[Settings],
) -> Template | Redirect:
    """What the people list's buttons do with the ticked people: add or remove a role, print
    their PIN slips (new one-time codes), or print their cards."""
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    action = fields.get("action", "")
    q, cursor = fields.get("q", "")[:50], fields.get("cursor", "")[:20] or None
    try:
        ids = await _selection(request)
        if action in ("add", "remove"):
            role = fields.get("role", "")
            changed = await roles_service.change_roles_of_many(
                me.community_id, ids, actor_id=me.id,
                add=role if action == "add" else None, remove=role if action == "remove" else None,
            )
            back = f"/admin/people?done=roles&count={len(changed)}&q={q}"
            return Redirect(back + (f"&cursor={cursor}" if cursor else ""), status_code=303)
        if action == "slips":
            issued = await access_codes.issue(me.community_id, ids, actor_id=me.id, hasher=hasher)
            return await _slips_page(request, me, issued, settings)
        if action == "cards":
            if not ids:
                raise InvalidInput("nobody_selected", field="people")
            return Redirect("/admin/cards?ids=" + ",".join(map(str, ids)), status_code=303)
        raise InvalidInput("invalid_input", field="action")
    except MarketError as error:
        if isinstance(error, NotFound):
            raise
        problem = refusal_for(request, error)
        if name := error.params.get("name"):
            problem = f"{name}：{problem}" if problem and name not in problem else problem
        try:  # what was ticked stays ticked, unless the ticks themselves were refused
            selected = set(await _selection(request))
        except InvalidInput:
            selected = set()
        return await _people_page(request, me, status=error.status, problem=problem,
                                  selected=selected, q=q, cursor=cursor)


def _new_person_page(request: Request, *, status: int = 200, values: dict | None = None,
                     roles: list[str] | None = None, errors: dict[str, str] | None = None,
                     buildings: list | None = None) -> Template:
    # No role is ticked at first: the office enrols staff as well as residents, and a
    # pre-ticked 居民 made every staff enrolment fail on a PIN it never meant to give.
    return page(request, "admin/person_new.html", status=status, values=values or {},
                chosen=set(roles or []), errors=errors or {}, buildings=buildings or [],
                role_order=ROLE_ORDER)


@get("/admin/people/new", name="web:admin-person-new", **PAGE)
async def new_person_form(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    return _new_person_page(request, buildings=await building_choices(me.community_id))


async def _household_for(me: Principal, fields: dict[str, str]) -> int | None:
    """The household at the address typed into the form, created if it is new."""
    building = typed_id(fields.get("building"))
    if building is None:
        return None
    unit, room = fields.get("unit", ""), fields.get("room", "")
    found = await structure.find_household(me.community_id, building, unit, room)
    if found is not None:
        return found.id
    return (await structure.create_household(me.community_id, building, unit, room)).id


#: The enrol form's fields, in the order their refusals are listed.
_ENROL_FIELDS = ("roles", "name", "phone", "pin", "password", "building")
#: A refusal's field (as the services name it) → the form field it is shown beside.
_ENROL_FIELD_OF = {"household_id": "building", "building_id": "building", "unit": "building",
                   "room": "building"}


def _enrol_errors(language: str, values: dict[str, str], chosen: list[str]) -> dict[str, str]:
    """Every refusal of the enrol form at once (field → text), so nothing is fixed one round at
    a time. The roles decide which secret is needed; without valid roles the secrets are only
    checked for what they are, not whether they are required."""
    errors: dict[str, str] = {}

    def check(name: str, rule: Callable[[], object]) -> None:
        try:
            rule()
        except MarketError as error:
            errors.setdefault(name, refusal_text(language, error)[2])

    check("roles", lambda: person_rules.check_roles(chosen))
    roles = frozenset(chosen) if "roles" not in errors else frozenset()
    check("name", lambda: person_rules.clean_name(values["name"]))
    check("phone", lambda: person_rules.check_phone(values["phone"]))
    check("pin", lambda: credentials.check_pin(values["pin"] or None, roles, values["phone"]))
    check("password", lambda: credentials.check_password(values["password"] or None, roles))
    if not values["building"] and (values["unit"].strip() or values["room"].strip()):
        errors["building"] = i18n.translate(
            language, "Choose the building of the address, or leave the unit and room empty.")
    return errors


@post("/admin/people/new", status_code=303, **PAGE)
async def create_person(
    request: Request, hasher: NamedDependency[SecretHasher], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    language = i18n.language_of(request)
    chosen = await ticked(request, "roles")
    values = {key: fields.get(key, "") for key in ("name", "phone", "building", "unit", "room",
                                                   "password", "pin")}
    values["phone"] = normalise_login(values["phone"])
    values["pin"] = normalise_login(values["pin"])
    # A refused form comes back with everything typed, the password and PIN included: they are
    # the admin's own input, on a page that is never stored (no-store), and retyping them after
    # an unrelated mistake is what made the office give up on this form.
    errors = _enrol_errors(language, values, chosen)
    status = 400
    if not errors:
        try:
            household = await _household_for(me, fields)
            made = await people.create_person(
                me.community_id,
                people.NewPerson(name=values["name"], phone=values["phone"], roles=chosen,
                                 password=values["password"] or None, pin=values["pin"] or None,
                                 household_id=household),
                hasher=hasher, ledger=ledger,
            )
        except MarketError as error:
            status = error.status
            name = _ENROL_FIELD_OF.get(error.field or "", error.field or "")
            errors[name if name in _ENROL_FIELDS else ""] = refusal_for(request, error)
        else:
            return Redirect(f"/admin/people/{made.id}?done=created", status_code=303)
    ordered = {name: errors[name] for name in ("", *_ENROL_FIELDS) if name in errors}
    return _new_person_page(request, status=status, values=values, roles=chosen, errors=ordered,
                            buildings=await building_choices(me.community_id))


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
    has_pin, has_password = await people.secrets_set(me.community_id, person_id)
    return page(
        request, "admin/person.html", status=status, person=person, wallet=wallet,
        entries=history.items, address=await _address(me.community_id, person.household_id),
        refusal=refusal, chosen=set(roles if roles is not None else person.roles),
        done=request.query_params.get("done"), role_order=ROLE_ORDER,
        resident=RESIDENT in person.roles, staff=bool(STAFF_ROLES & set(person.roles)),
        has_pin=has_pin, has_password=has_password,
        live_code=await access_codes.live_code_of(person_id),
        move=await moves.panel(me.community_id, person_id),
    )


@get("/admin/people/{person_id:int}", name="web:admin-person", **PAGE)
async def person_page(
    request: Request, person_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    me = page_member(request, ADMIN)
    return await _person_page(request, me, ledger, person_id)


async def _person_form(
    request: Request, me: Principal, ledger: Ledger, person_id: int, form: str, action: Awaitable[Any],
    *, roles: list[str] | None = None, anchor: str = "",
) -> Template | Redirect:
    """One of the person page's forms: done, back to the page saying so; refused (other than a
    404), the page again with the reason under that form."""
    try:
        await action
    except MarketError as error:
        if isinstance(error, NotFound):
            raise
        return await _person_page(request, me, ledger, person_id, status=error.status,
                                  refusal=_Refusal(form, refusal_for(request, error)), roles=roles)
    return Redirect(f"/admin/people/{person_id}?done={form}{anchor}", status_code=303)


@post("/admin/people/{person_id:int}/roles", status_code=303, **PAGE)
async def change_roles(
    request: Request, person_id: FromPath[int], ledger: NamedDependency[Ledger],
    hasher: NamedDependency[SecretHasher],
) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    chosen = await ticked(request, "roles")
    # A password typed here makes a resident staff in the same step (issue 16).
    return await _person_form(request, me, ledger, person_id, "roles", roles_service.set_roles(
        me.community_id, person_id, chosen, actor_id=me.id, password=fields.get("password") or None,
        hasher=hasher), roles=chosen)


@post("/admin/people/{person_id:int}/card", status_code=303, **PAGE)
async def reissue_card(
    request: Request, person_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    me = page_member(request, ADMIN)
    check_csrf(request, await form_fields(request))
    return await _person_form(request, me, ledger, person_id, "card",
                              cards.reissue_card(me.community_id, person_id, actor_id=me.id))


@post("/admin/people/{person_id:int}/pin", status_code=303, **PAGE)
async def set_pin(
    request: Request, person_id: FromPath[int], ledger: NamedDependency[Ledger],
    hasher: NamedDependency[SecretHasher], limiter: NamedDependency[LoginLimiter],
    settings: NamedDependency[Settings],
) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    return await _person_form(request, me, ledger, person_id, "pin", cards.set_pin(
        me.community_id, person_id, normalise_login(fields.get("pin", "")), actor_id=me.id,
        hasher=hasher, limiter=limiter, secret_key=settings.secret_key))


@post("/admin/people/{person_id:int}/slip", status_code=200, **PAGE)
async def print_slip(
    request: Request, person_id: FromPath[int], ledger: NamedDependency[Ledger],
    hasher: NamedDependency[SecretHasher], settings: NamedDependency[Settings],
) -> Template:
    """A new one-time code for one resident (first sign-in, or a forgotten PIN), on its slip."""
    me = page_member(request, ADMIN)
    check_csrf(request, await form_fields(request))
    try:
        issued = await access_codes.issue(me.community_id, [person_id], actor_id=me.id, hasher=hasher)
    except MarketError as error:
        if isinstance(error, NotFound):
            raise
        return await _person_page(request, me, ledger, person_id, status=error.status,
                                  refusal=_Refusal("slip", refusal_for(request, error)))
    return await _slips_page(request, me, issued, settings)


@post("/admin/people/{person_id:int}/password", status_code=303, **PAGE)
async def set_password(
    request: Request, person_id: FromPath[int], ledger: NamedDependency[Ledger],
    hasher: NamedDependency[SecretHasher],
) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    return await _person_form(request, me, ledger, person_id, "password", roles_service.set_password(
        me.community_id, person_id, fields.get("password", ""), actor_id=me.id, hasher=hasher),
        anchor="#password")


# -- the roster import -----------------------------------------------------------------------------


def _import_form(request: Request, *, status: int = 200, problem: str | None = None) -> Template:
    return page(request, "admin/import.html", status=status, problem=problem,
                columns=list(roster.COLUMNS), max_mb=roster.MAX_BYTES // 2**20)


@get("/admin/import", name="web:admin-import", **PAGE)
async def import_form(request: Request) -> Template | Redirect:
    page_member(request, ADMIN)
    return _import_form(request)


@post("/admin/import", status_code=303, request_max_body_size=roster.MAX_BYTES + MULTIPART_ENVELOPE, **PAGE)
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
        return _import_form(request, status=400, problem=refusal_for(request, error))
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


PAGES = [
    people_page, new_person_form, create_person, person_page, change_roles, reissue_card, set_pin,
    bulk_people, print_slip, set_password, import_form, upload_roster, import_job, import_status,
    confirm_import, restart_import,
]
