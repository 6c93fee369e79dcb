"""Delegates (代办) over HTTP: the office links and ends them; a resident lists whom they act for.

Acting itself needs no route of its own: the resident routes that allow it take the
``X-Acting-For`` header (``market.people.delegates``)."""

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from market.auth.guards import requires_role
from market.auth.roles import ADMIN, RESIDENT
from market.auth.sessions import Principal
from market.people import delegates
from market.people.schemas import DelegateList, DelegateView, NewDelegate


class DelegateController(Controller):
    path = "/people/{person_id:int}/delegates"
    tags = ("people",)
    guards = (requires_role(ADMIN),)

    @get("/", summary="Who may act for this resident (代办)")
    async def index(self, person_id: FromPath[int], me: NamedDependency[Principal]) -> DelegateList:
        return await delegates.of_elder(me.community_id, person_id)

    @post("/", opt={"problems": (404, 409)},
          summary="Let another resident act for this one: see points, show the member code, reserve goods",
          description="Never give points away. Answers 409 `delegate_exists` when the link is open already.")
    async def create(
        self, person_id: FromPath[int], data: JSONBody[NewDelegate], me: NamedDependency[Principal]
    ) -> DelegateView:
        return await delegates.link(me, person_id, data.delegate_id)

    @post("/{link_id:int}/end", status_code=200, opt={"problems": (404,)}, summary="End a delegate's link")
    async def end(
        self, person_id: FromPath[int], link_id: FromPath[int], me: NamedDependency[Principal]
    ) -> DelegateView:
        return await delegates.end(me, person_id, link_id)


class MyDelegationsController(Controller):
    path = "/me/delegations"
    tags = ("people",)
    guards = (requires_role(RESIDENT),)

    @get("/", summary="The residents I may act for (代办), with the X-Acting-For header")
    async def index(self, me: NamedDependency[Principal]) -> DelegateList:
        return await delegates.elders_of(me)
