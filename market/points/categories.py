"""Earning categories: a community's catalogue of what residents earn points for, and the
how-to-earn answer residents read.

A category (``earning_category``) has a name, the points an activity of it gives per
participation and per hour *by default*, a description, and may be archived. Decisions:

- The catalogue is where the activity form's names come from. An activity's ``category``
  holds a category's name (or one of the three built-in kinds, ``self_governance``,
  ``collective_labour``, ``volunteer_service``, which the API has always taken and a
  community without a catalogue still uses). The activities service accepts a name only while
  its category is offered (``offered``: not archived); an activity keeps the name it has.
- Rates stay per activity: a category's rates only prefill the form. Changing a category's
  rate never changes an activity already made, so what a resident was promised stands.
- Names are unique per community, archived ones included (a name means one category for
  the activities that carry it); an archived category is restored with ``archived: false``.
  Categories are never deleted: activities name them.
- How to earn (``how_to_earn``) is for anyone signed in to the community: the categories
  still offered with their rates, the policy's caps, its expiry and 公示 rules in words, and
  the upcoming activities of each category that the reader may check in to, chosen by the
  activities service's own audience rule (``activities.open_to_me``); activities whose
  category is not in the catalogue (built-in kinds, archived names) are listed apart.

Amounts are integer hundredths in the table, ``Amount`` in requests, strings in answers.
"""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from ledger import InvalidAmount, format_points, to_hundredths
from market import audit
from market.activities import service as activities
from market.amounts import Amount
from market.auth.sessions import Principal
from market.constraints import text
from market.db import fetch, is_unique_violation
from market.errors import Conflict, InvalidInput, NotFound
from market.messages import Language
from market.points import policy
from market.points.policy import ExpiryMonths, Rules
from market.writes import Steps, write

#: As long as an activity's category column (``activity.category``) holds.
MAX_NAME = activities.MAX_CATEGORY_LENGTH
MAX_DESCRIPTION = 200
#: The most points a category's default rate may be (per participation, per hour): the activities'
#: own bound, so a category never prefills a rate its activities would refuse.
MAX_RATE = activities.MAX_RATE
#: How many categories a community may keep (archived ones too): a catalogue, not a log.
MAX_CATEGORIES = 200
#: How many upcoming activities the how-to-earn answer lists per category.
UPCOMING_PER_CATEGORY = 10


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
    name: Annotated[str, text(MAX_NAME)]
    points_per_checkin: Amount = Amount(0)
    points_per_hour: Amount = Amount(0)
    description: Annotated[str, text(MAX_DESCRIPTION, required=False)] = ""


class CategoryChange(msgspec.Struct, forbid_unknown_fields=True):
    """Fields to change; an absent (or null) one stays as it is."""

    name: Annotated[str | None, text(MAX_NAME)] = None
    points_per_checkin: Amount | None = None
    points_per_hour: Amount | None = None
    description: Annotated[str | None, text(MAX_DESCRIPTION, required=False)] = None
    archived: bool | None = None


# -- validation ----------------------------------------------------------------------------------


def _name(value: str) -> str:
    cleaned = " ".join(value.split())
    if not 1 <= len(cleaned) <= MAX_NAME:
        raise InvalidInput("invalid_category_name", field="name")
    return cleaned


def _rate(value: Decimal, field: str) -> int:
    try:
        if not Decimal(0) <= value <= MAX_RATE:
            raise InvalidInput("invalid_category_rate", field=field)
        return to_hundredths(value)
    except (InvalidAmount, ArithmeticError):
        raise InvalidInput("invalid_category_rate", field=field) from None


def _description(value: str) -> str:
    cleaned = value.strip()
    if len(cleaned) > MAX_DESCRIPTION:
        raise InvalidInput("invalid_category_description", field="description")
    return cleaned


def _columns(data: NewCategory | CategoryChange) -> dict[str, object]:
    """The validated column values of the fields given."""
    out: dict[str, object] = {}
    if data.name is not None:
        out["name"] = _name(data.name)
    for field in ("points_per_checkin", "points_per_hour"):
        if (value := getattr(data, field)) is not None:
            out[field] = _rate(value, field)
    if data.description is not None:
        out["description"] = _description(data.description)
    if isinstance(data, CategoryChange) and data.archived is not None:
        out["archived"] = bool(data.archived)
    return out


# -- the catalogue ----------------------------------------------------------------------------------


def _view(row: dict) -> EarningCategory:
    return EarningCategory(
        id=row["id"], name=row["name"], points_per_checkin=format_points(row["points_per_checkin"]),
        points_per_hour=format_points(row["points_per_hour"]), description=row["description"],
        archived=bool(row["archived"]),
    )


_SELECT = ("SELECT id, name, points_per_checkin, points_per_hour, description, archived"
           " FROM earning_category WHERE community = {}")


async def list_categories(community_id: int, *, archived: bool = True) -> list[EarningCategory]:
    """The community's categories by name (offered ones only, without ``archived``)."""
    rows = await fetch(_SELECT + ("" if archived else " AND archived = {}") + " ORDER BY name, id",
                       community_id, *(() if archived else (False,)))
    return [_view(row) for row in rows]


async def get(community_id: int, category_id: int) -> EarningCategory:
    rows = await fetch(_SELECT + " AND id = {}", community_id, category_id)
    if not rows:
        raise NotFound()
    return _view(rows[0])


async def offered(community_id: int, name: str) -> bool:
    """Is ``name`` a category of the community that new activities may take?"""
    rows = await fetch("SELECT 1 AS yes FROM earning_category WHERE community = {} AND name = {}"
                       " AND archived = {}", community_id, name, False)
    return bool(rows)


