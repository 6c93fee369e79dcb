"""What the town's load was told: the communities it set up and every write the server acknowledged.

``bench.town_day`` adds to it as answers come back (one event loop, so no locks); ``bench.town_audit``
compares it with what the server has afterwards. Amounts are integer hundredths, as in the ledger.

A write that got no clear answer (a 5xx, a dropped connection, a timeout) may or may not have
happened: it is ``Unsettled`` until, after the day, the client finds out (sending a keyed request
again, or reading back a stay or an order); until then the wallets, stays, sales, orders and goods
it touched are ``unsure`` and the audit compares only what the model can tell for certain (that
what *was* acknowledged is there is always checked).
"""

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Product:
    id: int
    name: str
    price: int
    stock: int  # at the start
    kind: str  # "shelf", "scarce" (little stock), "limited" (per person per day), "dear" (unaffordable)


@dataclass
class Shown:
    """A rotating code as a screen shows it: fetched again when the screen refreshes it."""

    text: str = ""
    until: float = 0.0  # time.monotonic()


@dataclass(eq=False)
class Resident:
    id: int
    phone: str
    token: str
    #: Acknowledged adjustments: transfer id → amount (the funding of the setup is the first).
    adjustments: dict[str, int] = field(default_factory=dict)
    #: Points taken by acknowledged redemptions and fulfilled orders, less acknowledged refunds.
    spent: int = 0
    #: Points held by acknowledged reservations still open.
    held: int = 0
    code: Shown = field(default_factory=Shown)  # the member code on the phone
    unsure: list[str] = field(default_factory=list)


@dataclass(eq=False)
class Activity:
    id: int
    title: str
    requires_approval: bool
    code: Shown = field(default_factory=Shown)  # the check-in code on the organizer's screen
    #: Residents with a scan of this activity in flight.
    busy: set[int] = field(default_factory=set)


@dataclass(eq=False)
class Stay:
    """A resident's acknowledged check-in at an activity, and what followed it."""

    activity: Activity
    resident: Resident
    points_in: int
    pending: bool  # the activity requires approval and none was acknowledged yet
    points_out: int = 0
    out: bool = False
    approved: bool = False
    busy: bool = False
    unsure: str = ""

    def credited(self) -> int:
        """What the stay has put into the wallet: nothing while it waits for approval."""
        if self.pending and not self.approved:
            return 0
        return self.points_in + (self.points_out if self.out else 0)


@dataclass(eq=False)
class Sale:
    """An acknowledged redemption (201) and the acknowledged refunds of it."""

    id: int
    key: str
    resident: Resident
    total: int
    lines: dict[int, int]  # product id → quantity
    left: dict[int, int]  # what may still be refunded
    refunded: int = 0
    busy: bool = False
    unsure: str = ""


@dataclass(eq=False)
class Order:
    """An acknowledged reservation and its acknowledged end (fulfilled or cancelled)."""

    id: int
    resident: Resident
    total: int
    lines: dict[int, int]
    status: str = "reserved"
    busy: bool = False
    unsure: str = ""


@dataclass(eq=False)
class Community:
    index: int
    name: str
    admin: str = ""  # tokens
    organizer: str = ""
    keeper: str = ""
    residents: list[Resident] = field(default_factory=list)
    products: dict[int, Product] = field(default_factory=dict)
    activities: list[Activity] = field(default_factory=list)
    stays: dict[tuple[int, int], Stay] = field(default_factory=dict)
    #: (activity, resident) pairs whose check-in got no clear answer: never scanned again.
    lost_pairs: set[tuple[int, int]] = field(default_factory=set)
    checked_in: list[Stay] = field(default_factory=list)  # not out, not busy
    waiting: list[Stay] = field(default_factory=list)  # pending approval, not in an approval
    sales: list[Sale] = field(default_factory=list)
    reserved: list[Order] = field(default_factory=list)  # open and not busy
    orders: list[Order] = field(default_factory=list)
    #: Units out of stock by acknowledged redemptions and reservations (not cancelled), less refunds.
    units_out: Counter = field(default_factory=Counter)
    creating_activity: bool = False
    #: Per product, the unsettled writes that may have moved its stock.
    unsure: Counter = field(default_factory=Counter)

    def products_of(self, kind: str) -> list[Product]:
        return [p for p in self.products.values() if p.kind == kind]


@dataclass(eq=False)
class Unsettled:
    """A write nobody was told the outcome of. ``settle(connection)`` finds it out and applies it to
    the model (True), or cannot yet (False)."""

    what: str
    settle: Callable[[Any], Awaitable[bool]]
    community: Community
    residents: list[Resident]
    products: list[int] = field(default_factory=list)
    settled: bool = False

    def mark(self) -> None:
        for resident in self.residents:
            resident.unsure.append(self.what)
        self.community.unsure.update(self.products)

    def unmark(self) -> None:
        self.settled = True
        for resident in self.residents:
            resident.unsure.remove(self.what)
        self.community.unsure.subtract(self.products)
