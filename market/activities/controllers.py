"""Activities, their rotating check-in codes, check-in scans and attendance over HTTP."""

import asyncio

from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody

import qr
from ledger import Ledger
from market.activities import assisted, cancellation, codes, review, scans, service
from market.activities.schemas import (
    ActivityChanges,
    ActivityCode,
    ActivityList,
    ActivityPoster,
    ActivityView,
    Approval,
    ApprovalResult,
    AssistedRequest,
    AttendanceList,
    AttendanceRequest,
    CancelRequest,
    CancelResult,
    CheckinRequest,
    CheckinResult,
    HoursByHand,
    NewActivity,
    Rejection,
    ResidentMatches,
    StayView,
)
from market.auth.guards import requires_role
from market.auth.roles import ADMIN, ORGANIZER, RESIDENT
from market.auth.sessions import Principal
from market.dependencies import provide_ledger, provide_me, provide_settings
from market.settings import Settings

NO_STORE = {"Cache-Control": "no-store"}
STAFF = requires_role(ORGANIZER, ADMIN)


#: A scan repeated (the same person, the same direction) is answered 200 with what the first did.
REPEATED = {200: ResponseSpec(CheckinResult, description="A repeat of a scan already recorded: nothing new")}


def _scan_response(result: CheckinResult) -> Response[CheckinResult]:
    return Response(result, status_code=200 if result.duplicate else 201, headers=NO_STORE)


