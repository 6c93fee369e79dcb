"""What the points API takes and answers: balances, statements and adjustments, the ledger's
check and public totals, the policy, earning categories, deduction rules,
deductions, suspensions and appeals, households and gifts, and the 公示 notices with their
objections and decisions. The limits of their texts are ``market.points.rules``; the services
(``service``, ``policy``, ``categories``, ``deductions``, ``appeals``, ``gifts``, ``publicity``)
check the rest and use these shapes."""

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from market.amounts import Amount
from market.constraints import text
from market.points import rules

# -- balances, history, adjustments, the ledger's check, transparency --------------------------


class Adjustment(msgspec.Struct):
    id: str
    person_id: int
    amount: str
    balance_after: str


class AdjustmentRequest(msgspec.Struct):
    person_id: int
    amount: Amount
    """A JSON number or string, at most two decimals; negative takes points away."""
    reason: Annotated[str, text(rules.MAX_ADJUSTMENT_REASON)]


class Expiring(msgspec.Struct):
    """Points of the balance that expire, if not spent before: on ``on`` (China date, the last
    day they can be used), exactly at ``at``."""

    amount: str
    on: date
    at: datetime


class WalletBalance(msgspec.Struct):
    balance: str
    held: str
    available: str
    service_hours: str
    """Hours served (checked-out stays); spending points never reduces them."""
    stars: int = 0
    """0–5, from service hours: 1★ at 100 h, then 300, 600, 1000, 1500 h."""
    expiring: list[Expiring] = []
    """The balance's points that will expire, earliest first (none when nothing expires)."""


class EntryView(msgspec.Struct):
    id: str
    at: datetime
    amount: str
    balance_after: str
    kind: str
    memo: str
    #: single, pending (points held, the balance unchanged), post (the held points taken),
    #: void (the hold released) or reverse.
    phase: str = "single"
    #: For a reservation a delegate (代办) made for the person: the delegate's name.
    acted_by: str | None = None
    #: The community whose ledger holds the entry: the person's own, or one they moved out of (搬家).
    community_id: int | None = None


class EntriesPage(msgspec.Struct):
    items: list[EntryView]
    next_cursor: str | None


class VerifyProblem(msgspec.Struct):
    seq: int | None
    transfer_id: str | None
    message: str


class VerifyResult(msgspec.Struct):
    ok: bool
    entries: int
    head: str
    accounts: int
    total: str
    problem: VerifyProblem | None = None


class Transparency(msgspec.Struct):
    community_id: int
    community: str
    head: str
    entries: int
    issued: str
    redeemed: str
    outstanding: str
    expired: str
    #: Net points this community's residents spent at other communities' shops, less what other
    #: communities' residents spent here (通存通兑: the clearing accounts; below zero when more came in).
    travelled: str = "0.00"


class ExpiringPerson(msgspec.Struct):
    person_id: int
    name: str
    amount: str
    on: date
    """The earliest of the expiries (China date, the last day the points can be used)."""


class ExpiringList(msgspec.Struct):
    days: int
    items: list[ExpiringPerson]


# -- the policy --------------------------------------------------------------------------------


#: Who a resident may give points to (``policy.GIFTING`` names the same three).
Gifting = Literal["off", "household", "community"]


class ExpiryMonths(msgspec.Struct, forbid_unknown_fields=True):
    """Points expire this many calendar months after they were earned (黄山: 36)."""

    months: int


class PolicyView(msgspec.Struct):
    """``GET/PUT /api/points/policy``."""

    expiry: Literal["none", "calendar_year"] | ExpiryMonths = "none"
    """"none", "calendar_year" (cleared once 31 December ends) or {"months": N}."""
    publicity_days: int = 0
    """公示: working days (Monday–Friday, not a listed holiday) a credit waits before it counts; 0: none."""
    gifting: Gifting = "off"
    """Who a resident may give points to: nobody, their household, anyone in the community."""
    gift_cap_per_month: str = "0.00"
    """The most a resident may give in a calendar month (China time)."""
    cap_per_day: str | None = None
    """The most a person may earn in a day; null: no cap."""
    cap_per_month: str | None = None
    """The most a person may earn in a calendar month; null: no cap."""
    holidays: list[date] = []
    """Days that are not working days for the 公示 window (national holidays, 调休 rest days)."""


class PolicyUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """The whole policy (PUT replaces it); ``holidays`` left out keeps the listed ones."""

    expiry: Literal["none", "calendar_year"] | ExpiryMonths = "none"
    publicity_days: int = 0
    gifting: Gifting = "off"
    gift_cap_per_month: Amount = Amount(0)
    cap_per_day: Amount | None = None
    cap_per_month: Amount | None = None
    holidays: list[date] | None = None


# -- earning categories (how to earn: ``market.activities.schemas``) ---------------------------


class EarningCategory(msgspec.Struct):
    id: int
    name: str
    points_per_checkin: str
    """The default points per participation of an activity of this category."""
    points_per_hour: str
    """The default points per hour of service."""
    description: str
    archived: bool
    """Archived: no longer offered for new activities; activities that name it keep it."""


class CategoryList(msgspec.Struct):
    items: list[EarningCategory]


class NewCategory(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, text(rules.MAX_CATEGORY_LENGTH)]
    points_per_checkin: Amount = Amount(0)
    points_per_hour: Amount = Amount(0)
    description: Annotated[str, text(rules.MAX_CATEGORY_DESCRIPTION, required=False)] = ""


class CategoryChange(msgspec.Struct, forbid_unknown_fields=True):
    """Fields to change; an absent (or null) one stays as it is."""

    name: Annotated[str | None, text(rules.MAX_CATEGORY_LENGTH)] = None
    points_per_checkin: Amount | None = None
    points_per_hour: Amount | None = None
    description: Annotated[str | None, text(rules.MAX_CATEGORY_DESCRIPTION, required=False)] = None
    archived: bool | None = None


# -- deduction rules, suspensions, deductions --------------------------------------------------


class SuspensionMonths(msgspec.Struct, forbid_unknown_fields=True):
    """Redemptions suspended for this many calendar months from the day of the deduction."""

    months: int


#: The suspension of redemptions a deduction rule brings.
Suspension = Literal["none", "this_and_next_year"] | SuspensionMonths


class RuleChange(msgspec.Struct, forbid_unknown_fields=True):
    """A rule of the catalogue as the admin writes it (PUT replaces it whole)."""

    name: str
    amount: Amount
    """Points taken, > 0, at most two decimals."""
    suspension: Suspension = "none"
    """"none", "this_and_next_year" (through 31 December of next year) or {"months": N}."""
    archived: bool = False


class RuleView(msgspec.Struct):
    id: int
    name: str
    amount: str
    suspension: Suspension
    archived: bool
    updated_at: datetime


class RuleList(msgspec.Struct):
    items: list[RuleView]


class SuspensionView(msgspec.Struct):
    id: int
    person_id: int
    starts_on: date
    until: date
    """The last day (China time) on which redemptions are refused."""
    reason: str
    active: bool
    lifted_at: datetime | None = None
    deduction_id: int | None = None
    """The deduction it came with (appeal that to have it lifted)."""


class SuspensionState(msgspec.Struct):
    """``GET /api/me/suspension``: whether the signed-in person may redeem now, and if not why."""

    suspended: bool
    suspension: SuspensionView | None = None


class DeductionRequest(msgspec.Struct, forbid_unknown_fields=True):
    person_id: int
    rule_id: int | None = None
    """A rule of the catalogue (its amount and suspension); or give ``amount``, not both."""
    amount: Amount | None = None
    reason: str = ""
    """Required without a rule; with one, added to the rule's name."""
    suspend_until: date | None = None
    """Suspend redemptions through this day (China time), instead of what the rule says."""


class DeductionView(msgspec.Struct):
    id: int
    person_id: int
    person_name: str
    rule_id: int | None
    amount: str
    """What was asked."""
    taken: str
    """What the wallet had available and gave (held points are never taken)."""
    not_taken: str
    """What could not be taken; not carried as a debt."""
    balance_after: str
    reason: str
    transfer_id: str | None
    """The ledger transfer (the resident's statement entry); None when nothing was taken."""
    by: int
    at: datetime
    suspension: SuspensionView | None = None
    appeal_status: str | None = None
    """The latest appeal's status: open, upheld or rejected; None: never appealed."""


