"""The settlement statement of a subdistrict: per pair of its communities, what one owes the other.

When a resident of A redeems at B's shop, A's ledger moves the points from the wallet to A's
clearing account for B, and B's ledger from its clearing account for A to its shop
(``ledger.crossing``). So in a month, what A's clearing account for B received in redemptions is
what A's residents spent at B, and what it gave is what B's residents spent at A; refunds come back
the other way, and a resident moving house carries their points through the same accounts. The
statement is read from those accounts' movements alone, by kind of transfer, and each side is
checked against the other's ledger: the two must mirror each other exactly.
"""

import re
from datetime import datetime
from decimal import Decimal

import msgspec

from ledger import Ledger
from market.china_time import CHINA
from market.errors import InvalidInput
from market.points.service import points as format_points
from market.subdistricts.schemas import PairSettlement, Settlement
from market.subdistricts.service import clearing_pairs, get

MONTH = re.compile(r"(\d{4})-(\d{2})")


def this_month() -> str:
    return datetime.now(CHINA).strftime("%Y-%m")


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of a Beijing month ``YYYY-MM``."""
    match = MONTH.fullmatch(period or "")
    if not match or not 1 <= int(match[2]) <= 12 or not 2000 <= int(match[1]) <= 2999:
        raise InvalidInput("invalid_month", field="period")
    year, month = int(match[1]), int(match[2])
    start = datetime(year, month, 1, tzinfo=CHINA)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=CHINA)
    return start, end


#: The kinds of transfer that cross between communities (``ledger.crossing``): redemptions at
#: another community's shop and their refunds (``market.shop.counter``), and moves of house
#: (``market.subdistricts.moves``).
REDEMPTION, REFUND, MOVE = "redemption", "refund", "move"


class _Side(msgspec.Struct):
    """One clearing account's month, as its own ledger has it: what its residents spent at the
    other community (net of refunds), what the other's residents spent here, points moved either
    way, and the transfers."""

    spent_there: Decimal
    spent_here: Decimal
    moved_there: Decimal
    moved_here: Decimal
    movements: int

    @property
    def net(self) -> Decimal:
        return self.spent_there - self.spent_here + self.moved_there - self.moved_here


async def _side(ledger: Ledger, account_id: int | None, start: datetime, end: datetime) -> _Side:
    """A clearing account is credited when points leave its community (a resident spending at the
    other shop, moving there, or the other's refund going back) and debited when they come in."""
    flows = await ledger.flows(account_id, start, end) if account_id else {}
    zero = Decimal(0)

    def credited(kind: str) -> Decimal:
        return flows[kind].credited if kind in flows else zero

    def debited(kind: str) -> Decimal:
        return flows[kind].debited if kind in flows else zero

    return _Side(
        spent_there=credited(REDEMPTION) - debited(REFUND), spent_here=debited(REDEMPTION) - credited(REFUND),
        moved_there=credited(MOVE), moved_here=debited(MOVE),
        movements=sum(f.movements for f in flows.values()),
    )


def _mirrors(mine: _Side, theirs: _Side) -> bool:
    """The other ledger's account for this community says the same month from the other side."""
    return (mine.spent_there, mine.spent_here, mine.moved_there, mine.moved_here, mine.movements) == (
        theirs.spent_here, theirs.spent_there, theirs.moved_here, theirs.moved_there, theirs.movements)


async def settlement(ledger: Ledger, subdistrict_id: int, period: str) -> Settlement:
    start, end = month_bounds(period)
    view = await get(subdistrict_id)
    pairs: list[PairSettlement] = []
    mirrored = True
    for first, second, ours, theirs in await clearing_pairs(ledger, view):
        mine = await _side(ledger, ours.id if ours else None, start, end)
        other = await _side(ledger, theirs.id if theirs else None, start, end)
        mirrored = mirrored and _mirrors(mine, other)
        if not mine.movements and not other.movements:
            continue
        # What the first ledger says, seen from the side that owes.
        if mine.net >= 0:
            debtor, creditor, side = first, second, mine
        else:
            debtor, creditor, side = second, first, other
        pairs.append(PairSettlement(
            debtor=debtor, creditor=creditor, owed=format_points(side.net),
            debtor_residents_spent=format_points(side.spent_there),
            creditor_residents_spent=format_points(side.spent_here),
            moved_to_creditor=format_points(side.moved_there), moved_to_debtor=format_points(side.moved_here),
            movements=mine.movements + other.movements,
        ))
    pairs.sort(key=lambda p: (-Decimal(p.owed), p.debtor.id, p.creditor.id))
    return Settlement(subdistrict_id=subdistrict_id, period=period, pairs=pairs, mirrored=mirrored)
