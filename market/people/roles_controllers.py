"""Roles over HTTP: an admin sets a person's roles (with a staff password when a resident becomes
staff), resets a staff password, changes one role of several people at once, and sees who holds
which."""


from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from market.auth.guards import requires_role
from market.auth.hashing import SecretHasher
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.people import roles_service
from market.people.schemas import BulkRolesRequest, PasswordRequest, PersonView, RoleHolder, RolesRequest


class RolesController(Controller):
    path = "/"
    tags = ("roles",)
    guards = (requires_role(ADMIN),)

    @put("/people/{person_id:int}/roles", summary="Set a person's roles")
    async def set_roles(
        self, person_id: FromPath[int], data: JSONBody[RolesRequest], me: NamedDependency[Principal],
        hasher: NamedDependency[SecretHasher],
    ) -> PersonView:
        return await roles_service.set_roles(me.community_id, person_id, data.roles, actor_id=me.id,
                                             password=data.password, hasher=hasher)

    @put("/people/{person_id:int}/password", status_code=204, opt={"problems": (409,)},
         summary="Set a staff member's password")
    async def set_password(
        self, person_id: FromPath[int], data: JSONBody[PasswordRequest], me: NamedDependency[Principal],
        hasher: NamedDependency[SecretHasher],
    ) -> None:
        await roles_service.set_password(me.community_id, person_id, data.password, actor_id=me.id,
                                         hasher=hasher)

    @post("/people/roles", status_code=200, opt={"problems": (409,)},
          summary="Add a role to, or remove one from, several people")
    async def bulk(
        self, data: JSONBody[BulkRolesRequest], me: NamedDependency[Principal]
    ) -> list[PersonView]:
        return await roles_service.change_roles_of_many(
            me.community_id, data.person_ids, add=data.add, remove=data.remove, actor_id=me.id
        )

    @get("/roles", summary="Who holds which role in the community")
    async def index(self, me: NamedDependency[Principal]) -> dict[str, list[RoleHolder]]:
        return await roles_service.role_holders(me.community_id)
