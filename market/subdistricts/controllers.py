"""Subdistricts over HTTP, for their admins (role ``subdistrict_admin``): the group and 通存通兑,
the overview across communities, each community's ledger check, the monthly settlement and the
honour roll across communities (masked names).

Every route answers 404 for a subdistrict the caller does not administer, as for a record of
another community."""

from typing import Annotated

from litestar import Controller, Request, Response, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from ledger import Ledger
from market.auth.guards import requires_role
from market.auth.roles import SUBDISTRICT_ADMIN
from market.auth.sessions import Principal
from market.messages import language_of, preferred_language
from market.reports.board_period import PeriodAt, PeriodKind, parse_period
from market.reports.leaderboards import DEFAULT_LIMIT, Limit
from market.subdistricts import boards, dashboards, service
from market.subdistricts import overview as figures
from market.subdistricts.schemas import (
    LedgerChecks,
    Overview,
    Settlement,
    SubdistrictBoard,
    SubdistrictDashboard,
    SubdistrictList,
    SubdistrictUpdate,
    SubdistrictView,
)
from market.subdistricts.settlement import settlement, this_month


class SubdistrictController(Controller):
    path = "/subdistricts"
    tags = ("subdistricts",)
    guards = (requires_role(SUBDISTRICT_ADMIN),)

    @get("/", summary="The subdistricts (街道) I administer")
    async def index(self, me: NamedDependency[Principal]) -> SubdistrictList:
        return await service.administered_by(me)

    @get("/{subdistrict_id:int}", opt={"problems": (404,)}, summary="A subdistrict and its communities")
    async def show(self, subdistrict_id: FromPath[int], me: NamedDependency[Principal]) -> SubdistrictView:
        await service.check_admin(me, subdistrict_id)
        return await service.get(subdistrict_id)

    @put(
        "/{subdistrict_id:int}", opt={"problems": (404, 409)},
        summary="Rename a subdistrict, turn shared redemption (通存通兑) on or off, set its communities",
        description="A community that belongs to another subdistrict is refused (409"
                    " `community_in_other_subdistrict`).",
    )
    async def update(
        self, subdistrict_id: FromPath[int], data: JSONBody[SubdistrictUpdate], me: NamedDependency[Principal]
    ) -> SubdistrictView:
        return await service.update(me, subdistrict_id, data)

    @get("/{subdistrict_id:int}/overview", opt={"problems": (404,)},
         summary="Points of each community and in total, and each community's chain head")
    async def overview(
        self, subdistrict_id: FromPath[int], me: NamedDependency[Principal], ledger: NamedDependency[Ledger]
    ) -> Overview:
        await service.check_admin(me, subdistrict_id)
        return await figures.overview(ledger, subdistrict_id)

    @get("/{subdistrict_id:int}/overview.csv", opt={"problems": (404,)}, media_type="text/csv",
         summary="The overview as a spreadsheet: a row per community and a total")
    async def overview_csv(
        self, request: Request, subdistrict_id: FromPath[int], me: NamedDependency[Principal],
        ledger: NamedDependency[Ledger],
    ) -> Response[str]:
        await service.check_admin(me, subdistrict_id)
        seen = await figures.overview(ledger, subdistrict_id)
        english = preferred_language(request.headers.get("accept-language")) == "en"
        return Response(
            figures.overview_csv(seen, english=english), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="subdistrict-{subdistrict_id}.csv"'},
        )

    @get("/{subdistrict_id:int}/ledger", opt={"problems": (404,)},
         summary="Check every community's chain and books now, and every clearing pair between them")
    async def ledger_checks(
        self, subdistrict_id: FromPath[int], me: NamedDependency[Principal], ledger: NamedDependency[Ledger]
    ) -> LedgerChecks:
        await service.check_admin(me, subdistrict_id)
        return await figures.ledger_checks(ledger, subdistrict_id)

    @get("/{subdistrict_id:int}/settlement", opt={"problems": (404,)},
         summary="The month's settlement: per pair of communities, the points one owes the other")
    async def settlement(
        self, subdistrict_id: FromPath[int], me: NamedDependency[Principal], ledger: NamedDependency[Ledger],
        period: Annotated[str | None, QueryParameter(
            description="the month, YYYY-MM (Beijing time); this month when absent", max_length=7)] = None,
    ) -> Settlement:
        await service.check_admin(me, subdistrict_id)
        return await settlement(ledger, subdistrict_id, period or this_month())

    @get("/{subdistrict_id:int}/leaderboard", opt={"problems": (404,)},
         summary="The top residents of all its communities by points earned in a month, quarter or"
                 " year: masked names, each with their community")
    async def leaderboard(
        self, request: Request, subdistrict_id: FromPath[int], me: NamedDependency[Principal],
        period: PeriodKind = None, at: PeriodAt = None, limit: Limit = DEFAULT_LIMIT,
    ) -> SubdistrictBoard:
        await service.check_admin(me, subdistrict_id)
        return await boards.leaderboard(subdistrict_id, parse_period(period, at), limit=limit,
                                        language=language_of(request))

    @get("/{subdistrict_id:int}/dashboard", opt={"problems": (404,)},
         summary="Each community's activities, participants, service hours and points in a month, quarter"
                 " or year, and the sums across them")
    async def dashboard(
        self, request: Request, subdistrict_id: FromPath[int], me: NamedDependency[Principal],
        period: PeriodKind = None, at: PeriodAt = None,
    ) -> SubdistrictDashboard:
        await service.check_admin(me, subdistrict_id)
        return await dashboards.dashboard(subdistrict_id, parse_period(period, at),
                                          language=language_of(request))