class ActivityController(Controller):
    path = "/activities"
    tags = ("activities",)

    @post("/", guards=[STAFF], summary="Create an activity")
    async def create(
        self, data: JSONBody[NewActivity], me: NamedDependency[Principal]
    ) -> ActivityView:
        return await service.create(me, data)

    @get("/", summary="The community's activities, newest first")
    async def index(self, me: NamedDependency[Principal]) -> ActivityList:
        return await service.list_activities(me)

    @get("/{activity_id:int}", summary="One activity")
    async def show(self, activity_id: FromPath[int], me: NamedDependency[Principal]) -> ActivityView:
        return await service.get(me, activity_id)

    @patch("/{activity_id:int}", guards=[STAFF], summary="Edit an activity before it starts")
    async def edit(
        self, activity_id: FromPath[int], data: JSONBody[ActivityChanges], me: NamedDependency[Principal]
    ) -> ActivityView:
        return await service.update(me, activity_id, data)

    @post("/{activity_id:int}/cancel", guards=[STAFF], status_code=200,
          summary="Cancel an activity, reversing every credit it made")
    async def cancel(
        self, activity_id: FromPath[int], data: JSONBody[CancelRequest], me: NamedDependency[Principal],
        ledger: NamedDependency[Ledger],
    ) -> CancelResult:
        return await cancellation.cancel(ledger, me, activity_id, data.reason)

    @get("/{activity_id:int}/code", guards=[STAFF], summary="The rotating check-in code")
    async def code(
        self, activity_id: FromPath[int], request: Request, me: NamedDependency[Principal],
        settings: NamedDependency[Settings],
    ) -> Response[ActivityCode]:
        found = await codes.code(me, activity_id, settings, str(request.base_url))
        return Response(found, headers=NO_STORE)

    @get("/{activity_id:int}/code.png", media_type="image/png",
         guards=[STAFF], summary="The check-in code as a QR")
    async def code_png(
        self, activity_id: FromPath[int], request: Request, me: NamedDependency[Principal],
        settings: NamedDependency[Settings],
    ) -> Response[bytes]:
        found = await codes.code(me, activity_id, settings, str(request.base_url))
        picture = await asyncio.to_thread(qr.png, found.url)
        return Response(picture, media_type="image/png", headers=NO_STORE)

    @get("/{activity_id:int}/poster", guards=[STAFF],
         summary="The printable poster code (valid only around the activity's window)")
    async def poster(
        self, activity_id: FromPath[int], request: Request, me: NamedDependency[Principal],
        settings: NamedDependency[Settings],
    ) -> ActivityPoster:
        return await codes.poster(me, activity_id, settings, str(request.base_url))

    @get("/{activity_id:int}/poster.png", media_type="image/png",
         guards=[STAFF], summary="The poster code as a QR")
    async def poster_png(
        self, activity_id: FromPath[int], request: Request, me: NamedDependency[Principal],
        settings: NamedDependency[Settings],
    ) -> Response[bytes]:
        found = await codes.poster(me, activity_id, settings, str(request.base_url))
        picture = await asyncio.to_thread(qr.png, found.url)
        return Response(picture, media_type="image/png", headers=NO_STORE)

    @post("/{activity_id:int}/approve", guards=[STAFF], status_code=200,
          summary="Approve pending stays (some people, or all) and credit them")
    async def approve(
        self, activity_id: FromPath[int], data: JSONBody[Approval],
        me: NamedDependency[Principal], ledger: NamedDependency[Ledger],
    ) -> ApprovalResult:
        return await review.approve(ledger, me, activity_id, data.person_ids)

    @post("/{activity_id:int}/reject", guards=[STAFF], status_code=200,
          summary="Reject pending stays with a reason")
    async def reject(
        self, activity_id: FromPath[int], data: JSONBody[Rejection],
        me: NamedDependency[Principal],
    ) -> ApprovalResult:
        return await review.reject(me, activity_id, data.person_ids, data.reason)

    @post("/{activity_id:int}/attendance/{person_id:int}/hours", guards=[STAFF], status_code=200,
          summary="Set the real hours of a stay closed without a check-out")
    async def set_hours(
        self, activity_id: FromPath[int], person_id: FromPath[int], data: JSONBody[HoursByHand],
        me: NamedDependency[Principal], ledger: NamedDependency[Ledger],
    ) -> StayView:
        return await review.set_hours(ledger, me, activity_id, person_id, data.hours, data.reason)

    @post("/{activity_id:int}/attendance", guards=[STAFF], opt={"problems": (410,)}, responses=REPEATED,
          summary="Check a resident in or out by their member code or card")
    async def attend(
        self, activity_id: FromPath[int], data: JSONBody[AttendanceRequest],
        me: NamedDependency[Principal], ledger: NamedDependency[Ledger],
        settings: NamedDependency[Settings],
    ) -> Response[CheckinResult]:
        result = await scans.attend(
            ledger, me, settings, activity_id, data.member_code, data.direction
        )
        return _scan_response(result)

    @get("/{activity_id:int}/residents", guards=[STAFF],
         summary="Find residents by name, building and room, for an assisted check-in")
    async def residents(
        self, activity_id: FromPath[int], me: NamedDependency[Principal], name: FromQuery[str] = "",
        building_id: FromQuery[int | None] = None, room: FromQuery[str] = "",
    ) -> Response[ResidentMatches]:
        found = await assisted.find_residents(me, activity_id, name, building_id, room)
        return Response(found, headers=NO_STORE)

    @post("/{activity_id:int}/attendance/assisted", guards=[STAFF], responses=REPEATED,
          summary="Check a resident in or out by name and room (no card, no phone): assisted")
    async def attend_assisted(
        self, activity_id: FromPath[int], data: JSONBody[AssistedRequest],
        me: NamedDependency[Principal], ledger: NamedDependency[Ledger],
    ) -> Response[CheckinResult]:
        result = await assisted.assist(ledger, me, activity_id, data.person_id, data.direction)
        return _scan_response(result)

    @get("/{activity_id:int}/attendance", guards=[STAFF], summary="Who checked in and out")
    async def attendance(
        self, activity_id: FromPath[int], me: NamedDependency[Principal]
    ) -> AttendanceList:
        return await review.attendance(me, activity_id)


class CheckinController(Controller):
    path = "/checkins"
    tags = ("activities",)

    @post("/", guards=[requires_role(RESIDENT)], opt={"problems": (410,)}, responses=REPEATED,
          summary="Check in or out by scanning a code")
    async def create(self, data: JSONBody[CheckinRequest], request: Request) -> Response[CheckinResult]:
        # The busiest endpoint takes what it needs off the request: given several named
        # dependencies, Litestar resolves them in an anyio task group per request, 12 % of the
        # event loop on the check-in benchmark (docs/PERFORMANCE.md).
        state = request.app.state
        result = await scans.check_in_by_token(
            provide_ledger(state), provide_me(request), provide_settings(state), data.token, data.direction
        )
        return _scan_response(result)
