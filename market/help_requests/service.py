"""The steps of a 民声 request up to its volunteer — post (or post for someone), add a photo,
claim, release — and reading one or a list; who may see and do what. How it ends (confirmed,
disputed, decided by the office, withdrawn) is ``decisions``'.

Each step is one write unit (``market.writes``) that locks the request's row (PostgreSQL: ``FOR
NO KEY UPDATE``) and decides from what it finds there, so two taps, two volunteers or a
volunteer and the office deciding at once are decided one after the other: the second finds
the state moved on and is refused (409) or, for the same person's repeated tap, answered with
what the first did. A unit that locks people locks them first (``market.writes``' order): a
claim its volunteer (the per-day claim cap), a post its requester (the waiting cap), a
confirmation its volunteer where the community caps earning (``lots.earning_rules_steps``).
"""

import logging
from dataclasses import dataclass

from ledger import format_points
from market import audit, clock
from market.auth.roles import ADMIN, ORGANIZER, RESIDENT, decode_roles
from market.auth.sessions import Principal
from market.db import fetch
from market.errors import Conflict, Forbidden, InvalidInput, NotFound
from market.help_requests import rules
from market.help_requests.rules import CATEGORY_NAMES, Place
from market.help_requests.schemas import (
    Action,
    AssistedRequest,
    HelpRequestPage,
    HelpRequestView,
    NewRequest,
)
from market.help_requests.terms import terms_steps
from market.paging import parse_cursor
from market.people.rules import mask_name
from market.points import lots
from market.storable import MAX_ID
from market.writes import Steps, on_postgres, write

log = logging.getLogger(__name__)

WAITING = ("review", "open", "claimed", "disputed")


def subject(request_id: int) -> str:
    return f"help_request:{request_id}"


def now_us() -> int:
    return lots.to_us(clock.now())


def is_office(me: Principal) -> bool:
    """The community office: admins and organizers decide disputes and see the board."""
    return me.has_role(ADMIN, ORGANIZER)


# -- who and where -------------------------------------------------------------------------------


async def place_of(community_id: int, person_id: int) -> Place:
    """Where the person lives: their household (not archived), its building and grid."""
    rows = await fetch(
        "SELECT h.id, h.building, h.grid FROM person p"
        " JOIN household h ON h.id = p.household AND h.archived_at IS NULL"
        " WHERE p.id = {} AND p.community = {}", person_id, community_id,
    )
    if not rows:
        return Place(None, None, None)
    return Place(rows[0]["id"], rows[0]["building"], rows[0]["grid"])


async def worker_grids(community_id: int, person_id: int) -> frozenset[int]:
    """The grids the person works (网格员), of the community, not archived."""
    rows = await fetch(
        "SELECT w.grid FROM grid_worker w JOIN grid g ON g.id = w.grid"
        " WHERE w.person = {} AND g.community = {} AND g.archived_at IS NULL", person_id, community_id,
    )
    return frozenset(row["grid"] for row in rows)


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads or acts, with what the rules ask of them."""

    me: Principal
    place: Place
    grids: frozenset[int]

    @property
    def office(self) -> bool:
        return is_office(self.me)

    @property
    def resident(self) -> bool:
        return self.me.has_role(RESIDENT)


async def reader(me: Principal) -> Reader:
    return Reader(me, await place_of(me.community_id, me.id), await worker_grids(me.community_id, me.id))


ROW_SQL = (
    "SELECT r.*, q.name AS requester_name, q.household AS requester_household,"
    " v.name AS volunteer_name, v.household AS volunteer_household,"
    " b.name AS building_name, h.unit, h.room, g.name AS grid_name"
    " FROM help_request r JOIN person q ON q.id = r.requester"
    " LEFT JOIN person v ON v.id = r.volunteer"
    " LEFT JOIN building b ON b.id = r.building LEFT JOIN household h ON h.id = r.household"
    " LEFT JOIN grid g ON g.id = r.grid"
)


async def row_of(community_id: int, request_id: int) -> dict:
    if isinstance(request_id, bool) or not 1 <= request_id <= MAX_ID:
        raise NotFound(field="request_id")
    rows = await fetch(ROW_SQL + " WHERE r.id = {} AND r.community = {}", request_id, community_id)
    if not rows:
        raise NotFound(field="request_id")
    return rows[0]


def _concerns(row: dict, who: Reader) -> bool:
    """Is the reader one of the people the request concerns?"""
    me = who.me.id
    return (me in (row["requester"], row["posted_by"], row["volunteer"]) or who.office
            or (row["grid"] is not None and row["grid"] in who.grids))


def may_read(row: dict, who: Reader) -> bool:
    if _concerns(row, who):
        return True
    # Neighbours see it from the moment volunteers may take it: a stale page's claim then hears
    # that someone took it (409), not that it vanished. Not while the office reviews it.
    return (row["state"] != "review" and who.resident
            and rules.visible_to_neighbour(row["visibility"], _place(row), who.place))


def _place(row: dict) -> Place:
    return Place(row["household"], row["building"], row["grid"])


def _own_household(row: dict, person_id: int, household: int | None) -> bool:
    """Is the person the requester or of the requester's household (then or now)?"""
    return (person_id == row["requester"] or rules.same_household(household, row["household"])
            or rules.same_household(household, row["requester_household"]))


