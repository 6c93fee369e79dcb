"""Whom a grid worker may post a 民声 request for (``service.post_for``, an elder without a phone):
the residents living in the grids they work, names masked, with their address, for the assisted
form's picker. The office (organizers, admins) may post for any resident, so for them the
picker reaches the whole community. A short list to choose from, narrowed by part of a name or
an address, never a directory: at most ``MAX_LISTED``.
"""

import msgspec

from market.auth.sessions import Principal
from market.db import fetch
from market.help_requests.service import is_office, worker_grids
from market.people.rules import mask_name

#: Residents the picker lists at once; typing part of a name or a room narrows it.
MAX_LISTED = 50
MAX_SEARCH = 50


class ResidentChoice(msgspec.Struct):
    person_id: int
    name: str
    """Masked (张*明): the worker knows the people of their grid by their door."""
    address: str
    """Building, unit and room (3号楼2单元301); empty for a resident in no household."""
    grid: str | None


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def is_grid_worker(me: Principal) -> bool:
    """Does the reader work a grid of their community (网格员)?"""
    return bool(await worker_grids(me.community_id, me.id))


async def may_post_for_others(me: Principal) -> bool:
    """May the reader open the assisted form at all: a grid worker, or the office."""
    return is_office(me) or await is_grid_worker(me)


async def residents_of_my_grids(
    me: Principal, search: str = "", limit: int = MAX_LISTED
) -> list[ResidentChoice]:
    """Residents (not erased) living in the grids the reader works — or, for the office, anywhere
    in the community — whose name, building or room contains ``search``; by address. Nobody's
    for a reader who is neither (their post would be refused: ``help_not_your_grid``)."""
    search = " ".join(search.split())[:MAX_SEARCH]
    grids = sorted(await worker_grids(me.community_id, me.id))
    office = is_office(me)
    if not grids and not office:
        return []
    sql = (
        "SELECT p.id, p.name, b.name AS building, h.unit, h.room, g.name AS grid FROM person p"
        " LEFT JOIN household h ON h.id = p.household AND h.archived_at IS NULL"
        " LEFT JOIN building b ON b.id = h.building LEFT JOIN grid g ON g.id = h.grid"
        " WHERE p.community = {} AND p.erased_at IS NULL AND p.roles LIKE {}"
    )
    args: list[object] = [me.community_id, "%resident%"]
    if not office:
        sql += f" AND h.grid IN ({', '.join('{}' for _ in grids)})"
        args += grids
    if search:
        sql += (" AND (p.name LIKE {} ESCAPE '\\' OR b.name LIKE {} ESCAPE '\\'"
                " OR h.room LIKE {} ESCAPE '\\')")
        args += [_like(search)] * 3
    # Those with no address last (NULLs sort differently on the two engines: say it).
    sql += (" ORDER BY CASE WHEN b.name IS NULL THEN 1 ELSE 0 END, b.name, h.unit, h.room, p.id"
            " LIMIT {}")
    rows = await fetch(sql, *args, limit)
    return [ResidentChoice(
        person_id=row["id"], name=mask_name(row["name"]),
        address=f"{row['building'] or ''}{row['unit'] or ''}{row['room'] or ''}", grid=row["grid"],
    ) for row in rows]
