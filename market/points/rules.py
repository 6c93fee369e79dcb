"""The points domain's limits on what people write: an adjustment's reason, an earning
category's name and description, an objection to a credit under 公示 and the office's note on
it, and the bounds an activity shares with the earning categories (its category's name, its
rates). The API's shapes declare them (``market.points.schemas``, ``market.activities.schemas``)
and the services check them."""

from decimal import Decimal

#: An admin adjustment's reason (the ledger's memo).
MAX_ADJUSTMENT_REASON = 200
#: The ``activity.category`` column's width, which an earning category's name fits.
MAX_CATEGORY_LENGTH = 20
#: The most points an activity gives per participation, and per hour of service; an earning
#: category's default rates share it, so a category never prefills a rate its activities would
#: refuse. A community's goods cost a few points to a few hundred (a bag of rice ~30), and an hour
#: of service earns ~10: 1000 an hour leaves room for any real rule, and refuses a slip of the
#: keyboard (99999999999 an hour).
MAX_RATE = Decimal(1000)
MAX_CATEGORY_DESCRIPTION = 200
#: Why a resident objects to a credit under 公示.
MAX_OBJECTION_REASON = 200
#: The office's note on its decision about a frozen credit (and the reason a cancelled
#: activity's waiting credits are voided with).
MAX_DECISION_NOTE = 200
