"""/api/compounds, /api/buildings, /api/grids, /api/households, /api/teams: admins keep the
structure of their own community. Archive instead of delete; ``?archived=true`` lists archived too.
And ``GET /api/communities/{slug}`` (public): a community by its public address."""

from typing import Annotated

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter

from market.auth.guards import requires_role
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.community import slugs, structure
from market.community.schemas import (
    BuildingList,
    BuildingView,
    CommunitySlugView,
    CompoundList,
    CompoundView,
    GridList,
    GridView,
    GridWorkerList,
    GridWorkerView,
    HouseholdChange,
    HouseholdPage,
    HouseholdView,
    NameRequest,
    NewBuildingRequest,
    NewHouseholdRequest,
    PersonRequest,
    TeamList,
    TeamMemberList,
    TeamMemberRequest,
    TeamMemberView,
    TeamView,
)
from market.paging import Cursor, parse_cursor

Archived = Annotated[bool, QueryParameter(description="also list archived records")]
OptionalId = Annotated[int | None, QueryParameter()]


class CompoundController(Controller):
    path = "/compounds"
    tags = ("structure",)
    guards = (requires_role(ADMIN),)

    @post("/", summary="Create a compound (小区)")
    async def create(self, data: JSONBody[NameRequest], me: NamedDependency[Principal]) -> CompoundView:
        return await structure.create_compound(me.community_id, data.name)

    @get("/", summary="The community's compounds")
    async def index(self, me: NamedDependency[Principal], archived: Archived = False) -> CompoundList:
        return CompoundList(await structure.list_compounds(me.community_id, archived))

    @get("/{compound_id:int}", summary="One compound")
    async def show(self, compound_id: FromPath[int], me: NamedDependency[Principal]) -> CompoundView:
        return await structure.get_compound(me.community_id, compound_id)

    @patch("/{compound_id:int}", summary="Rename a compound")
    async def rename(
        self, compound_id: FromPath[int], data: JSONBody[NameRequest], me: NamedDependency[Principal]
    ) -> CompoundView:
        return await structure.rename_compound(me.community_id, compound_id, data.name)

    @post("/{compound_id:int}/archive", status_code=200, summary="Archive a compound")
    async def archive(self, compound_id: FromPath[int], me: NamedDependency[Principal]) -> CompoundView:
        return await structure.archive_compound(me.community_id, compound_id)

    @post("/{compound_id:int}/restore", status_code=200, summary="Restore an archived compound")
    async def restore(self, compound_id: FromPath[int], me: NamedDependency[Principal]) -> CompoundView:
        return await structure.archive_compound(me.community_id, compound_id, archived=False)


class BuildingController(Controller):
    path = "/buildings"
    tags = ("structure",)
    guards = (requires_role(ADMIN),)

    @post("/", summary="Create a building (楼栋) in a compound")
    async def create(
        self, data: JSONBody[NewBuildingRequest], me: NamedDependency[Principal]
    ) -> BuildingView:
        return await structure.create_building(me.community_id, data.compound_id, data.name)

    @get("/", summary="The community's buildings, optionally of one compound")
    async def index(
        self, me: NamedDependency[Principal], compound_id: OptionalId = None, archived: Archived = False
    ) -> BuildingList:
        return BuildingList(await structure.list_buildings(me.community_id, compound_id, archived))

    @get("/{building_id:int}", summary="One building")
    async def show(self, building_id: FromPath[int], me: NamedDependency[Principal]) -> BuildingView:
        return await structure.get_building(me.community_id, building_id)

    @patch("/{building_id:int}", summary="Rename a building")
    async def rename(
        self, building_id: FromPath[int], data: JSONBody[NameRequest], me: NamedDependency[Principal]
    ) -> BuildingView:
        return await structure.rename_building(me.community_id, building_id, data.name)

    @post("/{building_id:int}/archive", status_code=200, summary="Archive a building")
    async def archive(self, building_id: FromPath[int], me: NamedDependency[Principal]) -> BuildingView:
        return await structure.archive_building(me.community_id, building_id)

    @post("/{building_id:int}/restore", status_code=200, summary="Restore an archived building")
    async def restore(self, building_id: FromPath[int], me: NamedDependency[Principal]) -> BuildingView:
        return await structure.archive_building(me.community_id, building_id, archived=False)


