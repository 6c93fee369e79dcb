"""A community's terms for 民声 requests: hours until an untaken request is escalated, claims a
volunteer may make in a day, and each category's rate. Rows only where the office set them;
the defaults of ``rules`` otherwise. Changing a rate changes what later confirmations earn, never
a request already done (its points are in the ledger)."""

from dataclasses import dataclass

from ledger import format_points
from market import audit
from market.activities.validation import rate  # an activity's rate rule: the same bounds
from market.auth.sessions import Principal
from market.db import fetch
from market.errors import InvalidInput
from market.help_requests.rules import (
    CATEGORIES,
    CATEGORY_NAMES,
    DEFAULT_CLAIMS_PER_DAY,
    DEFAULT_ESCALATE_HOURS,
    DEFAULT_RATE,
    Rate,
)
from market.help_requests.schemas import RateView, TermsInput, TermsView
from market.writes import Steps, write


@dataclass(frozen=True, slots=True)
class Terms:
    escalate_hours: int
    claims_per_day: int
    rates: dict[str, Rate]

    def rate(self, category: str) -> Rate:
        return self.rates.get(category, DEFAULT_RATE)


_SETTING_SQL = "SELECT escalate_hours, claims_per_day FROM help_setting WHERE community = {}"
_RATES_SQL = "SELECT category, per_request, per_hour FROM help_rate WHERE community = {}"


def _terms(setting: list[dict], rates: list[dict]) -> Terms:
    row = setting[0] if setting else {"escalate_hours": DEFAULT_ESCALATE_HOURS,
                                      "claims_per_day": DEFAULT_CLAIMS_PER_DAY}
    return Terms(int(row["escalate_hours"]), int(row["claims_per_day"]),
                 {r["category"]: Rate(int(r["per_request"]), int(r["per_hour"])) for r in rates})


async def terms(community_id: int) -> Terms:
    return _terms(await fetch(_SETTING_SQL, community_id), await fetch(_RATES_SQL, community_id))


def terms_steps(community_id: int) -> Steps[Terms]:
    """The same, read inside a write unit."""
    setting = yield (_SETTING_SQL, (community_id,))
    rates = yield (_RATES_SQL, (community_id,))
    return _terms(setting, rates)


def view(found: Terms) -> TermsView:
    return TermsView(
        escalate_hours=found.escalate_hours, claims_per_day=found.claims_per_day,
        rates=[RateView(category=c, category_name=CATEGORY_NAMES[c],
                        per_request=format_points(found.rate(c).per_request),
                        per_hour=format_points(found.rate(c).per_hour)) for c in CATEGORIES],
    )


def _set_steps(community_id: int, actor_id: int, escalate_hours: int, claims_per_day: int,
               rates: list[tuple[str, int, int]]) -> Steps[None]:
    yield ("INSERT INTO help_setting (community, escalate_hours, claims_per_day) VALUES ({}, {}, {})"
           " ON CONFLICT (community) DO UPDATE SET escalate_hours = excluded.escalate_hours,"
           " claims_per_day = excluded.claims_per_day", (community_id, escalate_hours, claims_per_day))
    for category, per_request, per_hour in rates:
        yield ("INSERT INTO help_rate (community, category, per_request, per_hour) VALUES ({}, {}, {}, {})"
               " ON CONFLICT (community, category) DO UPDATE SET per_request = excluded.per_request,"
               " per_hour = excluded.per_hour", (community_id, category, per_request, per_hour))
    yield audit.entry(community_id, actor_id, "help_terms_set", f"community:{community_id}")


async def set_terms(me: Principal, data: TermsInput) -> TermsView:
    """The office sets the terms; a category left out keeps its rate. Bad input changes nothing."""
    if len({r.category for r in data.rates}) != len(data.rates):
        raise InvalidInput("duplicate_category", field="rates")
    rates = [(r.category, rate(r.per_request, f"rates.{r.category}.per_request"),
              rate(r.per_hour, f"rates.{r.category}.per_hour")) for r in data.rates]
    await write(_set_steps, me.community_id, me.id, data.escalate_hours, data.claims_per_day, rates)
    return view(await terms(me.community_id))