def _may_confirm(row: dict, who: Reader) -> bool:
    """The requester, or the grid worker for them; never the volunteer or their household."""
    if who.me.id == row["volunteer"] or rules.same_household(who.place.household, row["volunteer_household"]):
        return False
    return who.me.id in (row["requester"], row["posted_by"]) or (row["grid"] in who.grids)


def actions(row: dict, who: Reader) -> list[Action]:
    """What the reader may do with the request now (each step checks it again when taken)."""
    state, me = row["state"], who.me.id
    found: list[Action] = []
    if (state == "open" and who.resident and not _own_household(row, me, who.place.household)
            and rules.visible_to_neighbour(row["visibility"], _place(row), who.place)):
        found.append("claim")
    if state == "claimed" and (me == row["volunteer"] or who.office):
        found.append("release")
    if state == "claimed" and _may_confirm(row, who):
        found += ["confirm", "dispute"]
    if state in rules.WITHDRAWABLE and (me in (row["requester"], row["posted_by"]) or who.office):
        found.append("withdraw")
        if me in (row["requester"], row["posted_by"]):
            found.append("photo")
    if state == "review" and who.office:
        found.append("review")
    if state == "disputed" and who.office:
        found.append("resolve")
    return found


def view_of(row: dict, who: Reader | None, base: str = "/api/help-requests") -> HelpRequestView:
    """The request as the reader may see it (``who`` None: the office's export and board)."""
    close = who is None or _concerns(row, who)
    building = row["building_name"] or ""
    place = f"{building}{row['unit'] or ''}{row['room'] or ''}" if close else building
    photo = f"{base}/{row['id']}/photo.jpg" if row["has_photo"] else None
    return HelpRequestView(
        id=row["id"], category=row["category"], category_name=CATEGORY_NAMES[row["category"]],
        visibility=row["visibility"], body=row["body"], state=row["state"],
        requester=mask_name(row["requester_name"]), assisted=row["posted_by"] != row["requester"],
        place=place, grid=row["grid_name"], posted_at=lots.from_us(row["posted_us"]),
        volunteer=mask_name(row["volunteer_name"]) if row["volunteer_name"] else None,
        claimed_at=lots.from_us(row["claimed_us"]) if row["claimed_us"] else None,
        escalated=row["escalated_us"] is not None,
        done_at=lots.from_us(row["done_us"]) if row["done_us"] else None,
        hours=format_points(int(row["hours"])), points=format_points(int(row["points"])),
        note=row["note"] if close else None, photo_url=photo,
        actions=[] if who is None else actions(row, who),
        mine=who is not None and who.me.id == row["requester"],
    )


async def readable_row(me: Principal, request_id: int, who: Reader | None = None) -> tuple[Reader, dict]:
    """The reader (``who``, when a step already has it) and the request's row; 404 for a request
    the reader may not see (as for another community's)."""
    who = who or await reader(me)
    row = await row_of(me.community_id, request_id)
    if not may_read(row, who):
        raise NotFound(field="request_id")
    return who, row


async def get(me: Principal, request_id: int, who: Reader | None = None) -> HelpRequestView:
    """One request as the reader may see it (after a step, with the reader it already has)."""
    who, row = await readable_row(me, request_id, who)
    return view_of(row, who)


# -- lists ---------------------------------------------------------------------------------------

async def listing(me: Principal, which: str, limit: int, cursor: str | None) -> HelpRequestPage:
    """``near``: open requests the reader may take (their building's, grid's, the community's);
    ``posted``: those they asked for (or posted for someone); ``claimed``: those they took."""
    after = parse_cursor(cursor)
    who = await reader(me)
    where = ["r.community = {}"]
    args: list[object] = [me.community_id]
    if which == "near":
        where.append("r.state = 'open' AND (r.visibility = 'community'"
                     " OR (r.visibility = 'grid' AND r.grid = {})"
                     " OR (r.visibility = 'building' AND r.building = {}))")
        args += [who.place.grid or 0, who.place.building or 0]
    elif which == "posted":
        where.append("(r.requester = {} OR r.posted_by = {})")
        args += [me.id, me.id]
    else:
        where.append("r.id IN (SELECT c.request FROM help_claim c"
                     " WHERE c.volunteer = {} AND c.community = {})")
        args += [me.id, me.community_id]
    if after is not None:
        where.append("r.id < {}")
        args.append(after)
    rows = await fetch(ROW_SQL + " WHERE " + " AND ".join(where) + f" ORDER BY r.id DESC LIMIT {limit + 1}",
                       *args)
    more = len(rows) > limit
    rows = rows[:limit]
    return HelpRequestPage([view_of(row, who) for row in rows], str(rows[-1]["id"]) if more else None)


