"""公示 endpoints: the public notice, residents' objections, the office's list and decisions.

``GET /api/public/notices?community=`` (public: masked names, no person ids);
``POST /api/notices/{notice_id}/objections`` (a resident of the community, inside the window);
``GET /api/notices`` and ``POST /api/notices/{notice_id}/decision`` (admin). See
``market.points.publicity``. A decision taken twice is refused the second time (409
``notice_not_frozen``) and changes nothing, so it needs no Idempotency-Key.
"""

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from ledger import Ledger
from market.auth.guards import requires_role
from market.auth.roles import ADMIN, RESIDENT
from market.auth.sessions import Principal
from market.paging import Cursor, parse_cursor
from market.points import publicity
from market.points.schemas import DecisionBody, Notices, NoticeView, ObjectionBody, OfficeNotices


class PublicNoticeController(Controller):
    path = "/public/notices"
    tags = ("publicity",)

    @get("/", opt={"public": True},
         summary="公示: the community's credits waiting before they count (masked names)")
    async def index(
        self,
        community: Annotated[int | None, QueryParameter(ge=1, le=2**31 - 1)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=publicity.MAX_LIST)] = 100,
        cursor: Cursor = None,
    ) -> Notices:
        return await publicity.notices(community, limit, parse_cursor(cursor))


class NoticeController(Controller):
    path = "/notices"
    tags = ("publicity",)

    @get("/", guards=[requires_role(ADMIN)],
         summary="The office's 公示 list: frozen credits with their objections, then waiting ones")
    async def office(self, me: NamedDependency[Principal]) -> OfficeNotices:
        return OfficeNotices(items=await publicity.office_list(me.community_id))

    @post("/{notice_id:int}/objections", guards=[requires_role(RESIDENT)],
          summary="Object to a credit under 公示 inside its window: it is frozen for the office")
    async def object(
        self, notice_id: FromPath[int], data: JSONBody[ObjectionBody], me: NamedDependency[Principal]
    ) -> NoticeView:
        return await publicity.object_to(me.community_id, me.id, notice_id, data.reason)

    @post("/{notice_id:int}/decision", guards=[requires_role(ADMIN)], status_code=200,
          summary="The office decides a frozen credit: post it (it counts now) or void it")
    async def decide(
        self, notice_id: FromPath[int], data: JSONBody[DecisionBody], me: NamedDependency[Principal],
        ledger: NamedDependency[Ledger],
    ) -> NoticeView:
        return await publicity.decide(ledger, me.community_id, me.id, notice_id, data.post, data.note)


CONTROLLERS = [PublicNoticeController, NoticeController]
