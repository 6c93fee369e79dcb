"""Moving house (搬家) over HTTP, for community admins: A's admin asks and may cancel, B's admin
approves or refuses (``market.subdistricts.moves``). A move of two other communities is not there
(404), as for any record of another community."""

from typing import Annotated, Literal

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from ledger import Ledger
from market.auth.guards import requires_role
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.subdistricts import moves
from market.subdistricts.schemas import MoveList, MoveView, NewMove, Refusal


class MoveController(Controller):
    path = "/moves"
    tags = ("subdistricts",)
    guards = (requires_role(ADMIN),)

    @post(
        "/", opt={"problems": (404, 409)},
        summary="Ask to move a resident to another community of the subdistrict (搬家)",
        description="The new community's admin approves or refuses it. 409 `not_same_subdistrict`,"
                    " `move_pending` (one at a time), `move_staff`, `move_phone_taken`; 400"
                    " `move_to_same_community`; 404 for a person who is not a resident here.",
    )
    async def create(self, data: JSONBody[NewMove], me: NamedDependency[Principal]) -> MoveView:
        return await moves.request(me, data)

    @get("/", summary="The moves out of and into my community, newest first")
    async def index(
        self, me: NamedDependency[Principal],
        direction: Annotated[Literal["out", "in"] | None, QueryParameter()] = None,
        in_state: Annotated[Literal["pending", "done", "refused", "cancelled"] | None,
                            QueryParameter(name="state")] = None,
    ) -> MoveList:
        return await moves.list_moves(me, direction, in_state)

    @post(
        "/{move_id:int}/approve", status_code=200, opt={"problems": (404, 409)},
        summary="Approve a move into my community: the person, their points and hours move here",
        description="One transaction: the whole balance crosses from the old wallet to a wallet here"
                    " through the two communities' clearing accounts. Approving a done move answers"
                    " it again and moves nothing. 409 `open_reservations` while the resident has"
                    " reservations or held points.",
    )
    async def approve(
        self, move_id: FromPath[int], me: NamedDependency[Principal], ledger: NamedDependency[Ledger]
    ) -> MoveView:
        return await moves.approve(ledger, me, move_id)

    @post("/{move_id:int}/refuse", status_code=200, opt={"problems": (404, 409)},
          summary="Refuse a move into my community, with a reason")
    async def refuse(
        self, move_id: FromPath[int], data: JSONBody[Refusal], me: NamedDependency[Principal]
    ) -> MoveView:
        return await moves.refuse(me, move_id, data)

    @post("/{move_id:int}/cancel", status_code=200, opt={"problems": (404, 409)},
          summary="Withdraw a pending move out of my community")
    async def cancel(self, move_id: FromPath[int], me: NamedDependency[Principal]) -> MoveView:
        return await moves.cancel(me, move_id)
