"""A community's structure: compounds (小区), buildings (楼栋), grids (网格), households (户)
and volunteer teams (志愿服务队), with grid workers and team members.

Every query is scoped by community, so another community's records are simply
not found. Records that others point at are never deleted: they are archived,
hidden from lists, refuse changes and new children, and can be restored.
Memberships (a grid's workers, a team's members) are links, so they are removed.
Names and addresses are checked by ``market.community.rules``; the shapes the services answer
with are ``market.community.schemas``.
"""

from piccolo.table import Table

from market import clock
from market.community.rules import clean_address_part, clean_name
from market.community.schemas import (
    BuildingView,
    CompoundView,
    GridView,
    GridWorkerView,
    HouseholdPage,
    HouseholdView,
    TeamMemberView,
    TeamView,
)
from market.db import is_unique_violation
from market.errors import Conflict, NotFound
from market.tables import Building, Compound, Grid, GridWorker, Household, Person, Team, TeamMember

MAX_PAGE = 500


# -- shared helpers -------------------------------------------------------------------


async def _row(table: type[Table], community_id: int, record_id: int) -> dict:
    """The record of this community, or 404 (also for another community's records)."""
    row = await table.select().where(
        (table.community == community_id) & (table.id == record_id)  # type: ignore[attr-defined]
    ).first()
    if row is None:
        raise NotFound()
    return row


async def _usable(table: type[Table], community_id: int, record_id: int, field: str) -> dict:
    """A record to attach something to: of this community (else 404) and not archived (409)."""
    try:
        row = await _row(table, community_id, record_id)
    except NotFound:
        raise NotFound(field=field) from None
    if row["archived_at"] is not None:
        raise Conflict("archived", field=field)
    return row


async def _insert(table: type[Table], taken: str, **values: object) -> int:
    try:
        rows = await table.insert(table(**values)).returning(table.id)  # type: ignore[attr-defined]
    except Exception as error:
        if is_unique_violation(error):
            raise Conflict(taken, field="name" if taken == "name_taken" else "room") from None
        raise
    return rows[0]["id"]


async def _update(table: type[Table], record_id: int, taken: str, values: dict) -> None:
    try:
        await table.update(values).where(table.id == record_id)  # type: ignore[attr-defined]
    except Exception as error:
        if is_unique_violation(error):
            raise Conflict(taken, field="name" if taken == "name_taken" else "room") from None
        raise


def _listed(table: type[Table], community_id: int, archived: bool):
    where = table.community == community_id  # type: ignore[attr-defined]
    if not archived:
        where &= table.archived_at.is_null()  # type: ignore[attr-defined]
    return where


async def _rename(table: type[Table], community_id: int, record_id: int, name: str) -> dict:
    name = clean_name(name)
    row = await _row(table, community_id, record_id)
    if row["archived_at"] is not None:
        raise Conflict("archived")
    if row["name"] != name:
        await _update(table, record_id, "name_taken", {table.name: name})  # type: ignore[attr-defined]
        row["name"] = name
    return row


async def _set_archived(
    table: type[Table], community_id: int, record_id: int, archived: bool
) -> dict:
    """Archive (idempotent: the first archiving time stays) or restore a record."""
    row = await _row(table, community_id, record_id)
    if archived and row["archived_at"] is None:
        row["archived_at"] = clock.now()
    elif not archived:
        row["archived_at"] = None
    await table.update({table.archived_at: row["archived_at"]}).where(  # type: ignore[attr-defined]
        table.id == record_id  # type: ignore[attr-defined]
    )
    return row


# -- compounds, grids, teams: a name in a community ---------------------------------------------


def _compound(row: dict) -> CompoundView:
    return CompoundView(id=row["id"], name=row["name"], archived_at=row["archived_at"])


def _grid(row: dict) -> GridView:
    return GridView(id=row["id"], name=row["name"], archived_at=row["archived_at"])


def _team(row: dict) -> TeamView:
    return TeamView(id=row["id"], name=row["name"], archived_at=row["archived_at"])


async def create_compound(community_id: int, name: str) -> CompoundView:
    name = clean_name(name)
    new_id = await _insert(Compound, "name_taken", community=community_id, name=name)
    return CompoundView(id=new_id, name=name, archived_at=None)


async def list_compounds(community_id: int, archived: bool = False) -> list[CompoundView]:
    rows = await Compound.select().where(_listed(Compound, community_id, archived)).order_by(
        Compound.id
    )
    return [_compound(row) for row in rows]


async def get_compound(community_id: int, compound_id: int) -> CompoundView:
    return _compound(await _row(Compound, community_id, compound_id))


async def rename_compound(community_id: int, compound_id: int, name: str) -> CompoundView:
    return _compound(await _rename(Compound, community_id, compound_id, name))


async def archive_compound(community_id: int, compound_id: int, archived: bool = True) -> CompoundView:
    return _compound(await _set_archived(Compound, community_id, compound_id, archived))


async def create_grid(community_id: int, name: str) -> GridView:
    name = clean_name(name)
    new_id = await _insert(Grid, "name_taken", community=community_id, name=name)
    return GridView(id=new_id, name=name, archived_at=None)


