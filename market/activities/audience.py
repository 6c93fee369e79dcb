"""Who an activity is open to: everyone, unless it names a volunteer team, grids or buildings;
then their members and residents. One rule (``admits``), asked by the check-in (``eligible_steps``,
inside the scan's unit) and by the lists of activities a resident may join (``open_to``)."""

from collections.abc import Generator

from market.activities.records import ids
from market.activities.schemas import ActivityView
from market.auth.sessions import Principal
from market.db import fetch
from market.writes import Statement

#: (my volunteer teams, my grid, my building): what an activity's audience may name.
Places = tuple[set[int], int | None, int | None]


def open_to_everyone(team_id: int | None, grid_ids: list[int], building_ids: list[int]) -> bool:
    return team_id is None and not grid_ids and not building_ids


def admits(team_id: int | None, grid_ids: list[int], building_ids: list[int], places: Places) -> bool:
    """The audience rule: everyone when the activity names no one; else its team's members and
    the residents of its grids and buildings."""
    teams, grid, building = places
    if open_to_everyone(team_id, grid_ids, building_ids):
        return True
    return team_id in teams or grid in grid_ids or building in building_ids


async def places_of(me: Principal) -> Places:
    """My volunteer teams, my grid and my building."""
    teams = await fetch("SELECT team FROM team_member WHERE person = {}", me.id)
    homes = await fetch(
        "SELECT h.grid, h.building FROM person p JOIN household h ON h.id = p.household"
        " WHERE p.id = {} AND p.community = {}", me.id, me.community_id,
    )
    home = homes[0] if homes else {"grid": None, "building": None}
    return {row["team"] for row in teams}, home["grid"], home["building"]


def open_to(activity: ActivityView, places: Places) -> bool:
    """May the person of ``places`` check in to this listed activity?"""
    return admits(activity.team_id, activity.grid_ids, activity.building_ids, places)


def eligible_steps(row: dict, person_id: int) -> Generator[Statement, list[dict], bool]:
    """Is the person in the activity's audience? Inside the scan's unit, reading only what the
    answer needs: nothing for an activity open to everyone, the home only if the team did not
    already admit them."""
    grids, buildings = ids(row["grids"]), ids(row["buildings"])
    if open_to_everyone(row["team"], grids, buildings):
        return True
    if row["team"] is not None:
        member = yield ("SELECT 1 AS yes FROM team_member WHERE team = {} AND person = {}",
                        (row["team"], person_id))
        if member:
            return True
    if grids or buildings:
        homes = yield ("SELECT h.grid, h.building FROM person p JOIN household h ON h.id = p.household"
                       " WHERE p.id = {}", (person_id,))
        if homes:
            return admits(None, grids, buildings, (set(), homes[0]["grid"], homes[0]["building"]))
    return False