class GridController(Controller):
    path = "/grids"
    tags = ("structure",)
    guards = (requires_role(ADMIN),)

    @post("/", summary="Create a grid (网格)")
    async def create(self, data: JSONBody[NameRequest], me: NamedDependency[Principal]) -> GridView:
        return await structure.create_grid(me.community_id, data.name)

    @get("/", summary="The community's grids")
    async def index(self, me: NamedDependency[Principal], archived: Archived = False) -> GridList:
        return GridList(await structure.list_grids(me.community_id, archived))

    @get("/{grid_id:int}", summary="One grid")
    async def show(self, grid_id: FromPath[int], me: NamedDependency[Principal]) -> GridView:
        return await structure.get_grid(me.community_id, grid_id)

    @patch("/{grid_id:int}", summary="Rename a grid")
    async def rename(
        self, grid_id: FromPath[int], data: JSONBody[NameRequest], me: NamedDependency[Principal]
    ) -> GridView:
        return await structure.rename_grid(me.community_id, grid_id, data.name)

    @post("/{grid_id:int}/archive", status_code=200, summary="Archive a grid")
    async def archive(self, grid_id: FromPath[int], me: NamedDependency[Principal]) -> GridView:
        return await structure.archive_grid(me.community_id, grid_id)

    @post("/{grid_id:int}/restore", status_code=200, summary="Restore an archived grid")
    async def restore(self, grid_id: FromPath[int], me: NamedDependency[Principal]) -> GridView:
        return await structure.archive_grid(me.community_id, grid_id, archived=False)

    @post("/{grid_id:int}/workers", summary="Make a person a worker of the grid (idempotent)")
    async def add_worker(
        self, grid_id: FromPath[int], data: JSONBody[PersonRequest], me: NamedDependency[Principal]
    ) -> GridWorkerView:
        return await structure.add_grid_worker(me.community_id, grid_id, data.person_id)

    @get("/{grid_id:int}/workers", summary="The grid's workers")
    async def workers(
        self, grid_id: FromPath[int], me: NamedDependency[Principal]
    ) -> GridWorkerList:
        return GridWorkerList(await structure.list_grid_workers(me.community_id, grid_id))

    @delete("/{grid_id:int}/workers/{person_id:int}", summary="A worker leaves the grid")
    async def remove_worker(
        self, grid_id: FromPath[int], person_id: FromPath[int], me: NamedDependency[Principal]
    ) -> None:
        await structure.remove_grid_worker(me.community_id, grid_id, person_id)


class HouseholdController(Controller):
    path = "/households"
    tags = ("structure",)
    guards = (requires_role(ADMIN),)

    @post("/", summary="Create a household (户) at an address")
    async def create(
        self, data: JSONBody[NewHouseholdRequest], me: NamedDependency[Principal]
    ) -> HouseholdView:
        return await structure.create_household(
            me.community_id, data.building_id, data.unit, data.room, data.grid_id
        )

    @get("/", summary="The community's households, by building or grid, in pages")
    async def index(
        self,
        me: NamedDependency[Principal],
        building_id: OptionalId = None,
        grid_id: OptionalId = None,
        archived: Archived = False,
        limit: Annotated[int, QueryParameter(ge=1, le=structure.MAX_PAGE)] = 100,
        cursor: Cursor = None,
    ) -> HouseholdPage:
        return await structure.list_households(
            me.community_id, building_id=building_id, grid_id=grid_id, archived=archived,
            limit=limit, after=parse_cursor(cursor),
        )

    @get("/{household_id:int}", summary="One household")
    async def show(self, household_id: FromPath[int], me: NamedDependency[Principal]) -> HouseholdView:
        return await structure.get_household(me.community_id, household_id)

    @patch("/{household_id:int}", summary="Correct the address or move to another grid")
    async def change(
        self, household_id: FromPath[int], data: JSONBody[HouseholdChange],
        me: NamedDependency[Principal],
    ) -> HouseholdView:
        grid = structure.KEEP_GRID if data.grid_id is msgspec.UNSET else data.grid_id
        return await structure.change_household(
            me.community_id, household_id, unit=data.unit, room=data.room, grid_id=grid
        )

    @post("/{household_id:int}/archive", status_code=200, summary="Archive a household")
    async def archive(self, household_id: FromPath[int], me: NamedDependency[Principal]) -> HouseholdView:
        return await structure.archive_household(me.community_id, household_id)

    @post("/{household_id:int}/restore", status_code=200, summary="Restore an archived household")
    async def restore(self, household_id: FromPath[int], me: NamedDependency[Principal]) -> HouseholdView:
        return await structure.archive_household(me.community_id, household_id, archived=False)


