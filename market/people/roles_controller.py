"""Roles over HTTP: an admin sets a person's roles and sees who holds which."""

from typing import Annotated

import msgspec
from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from market.auth.guards import requires_role
from market.auth.roles import ADMIN, ROLES
from market.auth.sessions import Principal
from market.constraints import roles_of
from market.people import roles_service
from market.people.roles_service import RoleHolder
from market.people.service import PersonView


class RolesRequest(msgspec.Struct):
    roles: Annotated[list[str], roles_of(ROLES)]
    """The person's complete new set: any of resident, organizer, shopkeeper, admin."""


class RolesController(Controller):
    path = "/"
    tags = ("roles",)
    guards = (requires_role(ADMIN),)

    @put("/people/{person_id:int}/roles", summary="Set a person's roles")
    async def set_roles(
        self, person_id: FromPath[int], data: JSONBody[RolesRequest], me: NamedDependency[Principal]
    ) -> PersonView:
        return await roles_service.set_roles(me.community_id, person_id, data.roles, actor_id=me.id)

    @get("/roles", summary="Who holds which role in the community")
    async def index(self, me: NamedDependency[Principal]) -> dict[str, list[RoleHolder]]:
        return await roles_service.role_holders(me.community_id)
