"""The admin's pages: community structure, people and roles, roster import, printable member
cards, point adjustments, ledger verification, the shop's opening rules.

Like the resident's pages, handlers call the services directly (people, roles, roster,
cards, points, the shop's rules), which scope every read and write by the admin's
community. A refused form is shown again with the reason in the reader's language and
what was typed still in it (passwords and PINs only on the enrol form, where they are the
admin's own input; a person's stored PIN or password is never shown). Success redirects
(POST-redirect-GET) to a page that says what happened; PIN slips are the one exception: their
one-time codes exist only in the answer to the POST that made them, so that answer is the page.
"""

import asyncio
import secrets
import time
import unicodedata
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

import qr
from ledger import Ledger, LedgerError
from market.auth import access_codes
from market.auth.hashing import SecretHasher
from market.auth.limiter import LoginLimiter
from market.auth.roles import ADMIN, RESIDENT, ROLES, STAFF_ROLES
from market.auth.sessions import Principal
from market.cards import service as cards
from market.community import doorplates, slugs, structure
from market.community import service as communities
from market.errors import InvalidInput, MarketError, NotFound, refusal_of
from market.paging import parse_cursor
from market.people import import_jobs, roles_service, roster
from market.people import rules as person_rules
from market.people import service as people
from market.points import service as points
from market.settings import Settings
from market.shop import rules as shop_rules
from market.subdistricts import moves
from market.web import i18n
from market.web.forms import check_csrf, form_fields, page, page_member, refusal_text, signed_in
from market.web.pages import normalise_login

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
    return refusal_text(i18n.language_of(request), error)[2]


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


async def _verification(ledger: Ledger, community_id: int, fresh: bool) -> tuple[_Verified, int]:
    """The community's last verification if recent, else a new one (``fresh``: always new), and
    how many entries were written after the one it checked last.

    A remembered check speaks only for the entries it replayed: once the chain has grown, the
    page says those new entries are not verified yet (and offers the check) instead of showing
    the old pass — a check made when the ledger was empty said "0 entries" for minutes after
    points had moved (issue 16)."""
    checks = _verified.setdefault(ledger, {})
    known = checks.get(community_id)
    if fresh or known is None or time.monotonic() - known.monotonic > VERIFY_FRESH_SECONDS:
        result = await points.verify(ledger, community_id)
        known = _Verified(at=datetime.now(UTC), monotonic=time.monotonic(), result=result)
        checks[community_id] = known
        return known, 0
    entries, head = await ledger.head(community_id)
    if (entries, head) == (known.result.entries, known.result.head):
        return known, 0
    # A chain only grows; a head that moved without growing is counted as one unchecked entry.
    return known, max(entries - known.result.entries, 1)


def _public_links(request: Request, settings: Settings, slug: str) -> dict[str, tuple[str, str]]:
    """The community's public pages, each as (path, whole URL as printed and put in the QR code):
    with its slug, which keeps working when it changes."""
    base = (settings.base_url or str(request.base_url)).rstrip("/")
    paths = {
        "boards": f"/public/boards?community={slug}",
        "notice": f"/public/notice?community={slug}",
        "transparency": f"/transparency?community={slug}",
    }
    return {name: (path, base + path) for name, path in paths.items()}


async def _dashboard_page(
    request: Request, ledger: Ledger, settings: Settings, me: Principal, *, status: int = 200,
    slug_problem: str | None = None, typed_slug: str | None = None,
    hotline_problem: str | None = None, typed_hotline: str | None = None,
) -> Template:
    fresh = request.query_params.get("verify") == "now"
    verified, unverified = await _verification(ledger, me.community_id, fresh)
    totals = await points.transparency(ledger, me.community_id)
    community = await slugs.current(me.community_id)
    return page(
        request, "admin/dashboard.html", status=status, verified=verified, unverified=unverified,
        totals=totals, fresh=fresh, community=community, old_slugs=await slugs.history(me.community_id),
        links=_public_links(request, settings, community.slug), slug_problem=slug_problem,
        typed_slug=community.slug if typed_slug is None else typed_slug,
        slug_saved=request.query_params.get("slug") == "saved",
        hotline=await doorplates.hotline(me.community_id) if typed_hotline is None else typed_hotline,
        hotline_problem=hotline_problem, hotline_saved=request.query_params.get("hotline") == "saved",
    )


@get("/admin", name="web:admin", **PAGE)
async def dashboard(
    request: Request, ledger: NamedDependency[Ledger], settings: NamedDependency[Settings]
) -> Template | Redirect:
    me = page_member(request, ADMIN)
    return await _dashboard_page(request, ledger, settings, me)


async def _community_setting(
    request: Request, ledger: Ledger, settings: Settings, name: str,
    save: Callable[[Principal, str], Awaitable[object]], done: str,
) -> Template | Redirect:
    """A form of the admin home that sets one thing of the community (``name``: its field, and
    the page's ``<name>_problem``/``typed_<name>`` when refused, the typed value kept)."""
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    typed = fields.get(name, "")[:200]
    try:
        await save(me, typed)
    except MarketError as error:
        return await _dashboard_page(request, ledger, settings, me, status=error.status,
                                     **{f"{name}_problem": _say(request, error), f"typed_{name}": typed})
    return Redirect(done, status_code=303)