async def list_grids(community_id: int, archived: bool = False) -> list[GridView]:
    rows = await Grid.select().where(_listed(Grid, community_id, archived)).order_by(Grid.id)
    return [_grid(row) for row in rows]


async def get_grid(community_id: int, grid_id: int) -> GridView:
    return _grid(await _row(Grid, community_id, grid_id))


async def rename_grid(community_id: int, grid_id: int, name: str) -> GridView:
    return _grid(await _rename(Grid, community_id, grid_id, name))


async def archive_grid(community_id: int, grid_id: int, archived: bool = True) -> GridView:
    return _grid(await _set_archived(Grid, community_id, grid_id, archived))


async def create_team(community_id: int, name: str) -> TeamView:
    name = clean_name(name)
    new_id = await _insert(Team, "name_taken", community=community_id, name=name)
    return TeamView(id=new_id, name=name, archived_at=None)


async def list_teams(community_id: int, archived: bool = False) -> list[TeamView]:
    rows = await Team.select().where(_listed(Team, community_id, archived)).order_by(Team.id)
    return [_team(row) for row in rows]


async def get_team(community_id: int, team_id: int) -> TeamView:
    return _team(await _row(Team, community_id, team_id))


async def rename_team(community_id: int, team_id: int, name: str) -> TeamView:
    return _team(await _rename(Team, community_id, team_id, name))


async def archive_team(community_id: int, team_id: int, archived: bool = True) -> TeamView:
    return _team(await _set_archived(Team, community_id, team_id, archived))


# -- buildings: a name in a compound -------------------------------------------------------------


def _building(row: dict) -> BuildingView:
    return BuildingView(
        id=row["id"], compound_id=row["compound"], name=row["name"], archived_at=row["archived_at"]
    )


async def create_building(community_id: int, compound_id: int, name: str) -> BuildingView:
    name = clean_name(name)
    await _usable(Compound, community_id, compound_id, "compound_id")
    new_id = await _insert(
        Building, "name_taken", community=community_id, compound=compound_id, name=name
    )
    return BuildingView(id=new_id, compound_id=compound_id, name=name, archived_at=None)


async def list_buildings(
    community_id: int, compound_id: int | None = None, archived: bool = False
) -> list[BuildingView]:
    where = _listed(Building, community_id, archived)
    if compound_id is not None:
        where &= Building.compound == compound_id
    rows = await Building.select().where(where).order_by(Building.id)
    return [_building(row) for row in rows]


async def get_building(community_id: int, building_id: int) -> BuildingView:
    return _building(await _row(Building, community_id, building_id))


async def rename_building(community_id: int, building_id: int, name: str) -> BuildingView:
    return _building(await _rename(Building, community_id, building_id, name))


async def archive_building(
    community_id: int, building_id: int, archived: bool = True
) -> BuildingView:
    if not archived:
        row = await _row(Building, community_id, building_id)
        await _usable(Compound, community_id, row["compound"], "compound_id")
    return _building(await _set_archived(Building, community_id, building_id, archived))


# -- households: an address (building, unit, room) in a grid ---------------------------------------


def _household(row: dict) -> HouseholdView:
    return HouseholdView(
        id=row["id"], building_id=row["building"], unit=row["unit"], room=row["room"],
        grid_id=row["grid"], archived_at=row["archived_at"],
    )


async def create_household(
    community_id: int, building_id: int, unit: str, room: str, grid_id: int | None = None
) -> HouseholdView:
    unit = clean_address_part(unit, "unit", required=False)
    room = clean_address_part(room, "room", required=True)
    await _usable(Building, community_id, building_id, "building_id")
    if grid_id is not None:
        await _usable(Grid, community_id, grid_id, "grid_id")
    new_id = await _insert(
        Household, "address_taken", community=community_id, building=building_id, unit=unit,
        room=room, grid=grid_id,
    )
    return HouseholdView(
        id=new_id, building_id=building_id, unit=unit, room=room, grid_id=grid_id, archived_at=None
    )


async def list_households(
    community_id: int, *, building_id: int | None = None, grid_id: int | None = None,
    archived: bool = False, limit: int = 100, after: int | None = None,
) -> HouseholdPage:
    where = _listed(Household, community_id, archived)
    if building_id is not None:
        where &= Household.building == building_id
    if grid_id is not None:
        where &= Household.grid == grid_id
    if after is not None:
        where &= Household.id > after
    limit = max(1, min(limit, MAX_PAGE))
    rows = await Household.select().where(where).order_by(Household.id).limit(limit + 1)
    items = [_household(row) for row in rows[:limit]]
    return HouseholdPage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)


async def find_household(
    community_id: int, building_id: int, unit: str, room: str
) -> HouseholdView | None:
    """The household at this address (unit and room cleaned as when it was created), if any."""
    unit = clean_address_part(unit, "unit", required=False)
    room = clean_address_part(room, "room", required=True)
    row = await Household.select().where(
        (Household.community == community_id) & (Household.building == building_id)
        & (Household.unit == unit) & (Household.room == room)
    ).first()
    return None if row is None else _household(row)


