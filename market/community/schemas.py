"""What the community's API takes and answers: its structure (compounds, buildings, grids,
households, teams, with grid workers and team members), a community by its slug, and
doorplates with the 民声 hotline. The rules that check the values are ``market.community.rules``
(names, addresses) and ``market.community.doorplates`` (the hotline); the services use these
shapes."""

from datetime import datetime
from typing import Annotated

import msgspec

from market.community.doorplates import MAX_HOTLINE
from market.community.rules import MAX_ADDRESS, MAX_NAME
from market.constraints import text

# -- the structure -----------------------------------------------------------------------------


class CompoundView(msgspec.Struct):
    id: int
    name: str
    archived_at: datetime | None


class BuildingView(msgspec.Struct):
    id: int
    compound_id: int
    name: str
    archived_at: datetime | None


class GridView(msgspec.Struct):
    id: int
    name: str
    archived_at: datetime | None


class TeamView(msgspec.Struct):
    id: int
    name: str
    archived_at: datetime | None


class HouseholdView(msgspec.Struct):
    id: int
    building_id: int
    unit: str
    room: str
    grid_id: int | None
    archived_at: datetime | None


class HouseholdPage(msgspec.Struct):
    items: list[HouseholdView]
    next_cursor: str | None


class GridWorkerView(msgspec.Struct):
    person_id: int
    name: str


class TeamMemberView(msgspec.Struct):
    person_id: int
    name: str
    is_leader: bool
    joined_at: datetime


class CompoundList(msgspec.Struct):
    items: list[CompoundView]


class BuildingList(msgspec.Struct):
    items: list[BuildingView]


class GridList(msgspec.Struct):
    items: list[GridView]


class TeamList(msgspec.Struct):
    items: list[TeamView]


class GridWorkerList(msgspec.Struct):
    items: list[GridWorkerView]


class TeamMemberList(msgspec.Struct):
    items: list[TeamMemberView]


class NameRequest(msgspec.Struct):
    name: Annotated[str, text(MAX_NAME)]


class NewBuildingRequest(msgspec.Struct):
    compound_id: int
    name: Annotated[str, text(MAX_NAME)]


class NewHouseholdRequest(msgspec.Struct):
    building_id: int
    room: Annotated[str, text(MAX_ADDRESS)]
    unit: Annotated[str, text(MAX_ADDRESS, required=False)] = ""
    grid_id: int | None = None


class HouseholdChange(msgspec.Struct):
    unit: str | None = None
    room: str | None = None
    grid_id: int | msgspec.UnsetType | None = msgspec.UNSET
    """Another grid's id, or null for none; leave out to keep the grid."""


class PersonRequest(msgspec.Struct):
    person_id: int


class TeamMemberRequest(msgspec.Struct):
    person_id: int
    is_leader: bool = False


# -- a community by its slug -------------------------------------------------------------------


class CommunitySlugView(msgspec.Struct):
    id: int
    name: str
    slug: str


# -- doorplates and the hotline ----------------------------------------------------------------


class ReissuedPlate(msgspec.Struct):
    household_id: int
    version: int


class PlateView(msgspec.Struct):
    """What a scanned plate tells anyone: no names, no points."""

    community: str
    slug: str | None
    address: str
    hotline: str | None


class Hotline(msgspec.Struct):
    hotline: str | None


class HotlineRequest(msgspec.Struct, forbid_unknown_fields=True):
    #: "" clears it.
    hotline: Annotated[str, text(MAX_HOTLINE)]
