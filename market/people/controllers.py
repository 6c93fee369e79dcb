"""/api/people (admins enrol and look people up, and issue one-time codes for PIN slips) and
/api/me (one's own profile)."""

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from ledger import Ledger
from market.auth import access_codes
from market.auth.guards import requires_role
from market.auth.hashing import SecretHasher
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.paging import Cursor
from market.people import service
from market.people.schemas import AccessCodesRequest, IssuedCodeView, NewPersonRequest, PeoplePage, PersonView
from market.people.service import NewPerson


class PeopleController(Controller):
    path = "/people"
    tags = ("people",)
    guards = (requires_role(ADMIN),)

    @post("/", summary="Enrol a person in the admin's community")
    async def create(
        self,
        data: JSONBody[NewPersonRequest],
        me: NamedDependency[Principal],
        hasher: NamedDependency[SecretHasher],
        ledger: NamedDependency[Ledger],
    ) -> PersonView:
        new = NewPerson(name=data.name, phone=data.phone, roles=data.roles,
                        password=data.password, pin=data.pin, household_id=data.household_id)
        return await service.create_person(me.community_id, new, hasher=hasher, ledger=ledger)

    @post("/access-codes", status_code=200, opt={"problems": (409,)},
          summary="One-time codes for residents' PIN slips")
    async def access_codes(
        self,
        data: JSONBody[AccessCodesRequest],
        me: NamedDependency[Principal],
        hasher: NamedDependency[SecretHasher],
    ) -> Response[list[IssuedCodeView]]:
        issued = await access_codes.issue(me.community_id, data.person_ids, actor_id=me.id,
                                          hasher=hasher)
        views = [IssuedCodeView(person_id=c.person_id, name=c.name, card_no=c.card_no,
                                household_id=c.household_id, code=c.code, purpose=c.purpose,
                                expires_at=c.expires_at) for c in issued]
        return Response(views, headers={"Cache-Control": "no-store"})

    @get("/", summary="People of the admin's community")
    async def index(
        self,
        me: NamedDependency[Principal],
        q: Annotated[str | None, QueryParameter(max_length=50)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=service.MAX_PAGE)] = 20,
        cursor: Cursor = None,
    ) -> PeoplePage:
        return await service.list_people(me.community_id, q=q, limit=limit, cursor=cursor)

    @get("/{person_id:int}", summary="One person of the admin's community")
    async def show(self, person_id: FromPath[int], me: NamedDependency[Principal]) -> PersonView:
        return await service.get_person(me.community_id, person_id)


class MeController(Controller):
    path = "/me"
    tags = ("me",)

    @get("/", summary="The signed-in person")
    async def me(self, me: NamedDependency[Principal]) -> PersonView:
        return await service.get_person(me.community_id, me.id)
