"""/api/people (admins enrol and look people up, and issue one-time codes for PIN slips) and
/api/me (one's own profile)."""

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from ledger import Ledger
from market.auth import access_codes, credentials
from market.auth.guards import requires_role
from market.auth.hashing import SecretHasher
from market.auth.roles import ADMIN, ROLES
from market.auth.sessions import Principal
from market.constraints import matching, password_text, roles_of, text
from market.paging import Cursor
from market.people import rules, service
from market.people.service import NewPerson, PeoplePage, PersonView


class NewPersonRequest(msgspec.Struct):
    name: Annotated[str, text(rules.MAX_NAME)]
    phone: Annotated[str, matching(rules.PHONE)]
    roles: Annotated[list[str], roles_of(ROLES)]
    password: Annotated[str | None, password_text(credentials.MIN_PASSWORD, credentials.MAX_PASSWORD)] = None
    """Required for organizers, shopkeepers and admins; at least 8 characters."""
    pin: Annotated[str | None, matching(credentials.PIN)] = None
    """Required for residents: 6 digits, not trivially guessable."""
    household_id: int | None = None
    """The household (户) the resident belongs to, of the admin's community."""


class AccessCodesRequest(msgspec.Struct):
    person_ids: list[int]
    """Up to 100 residents of the admin's community; each one's earlier code stops working."""


class IssuedCodeView(msgspec.Struct):
    person_id: int
    name: str
    card_no: str
    household_id: int | None
    code: str
    """8 digits, shown this once: only its hash is kept. Print it on a sealed slip."""
    purpose: str
    """``activate`` (no PIN yet) or ``reset`` (a forgotten PIN)."""
    expires_at: datetime


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
