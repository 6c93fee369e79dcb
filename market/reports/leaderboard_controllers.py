"""The leaderboards' API (红榜): ``GET /api/leaderboards`` for the community's own people (names in
full) and ``GET /api/leaderboards/public`` for anyone (ranks, masked names, values; no ids), as
``market.reports.leaderboards`` ranks them."""

from typing import Annotated

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from market.auth.guards import requires_role
from market.auth.roles import ROLES
from market.auth.sessions import Principal
from market.community import service as communities
from market.errors import NotFound
from market.messages import language_of
from market.reports.board_period import PeriodAt, PeriodKind, parse_period
from market.reports.leaderboards import DEFAULT_LIMIT, Limit, leaderboards
from market.reports.schemas import Leaderboards


class LeaderboardController(Controller):
    path = "/leaderboards"
    tags = ("reports",)

    # The community's own people only: the boards name residents in full. The 街道 office sees its
    # communities' boards with masked names (``market.subdistricts.boards``).
    @get("/", guards=[requires_role(*ROLES)],
         summary="The community's leaderboards (红榜) for a month, quarter or year")
    async def show(
        self, request: Request, me: NamedDependency[Principal],
        period: PeriodKind = None,
        at: PeriodAt = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Leaderboards:
        chosen = parse_period(period, at)
        return await leaderboards(me.community_id, chosen, limit=limit, me=me,
                                  language=language_of(request))

    @get("/public", opt={"public": True},
         summary="A community's public leaderboards: ranks, masked names, values; no ids")
    async def public(
        self, request: Request,
        community: Annotated[int | None, QueryParameter(ge=1)] = None,
        period: PeriodKind = None,
        at: PeriodAt = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Leaderboards:
        chosen = parse_period(period, at)
        return await leaderboards(await _community_id(community), chosen, limit=limit, public=True,
                                  language=language_of(request))


async def _community_id(community: int | None) -> int:
    if community is not None:
        return community
    first = await communities.first()
    if first is None:
        raise NotFound(field="community")
    return first.id


#: Its /api route handlers, wired into the /api router by ``market.app``.
API: list = [LeaderboardController]
