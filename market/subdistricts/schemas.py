"""What the subdistricts' API takes and answers: a subdistrict and the change its office makes,
the overview, ledger checks, settlement, honour roll and dashboard across its communities, and the
moves of house between them. The values are checked by ``market.subdistricts.rules`` (limits) and
the services ``market.subdistricts.service`` (the group) and ``market.subdistricts.moves`` (moves)."""

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from market.constraints import text
from market.reports.schemas import PeriodView
from market.subdistricts import rules

# -- the subdistrict (``service``) -------------------------------------------------------------


class CommunityRef(msgspec.Struct):
    id: int
    name: str
    slug: str


class SubdistrictView(msgspec.Struct):
    id: int
    name: str
    shared_redemption: bool
    communities: list[CommunityRef]


class SubdistrictList(msgspec.Struct):
    items: list[SubdistrictView]


class SubdistrictUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """What a subdistrict's admin may change; an absent field stays as it is."""

    name: Annotated[str, text(rules.MAX_NAME)] | None = None
    shared_redemption: bool | None = None
    #: The communities (ids) the subdistrict groups from now on.
    communities: Annotated[list[int], msgspec.Meta(max_length=rules.MAX_COMMUNITIES)] | None = None


# -- across its communities (``overview``, ``settlement``, ``boards``, ``dashboards``) ---------


class CommunityFigures(msgspec.Struct):
    community: CommunityRef
    residents: int
    issued: str
    redeemed: str
    outstanding: str
    expired: str
    #: Net points its residents spent at other communities' shops (通存通兑), less what came in.
    travelled: str
    entries: int
    head: str


class Totals(msgspec.Struct):
    residents: int
    issued: str
    redeemed: str
    outstanding: str
    expired: str
    travelled: str


class Overview(msgspec.Struct):
    subdistrict_id: int
    name: str
    shared_redemption: bool
    communities: list[CommunityFigures]
    totals: Totals


class CommunityCheck(msgspec.Struct):
    community: CommunityRef
    ok: bool
    entries: int
    head: str
    problem: str | None = None


class ClearingCheck(msgspec.Struct):
    """The pair's two clearing accounts: what the first owes the second, as each ledger says."""

    first: CommunityRef
    second: CommunityRef
    first_says: str
    second_says: str
    ok: bool


class LedgerChecks(msgspec.Struct):
    ok: bool
    communities: list[CommunityCheck]
    clearing: list[ClearingCheck]


class PairSettlement(msgspec.Struct):
    """One pair of communities in one month. ``debtor`` owes ``creditor`` ``owed`` points: what the
    debtor's residents spent at the creditor's shop less what the creditor's residents spent at the
    debtor's (each net of refunds), and the points residents took with them when they moved house
    from one to the other."""

    debtor: CommunityRef
    creditor: CommunityRef
    owed: str
    debtor_residents_spent: str
    creditor_residents_spent: str
    #: Points carried by residents who moved from the debtor to the creditor, and the other way.
    moved_to_creditor: str
    moved_to_debtor: str
    #: Transfers through the pair's clearing accounts in the month (each crossing is two: one a side).
    movements: int


class Settlement(msgspec.Struct):
    subdistrict_id: int
    period: str
    #: Pairs with movements in the month, the largest debt first.
    pairs: list[PairSettlement]
    #: Every pair's two ledgers mirror each other (always true unless the books were altered).
    mirrored: bool


class SubdistrictBoardRow(msgspec.Struct):
    rank: int
    #: Masked as on the public boards (张*明): the office names nobody.
    name: str
    value: str
    community: CommunityRef


class SubdistrictBoard(msgspec.Struct):
    subdistrict_id: int
    subdistrict: str
    period: PeriodView
    measure: str
    rows: list[SubdistrictBoardRow]
    #: How many residents of all the communities earned points in the period.
    ranked: int


class CommunityActivity(msgspec.Struct):
    community: CommunityRef
    activities: int
    participants: int
    hours: str
    issued: str
    redeemed: str


class ActivityTotals(msgspec.Struct):
    activities: int
    participants: int
    hours: str
    issued: str
    redeemed: str


class SubdistrictDashboard(msgspec.Struct):
    subdistrict_id: int
    period: PeriodView
    communities: list[CommunityActivity]
    totals: ActivityTotals


# -- moves of house (``moves``) ----------------------------------------------------------------


class NewMove(msgspec.Struct, forbid_unknown_fields=True):
    person_id: int
    #: The community (id) the resident moves to: another of this community's subdistrict.
    to_community: int


class Refusal(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, text(rules.MAX_REASON)]


class Ref(msgspec.Struct):
    id: int
    name: str


class MoveView(msgspec.Struct):
    id: int
    person: Ref
    from_community: Ref
    to_community: Ref
    #: Seen from the caller's community: "out" of it or "in" to it.
    direction: Literal["out", "in"]
    state: rules.State
    requested_at: datetime
    decided_at: datetime | None
    #: The refusal's reason.
    note: str | None
    #: The points that moved (two decimals); null until done.
    points: str | None
    #: The crossing's id (its legs: ``<id>:out`` in A's ledger, ``<id>:in`` in B's).
    transfer_id: str | None


class MoveList(msgspec.Struct):
    items: list[MoveView]
