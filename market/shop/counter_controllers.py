"""The shop counter over HTTP: redemptions and refunds, and orders reserved online."""

from typing import Annotated, Literal

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from ledger import Ledger
from market.auth.guards import requires_role
from market.auth.roles import ADMIN, RESIDENT, SHOPKEEPER
from market.auth.sessions import Principal
from market.dependencies import (
    provide_hasher,
    provide_ledger,
    provide_limiter,
    provide_me,
    provide_settings,
)
from market.people.delegates import DELEGABLE
from market.points.controllers import KEY_REQUIRED, IdempotencyKey
from market.points.service import check_idempotency_key
from market.shop import counter, orders
from market.shop.schemas import (
    NewOrder,
    OrderList,
    OrderView,
    Redeem,
    RedemptionView,
    RefundRequest,
    RefundView,
)


class RedemptionController(Controller):
    path = "/redemptions"
    tags = ("shop",)

    @post("/", guards=[requires_role(SHOPKEEPER)], opt={"problems": (410, 429), **KEY_REQUIRED},
          summary="Hand out goods for a resident's points")
    async def create(
        self, data: JSONBody[Redeem], request: Request, idempotency_key: IdempotencyKey = None
    ) -> RedemptionView:
        # A replay answers 201 with the first redemption, as the first time.
        key = check_idempotency_key(idempotency_key)
        # A busy counter's endpoint takes what it needs off the request: given several named
        # dependencies, Litestar resolves them in an anyio task group per request (see the
        # check-in endpoint, docs/PERFORMANCE.md).
        state = request.app.state
        view, _ = await counter.redeem(
            provide_ledger(state), provide_me(request), data, key, settings=provide_settings(state),
            hasher=provide_hasher(state), limiter=provide_limiter(state),
        )
        return view

    @get("/{redemption_id:int}", summary="One redemption (shop staff, or the resident it was for)")
    async def show(self, redemption_id: FromPath[int], me: NamedDependency[Principal]) -> RedemptionView:
        return await counter.get(me, redemption_id)

    @post("/{redemption_id:int}/refund", guards=[requires_role(SHOPKEEPER, ADMIN)],
          summary="Take back goods of a redemption: points and stock come back")
    async def refund(
        self,
        redemption_id: FromPath[int],
        data: JSONBody[RefundRequest],
        me: NamedDependency[Principal],
        ledger: NamedDependency[Ledger],
        idempotency_key: IdempotencyKey = None,
    ) -> RefundView:
        # Optional here (API.md: requests that move points accept one): with it, a resent
        # refund answers the first one instead of taking back more.
        key = check_idempotency_key(idempotency_key) if idempotency_key is not None else None
        return await counter.refund(ledger, me, redemption_id, data, key)


class OrderController(Controller):
    path = "/orders"
    tags = ("shop",)

    @post("/", guards=[requires_role(RESIDENT)], summary="Reserve goods: points held, stock set aside",
          opt=DELEGABLE)
    async def create(
        self,
        data: JSONBody[NewOrder],
        me: NamedDependency[Principal],
        ledger: NamedDependency[Ledger],
        idempotency_key: IdempotencyKey = None,
    ) -> OrderView:
        key = check_idempotency_key(idempotency_key) if idempotency_key is not None else None
        view, _ = await orders.reserve(ledger, me, data, key)
        return view

    @get("/", summary="My orders; for shop staff, the community's", opt=DELEGABLE)
    async def index(
        self,
        me: NamedDependency[Principal],
        status: Annotated[
            Literal["reserved", "fulfilled", "cancelled", "expired"] | None, QueryParameter()
        ] = None,
    ) -> OrderList:
        return await orders.list_orders(me, status)

    @get("/{order_id:int}", summary="One order (its resident, or shop staff)", opt=DELEGABLE)
    async def show(self, order_id: FromPath[int], me: NamedDependency[Principal]) -> OrderView:
        return await orders.get(me, order_id)

    @post("/{order_id:int}/fulfil", guards=[requires_role(SHOPKEEPER)], status_code=200,
          summary="The resident collected the goods: the held points are taken")
    async def fulfil(
        self, order_id: FromPath[int], me: NamedDependency[Principal], ledger: NamedDependency[Ledger]
    ) -> OrderView:
        return await orders.fulfil(ledger, me, order_id)

    @post("/{order_id:int}/cancel", status_code=200, opt=DELEGABLE,
          summary="Call the order off (its resident or shop staff): points and goods come back")
    async def cancel(
        self, order_id: FromPath[int], me: NamedDependency[Principal], ledger: NamedDependency[Ledger]
    ) -> OrderView:
        return await orders.cancel(ledger, me, order_id)