async def get_household(community_id: int, household_id: int) -> HouseholdView:
    return _household(await _row(Household, community_id, household_id))


KEEP_GRID = object()


async def change_household(
    community_id: int, household_id: int, *, unit: str | None = None, room: str | None = None,
    grid_id: int | object | None = KEEP_GRID,
) -> HouseholdView:
    """Correct the address or move the household to another grid (``grid_id=None``: no grid)."""
    row = await _row(Household, community_id, household_id)
    if row["archived_at"] is not None:
        raise Conflict("archived")
    values: dict = {}
    if unit is not None:
        values[Household.unit] = row["unit"] = clean_address_part(unit, "unit", required=False)
    if room is not None:
        values[Household.room] = row["room"] = clean_address_part(room, "room", required=True)
    if grid_id is not KEEP_GRID:
        if grid_id is not None:
            await _usable(Grid, community_id, grid_id, "grid_id")  # type: ignore[arg-type]
        values[Household.grid] = row["grid"] = grid_id
    if values:
        await _update(Household, household_id, "address_taken", values)
    return _household(row)


async def archive_household(
    community_id: int, household_id: int, archived: bool = True
) -> HouseholdView:
    if not archived:
        row = await _row(Household, community_id, household_id)
        await _usable(Building, community_id, row["building"], "building_id")
    return _household(await _set_archived(Household, community_id, household_id, archived))


async def household_of_community(community_id: int, household_id: int) -> None:
    """For enrolment: the household must be this community's (404) and in use (409)."""
    await _usable(Household, community_id, household_id, "household_id")


# -- grid workers and team members: links, removed when they end -------------------------------------


async def _person_name(community_id: int, person_id: int) -> str:
    row = await Person.select(Person.name).where(
        (Person.community == community_id) & (Person.id == person_id)
    ).first()
    if row is None:
        raise NotFound(field="person_id")
    return row["name"]


async def add_grid_worker(community_id: int, grid_id: int, person_id: int) -> GridWorkerView:
    """Idempotent: adding a worker twice leaves one link."""
    await _usable(Grid, community_id, grid_id, "grid_id")
    name = await _person_name(community_id, person_id)
    try:
        await GridWorker.insert(GridWorker(grid=grid_id, person=person_id))
    except Exception as error:
        if not is_unique_violation(error):
            raise
    return GridWorkerView(person_id=person_id, name=name)


async def list_grid_workers(community_id: int, grid_id: int) -> list[GridWorkerView]:
    await _row(Grid, community_id, grid_id)
    rows = await GridWorker.select(GridWorker.person, GridWorker.person.name).where(
        GridWorker.grid == grid_id
    ).order_by(GridWorker.id)
    return [GridWorkerView(person_id=row["person"], name=row["person.name"]) for row in rows]


async def remove_grid_worker(community_id: int, grid_id: int, person_id: int) -> None:
    await _row(Grid, community_id, grid_id)
    if not await GridWorker.exists().where(
        (GridWorker.grid == grid_id) & (GridWorker.person == person_id)
    ):
        raise NotFound(field="person_id")
    await GridWorker.delete().where((GridWorker.grid == grid_id) & (GridWorker.person == person_id))


async def add_team_member(
    community_id: int, team_id: int, person_id: int, is_leader: bool = False
) -> TeamMemberView:
    """Add a member, or change whether an existing member leads the team."""
    await _usable(Team, community_id, team_id, "team_id")
    name = await _person_name(community_id, person_id)
    where = (TeamMember.team == team_id) & (TeamMember.person == person_id)
    row = await TeamMember.select(TeamMember.joined_at).where(where).first()
    if row is None:
        joined_at = clock.now()
        try:
            await TeamMember.insert(
                TeamMember(team=team_id, person=person_id, is_leader=is_leader, joined_at=joined_at)
            )
        except Exception as error:
            if not is_unique_violation(error):
                raise
    else:
        joined_at = row["joined_at"]
        await TeamMember.update({TeamMember.is_leader: is_leader}).where(where)
    return TeamMemberView(person_id=person_id, name=name, is_leader=is_leader, joined_at=joined_at)


async def list_team_members(community_id: int, team_id: int) -> list[TeamMemberView]:
    await _row(Team, community_id, team_id)
    rows = await TeamMember.select(
        TeamMember.person, TeamMember.person.name, TeamMember.is_leader, TeamMember.joined_at
    ).where(TeamMember.team == team_id).order_by(TeamMember.id)
    # Leaders first, then in the order people joined.
    members = [
        TeamMemberView(person_id=row["person"], name=row["person.name"],
                       is_leader=row["is_leader"], joined_at=row["joined_at"])
        for row in rows
    ]
    return sorted(members, key=lambda member: not member.is_leader)


async def remove_team_member(community_id: int, team_id: int, person_id: int) -> None:
    await _row(Team, community_id, team_id)
    where = (TeamMember.team == team_id) & (TeamMember.person == person_id)
    if not await TeamMember.exists().where(where):
        raise NotFound(field="person_id")
    await TeamMember.delete().where(where)
