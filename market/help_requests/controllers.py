"""The 民声 API: ``/api/help-requests`` — residents post and take requests, grid workers post for
elders and watch their grids, the office reviews, resolves and sees the board. The rules are
``market.help_requests.service``'s and ``board``'s; these only take the request apart."""

from typing import Annotated, Literal

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from ledger import Ledger
from market.auth.guards import requires_role
from market.auth.roles import ADMIN, ORGANIZER, RESIDENT
from market.auth.sessions import Principal
from market.help_requests import board, decisions, service, terms
from market.help_requests.schemas import (
    AssistedRequest,
    Board,
    Confirmation,
    Dispute,
    HelpRequestPage,
    HelpRequestView,
    NewRequest,
    Resolution,
    Review,
    State,
    TermsInput,
    TermsView,
)
from market.paging import Cursor
from market.shop import photos

OFFICE = requires_role(ORGANIZER, ADMIN)
Limit = Annotated[int, QueryParameter(ge=1, le=100)]
#: A request's photo changes only while it is open; its URL is per request.
PHOTO_CACHE = {"Cache-Control": "private, max-age=300"}


class HelpRequestController(Controller):
    path = "/help-requests"
    tags = ("help requests",)
    guards = (requires_role(RESIDENT, ORGANIZER, ADMIN),)

    @get("/", summary="Requests: open ones near me (my building, grid, community), mine, or those I took")
    async def listing(
        self, me: NamedDependency[Principal],
        which: Annotated[Literal["near", "posted", "claimed"], QueryParameter(name="list")] = "near",
        limit: Limit = 20, cursor: Cursor = None,
    ) -> HelpRequestPage:
        return await service.listing(me, which, limit, cursor)

    @post("/", guards=[requires_role(RESIDENT)], summary="Ask for help (民声 / 微心愿)",
          description="A dispute between neighbours (`mediation`) waits for the office (state "
                      "`review`); the others are open at once. 400 `help_needs_household` for a "
                      "building or grid request from a resident in no household; 409 "
                      "`help_too_many_waiting` past 10 waiting requests.")
    async def create(self, data: JSONBody[NewRequest], me: NamedDependency[Principal]) -> HelpRequestView:
        return await service.post(me, data)

    @post("/assisted", summary="Post for a resident of my grid (an elder without a phone)",
          description="For a grid worker of the resident's grid, or the office; recorded as assisted.")
    async def assisted(self, data: JSONBody[AssistedRequest],
                       me: NamedDependency[Principal]) -> HelpRequestView:
        return await service.post_for(me, data)

    @get("/grid", summary="The waiting requests of the grids I work, escalated ones first")
    async def grid(self, me: NamedDependency[Principal], limit: Limit = 20,
                   cursor: Cursor = None) -> HelpRequestPage:
        return await board.grid_requests(me, limit, cursor)

    @get("/board", guards=[OFFICE],
         summary="The office's board: counts by grid and state, and a page of requests")
    async def board(
        self, me: NamedDependency[Principal],
        grid: Annotated[int | None, QueryParameter(
            ge=0, le=2**31 - 1, description="0: requests of no grid")] = None,
        # "state" is a name Litestar keeps for the app's state.
        in_state: Annotated[State | None, QueryParameter(name="state")] = None,
        overdue: Annotated[bool, QueryParameter(
            description="only those open past the escalation time")] = False,
        limit: Limit = 50, cursor: Cursor = None,
    ) -> Board:
        return await board.board(me, grid, in_state, overdue, limit, cursor)

    @get("/terms", summary="The community's rates per category, escalation time and claims per day")
    async def terms(self, me: NamedDependency[Principal]) -> TermsView:
        return terms.view(await terms.terms(me.community_id))

    @put("/terms", guards=[requires_role(ADMIN)],
         summary="Set the rates, the escalation time and the claim cap")
    async def set_terms(self, data: JSONBody[TermsInput], me: NamedDependency[Principal]) -> TermsView:
        return await terms.set_terms(me, data)

    @get("/{request_id:int}", summary="One request, with what I may do with it now")
    async def show(self, request_id: FromPath[int], me: NamedDependency[Principal]) -> HelpRequestView:
        return await service.get(me, request_id)

    @post("/{request_id:int}/claim", status_code=200, guards=[requires_role(RESIDENT)],
          summary="Take the request on", description="409 `help_not_open`, `help_own_household`, "
                                                     "`help_claims_cap` (`cap` a day).")
    async def claim(self, request_id: FromPath[int], me: NamedDependency[Principal]) -> HelpRequestView:
        return await service.claim(me, request_id)

    @post("/{request_id:int}/release", status_code=200, summary="Give a request I took back")
    async def release(self, request_id: FromPath[int], me: NamedDependency[Principal]) -> HelpRequestView:
        return await service.release(me, request_id)

    @post("/{request_id:int}/confirm", status_code=200,
          summary="It was done: the volunteer earns the category's points for these hours",
          description="The requester, or the grid worker for them; never the volunteer or their "
                      "household (409 `help_self_confirm`). Confirming twice credits once.")
    async def confirm(self, request_id: FromPath[int], data: JSONBody[Confirmation],
                      me: NamedDependency[Principal],
                      ledger: NamedDependency[Ledger]) -> HelpRequestView:
        return await decisions.confirm(ledger, me, request_id, data.hours)

    @post("/{request_id:int}/dispute", status_code=200, summary="It was not done as said: the office decides")
    async def dispute(self, request_id: FromPath[int], data: JSONBody[Dispute],
                      me: NamedDependency[Principal]) -> HelpRequestView:
        return await decisions.dispute(me, request_id, data.reason)

    @post("/{request_id:int}/withdraw", status_code=200, summary="Withdraw a request nobody holds")
    async def withdraw(self, request_id: FromPath[int], me: NamedDependency[Principal]) -> HelpRequestView:
        return await decisions.withdraw(me, request_id)

    @post("/{request_id:int}/review", status_code=200, guards=[OFFICE],
          summary="The office lets a dispute between neighbours go to volunteers, or declines it")
    async def review(self, request_id: FromPath[int], data: JSONBody[Review],
                     me: NamedDependency[Principal]) -> HelpRequestView:
        return await decisions.review(me, request_id, data.decision, data.note)

    @post("/{request_id:int}/resolve", status_code=200, guards=[OFFICE],
          summary="The office decides a disputed claim: confirm with hours, reopen or close")
    async def resolve(self, request_id: FromPath[int], data: JSONBody[Resolution],
                      me: NamedDependency[Principal],
                      ledger: NamedDependency[Ledger]) -> HelpRequestView:
        return await decisions.resolve(ledger, me, request_id, data.decision, data.hours, data.note)

    @put("/{request_id:int}/photo", summary="Add a photo to my request (while nobody holds it)",
         description="Multipart field `file`, as a product's photo: re-encoded as a JPEG without EXIF.",
         request_max_body_size=photos.MAX_BYTES + photos.ENVELOPE, opt={"upload": "file"})
    async def upload_photo(self, request_id: FromPath[int], request: Request,
                           me: NamedDependency[Principal]) -> HelpRequestView:
        content = await photos.read_upload(request)
        await service.may_add_photo(me, request_id)
        photo = await photos.process_off_loop(content)
        return await service.store_photo(me, request_id, photo.image, photo.thumb)

    @get("/{request_id:int}/photo.jpg", media_type="image/jpeg", summary="The request's photo (JPEG)")
    async def photo(self, request_id: FromPath[int], me: NamedDependency[Principal]) -> Response[bytes]:
        jpeg = await service.photo(me, request_id, "image")
        return Response(jpeg, media_type="image/jpeg", headers=PHOTO_CACHE)

    @get("/{request_id:int}/thumb.jpg", media_type="image/jpeg", summary="The request's thumbnail (JPEG)")
    async def thumb(self, request_id: FromPath[int], me: NamedDependency[Principal]) -> Response[bytes]:
        jpeg = await service.photo(me, request_id, "thumb")
        return Response(jpeg, media_type="image/jpeg", headers=PHOTO_CACHE)


#: Its /api route handlers, wired into the /api router by ``market.app``.
API: list = [HelpRequestController]