class TeamController(Controller):
    path = "/teams"
    tags = ("structure",)
    guards = (requires_role(ADMIN),)

    @post("/", summary="Create a volunteer team (志愿服务队)")
    async def create(self, data: JSONBody[NameRequest], me: NamedDependency[Principal]) -> TeamView:
        return await structure.create_team(me.community_id, data.name)

    @get("/", summary="The community's volunteer teams")
    async def index(self, me: NamedDependency[Principal], archived: Archived = False) -> TeamList:
        return TeamList(await structure.list_teams(me.community_id, archived))

    @get("/{team_id:int}", summary="One team")
    async def show(self, team_id: FromPath[int], me: NamedDependency[Principal]) -> TeamView:
        return await structure.get_team(me.community_id, team_id)

    @patch("/{team_id:int}", summary="Rename a team")
    async def rename(
        self, team_id: FromPath[int], data: JSONBody[NameRequest], me: NamedDependency[Principal]
    ) -> TeamView:
        return await structure.rename_team(me.community_id, team_id, data.name)

    @post("/{team_id:int}/archive", status_code=200, summary="Archive a team")
    async def archive(self, team_id: FromPath[int], me: NamedDependency[Principal]) -> TeamView:
        return await structure.archive_team(me.community_id, team_id)

    @post("/{team_id:int}/restore", status_code=200, summary="Restore an archived team")
    async def restore(self, team_id: FromPath[int], me: NamedDependency[Principal]) -> TeamView:
        return await structure.archive_team(me.community_id, team_id, archived=False)

    @post("/{team_id:int}/members", summary="Add a member, or set whether they lead the team")
    async def add_member(
        self, team_id: FromPath[int], data: JSONBody[TeamMemberRequest], me: NamedDependency[Principal]
    ) -> TeamMemberView:
        return await structure.add_team_member(
            me.community_id, team_id, data.person_id, data.is_leader
        )

    @get("/{team_id:int}/members", summary="The team's members, leaders first")
    async def members(
        self, team_id: FromPath[int], me: NamedDependency[Principal]
    ) -> TeamMemberList:
        return TeamMemberList(await structure.list_team_members(me.community_id, team_id))

    @delete("/{team_id:int}/members/{person_id:int}", summary="A member leaves the team")
    async def remove_member(
        self, team_id: FromPath[int], person_id: FromPath[int], me: NamedDependency[Principal]
    ) -> None:
        await structure.remove_team_member(me.community_id, team_id, person_id)


class CommunityController(Controller):
    """A community by its public address: what a printed link or QR code names."""

    path = "/communities"
    tags = ("community",)

    @get("/{slug:str}", opt={"public": True, "problems": (404,)},
         summary="A community by its slug (its old slugs and its numeric id work too); public")
    async def show(
        self, slug: Annotated[str, PathParameter(min_length=1, max_length=slugs.MAX_TYPED)],
    ) -> CommunitySlugView:
        return await slugs.resolve(slug)


STRUCTURE_CONTROLLERS = (
    CompoundController, BuildingController, GridController, HouseholdController, TeamController,
    CommunityController,
)
