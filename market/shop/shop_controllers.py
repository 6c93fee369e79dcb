"""The shop as a whole over HTTP: its opening rules and a counter's day, reconciled."""

from typing import Annotated

from litestar import Controller, Request, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter

from market.auth.guards import requires_role
from market.auth.roles import ADMIN, SHOPKEEPER
from market.auth.sessions import Principal
from market.constraints import DAY
from market.messages import preferred_language
from market.shop import reconciliation, rules
from market.shop.schemas import Reconciliation, RulesChange, ShopRules


class ShopController(Controller):
    path = "/shop"
    tags = ("shop",)

    @get("/rules", summary="When the shop redeems, and the minimum a resident must earn first")
    async def show_rules(self, me: NamedDependency[Principal]) -> ShopRules:
        return await rules.rules(me.community_id)

    @put("/rules", guards=[requires_role(ADMIN)], status_code=200,
         summary="Set the shop's open days, hours and minimums (replaces all of them)")
    async def set_rules(self, data: JSONBody[RulesChange], me: NamedDependency[Principal]) -> ShopRules:
        return await rules.set_rules(me, data)

    @get("/reconciliation", guards=[requires_role(SHOPKEEPER, ADMIN)],
         summary="A counter's day: redemptions, refunds, products, stock and the ledger check",
         description=(
             "A shop keeper sees their own counter; an admin one keeper's (`keeper_id`) or, "
             "without it, the whole community's, which also looks for ledger transfers between "
             "wallets and the shop that no redemption or refund accounts for."
         ))
    async def reconcile(
        self,
        request: Request,
        me: NamedDependency[Principal],
        date: Annotated[
            str | None, QueryParameter(description="YYYY-MM-DD, Beijing time; today when absent",
                                       max_length=20, schema_extra=DAY)
        ] = None,
        keeper_id: Annotated[int | None, QueryParameter(description="admins: one keeper's counter")] = None,
    ) -> Reconciliation:
        day = reconciliation.parse_day(date)
        language = preferred_language(request.headers.get("accept-language"))
        return await reconciliation.reconcile_day(me, day, keeper_id, language)
