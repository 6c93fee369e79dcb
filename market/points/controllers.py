"""The points endpoints: one's balance and history, admin adjustments, verify, transparency."""

from typing import Annotated

from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody, QueryParameter

from ledger import Ledger
from market.auth.guards import requires_role
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.paging import Cursor
from market.people.delegates import DELEGABLE
from market.points import policy, service
from market.points.schemas import (
    Adjustment,
    AdjustmentRequest,
    EntriesPage,
    ExpiringList,
    PolicyUpdate,
    PolicyView,
    Transparency,
    VerifyResult,
    WalletBalance,
)

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key", required=False,
        description="A retry with the same key and body returns the first answer instead of doing it "
                    "again. Where the route needs one (`opt={\"required_headers\": …}`), the "
                    "document says required: without it, 400 `idempotency_key_required`.",
    ),
]
#: What a route that cannot go without a key declares (``market.openapi``): Litestar does not
#: check it, so that the service refuses with its own reason.
KEY_REQUIRED = {"required_headers": ("Idempotency-Key",)}


class MyPointsController(Controller):
    path = "/me"
    tags = ("points",)

    @get("/balance", summary="The signed-in person's points", opt=DELEGABLE)
    async def balance(
        self, me: NamedDependency[Principal], ledger: NamedDependency[Ledger]
    ) -> WalletBalance:
        return await service.balance(ledger, me)

    @get("/entries", summary="The signed-in person's points history, newest first", opt=DELEGABLE)
    async def entries(
        self,
        me: NamedDependency[Principal],
        ledger: NamedDependency[Ledger],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        cursor: Cursor = None,
    ) -> EntriesPage:
        return await service.entries(ledger, me, limit, cursor)


class AdjustmentController(Controller):
    path = "/adjustments"
    tags = ("points",)
    guards = (requires_role(ADMIN),)

    @post("/", summary="Credit or debit a person's points by hand", opt=KEY_REQUIRED)
    async def create(
        self,
        data: JSONBody[AdjustmentRequest],
        me: NamedDependency[Principal],
        ledger: NamedDependency[Ledger],
        idempotency_key: IdempotencyKey = None,
    ) -> Adjustment:
        # A replay answers 201 with the first response's body, as the first time.
        key = service.check_idempotency_key(idempotency_key)
        return await service.adjust(
            ledger, me, person_id=data.person_id, amount=data.amount, reason=data.reason, key=key
        )


class LedgerController(Controller):
    path = "/ledger"
    tags = ("points",)
    guards = (requires_role(ADMIN),)

    @get("/verify", summary="Check the community's hash chain, every balance and the zero sum")
    async def verify(self, ledger: NamedDependency[Ledger], me: NamedDependency[Principal]) -> VerifyResult:
        return await service.verify(ledger, me.community_id)


class TransparencyController(Controller):
    path = "/transparency"
    tags = ("points",)

    @get("/", opt={"public": True}, summary="Public totals and the ledger's head hash")
    async def show(
        self,
        ledger: NamedDependency[Ledger],
        community: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> Transparency:
        return await service.transparency(ledger, community)


class PointsPolicyController(Controller):
    path = "/points"
    tags = ("points",)
    guards = (requires_role(ADMIN),)

    @get("/policy", summary="The community's points policy: expiry, 公示, gifts, caps, holidays")
    async def show(self, me: NamedDependency[Principal]) -> PolicyView:
        return await policy.policy(me.community_id)

    @put("/policy", summary="Replace the community's points policy (governs points earned from now on)")
    async def replace(self, data: JSONBody[PolicyUpdate], me: NamedDependency[Principal]) -> PolicyView:
        return await policy.save(me.community_id, me.id, data)

    @get("/expiring", summary="Who has points expiring within the next days (default 30)")
    async def expiring(
        self,
        me: NamedDependency[Principal],
        days: Annotated[int, QueryParameter(ge=1, le=366)] = 30,
    ) -> ExpiringList:
        return await service.expiring_list(me.community_id, days)