# -- posting -------------------------------------------------------------------------------------


def _body(text: str) -> str:
    cleaned = " ".join(text.split())
    if not 1 <= len(cleaned) <= rules.MAX_BODY:
        raise InvalidInput("invalid_help_body", field="body", max=rules.MAX_BODY)
    return cleaned


def _post_steps(community_id: int, requester: int, posted_by: int, place: Place, category: str,
                visibility: str, body: str, at_us: int) -> Steps[int]:
    yield from lots.people_locked([requester])
    waiting = yield (
        "SELECT COUNT(*) AS n FROM help_request WHERE community = {} AND requester = {}"
        f" AND state IN ({', '.join(repr(s) for s in WAITING)})", (community_id, requester))
    if int(waiting[0]["n"]) >= rules.MAX_WAITING:
        raise Conflict("help_too_many_waiting", field="body", max=rules.MAX_WAITING)
    state = rules.state_after_posting(category)
    rows = yield (
        "INSERT INTO help_request (community, requester, posted_by, household, building, grid, category,"
        " visibility, body, state, posted_us, open_since_us)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})"
        " RETURNING id",
        (community_id, requester, posted_by, place.household, place.building, place.grid, category,
         visibility, body, state, at_us, at_us if state == "open" else None),
    )
    request_id = rows[0]["id"]
    action = "help_posted" if requester == posted_by else "help_posted_assisted"
    yield audit.entry(community_id, posted_by, action, subject(request_id))
    return request_id


def _check_place(visibility: str, place: Place) -> None:
    if (visibility == "building" and place.building is None) or (visibility == "grid" and place.grid is None):
        raise InvalidInput("help_needs_household", field="visibility")


async def post(me: Principal, data: NewRequest) -> HelpRequestView:
    """A resident asks for help; a dispute waits for the office (``review``)."""
    if not me.has_role(RESIDENT):
        raise Forbidden()
    body = _body(data.body)
    who = await reader(me)
    _check_place(data.visibility, who.place)
    request_id = await write(_post_steps, me.community_id, me.id, me.id, who.place, data.category,
                             data.visibility, body, now_us())
    log.info("help request %s posted (%s)", request_id, data.category)
    return await get(me, request_id, who)


async def post_for(me: Principal, data: AssistedRequest) -> HelpRequestView:
    """A grid worker (or the office) posts for a resident of their grid who has no phone."""
    if isinstance(data.person_id, bool) or not 1 <= data.person_id <= MAX_ID:
        raise NotFound(field="person_id")
    rows = await fetch("SELECT roles, erased_at FROM person WHERE id = {} AND community = {}",
                       data.person_id, me.community_id)
    if not rows or rows[0]["erased_at"] is not None or RESIDENT not in decode_roles(rows[0]["roles"]):
        raise NotFound(field="person_id")
    body = _body(data.body)
    place = await place_of(me.community_id, data.person_id)
    works_there = place.grid is not None and place.grid in await worker_grids(me.community_id, me.id)
    if not (is_office(me) or works_there):
        raise Conflict("help_not_your_grid", field="person_id")
    _check_place(data.visibility, place)
    request_id = await write(_post_steps, me.community_id, data.person_id, me.id, place, data.category,
                             data.visibility, body, now_us())
    log.info("help request %s posted for a resident (%s)", request_id, data.category)
    return await get(me, request_id)


# -- claiming ------------------------------------------------------------------------------------

_LOCK_SQL = ("SELECT r.*, q.household AS requester_household FROM help_request r"
             " JOIN person q ON q.id = r.requester WHERE r.id = {} AND r.community = {}")


def locked_row(community_id: int, request_id: int) -> Steps[dict]:
    # OF r: the requester's row is only read (people are locked first, by the units that lock them).
    lock = " FOR NO KEY UPDATE OF r" if on_postgres() else ""
    rows = yield (_LOCK_SQL + lock, (request_id, community_id))
    if not rows:
        raise NotFound(field="request_id")
    return rows[0]


