"""The assisted check-in: a resident with neither card nor phone, found by name and room (phones
masked, at most ``MAX_MATCHES``), is checked in or out by the organizer through the very same
scan unit as a member code's (``market.activities.scans``) — window, audience, capacity, caps,
公示, duplicates — and the stay keeps who did it (``assisted_by``, ``out_assisted_by``), written
with an audit entry in the same transaction."""

import logging

from ledger import Ledger
from market.activities.records import managed_row
from market.activities.scans import scan
from market.activities.schemas import CheckinResult, ResidentMatch, ResidentMatches
from market.auth.sessions import Principal
from market.db import fetch
from market.errors import InvalidInput, NotFound
from market.people.rules import mask_phone

log = logging.getLogger(__name__)

#: How many residents a search by name and room lists: a short list to choose from, not a
#: directory.
MAX_MATCHES = 20


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
    await managed_row(me, activity_id)
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
    await managed_row(me, activity_id)
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
    result = await scan(ledger, me.community_id, activity_id, person_id, me.id, direction,
                        assisted=True)
    if not result.duplicate:
        log.info("activity %s: person %s checked %s by hand by person %s", activity_id, person_id,
                 direction, me.id)
    return result
