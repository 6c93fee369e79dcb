"""Checking what an organizer asks of an activity: every field on its own, so one round reports
all that is wrong (``InvalidFields``, ``problems``); the audience and category against the
community's own; the window's length. Rates are bounded: at most ``MAX_RATE`` points per
participation and per hour (the earning categories' defaults share it)."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger import InvalidAmount, to_hundredths
from market.activities.schemas import (
    CATEGORIES,
    MAX_REASON_LENGTH,
    MAX_TITLE_LENGTH,
    ActivityChanges,
    NewActivity,
)
from market.auth.sessions import Principal
from market.errors import InvalidInput, MarketError
from market.messages import Language, message
from market.points.rules import MAX_CATEGORY_LENGTH, MAX_RATE
from market.tables import Building, Grid, Team


def _text(value: str, field: str, reason: str, low: int, high: int) -> str:
    cleaned = " ".join(value.split())
    if not low <= len(cleaned) <= high:
        raise InvalidInput(reason, field=field)
    return cleaned


def reason(value: str) -> str:
    """A cancellation's or a review's reason, its spaces tidied: 1 to ``MAX_REASON_LENGTH``."""
    return _text(value, "reason", "invalid_reason", 1, MAX_REASON_LENGTH)


def amount(value: Decimal, field: str) -> int:
    """A non-negative amount (points or hours) as hundredths, two decimals at most."""
    try:
        hundredths = to_hundredths(value)
    except InvalidAmount:
        raise InvalidInput("invalid_activity_amount", field=field) from None
    if hundredths < 0:
        raise InvalidInput("invalid_activity_amount", field=field)
    return hundredths


def rate(value: Decimal, field: str) -> int:
    """Points per participation or per hour, as hundredths: 0 to ``MAX_RATE``, two decimals."""
    hundredths = amount(value, field)
    if hundredths > to_hundredths(MAX_RATE):
        raise InvalidInput("activity_rate_too_high", field=field, max_rate=f"{MAX_RATE:f}")
    return hundredths


class InvalidFields(InvalidInput):
    """400 for a request with several bad fields: the first one's reason and field, and every
    one of them in ``errors`` (a form shows each next to its field in one round)."""

    def __init__(self, errors: list[MarketError]) -> None:
        first = errors[0]
        super().__init__(first.reason, field=first.field, **first.params)
        self.errors = errors

    def members(self, language: Language) -> dict[str, Any]:
        return {"errors": [
            {"field": error.field or "", "reason": error.reason,
             "message": message(error.reason, language, field=error.field or "", **error.params)}
            for error in self.errors
        ]}


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidInput("invalid_time", field=field)
    return value.astimezone(UTC)


def _category_name(value: object) -> str:
    # Which names are known is the catalogue's to say (``check_category``).
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CATEGORY_LENGTH:
        raise InvalidInput("invalid_category", field="category")
    return value


def _capacity(value: int) -> int:
    if not 1 <= value <= 1_000_000:
        raise InvalidInput("invalid_capacity", field="capacity")
    return value


def _checked_columns(data: NewActivity | ActivityChanges) -> tuple[dict, list[MarketError]]:
    """Validated column values of the fields given, and what is wrong with each of the others:
    every field is checked on its own, so one round reports them all."""
    checks: list[tuple[str, Callable[[], object]]] = []
    if data.title is not None:
        checks.append(("title", lambda: _text(data.title, "title", "invalid_title", 1, MAX_TITLE_LENGTH)))
    if data.category is not None:
        checks.append(("category", lambda: _category_name(data.category)))
    if data.location is not None:
        checks.append(("location", lambda: _text(
            data.location, "location", "invalid_location", 0, MAX_TITLE_LENGTH)))
    for name in ("starts_at", "ends_at"):
        if (value := getattr(data, name)) is not None:
            checks.append((name, lambda value=value, name=name: _aware(value, name)))
    for name in ("points_per_checkin", "points_per_hour"):
        if (value := getattr(data, name)) is not None:
            checks.append((name, lambda value=value, name=name: rate(value, name)))
    if data.max_hours is not None:
        checks.append(("max_hours", lambda: amount(data.max_hours, "max_hours")))
    if data.capacity is not None:
        checks.append(("capacity", lambda: _capacity(data.capacity)))
    out: dict = {}
    errors: list[MarketError] = []
    for column, check in checks:
        try:
            out[column] = check()
        except MarketError as error:
            errors.append(error)
    if data.requires_approval is not None:
        out["requires_approval"] = bool(data.requires_approval)
    return out, errors


def columns(data: NewActivity | ActivityChanges) -> dict:
    """Validated column values of the fields given; every bad one refused at once."""
    out, errors = _checked_columns(data)
    if errors:
        raise errors[0] if len(errors) == 1 else InvalidFields(errors)
    return out


async def audience_columns(community_id: int, data: NewActivity | ActivityChanges) -> dict:
    """Validated team, grids and buildings: of this community and not archived."""
    out: dict = {}
    if data.team_id is not None:
        found = await Team.select(Team.id).where(
            (Team.id == data.team_id) & (Team.community == community_id)
            & Team.archived_at.is_null()
        ).first()
        if found is None:
            raise InvalidInput("invalid_audience", field="team_id")
        out["team"] = data.team_id
    for name, table, column in (("grid_ids", Grid, "grids"), ("building_ids", Building, "buildings")):
        wanted = getattr(data, name)
        if wanted is None:
            continue
        unique = sorted(set(wanted))
        if len(unique) > 200:
            raise InvalidInput("invalid_audience", field=name)
        if unique:
            found = await table.count().where(
                table.id.is_in(unique) & (table.community == community_id)  # type: ignore[attr-defined]
                & table.archived_at.is_null()  # type: ignore[attr-defined]
            )
            if found != len(unique):
                raise InvalidInput("invalid_audience", field=name)
        out[column] = ",".join(str(i) for i in unique)
    return out


def check_window(starts_at: datetime, ends_at: datetime) -> None:
    """An activity ends after it starts, and within 31 days."""
    if ends_at <= starts_at:
        raise InvalidInput("invalid_window", field="ends_at")
    if ends_at - starts_at > timedelta(days=31):
        raise InvalidInput("invalid_window", field="ends_at")


async def check_category(community_id: int, name: str | None, current: str | None = None) -> None:
    """A built-in kind, or the name of one of the community's earning categories still offered
    (``market.points.categories``); an activity may keep the category it has."""
    if name is None or name in CATEGORIES or name == current:
        return
    # Imported here: the catalogue lists activities through ``service``, which imports this module.
    from market.points import categories

    if not await categories.offered(community_id, name):
        raise InvalidInput("invalid_category", field="category")


async def problems(
    me: Principal, data: NewActivity | ActivityChanges, current: str | None = None
) -> list[MarketError]:
    """Everything wrong with the fields given, each on its own (the activity form shows them all
    in one round); empty when the service would take them. ``create``/``update`` still decide.
    ``current``: the category an edited activity has (it may keep it, even archived)."""
    values, errors = _checked_columns(data)
    if "starts_at" in values and "ends_at" in values:
        try:
            check_window(values["starts_at"], values["ends_at"])
        except MarketError as error:
            errors.append(error)
    if "category" in values and data.category not in CATEGORIES:
        try:
            await check_category(me.community_id, data.category, current)
        except MarketError as error:
            errors.append(error)
    for name in ("team_id", "grid_ids", "building_ids"):
        try:
            await audience_columns(me.community_id, ActivityChanges(**{name: getattr(data, name)}))
        except MarketError as error:
            errors.append(error)
    return errors
