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
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

import qr
from ledger import Ledger, LedgerError
from market.auth.roles import ADMIN, ROLES
from market.auth.sessions import Principal
from market.cards import service as cards
from market.community import doorplates, slugs, structure
from market.errors import InvalidInput, MarketError, NotFound, refusal_of
from market.paging import parse_cursor
from market.people import rules as person_rules
from market.people import service as people
from market.points import service as points
from market.points.schemas import VerifyResult
from market.settings import Settings
from market.shop import rules as shop_rules
from market.shop import schemas as shop_schemas
from market.web import i18n
from market.web.forms import check_csrf, form_fields, normalise_login, page, page_member, refusal_for

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
MULTIPART_ENVELOPE = 64 * 1024

assert set(ROLE_ORDER) == ROLES


async def ticked(request: Request, name: str) -> list[str]:
    """Every value of a form field sent more than once (ticked check boxes); none ticked: []."""
    return [str(value)[:50] for value in (await request.form()).getall(name, [])][:20]


def typed_id(text: str | None) -> int | None:
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


async def building_choices(community_id: int) -> list[tuple[int, str]]:
    compounds = {c.id: c.name for c in await structure.list_compounds(community_id)}
    return [
        (b.id, f"{compounds.get(b.compound_id, '')} {b.name}")
        for b in await structure.list_buildings(community_id)
    ]


# -- the dashboard ------------------------------------------------------------------------------


@dataclass
class _Verified:
    at: datetime
    monotonic: float
    result: VerifyResult


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
        problem = refusal_for(request, error)
        return await _dashboard_page(request, ledger, settings, me, status=error.status,
                                     **{f"{name}_problem": problem, f"typed_{name}": typed})
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
        compound = typed_id(fields.get("building_compound"))
        if compound is None:
            raise InvalidInput("invalid_input", field="compound_id")
        await structure.create_building(cid, compound, fields.get("building_name", ""))
    elif kind == "grid":
        await structure.create_grid(cid, fields.get("grid_name", ""))
    elif kind == "team":
        await structure.create_team(cid, fields.get("team_name", ""))
    else:  # a household
        building = typed_id(fields.get("household_building"))
        if building is None:
            raise InvalidInput("invalid_input", field="building_id")
        await structure.create_household(
            cid, building, fields.get("household_unit", ""), fields.get("household_room", ""),
            typed_id(fields.get("household_grid")),
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
            request, me, status=error.status, errors={kind: refusal_for(request, error)}, values=fields
        )
    return Redirect(f"/admin/structure?added={kind}#{kind}", status_code=303)


# -- printable member cards ---------------------------------------------------------------------


@get("/admin/cards", name="web:admin-cards", **PAGE)
async def card_sheet(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    params = request.query_params
    # One choice: "all", "b<building id>" or "g<grid id>".
    who = params.get("who") or "all"
    chosen = typed_id(who[1:]) if who[:1] in ("b", "g") else None
    if chosen is None:
        who = "all"
    building = chosen if who.startswith("b") else None
    grid = chosen if who.startswith("g") else None
    cursor = params.get("cursor") or None
    # The people ticked on the people list ("Print cards"), as "ids=3,5,8".
    chosen_ids = [i for i in (typed_id(part) for part in (params.get("ids") or "").split(",")[:100]) if i]
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
        buildings=await building_choices(me.community_id),
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
    return await _adjustment_page(request, me, ledger, person_id=typed_id(request.query_params.get("person")))


@post("/admin/adjustments", status_code=303, **PAGE)
async def adjust(request: Request, ledger: NamedDependency[Ledger]) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    language = i18n.language_of(request)
    person_id = typed_id(fields.get("person_id"))
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
        problem = refusal_for(request, error)
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


def _rules_page(request: Request, current: shop_schemas.ShopRules, *, status: int = 200,
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
    days = await ticked(request, "open_days")
    values: dict[str, Any] = {
        key: unicodedata.normalize("NFKC", fields.get(key, "")).strip()
        for key in ("opens_at", "closes_at", "min_earned", "min_hours")
    }
    values["open_days"] = {int(day) for day in days if day.isdigit() and len(day) == 1}
    try:
        if len(values["open_days"]) != len(days):
            raise InvalidInput("invalid_open_days", field="open_days")
        await shop_rules.set_rules(me, shop_schemas.RulesChange(
            open_days=sorted(values["open_days"]), opens_at=values["opens_at"],
            closes_at=values["closes_at"], min_earned=_minimum(values["min_earned"], "min_earned"),
            min_hours=_minimum(values["min_hours"], "min_hours"),
        ))
    except MarketError as error:
        return _rules_page(request, await shop_rules.rules(me.community_id), status=error.status,
                           values=values, problem=refusal_for(request, error), bad_field=error.field)
    return Redirect("/admin/shop-rules?saved=1", status_code=303)


PAGES = [
    dashboard, change_slug, change_hotline, notice_qr, structure_page, add_to_structure, card_sheet,
    adjustments_page, adjust, rules_page, save_rules,
]
