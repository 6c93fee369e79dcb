"""What the 民声 API takes and answers. Amounts are strings of points or hours ("12.50")."""

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from market.amounts import Amount
from market.constraints import text
from market.help_requests.rules import MAX_BODY, MAX_NOTE

Category = Literal["elder_care", "repair", "mediation", "environment", "other"]
Visibility = Literal["building", "grid", "community"]
State = Literal["review", "open", "claimed", "done", "disputed", "closed"]
#: What the reader may do with a request now (the pages show these as buttons).
Action = Literal["claim", "release", "confirm", "dispute", "withdraw", "review", "resolve", "photo"]


class NewRequest(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[str, text(MAX_BODY)]
    category: Category
    visibility: Visibility = "building"


class AssistedRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A grid worker posting for a resident of their grid (an elder without a phone)."""

    person_id: int
    body: Annotated[str, text(MAX_BODY)]
    category: Category
    visibility: Visibility = "building"


class Confirmation(msgspec.Struct, forbid_unknown_fields=True):
    hours: Amount
    """Hours the volunteer worked: more than 0, at most 24, two decimals."""


class Dispute(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, text(MAX_NOTE)]


class Review(msgspec.Struct, forbid_unknown_fields=True):
    """The office on a request that needs its decision first (a dispute between neighbours)."""

    decision: Literal["accept", "decline"]
    note: Annotated[str, text(MAX_NOTE, required=False)] = ""


class Resolution(msgspec.Struct, forbid_unknown_fields=True):
    """The office on a disputed claim: done after all (with hours), open again, or closed."""

    decision: Literal["confirm", "reopen", "close"]
    hours: Amount | None = None
    note: Annotated[str, text(MAX_NOTE, required=False)] = ""


class HelpRequestView(msgspec.Struct):
    id: int
    category: Category
    category_name: str
    visibility: Visibility
    body: str
    state: State
    requester: str
    """The requester's name, masked (张*明)."""
    assisted: bool
    """Posted by a grid worker for the requester."""
    place: str
    """The building; the full address (unit, room) for those the request concerns."""
    grid: str | None
    posted_at: datetime
    volunteer: str | None
    """Who holds (or did) it, masked."""
    claimed_at: datetime | None
    escalated: bool
    """Nobody took it in time: its grid worker was told."""
    done_at: datetime | None
    hours: str
    points: str
    note: str | None
    photo_url: str | None
    actions: list[Action]
    mine: bool
    """The reader is its requester."""


class HelpRequestPage(msgspec.Struct):
    items: list[HelpRequestView]
    next_cursor: str | None


class GridCounts(msgspec.Struct):
    grid_id: int | None
    grid: str
    review: int
    open: int
    claimed: int
    disputed: int
    done: int
    overdue: int
    """Open longer than the community's escalation time."""


class Board(msgspec.Struct):
    grids: list[GridCounts]
    items: list[HelpRequestView]
    next_cursor: str | None


class CategoryFigures(msgspec.Struct):
    category: Category
    category_name: str
    posted: int
    solved: int
    median_hours_to_solve: str | None
    """From posting to confirmation, in hours (two decimals); null when none was solved."""


class Figures(msgspec.Struct):
    since: datetime
    until: datetime
    categories: list[CategoryFigures]
    posted: int
    solved: int
    median_hours_to_solve: str | None


class RateView(msgspec.Struct):
    category: Category
    category_name: str
    per_request: str
    per_hour: str


class TermsView(msgspec.Struct):
    escalate_hours: int
    claims_per_day: int
    rates: list[RateView]


class RateInput(msgspec.Struct, forbid_unknown_fields=True):
    category: Category
    per_request: Amount
    per_hour: Amount


class TermsInput(msgspec.Struct, forbid_unknown_fields=True):
    escalate_hours: Annotated[int, msgspec.Meta(ge=1, le=720)]
    claims_per_day: Annotated[int, msgspec.Meta(ge=1, le=50)]
    rates: list[RateInput] = []