async def create(me: Principal, data: NewCategory) -> EarningCategory:
    values = _columns(data)
    try:
        category_id = await write(_create_steps, me, values)
    except Exception as error:
        if is_unique_violation(error):
            raise Conflict("category_name_taken", field="name") from None
        raise
    return await get(me.community_id, category_id)


def _create_steps(me: Principal, values: dict) -> Steps[int]:
    (count,) = yield ("SELECT COUNT(*) AS n FROM earning_category WHERE community = {}",
                      (me.community_id,))
    if int(count["n"]) >= MAX_CATEGORIES:
        raise Conflict("too_many_categories")
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    (row,) = yield (
        "INSERT INTO earning_category (community, name, points_per_checkin, points_per_hour,"
        " description, archived, created_ms, updated_ms) VALUES ({}, {}, {}, {}, {}, {}, {}, {})"
        " RETURNING id",
        (me.community_id, values["name"], values.get("points_per_checkin", 0),
         values.get("points_per_hour", 0), values.get("description", ""), False, now_ms, now_ms),
    )
    yield audit.entry(me.community_id, me.id, "earning_category_create", f"earning_category:{row['id']}")
    return row["id"]


async def update(me: Principal, category_id: int, data: CategoryChange) -> EarningCategory:
    values = _columns(data)
    try:
        await write(_update_steps, me, category_id, values)
    except Exception as error:
        if is_unique_violation(error):
            raise Conflict("category_name_taken", field="name") from None
        raise
    return await get(me.community_id, category_id)


def _update_steps(me: Principal, category_id: int, values: dict) -> Steps[None]:
    found = yield ("SELECT id FROM earning_category WHERE id = {} AND community = {}",
                   (category_id, me.community_id))
    if not found:
        raise NotFound()
    if values:
        names = list(values)
        yield (
            "UPDATE earning_category SET " + ", ".join(f"{name} = {{}}" for name in names)
            + ", updated_ms = {} WHERE id = {} AND community = {}",
            (*(values[name] for name in names), int(datetime.now(UTC).timestamp() * 1000),
             category_id, me.community_id),
        )
        yield audit.entry(me.community_id, me.id, "earning_category_change",
                          f"earning_category:{category_id}")


# -- how to earn -------------------------------------------------------------------------------------


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


def expiry_rule(rules: Rules, language: Language) -> str:
    """When points earned now expire, as residents read it."""
    if rules.expiry == "calendar_year":
        return ("Points are cleared after 31 December of the year they were earned"
                if language == "en" else "积分在获得当年的 12 月 31 日后清零")
    if rules.expiry == "months" and rules.expiry_months:
        months = rules.expiry_months
        if months % 12 == 0:
            years = months // 12
            return (f"Points expire {years} year{'s' if years > 1 else ''} after they were earned"
                    if language == "en" else f"积分在获得 {years} 年后到期")
        return (f"Points expire {months} month{'s' if months > 1 else ''} after they were earned"
                if language == "en" else f"积分在获得 {months} 个月后到期")
    return "Points do not expire" if language == "en" else "积分长期有效，不会过期"


def publicity_rule(rules: Rules, language: Language) -> str | None:
    """The 公示 window as residents read it (None: credits count at once)."""
    days = rules.publicity_days
    if not days:
        return None
    if language == "en":
        return (f"New points are shown publicly (公示) for {days} working day{'s' if days > 1 else ''}"
                " before they count")
    return f"新获得的积分公示 {days} 个工作日后到账"


def _upcoming(activity: activities.ActivityView) -> UpcomingActivity:
    return UpcomingActivity(
        id=activity.id, title=activity.title, category=activity.category, location=activity.location,
        starts_at=activity.starts_at, ends_at=activity.ends_at,
        points_per_checkin=activity.points_per_checkin, points_per_hour=activity.points_per_hour,
    )


async def how_to_earn(me: Principal, language: Language) -> HowToEarn:
    """What earns what in ``me``'s community, under its policy, and what is coming up for them."""
    rules = await policy.rules(me.community_id)
    offered_now = await list_categories(me.community_id, archived=False)
    by_category: dict[str, list[UpcomingActivity]] = {c.name: [] for c in offered_now}
    others: list[UpcomingActivity] = []
    for activity in await activities.open_to_me(me, activities.now()):
        listed = by_category.get(activity.category, others)
        if len(listed) < UPCOMING_PER_CATEGORY:
            listed.append(_upcoming(activity))
    shown = policy.view(rules, [])

    def cap(value: int | None) -> str | None:
        return None if value is None else format_points(value)

    return HowToEarn(
        categories=[
            CategoryToEarn(id=c.id, name=c.name, description=c.description,
                           points_per_checkin=c.points_per_checkin, points_per_hour=c.points_per_hour,
                           activities=by_category[c.name])
            for c in offered_now
        ],
        other_activities=others, cap_per_day=cap(rules.cap_per_day),
        cap_per_month=cap(rules.cap_per_month), expiry=shown.expiry,
        expiry_rule=expiry_rule(rules, language), publicity_days=rules.publicity_days,
        publicity_rule=publicity_rule(rules, language),
    )


def last_day_text(day: date, language: Language) -> str:
    """A date as the notices write it: 2026年12月31日, or 31 December 2026."""
    if language == "en":
        return f"{day.day} {day.strftime('%B')} {day.year}"
    return f"{day.year}年{day.month}月{day.day}日"