def _claim_steps(community_id: int, request_id: int, volunteer: int, place: Place, at_us: int) -> Steps[None]:
    yield from lots.people_locked([volunteer])
    found = yield from terms_steps(community_id)
    row = yield from locked_row(community_id, request_id)
    if row["state"] == "claimed" and row["volunteer"] == volunteer:
        return  # the same volunteer's second tap: it is theirs already
    if not rules.visible_to_neighbour(row["visibility"], _place(row), place):
        raise NotFound(field="request_id")
    if row["state"] != "open":
        raise Conflict("help_not_open", state=row["state"])
    if _own_household(row, volunteer, place.household):
        raise Conflict("help_own_household")
    day_us = lots.china_day_and_month(lots.from_us(at_us))[0]
    claimed = yield ("SELECT COUNT(*) AS n FROM help_claim WHERE community = {} AND volunteer = {}"
                     " AND claimed_us >= {}", (community_id, volunteer, day_us))
    if int(claimed[0]["n"]) >= found.claims_per_day:
        raise Conflict("help_claims_cap", cap=found.claims_per_day)
    yield ("INSERT INTO help_claim (request, community, volunteer, claimed_us) VALUES ({}, {}, {}, {})",
           (request_id, community_id, volunteer, at_us))
    yield ("UPDATE help_request SET state = 'claimed', volunteer = {}, claimed_us = {}, open_since_us = NULL"
           " WHERE id = {}", (volunteer, at_us, request_id))
    yield audit.entry(community_id, volunteer, "help_claimed", subject(request_id))


async def claim(me: Principal, request_id: int) -> HelpRequestView:
    if not me.has_role(RESIDENT):
        raise Forbidden()
    who, _ = await readable_row(me, request_id)
    await write(_claim_steps, me.community_id, request_id, me.id, who.place, now_us())
    return await get(me, request_id, who)


def reopened_steps(request_id: int, outcome: str, at_us: int, state: str = "open") -> Steps[None]:
    """The current claim ends (``outcome``) and the request is open again (or ``state``)."""
    yield ("UPDATE help_claim SET ended_us = {}, outcome = {} WHERE request = {} AND ended_us IS NULL",
           (at_us, outcome, request_id))
    yield ("UPDATE help_request SET state = {}, volunteer = NULL, claimed_us = NULL, open_since_us = {}"
           " WHERE id = {}", (state, at_us if state == "open" else None, request_id))


def _release_steps(community_id: int, request_id: int, actor: int, office: bool, at_us: int) -> Steps[None]:
    row = yield from locked_row(community_id, request_id)
    if row["state"] != "claimed" or not (row["volunteer"] == actor or office):
        raise Conflict("help_not_claimed", state=row["state"])
    yield from reopened_steps(request_id, "released" if row["volunteer"] == actor else "reopened", at_us)
    yield audit.entry(community_id, actor, "help_released", subject(request_id))


async def release(me: Principal, request_id: int) -> HelpRequestView:
    """The volunteer gives the request back — or the office takes it from a volunteer who went
    quiet — and it is open again for others."""
    who, _ = await readable_row(me, request_id)
    await write(_release_steps, me.community_id, request_id, me.id, who.office, now_us())
    return await get(me, request_id, who)


# -- the photo -------------------------------------------------------------------------------------


def _photo_steps(community_id: int, request_id: int, image: bytes, thumb: bytes) -> Steps[None]:
    row = yield from locked_row(community_id, request_id)
    if row["state"] not in rules.WITHDRAWABLE:
        raise Conflict("help_not_open", state=row["state"])
    yield ("INSERT INTO help_photo (request, image, thumb) VALUES ({}, {}, {}) ON CONFLICT (request)"
           " DO UPDATE SET image = excluded.image, thumb = excluded.thumb", (request_id, image, thumb))
    yield ("UPDATE help_request SET has_photo = {} WHERE id = {}", (True, request_id))


async def may_add_photo(me: Principal, request_id: int) -> None:
    _, row = await readable_row(me, request_id)
    if me.id not in (row["requester"], row["posted_by"]):
        raise Conflict("help_not_yours")


async def store_photo(me: Principal, request_id: int, image: bytes, thumb: bytes) -> HelpRequestView:
    await write(_photo_steps, me.community_id, request_id, image, thumb)
    return await get(me, request_id)


async def photo(me: Principal, request_id: int, which: str) -> bytes:
    await readable_row(me, request_id)
    column = "thumb" if which == "thumb" else "image"
    rows = await fetch(f"SELECT {column} AS picture FROM help_photo WHERE request = {{}}", request_id)
    if not rows:
        raise NotFound()
    return bytes(rows[0]["picture"])
