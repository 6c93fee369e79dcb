"""The settlement statement of a subdistrict: per pair of its communities, what one owes the other.

When a resident of A redeems at B's shop, A's ledger moves the points from the wallet to A's
clearing account for B, and B's ledger from its clearing account for A to its shop
(``ledger.crossing``). So in a month, what A's clearing account for B received is what A's
residents spent at B, and what it gave is what B's residents spent at A (refunds come back the
other way). The statement is read from those accounts' movements alone, and each side is
checked against the other's ledger: the two must mirror each other exactly.
"""

import re
from datetime import datetime
from decimal import Decimal
from itertools import combinations

import msgspec

from ledger import Ledger
from market.errors import InvalidInput
from market.points.service import points as format_points
from market.reports.board_period import CHINA
from market.subdistricts.service import CommunityRef, get

MONTH = re.compile(r"(\d{4})-(\d{2})")


class PairSettlement(msgspec.Struct):
    """One pair of communities in one month. ``debtor`` owes ``creditor`` ``owed`` points: what the
    debtor's residents spent at the creditor's shop less what the creditor's residents spent at
    the debtor's (each net of refunds)."""

    debtor: CommunityRef
    creditor: CommunityRef
    owed: str
    debtor_residents_spent: str
    creditor_residents_spent: str
    #: Transfers through the pair's clearing accounts in the month (each crossing is two: one a side).
    movements: int


class Settlement(msgspec.Struct):
    subdistrict_id: int
    period: str
    #: Pairs with movements in the month, the largest debt first.
    pairs: list[PairSettlement]
    #: Every pair's two ledgers mirror each other (always true unless the books were altered).
    mirrored: bool


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


async def settlement(ledger: Ledger, subdistrict_id: int, period: str) -> Settlement:
    start, end = month_bounds(period)
    view = await get(subdistrict_id)
    pairs: list[PairSettlement] = []
    mirrored = True
    for first, second in combinations(view.communities, 2):
        ours = await ledger.find_account(first.id, "clearing", str(second.id))
        theirs = await ledger.find_account(second.id, "clearing", str(first.id))
        if ours is None and theirs is None:
            continue  # points never crossed between these two
        zero = (Decimal(0), Decimal(0), 0)
        mine = await ledger.flows(ours.id, start, end) if ours else None
        other = await ledger.flows(theirs.id, start, end) if theirs else None
        spent_at_second, spent_at_first, count = (
            (mine.credited, mine.debited, mine.movements) if mine else zero)
        mirror = (other.debited, other.credited, other.movements) if other else zero
        # What the first ledger says went out, the second must say came in, and the reverse.
        mirrored = mirrored and (spent_at_second, spent_at_first, count) == mirror
        if not count and not mirror[2]:
            continue
        net = spent_at_second - spent_at_first
        debtor, creditor = (first, second) if net >= 0 else (second, first)
        debtor_spent, creditor_spent = (
            (spent_at_second, spent_at_first) if net >= 0 else (spent_at_first, spent_at_second))
        pairs.append(PairSettlement(
            debtor=debtor, creditor=creditor, owed=format_points(abs(net)),
            debtor_residents_spent=format_points(debtor_spent),
            creditor_residents_spent=format_points(creditor_spent), movements=count + mirror[2],
        ))
    pairs.sort(key=lambda p: (-Decimal(p.owed), p.debtor.id, p.creditor.id))
    return Settlement(subdistrict_id=subdistrict_id, period=period, pairs=pairs, mirrored=mirrored)