@post("/admin/community/slug", status_code=303, **PAGE)
async def change_slug(
    request: Request, ledger: NamedDependency[Ledger], settings: NamedDependency[Settings]
) -> Template | Redirect:
    """The office changes the community's address; the old one keeps working (audited)."""
    return await _community_setting(
        request, ledger, settings, "slug", lambda me, typed: slugs.change(me.community_id, me.id, typed),
        "/admin?slug=saved#public-links")


@post("/admin/community/hotline", status_code=303, **PAGE)
async def change_hotline(
    request: Request, ledger: NamedDependency[Ledger], settings: NamedDependency[Settings]
) -> Template | Redirect:
    """The office sets the 民声 hotline its doorplates and their landing page show (audited)."""
    return await _community_setting(
        request, ledger, settings, "hotline",
        lambda me, typed: doorplates.set_hotline(me.community_id, typed, actor_id=me.id),
        "/admin?hotline=saved#hotline")


@get("/admin/community/notice-qr.png", name="web:admin-notice-qr", **PAGE)
async def notice_qr(request: Request, settings: NamedDependency[Settings]) -> Response[bytes]:
    """The QR code of the notice board's public link, to print beside the board."""
    me = page_member(request, ADMIN)
    community = await slugs.current(me.community_id)
    picture = await asyncio.to_thread(qr.png, _public_links(request, settings, community.slug)["notice"][1])
    return Response(picture, media_type="image/png", headers={"Cache-Control": "no-store"})


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
        reissued=request.query_params.get("reissued"),
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
    ids = [_id(str(value)[:20]) for value in values]
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
        problem = _say(request, error)
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
            errors.setdefault(name, i18n.error_text(
                language, error.reason, **{"field": error.field or "", **error.params}))

    check("roles", lambda: person_rules.check_roles(chosen))
    roles = frozenset(chosen) if "roles" not in errors else frozenset()
    check("name", lambda: person_rules.clean_name(values["name"]))
    check("phone", lambda: person_rules.check_phone(values["phone"]))
    check("pin", lambda: person_rules.check_pin(values["pin"] or None, roles, values["phone"]))
    check("password", lambda: person_rules.check_password(values["password"] or None, roles))
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
    chosen = await _all(request, "roles")
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
            errors[name if name in _ENROL_FIELDS else ""] = _say(request, error)
        else:
            return Redirect(f"/admin/people/{made.id}?done=created", status_code=303)
    ordered = {name: errors[name] for name in ("", *_ENROL_FIELDS) if name in errors}
    return _new_person_page(request, status=status, values=values, roles=chosen, errors=ordered,
                            buildings=await _building_choices(me.community_id))


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


@post("/admin/people/{person_id:int}/roles", status_code=303, **PAGE)
async def change_roles(
    request: Request, person_id: FromPath[int], ledger: NamedDependency[Ledger],
    hasher: NamedDependency[SecretHasher],
) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    chosen = await _all(request, "roles")
    try:
        # A password typed here makes a resident staff in the same step (issue 16).
        await roles_service.set_roles(me.community_id, person_id, chosen, actor_id=me.id,
                                      password=fields.get("password") or None, hasher=hasher)
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
        await cards.set_pin(me.community_id, person_id, normalise_login(fields.get("pin", "")),
                            actor_id=me.id, hasher=hasher, limiter=limiter,
                            secret_key=settings.secret_key)
    except MarketError as error:
        if isinstance(error, NotFound):
            raise
        return await _person_page(request, me, ledger, person_id, status=error.status,
                                  refusal=_Refusal("pin", _say(request, error)))
    return Redirect(f"/admin/people/{person_id}?done=pin", status_code=303)


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
                                  refusal=_Refusal("slip", _say(request, error)))
    return await _slips_page(request, me, issued, settings)


@post("/admin/people/{person_id:int}/password", status_code=303, **PAGE)
async def set_password(
    request: Request, person_id: FromPath[int], ledger: NamedDependency[Ledger],
    hasher: NamedDependency[SecretHasher],
) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    try:
        await roles_service.set_password(me.community_id, person_id, fields.get("password", ""),
                                         actor_id=me.id, hasher=hasher)
    except MarketError as error:
        if isinstance(error, NotFound):
            raise
        return await _person_page(request, me, ledger, person_id, status=error.status,
                                  refusal=_Refusal("password", _say(request, error)))
    return Redirect(f"/admin/people/{person_id}?done=password#password", status_code=303)


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
    # The people ticked on the people list ("Print cards"), as "ids=3,5,8".
    chosen_ids = [i for i in (_id(part) for part in (params.get("ids") or "").split(",")[:100]) if i]
    if chosen_ids:
        who = "ids"
    holders = await cards.card_holders(
        me.community_id, building_id=building, grid_id=grid, limit=CARDS_PER_SHEET,
        after=parse_cursor(cursor), person_ids=chosen_ids or None,
    )
    sheets = [holders.items[i:i + CARDS_PER_A4] for i in range(0, len(holders.items), CARDS_PER_A4)]
    return page(
        request, "admin/cards.html", who=who, sheets=sheets, ids=",".join(map(str, chosen_ids)),
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
        typed = normalise_login(q)
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
        status = refusal_of(error).status
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
    dashboard, change_slug, change_hotline, notice_qr,
    structure_page, add_to_structure, people_page, new_person_form, create_person,
    person_page, change_roles, reissue_card, set_pin, bulk_people, print_slip, set_password,
    import_form, upload_roster, import_job,
    import_status, confirm_import, restart_import, card_sheet, adjustments_page, adjust, rules_page,
    save_rules,
]
