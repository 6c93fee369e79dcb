"""The activities domain's shapes: what the API and the pages take (requests) and give (views),
as msgspec Structs, with the limits of their fields."""

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import KwargDefinition

from market.amounts import Amount
from market.cards.rules import ROTATION
from market.constraints import text
from market.points.rules import MAX_CATEGORY_LENGTH
from market.points.schemas import ExpiryMonths

#: The built-in kinds; a community's earning categories (``market.points.categories``) add names.
CATEGORIES = frozenset({"self_governance", "collective_labour", "volunteer_service"})
MAX_REASON_LENGTH = 200
#: An activity's title, and its location.
MAX_TITLE_LENGTH = 100


# -- views -------------------------------------------------------------------------------------


class ActivityView(msgspec.Struct):
    id: int
    title: str
    category: str
    location: str
    starts_at: datetime
    ends_at: datetime
    points_per_checkin: str
    points_per_hour: str
    max_hours: str | None
    capacity: int | None
    requires_approval: bool
    status: str
    organizer_id: int | None
    cancel_reason: str | None = None
    team_id: int | None = None
    grid_ids: list[int] = []
    building_ids: list[int] = []


class ActivityList(msgspec.Struct):
    items: list[ActivityView]


class ManagedActivity(msgspec.Struct):
    """An activity on its organizer's list, with how many people came."""

    activity: ActivityView
    checked_in: int
    """Stays of the activity (everyone who checked in, whatever happened after)."""
    present: int
    """Stays still checked in (not yet checked out)."""


class ActivityCode(msgspec.Struct):
    token: str
    url: str
    expires_at: datetime
    refresh_in: int
    step_seconds: int = ROTATION.step_seconds


class CheckinResult(msgspec.Struct):
    activity_id: int
    direction: str
    at: datetime
    points: str
    balance: str
    duplicate: bool = False
    approval: str | None = None
    """With ``requires_approval``: "pending" (nothing credited yet), "approved", "rejected"."""
    capped: "Capped | None" = None
    """When the community's cap on earning cut this scan's credit (``points`` is what was
    credited, possibly 0.00); the check-in itself and its hours count all the same."""
    counts_on: date | None = None
    """公示: the credit waits on the public notice and counts on this day (China time), unless
    someone objects; null when it counts at once."""
    assisted_by: int | None = None
    """An assisted check-in (or out) by name and room: the organizer who made it; null otherwise."""


class Capped(msgspec.Struct):
    """A credit cut by the policy's ``cap_per_day``/``cap_per_month`` (China day and month)."""

    reason: Literal["cap_reached"]
    credited: str
    """What was credited (or is waiting for 公示)."""
    cut: str
    """What the cap left out."""


class ActivityPoster(msgspec.Struct):
    token: str
    url: str


class ApprovalResult(msgspec.Struct):
    count: int
    """How many stays were approved (or rejected)."""
    credited: str
    """Points credited by this approval (or waiting for 公示), after the caps on earning."""


class CancelResult(msgspec.Struct):
    id: int
    status: str
    cancel_reason: str
    reversed: int
    not_reversed: int


class StayView(msgspec.Struct):
    person_id: int
    name: str
    phone: str
    in_at: datetime
    out_at: datetime | None
    hours: str | None
    points: str
    status: str
    approval: str | None = None
    review_reason: str | None = None
    assisted_by: int | None = None
    """Checked in by name and room (no card, no phone) by this organizer; null: by a code or card."""
    assisted_by_name: str | None = None
    out_assisted_by: int | None = None
    """The same for the check-out."""


class AssistedTally(msgspec.Struct):
    """How many of an activity's check-ins one organizer made by name and room."""

    person_id: int
    name: str
    count: int


class AttendanceList(msgspec.Struct):
    items: list[StayView]
    assisted: list[AssistedTally] = []
    """Assisted check-ins per organizer, most first."""


class ResidentMatch(msgspec.Struct):
    """A resident found by name and room for an assisted check-in; the phone masked."""

    person_id: int
    name: str
    phone: str
    address: str
    """Compound and building, unit, room; empty when the roster has no household."""
    stay: str | None
    """Their stay at the activity: "in", "out", "closed", "cancelled", or null (not checked in)."""


class ResidentMatches(msgspec.Struct):
    items: list[ResidentMatch]


class MyStay(msgspec.Struct):
    """An activity I took part in, with what it earned me."""

    activity_id: int
    title: str
    category: str
    location: str
    in_at: datetime
    out_at: datetime | None
    hours_text: str | None
    """The hours of service counted, formatted ("1.50"); null before the check-out."""
    points: str
    """What the stay credited: 0.00 while it awaits approval, once rejected or cancelled."""
    status: str
    approval: str | None


