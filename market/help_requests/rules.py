"""The rules of a 民声 request that need no database: categories, who may see, claim and confirm
a request, and what it earns.

- **Categories** (助老, 维修, 纠纷调解, 环境, 其他): a dispute (纠纷调解) needs the office's
  decision before volunteers see it (``OFFICE_FIRST``): it is posted in state ``review``.
- **Visibility**: the requester's building, grid or the whole community. A resident sees an
  open request when it is visible where they live; the people it concerns (the requester, who
  posted it, its volunteer, its grid's workers, the office) always see it.
- **No self-dealing**: nobody claims a request of their own household, and nobody confirms a
  claim held by themselves or by a member of their household (the abuse the programmes guard
  against: points moved within a family by saying a favour was done).
- **Earning**: ``per_request + per_hour × hours``, floored to hundredths as a check-out's
  points are (``market.activities.earning.checkout_points``).
"""

from dataclasses import dataclass

from market.activities.earning import checkout_points

CATEGORIES = ("elder_care", "repair", "mediation", "environment", "other")
CATEGORY_NAMES = {"elder_care": "助老", "repair": "维修", "mediation": "纠纷调解",
                  "environment": "环境", "other": "其他"}
VISIBILITIES = ("building", "grid", "community")
#: The states of a request, in the order it normally passes them.
STATES = ("review", "open", "claimed", "done", "disputed", "closed")
#: Categories the office decides on before volunteers see them.
OFFICE_FIRST = frozenset({"mediation"})
#: States in which the requester (or the office) may still withdraw it.
WITHDRAWABLE = frozenset({"review", "open"})

MAX_BODY = 500
MAX_NOTE = 200
#: Hours a volunteer may be credited for one request (hundredths): a day's work.
MAX_HOURS = 2400
#: Requests one resident may have waiting (review, open, claimed or disputed) at once.
MAX_WAITING = 10

#: A community that set nothing: escalate after two days, three claims a day, and 5 points a
#: request plus 10 an hour in every category (hundredths).
DEFAULT_ESCALATE_HOURS = 48
DEFAULT_CLAIMS_PER_DAY = 3
MAX_ESCALATE_HOURS = 720
MAX_CLAIMS_PER_DAY = 50


@dataclass(frozen=True, slots=True)
class Rate:
    """What a request of one category earns: hundredths per request and per hour."""

    per_request: int
    per_hour: int

    def points(self, hours: int) -> int:
        return self.per_request + checkout_points(self.per_hour, hours)


DEFAULT_RATE = Rate(per_request=500, per_hour=1000)


def state_after_posting(category: str) -> str:
    return "review" if category in OFFICE_FIRST else "open"


def same_household(a: int | None, b: int | None) -> bool:
    return a is not None and a == b


@dataclass(frozen=True, slots=True)
class Place:
    """Where a person lives (or a request was posted from): household, building, grid."""

    household: int | None
    building: int | None
    grid: int | None


def visible_to_neighbour(visibility: str, request: Place, reader: Place) -> bool:
    """May a resident living at ``reader`` see (and claim) an open request posted at ``request``?"""
    if visibility == "community":
        return True
    if visibility == "grid":
        return request.grid is not None and request.grid == reader.grid
    return request.building is not None and request.building == reader.building
