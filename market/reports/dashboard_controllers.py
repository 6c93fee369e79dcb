"""The dashboards' API for organizers and admins (``GET /api/dashboards/activities``, ``/points``,
``/shop``, ``/help-requests``): what ``market.reports.dashboards`` (and for 民声 requests
``market.help_requests.board``) computes, for the period asked (default: this year)."""

from litestar import Controller, Request, get
from litestar.di import NamedDependency

from market.auth.guards import requires_role
from market.auth.roles import ADMIN, ORGANIZER
from market.auth.sessions import Principal
from market.help_requests import board as help_board
from market.help_requests.schemas import Figures
from market.messages import language_of
from market.reports.board_period import PeriodAt, PeriodKind, parse_period
from market.reports.dashboards import activities, points, shop
from market.reports.schemas import ActivitiesDashboard, PointsDashboard, ShopDashboard


class DashboardController(Controller):
    path = "/dashboards"
    tags = ("reports",)
    guards = (requires_role(ORGANIZER, ADMIN),)

    @get("/activities", summary="Activities held, participants and hours by category, month by month")
    async def activities(self, request: Request, me: NamedDependency[Principal], period: PeriodKind = None,
                         at: PeriodAt = None) -> ActivitiesDashboard:
        chosen = parse_period(period, at, default="year")
        return await activities(me.community_id, chosen, language_of(request))

    @get("/points", summary="Points issued vs redeemed, month by month, and outstanding")
    async def points(self, request: Request, me: NamedDependency[Principal], period: PeriodKind = None,
                     at: PeriodAt = None) -> PointsDashboard:
        chosen = parse_period(period, at, default="year")
        return await points(me.community_id, chosen, language_of(request))

    @get("/shop", summary="The shop's most redeemed goods and stock turnover")
    async def shop(self, request: Request, me: NamedDependency[Principal], period: PeriodKind = None,
                   at: PeriodAt = None) -> ShopDashboard:
        chosen = parse_period(period, at, default="year")
        return await shop(me.community_id, chosen, language_of(request))

    @get("/help-requests",
         summary="民声 requests posted and solved by category, and the median time to solve")
    async def help_requests(self, me: NamedDependency[Principal], period: PeriodKind = None,
                            at: PeriodAt = None) -> Figures:
        chosen = parse_period(period, at, default="year")
        return await help_board.figures(me.community_id, chosen.start, chosen.end)


#: Its /api route handlers, wired into the /api router by ``market.app``.
API: list = [DashboardController]