class DeductionList(msgspec.Struct):
    items: list[DeductionView]


# -- appeals -----------------------------------------------------------------------------------


class NewAppeal(msgspec.Struct, forbid_unknown_fields=True):
    reason: str
    transfer_id: str | None = None
    """The statement entry of the deduction; or ``deduction_id``, not both."""
    deduction_id: int | None = None


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    uphold: bool
    note: str = ""
    """Why; required when the appeal is rejected."""


class AppealView(msgspec.Struct):
    id: int
    deduction_id: int
    transfer_id: str | None
    person_id: int
    person_name: str
    taken: str
    """What the deduction took (and an upheld appeal gives back)."""
    deduction_reason: str
    reason: str
    status: str
    """open, upheld or rejected."""
    created_at: datetime
    decided_at: datetime | None = None
    note: str | None = None
    reversal_id: str | None = None
    """The compensating ledger entry of an upheld appeal."""


class AppealList(msgspec.Struct):
    items: list[AppealView]


# -- households and gifts ----------------------------------------------------------------------


class HouseholdMember(msgspec.Struct):
    person_id: int
    name: str
    """Masked as on the public boards (张*明)."""
    balance: str
    me: bool = False


class HouseholdView(msgspec.Struct):
    has_household: bool
    """False: the signed-in resident is in no household (or only an archived one); no members."""
    members: list[HouseholdMember]
    total: str
    """The members' balances added up."""
    gifting: str
    """The community's policy: "off", "household" or "community"."""
    gift_cap_per_month: str
    given_this_month: str
    left_this_month: str
    """What the cap still lets me give this calendar month (China time)."""
    giftable: str
    """My points that may be given now: alive (not expired) and not held for a reservation."""
    household_id: int | None = None
    address: str | None = None
    """Building, unit and room of the household (the resident's own address)."""


class GiftRequest(msgspec.Struct, forbid_unknown_fields=True):
    to_person_id: int
    amount: Amount
    """A JSON number or string, at most two decimals, more than zero."""


class GiftView(msgspec.Struct):
    id: str
    """The ledger transfer's id."""
    to_person_id: int
    to_name: str
    """The receiver's name, masked."""
    amount: str
    balance_after: str
    """The giver's balance after the gift."""
    given_this_month: str
    left_this_month: str
    at: datetime


# -- 公示: notices, objections, the office's decisions -------------------------------------------


class NoticeItem(msgspec.Struct):
    """A credit on the public notice: who (masked), how much, for what, and when it counts."""

    id: int
    name: str
    """Masked as on the public boards (张*明)."""
    amount: str
    activity: str
    """The activity's title (or the credit's memo)."""
    made_on: date
    window_ends: date
    """The last day to object (China time)."""
    counts_on: date
    """The day the points count, unless someone objects."""
    state: str
    """"pending", or "frozen": someone objected and the office will decide."""


class Notices(msgspec.Struct):
    community: str
    publicity_days: int
    items: list[NoticeItem]
    next_cursor: str | None = None


class Objection(msgspec.Struct):
    person_id: int
    name: str
    reason: str
    at: datetime


class NoticeView(msgspec.Struct):
    """One credit under 公示, as its objector and the office see it."""

    id: int
    name: str
    """Masked for a resident; in full for the office."""
    amount: str
    activity: str
    made_on: date
    window_ends: date
    counts_on: date
    state: str
    """pending, frozen, posted or voided."""
    person_id: int | None = None
    """For the office only."""
    objections: list[Objection] = []
    """For the office only: who objected, why, when."""
    decision_note: str | None = None


class ObjectionBody(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, text(rules.MAX_OBJECTION_REASON)]
    """Why the credit should not count (1–200 characters)."""


class DecisionBody(msgspec.Struct, forbid_unknown_fields=True):
    post: bool
    """true: the credit counts now; false: it is voided."""
    note: Annotated[str, text(rules.MAX_DECISION_NOTE, required=False)] = ""
    """The office's note (0–200 characters)."""


class OfficeNotices(msgspec.Struct):
    items: list[NoticeView]
    """Frozen credits first (objected to), then those waiting; at most 200."""
