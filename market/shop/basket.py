"""What a resident takes from the shelf: the lines of a basket, checked and priced.

Shared by redemptions at the counter and reservations online. A basket is a
short list of (product, quantity); each product at most once, each quantity a
whole number of items. Pricing reads the products inside the caller's write
unit, so the price charged is the price of the moment of the commit.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from market.china_time import CHINA
from market.errors import Conflict, InvalidInput, NotFound
from market.messages import Language
from market.shop.schemas import Line
from market.writes import Steps, on_postgres

MAX_LINES = 50
MAX_QUANTITY = 99


PERIOD_NAMES = {
    "zh": {"day": "每天", "week": "每周", "month": "每月", "quarter": "每季度", "year": "每年"},
    "en": {"day": "a day", "week": "a week", "month": "a month", "quarter": "a quarter", "year": "a year"},
}


class LimitExceeded(Conflict):
    """409 ``limit_exceeded``: the problem names the product, its limit and what is left of it."""

    def __init__(self, line: "PricedLine", remaining: int) -> None:
        super().__init__("limit_exceeded", name=line.name, limit=line.limit_per_person,
                         remaining=remaining)
        self.line, self.remaining = line, remaining

    def members(self, language: Language) -> dict[str, Any]:
        return {"product_id": self.line.product_id, "limit": self.line.limit_per_person,
                "period": self.line.limit_period, "remaining": self.remaining}


class ProductUnavailable(Conflict):
    """409 ``product_unavailable``: not this community's, or no longer sold."""

    def __init__(self, product_id: int) -> None:
        super().__init__("product_unavailable", product_id=product_id)
        self.product_id = product_id

    def members(self, language: Language) -> dict[str, Any]:
        return {"product_id": self.product_id}


class PricedLine(msgspec.Struct):
    product_id: int
    name: str
    quantity: int
    unit_price: int  # hundredths
    limit_per_person: int | None
    limit_period: str | None

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity


def check_lines(lines: Sequence[Line]) -> list[Line]:
    """400 for an empty or huge basket, a product twice, or a quantity that is not 1–99."""
    if not lines:
        raise InvalidInput("empty_basket", field="items")
    if len(lines) > MAX_LINES:
        raise InvalidInput("too_many_lines", field="items", limit=MAX_LINES)
    seen: set[int] = set()
    for line in lines:
        if isinstance(line.quantity, bool) or not 1 <= line.quantity <= MAX_QUANTITY:
            raise InvalidInput("invalid_quantity", field="quantity", limit=MAX_QUANTITY)
        if line.product_id in seen:
            raise InvalidInput("duplicate_line", field="items", product_id=line.product_id)
        seen.add(line.product_id)
    return list(lines)


def price_steps(community_id: int, lines: Sequence[Line]) -> Steps[list[PricedLine]]:
    """The lines with today's prices, read in the caller's write unit (the price charged is the
    price of the moment of the commit); 409 ``product_unavailable`` for an unknown or inactive
    product."""
    ids = [line.product_id for line in lines]
    marks = ", ".join("{}" for _ in ids)
    rows = yield (
        "SELECT id, name, price, active, limit_per_person, limit_period FROM product"
        f" WHERE community = {{}} AND id IN ({marks})",
        (community_id, *ids),
    )
    found = {row["id"]: row for row in rows}
    priced = []
    for line in lines:
        row = found.get(line.product_id)
        if row is None or not row["active"]:
            raise ProductUnavailable(line.product_id)
        priced.append(PricedLine(
            product_id=row["id"], name=row["name"], quantity=line.quantity, unit_price=row["price"],
            limit_per_person=row["limit_per_person"], limit_period=row["limit_period"],
        ))
    return priced


def period_start(period: str, at: datetime) -> datetime:
    """The start of the calendar period containing ``at``, in Asia/Shanghai (weeks start on Monday)."""
    local = at.astimezone(CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return local
    if period == "week":
        return local - timedelta(days=local.weekday())
    if period == "month":
        return local.replace(day=1)
    if period == "quarter":
        return local.replace(month=(local.month - 1) // 3 * 3 + 1, day=1)
    if period == "year":
        return local.replace(month=1, day=1)
    raise ValueError(f"unknown period {period!r}")


def limited_steps(
    community_id: int, person_id: int, lines: Sequence[PricedLine], at: datetime,
    *, home: int | None = None,
) -> Steps[None]:
    """A basket's limits in a write unit: when one of its goods has a limit, the resident is
    locked (``person`` row, first in the lock order) and the limits checked under that lock, so
    two baskets at two counters cannot both pass the same remaining allowance. A basket of goods
    without limits locks nothing here. ``home``: the resident's community, when they are visiting
    this shop from another one (通存通兑)."""
    if not any(line.limit_per_person is not None and line.limit_period for line in lines):
        return
    lock = " FOR NO KEY UPDATE" if on_postgres() else ""
    rows = yield ("SELECT id FROM person WHERE id = {} AND community = {}" + lock,
                  (person_id, home or community_id))
    if not rows:
        raise NotFound()
    yield from limits_steps(community_id, person_id, lines, at)


def limits_steps(community_id: int, person_id: int, lines: Sequence[PricedLine], at: datetime) -> Steps[None]:
    """409 ``limit_exceeded`` if a line would take the person past a product's limit for the period.

    Counts what the person redeemed in the period, less what was refunded, and
    what they have reserved and not yet collected (``limited_steps`` runs it under the
    person's lock; a page reads it to show what is left).
    """
    for line in lines:
        if line.limit_per_person is None or line.limit_period is None:
            continue
        since = period_start(line.limit_period, at)
        taken = yield (
            "SELECT COALESCE(SUM(l.quantity), 0) AS n FROM redemption_line l"
            " JOIN redemption r ON r.id = l.redemption"
            " WHERE r.person = {} AND r.community = {} AND l.product = {} AND r.created_at >= {}",
            (person_id, community_id, line.product_id, since),
        )
        returned = yield (
            "SELECT COALESCE(SUM(f.quantity), 0) AS n FROM refund_line f"
            " JOIN refund d ON d.id = f.refund JOIN redemption r ON r.id = d.redemption"
            " WHERE r.person = {} AND r.community = {} AND f.product = {} AND r.created_at >= {}",
            (person_id, community_id, line.product_id, since),
        )
        # Reserved orders count too: what is set aside for the person is as good as taken.
        reserved = yield (
            "SELECT COALESCE(SUM(l.quantity), 0) AS n FROM shop_order_line l"
            " JOIN shop_order o ON o.id = l.\"order\""
            " WHERE o.person = {} AND o.community = {} AND l.product = {} AND o.status = 'reserved'",
            (person_id, community_id, line.product_id),
        )
        already = int(taken[0]["n"]) - int(returned[0]["n"]) + int(reserved[0]["n"])
        if already + line.quantity > line.limit_per_person:
            raise LimitExceeded(line, remaining=max(0, line.limit_per_person - already))
