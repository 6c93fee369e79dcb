"""The household and gift endpoints: ``GET /api/me/household`` and ``POST /api/gifts`` (residents).

The rules are ``market.points.gifts``'s; these only take the request apart.
"""

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from ledger import Ledger
from market.auth.guards import requires_role
from market.auth.roles import RESIDENT
from market.auth.sessions import Principal
from market.points import gifts
from market.points.controllers import KEY_REQUIRED, IdempotencyKey
from market.points.schemas import GiftRequest, GiftView, HouseholdView
from market.points.service import check_idempotency_key


class MyHouseholdController(Controller):
    path = "/me/household"
    tags = ("points",)
    guards = (requires_role(RESIDENT),)

    @get("/", summary="My household: its members' points (names masked), the total, and what I may give")
    async def show(self, me: NamedDependency[Principal]) -> HouseholdView:
        # Never 404: a resident in no household gets has_household false and no members.
        return await gifts.household(me)


class GiftController(Controller):
    path = "/gifts"
    tags = ("points",)
    guards = (requires_role(RESIDENT),)

    @post(
        "/", opt=KEY_REQUIRED,
        summary="Give some of my points to a member of my household (or of the community, as the "
                "policy says)",
        description="The points given are the earliest-expiring of my alive, unheld points, and "
                    "keep their expiry. Refusals: 409 `gift_not_allowed` (the policy's `gifting`; "
                    "`scope` says which rule), 409 `gift_cap_exceeded` (`left` this month, `cap`), "
                    "409 `insufficient_points` (`available` to give), 400 `gift_to_self`, "
                    "404 for a receiver who is not a resident of the community.",
    )
    async def create(
        self,
        data: JSONBody[GiftRequest],
        me: NamedDependency[Principal],
        ledger: NamedDependency[Ledger],
        idempotency_key: IdempotencyKey = None,
    ) -> GiftView:
        # A replay answers 201 with the first gift, as the first time.
        key = check_idempotency_key(idempotency_key)
        return await gifts.give(ledger, me, data, key)
