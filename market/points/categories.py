"""Earning categories: a community's catalogue of what residents earn points for, and the
policy's rules in the words residents read.

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
- How to earn (``market.activities.how_to_earn``) reads the catalogue and the policy in words
  (``expiry_rule``, ``publicity_rule``) from here.

Amounts are integer hundredths in the table, ``Amount`` in requests, strings in answers.
"""

from decimal import Decimal

from ledger import InvalidAmount, format_points, to_hundredths
from market import audit, clock
from market.auth.sessions import Principal
from market.db import fetch, is_unique_violation
from market.errors import Conflict, InvalidInput, NotFound
from market.messages import Language
from market.points.policy import Rules
from market.points.rules import MAX_CATEGORY_DESCRIPTION, MAX_CATEGORY_LENGTH, MAX_RATE
from market.points.schemas import (
    CategoryChange,
    EarningCategory,
    NewCategory,
)
from market.writes import Steps, write

#: How many categories a community may keep (archived ones too): a catalogue, not a log.
MAX_CATEGORIES = 200


# -- validation ----------------------------------------------------------------------------------


def _name(value: str) -> str:
    cleaned = " ".join(value.split())
    if not 1 <= len(cleaned) <= MAX_CATEGORY_LENGTH:
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
    if len(cleaned) > MAX_CATEGORY_DESCRIPTION:
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
    now_ms = clock.now_ms()
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
            (*(values[name] for name in names), clock.now_ms(),
             category_id, me.community_id),
        )
        yield audit.entry(me.community_id, me.id, "earning_category_change",
                          f"earning_category:{category_id}")


# -- the policy in words, for how to earn (``market.activities.how_to_earn``) ----------------------


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

