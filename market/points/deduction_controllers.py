"""The API of deductions (扣分), redemption suspensions and appeals (``market.points.deductions``,
``market.points.appeals``).

- ``/api/points/deduction-rules`` (admin): the community's catalogue; PUT replaces a rule and
  archives it with ``"archived": true``.
- ``POST /api/deductions`` (admin, organizer; ``Idempotency-Key`` required): 201 with what was
  asked, ``taken`` and ``not_taken`` (the wallet never goes below zero); ``GET`` lists them.
- ``GET /api/me/suspension``: whether the signed-in person may redeem; ``POST
  /api/suspensions/{id}/lift`` (admin).
- ``POST /api/appeals`` (resident), ``GET /api/me/appeals``; ``GET /api/appeals`` and
  ``POST /api/appeals/{id}/decision`` (admin).

A suspended person's redemption or reservation is refused with 409 ``redemption_suspended``
(409 like the shop's other rules, ``shop_closed`` and ``not_enough_earned``: the request is
fine, the person's state does not allow it now); the problem carries ``until``.
"""

from typing import Annotated, Literal

from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from ledger import Ledger
from market.auth.guards import requires_role
from market.auth.roles import ADMIN, ORGANIZER, RESIDENT
from market.auth.sessions import Principal
from market.points import appeals, deductions
from market.points.controllers import KEY_REQUIRED, IdempotencyKey
from market.points.schemas import (
    AppealList,
    AppealView,
    Decision,
    DeductionList,
    DeductionRequest,
    DeductionView,
    NewAppeal,
    RuleChange,
    RuleList,
    RuleView,
    SuspensionState,
    SuspensionView,
)
from market.points.service import check_idempotency_key


class DeductionRuleController(Controller):
    path = "/points/deduction-rules"
    tags = ("points",)
    guards = (requires_role(ADMIN),)

    @get("/", summary="The community's deduction rules (扣分项), active first")
    async def index(
        self, me: NamedDependency[Principal],
        archived: Annotated[bool | None, QueryParameter(description="Only archived or only active")] = None,
    ) -> RuleList:
        return await deductions.list_rules(me.community_id, archived=archived)

    @post("/", summary="Add a deduction rule: a name, the points it takes, the suspension it brings")
    async def create(self, data: JSONBody[RuleChange], me: NamedDependency[Principal]) -> RuleView:
        return await deductions.create_rule(me, data)

    @put("/{rule_id:int}", summary="Replace a deduction rule; archive it with \"archived\": true")
    async def replace(
        self, rule_id: FromPath[int], data: JSONBody[RuleChange], me: NamedDependency[Principal]
    ) -> RuleView:
        return await deductions.change_rule(me, rule_id, data)


class DeductionController(Controller):
    path = "/deductions"
    tags = ("points",)
    guards = (requires_role(ADMIN, ORGANIZER),)

    @post("/", opt=KEY_REQUIRED,
          summary="Deduct points (never below zero: what is not available is recorded as not_taken)")
    async def create(
        self,
        data: JSONBody[DeductionRequest],
        me: NamedDependency[Principal],
        ledger: NamedDependency[Ledger],
        idempotency_key: IdempotencyKey = None,
    ) -> DeductionView:
        # A replay answers 201 with the first deduction, as the first time.
        key = check_idempotency_key(idempotency_key)
        view, _ = await deductions.deduct(ledger, me, data, key)
        return view

    @get("/", summary="The community's deductions, newest first (or one person's)")
    async def index(
        self, me: NamedDependency[Principal],
        person_id: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> DeductionList:
        return await deductions.list_deductions(me.community_id, person_id)


class SuspensionController(Controller):
    path = "/suspensions"
    tags = ("points",)
    guards = (requires_role(ADMIN),)

    @post("/{suspension_id:int}/lift", status_code=200, summary="Lift a suspension of redemptions")
    async def lift(self, suspension_id: FromPath[int], me: NamedDependency[Principal]) -> SuspensionView:
        return await deductions.lift(me, suspension_id)


class MySuspensionController(Controller):
    path = "/me"
    tags = ("points",)

    @get("/suspension", summary="Whether I may redeem points now; if not, why and until when")
    async def suspension(self, me: NamedDependency[Principal]) -> SuspensionState:
        return await deductions.suspension_state(me)

    @get("/appeals", summary="My appeals against deductions, newest first")
    async def appeals(self, me: NamedDependency[Principal]) -> AppealList:
        return await appeals.mine(me)


class AppealController(Controller):
    path = "/appeals"
    tags = ("points",)

    @post("/", guards=[requires_role(RESIDENT)],
          summary="Appeal a deduction of mine (its statement entry, or the deduction's id)")
    async def create(self, data: JSONBody[NewAppeal], me: NamedDependency[Principal]) -> AppealView:
        return await appeals.appeal(me, data)

    @get("/", guards=[requires_role(ADMIN)], summary="The office's appeals: open ones oldest first")
    async def index(
        self, me: NamedDependency[Principal],
        status: Annotated[Literal["open", "upheld", "rejected"] | None, QueryParameter()] = "open",
    ) -> AppealList:
        return await appeals.list_appeals(me.community_id, status)

    @post("/{appeal_id:int}/decision", guards=[requires_role(ADMIN)], status_code=200,
          summary="Decide an open appeal: upheld reverses the deduction and lifts its suspension")
    async def decide(
        self, appeal_id: FromPath[int], data: JSONBody[Decision], me: NamedDependency[Principal],
        ledger: NamedDependency[Ledger],
    ) -> AppealView:
        return await appeals.decide(ledger, me, appeal_id, data)


API = [
    DeductionRuleController, DeductionController, SuspensionController, MySuspensionController,
    AppealController,
]
