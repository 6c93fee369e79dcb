"""What the shop's API takes and answers: products and their stock record, a basket's lines, a
redemption at the counter and its refund, an order reserved online, a day reconciled, the opening
rules. Points are strings ("12.50"). The bounds these shapes state are ``market.shop.limits``; the
modules that check the values are ``catalogue``, ``basket``, ``counter``, ``orders`` and ``rules``.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from market.amounts import Amount
from market.constraints import matching, one_of, text, weekdays
from market.shop.limits import MAX_NAME, MAX_REASON, PERIODS, TIME

# -- products and stock ------------------------------------------------------------------------


class ProductView(msgspec.Struct):
    id: int
    name: str
    category: str
    price: str
    stock: int
    limit_per_person: int | None
    limit_period: str | None
    active: bool
    photo_url: str | None
    """The photo (JPEG, at most 1024 px a side), null until one is uploaded (``PUT
    /api/products/{id}/photo``, multipart field ``file``); the URL changes when the photo does."""
    thumb_url: str | None
    """A 256 px thumbnail for lists; null with the photo."""


class ProductList(msgspec.Struct):
    items: list[ProductView]


class NewProduct(msgspec.Struct):
    name: Annotated[str, text(MAX_NAME)]
    price: Amount
    """Points: a JSON string or number, more than 0, at most two decimals."""
    stock: int = 0
    category: str = ""
    limit_per_person: int | None = None
    limit_period: Annotated[str | None, one_of(PERIODS, nullable=True)] = None
    """"day", "week", "month", "quarter" or "year"; with ``limit_per_person``."""
    active: bool = True


class ProductChanges(msgspec.Struct):
    """Fields to change; an absent field stays as it is. The limits are cleared with
    ``"limit_per_person": null, "limit_period": null``. Stock is changed through
    ``POST /api/products/{id}/stock``, never here."""

    name: str | UnsetType = UNSET
    category: str | UnsetType = UNSET
    price: Amount | UnsetType = UNSET
    limit_per_person: int | UnsetType | None = UNSET
    limit_period: str | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET


class StockChange(msgspec.Struct):
    delta: int
    """Units to add (negative: take away)."""
    reason: str | None = None
    """Why; required for an adjustment (1–200 characters)."""
    kind: str = "adjustment"
    """"donation", "purchase" (both add stock) or "adjustment"."""
    donor: str | None = None
    """Who gave it; donations only."""


class StockLevel(msgspec.Struct):
    product_id: int
    stock: int


class Movement(msgspec.Struct):
    id: int
    at: datetime
    delta: int
    stock_after: int
    kind: str
    reason: str | None
    donor: str | None
    ref: str | None
    actor_id: int | None


class MovementPage(msgspec.Struct):
    items: list[Movement]
    next_cursor: str | None
    """Pass as ``cursor`` for the next (older) page; null on the last page."""


# -- the counter and orders --------------------------------------------------------------------


class Line(msgspec.Struct, forbid_unknown_fields=True):
    product_id: int
    quantity: int


class Redeem(msgspec.Struct, forbid_unknown_fields=True):
    member_code: str
    items: list[Line]
    pin: str | None = None


class ItemView(msgspec.Struct):
    product_id: int
    name: str
    quantity: int
    unit_price: str
    amount: str


class PersonRef(msgspec.Struct):
    id: int
    name: str


class RedemptionView(msgspec.Struct):
    id: int
    receipt_no: str
    person: PersonRef
    total: str
    balance_after: str
    items: list[ItemView]
    refunded: str
    at: datetime
    #: A visitor's own community (通存通兑): their points came from its ledger. None: a resident here.
    visiting_from: str | None = None


class RefundRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, text(MAX_REASON)]
    #: The goods taken back; all that is left of the redemption when absent.
    items: list[Line] | None = None


class RefundView(msgspec.Struct):
    id: int
    redemption_id: int
    total: str
    balance_after: str
    items: list[ItemView]
    at: datetime


class NewOrder(msgspec.Struct, forbid_unknown_fields=True):
    items: list[Line]


class OrderView(msgspec.Struct):
    id: int
    status: str
    person_id: int
    total: str
    items: list[ItemView]
    expires_at: datetime
    created_at: datetime
    closed_at: datetime | None
    redemption_id: int | None
    #: The delegate (代办) who reserved it for the resident; None when the resident did.
    acted_by: int | None = None


class OrderList(msgspec.Struct):
    items: list[OrderView]


# -- a day reconciled --------------------------------------------------------------------------


class Totals(msgspec.Struct):
    count: int
    points: str


class ProductDay(msgspec.Struct):
    product_id: int
    name: str
    quantity_out: int
    quantity_back: int
    points: str
    """Net: ``points_out`` less ``points_back``."""
    points_out: str
    points_back: str


class StockDay(msgspec.Struct):
    product_id: int
    name: str
    kind: str
    delta: int


class LedgerProblem(msgspec.Struct):
    problem: str
    """"transfer_missing", "transfer_amount_differs", "transfer_accounts_differ",
    "transfer_not_posted" or "transfer_unaccounted"."""
    detail: str
    transfer_id: str
    redemption_id: int | None = None
    refund_id: int | None = None
    expected: str | None = None
    found: str | None = None


class LedgerCheck(msgspec.Struct):
    agrees: bool
    redemption_transfers_points: str
    """Sum of the amounts of the day's redemptions' transfers as the ledger has them."""
    refund_transfers_points: str
    problems: list[LedgerProblem]


class Reconciliation(msgspec.Struct):
    date: date
    keeper_id: int | None
    """The shop keeper whose counter this is; null: every keeper of the community."""
    redemptions: Totals
    refunds: Totals
    by_product: list[ProductDay]
    stock_movements: list[StockDay]
    ledger: LedgerCheck


# -- opening rules -----------------------------------------------------------------------------


class ShopRules(msgspec.Struct):
    open_days: list[int]
    """ISO weekdays the shop redeems on: 1 = Monday … 7 = Sunday."""
    opens_at: str
    """"HH:MM", Beijing time; the opening minute is open."""
    closes_at: str
    """"HH:MM" (up to "24:00"), Beijing time; the closing minute is closed."""
    min_earned: str
    """Points a resident must have earned before redeeming at all ("0.00": no minimum)."""
    min_hours: str
    """Service hours a resident must have served before redeeming at all."""
    configured: bool
    """False: no rules were ever set, so the shop is always open with no minimum."""
    open_now: bool
    next_open_at: datetime | None
    """When the shop next opens (Beijing time); null while it is open."""
    updated_at: datetime | None = None
    updated_by: int | None = None


class RulesChange(msgspec.Struct, forbid_unknown_fields=True):
    """The whole set of rules; every field is replaced."""

    open_days: Annotated[list[int], weekdays()]
    """ISO weekdays, 1 = Monday … 7 = Sunday; at least one."""
    opens_at: Annotated[str, matching(TIME)]
    """"HH:MM" from "00:00"; before ``closes_at``."""
    closes_at: Annotated[str, matching(TIME)]
    """"HH:MM" up to "24:00"."""
    min_earned: Amount = Decimal(0)
    """Points (string or number, at most two decimals, at least 0)."""
    min_hours: Amount = Decimal(0)
    """Hours (string or number, at most two decimals, at least 0)."""