class ActivitiesNearMe(msgspec.Struct):
    """The resident's activities page: what they may join, how many came, what they joined."""

    ongoing: list[ActivityView]
    """Open for check-in now (from ``CHECKIN_EARLY`` before the start), soonest first."""
    coming: list[ActivityView]
    counts: dict[int, int]
    """People checked in (cancelled stays aside), by activity; absent: none yet."""
    stays: list[MyStay]
    """My latest stays, newest first."""
    joined: dict[int, str]
    """My stay's status, by activity (of the stays listed)."""


# -- requests ----------------------------------------------------------------------------------


#: What ``category`` takes, said in the document: a built-in kind, or the name of one of the
#: community's earning categories (``GET /api/points/how-to-earn`` lists them).
_CATEGORY = KwargDefinition(
    description="A built-in kind, or the name of one of the community's earning categories "
                "(GET /api/points/how-to-earn); anything else: 400 `invalid_category`.",
    schema_extra={"any_of": [
        Schema(type=OpenAPIType.STRING, enum=sorted(CATEGORIES)),
        Schema(type=OpenAPIType.STRING, min_length=1, max_length=MAX_CATEGORY_LENGTH, pattern=r"\S"),
    ]},
)


class NewActivity(msgspec.Struct):
    title: Annotated[str, text(MAX_TITLE_LENGTH)]
    category: Annotated[str, _CATEGORY]
    starts_at: datetime
    ends_at: datetime
    points_per_checkin: Amount
    points_per_hour: Amount
    location: Annotated[str, text(MAX_TITLE_LENGTH, required=False)] = ""
    max_hours: Amount | None = None
    capacity: int | None = None
    requires_approval: bool = False
    team_id: int | None = None
    """Only members of this volunteer team may check in (or residents of the places below)."""
    grid_ids: list[int] = []
    building_ids: list[int] = []
    """Only residents of these grids or buildings (or members of the team) may check in."""


class ActivityChanges(msgspec.Struct):
    """Fields to change; an absent (or null) field stays as it is."""

    title: str | None = None
    category: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    points_per_checkin: Amount | None = None
    points_per_hour: Amount | None = None
    location: str | None = None
    max_hours: Amount | None = None
    capacity: int | None = None
    requires_approval: bool | None = None
    team_id: int | None = None
    grid_ids: list[int] | None = None
    building_ids: list[int] | None = None


class Approval(msgspec.Struct):
    person_ids: list[int] | None = None
    """Whose pending stays; absent or null: all pending stays of the activity."""


class Rejection(msgspec.Struct):
    reason: Annotated[str, text(MAX_REASON_LENGTH)]
    person_ids: list[int] | None = None


class HoursByHand(msgspec.Struct):
    hours: Amount
    reason: Annotated[str, text(MAX_REASON_LENGTH)]


class AssistedRequest(msgspec.Struct):
    person_id: int
    """The resident found by ``GET /api/activities/{id}/residents``."""
    direction: str = "in"
    """"in" or "out"."""


class CancelRequest(msgspec.Struct):
    reason: Annotated[str, text(MAX_REASON_LENGTH)]


class CheckinRequest(msgspec.Struct):
    token: str
    """The scanned token, or the whole URL the QR encodes."""
    direction: str = "in"
    """"in" or "out"."""


class AttendanceRequest(msgspec.Struct):
    member_code: str
    direction: str = "in"


# -- how to earn: the categories with their upcoming activities, and the policy in words -------


class UpcomingActivity(msgspec.Struct):
    id: int
    title: str
    category: str
    location: str
    starts_at: datetime
    ends_at: datetime
    points_per_checkin: str
    points_per_hour: str


class CategoryToEarn(msgspec.Struct):
    id: int
    name: str
    description: str
    points_per_checkin: str
    points_per_hour: str
    activities: list[UpcomingActivity]
    """Coming and ongoing activities of the category the reader may check in to, soonest first."""


class HowToEarn(msgspec.Struct):
    categories: list[CategoryToEarn]
    other_activities: list[UpcomingActivity]
    """Activities open to the reader whose category is not in the catalogue (built-in kinds)."""
    cap_per_day: str | None
    """The most a person may earn in a day (China time); null: no cap."""
    cap_per_month: str | None
    """The most a person may earn in a calendar month; null: no cap."""
    expiry: Literal["none", "calendar_year"] | ExpiryMonths
    expiry_rule: str
    """The expiry rule in words, in the reader's language."""
    publicity_days: int
    """公示: working days a credit waits before it counts; 0: none."""
    publicity_rule: str | None
    """The 公示 rule in words (null when there is none)."""
