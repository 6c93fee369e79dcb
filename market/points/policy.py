"""A community's points policy: when points expire, how long credits wait for 公示, who may give
points to whom, how much a person may earn a day and a month, and the office's holidays.

One row per community (``points_policy``); a community without one has the default policy
(nothing expires, no 公示, no gifts, no caps). A policy governs the points earned after it is
saved: every credit is stamped with its expiry when it is made (``market.points.lots``), so
changing the rule never shortens the life of points already earned (no retroactive rules).

Amounts are integer hundredths here and in the table, ``Amount`` strings on the wire.
"""

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from ledger import format_points, to_hundredths
from market import audit, clock
from market.china_time import CHINA
from market.errors import InvalidInput
from market.points.schemas import ExpiryMonths, PolicyUpdate, PolicyView
from market.writes import Steps, write

EXPIRY_KINDS = ("none", "calendar_year", "months")
GIFTING = ("off", "household", "community")
MAX_EXPIRY_MONTHS = 120
MAX_PUBLICITY_DAYS = 30
#: The largest cap or gift cap a policy may name, in points (a bound the database can hold).
MAX_CAP = Decimal(1_000_000)
MAX_HOLIDAYS = 400

@dataclass(frozen=True, slots=True)
class Rules:
    """The policy as the services use it (hundredths; None: no cap)."""

    expiry: str = "none"
    expiry_months: int | None = None
    publicity_days: int = 0
    gifting: str = "off"
    gift_cap_per_month: int = 0
    cap_per_day: int | None = None
    cap_per_month: int | None = None

    def expires_at(self, earned: datetime) -> datetime | None:
        """When points earned at ``earned`` expire under this policy (None: never).

        Calendar year (志愿黄石): at 00:00 on 1 January after the year they were earned, China
        time, i.e. once 31 December has ended. Months: the same time of day that many months
        later, on the same day of the month or the month's last day (31 Jan + 1 month = 28/29 Feb).
        """
        local = earned.astimezone(CHINA)
        if self.expiry == "calendar_year":
            return datetime(local.year + 1, 1, 1, tzinfo=CHINA)
        if self.expiry == "months" and self.expiry_months:
            month_index = local.month - 1 + self.expiry_months
            year, month = local.year + month_index // 12, month_index % 12 + 1
            day = min(local.day, calendar.monthrange(year, month)[1])
            return local.replace(year=year, month=month, day=day)
        return None


DEFAULT = Rules()


def _cap(value: Decimal | None, field: str, *, nullable: bool) -> int | None:
    if value is None:
        if nullable:
            return None
        raise InvalidInput("invalid_input", field=field)
    if not Decimal(0) <= value <= MAX_CAP:
        raise InvalidInput("invalid_cap", field=field)
    return to_hundredths(value)


def rules_from(request: PolicyUpdate) -> tuple[Rules, list[date] | None]:
    """Check a policy the admin sent; the rules and the holidays (None: keep the listed ones)."""
    if isinstance(request.expiry, ExpiryMonths):
        months = request.expiry.months
        if isinstance(months, bool) or not 1 <= months <= MAX_EXPIRY_MONTHS:
            raise InvalidInput("invalid_expiry", field="expiry")
        expiry, expiry_months = "months", months
    elif request.expiry in ("none", "calendar_year"):
        expiry, expiry_months = request.expiry, None
    else:
        raise InvalidInput("invalid_expiry", field="expiry")
    if isinstance(request.publicity_days, bool) or not 0 <= request.publicity_days <= MAX_PUBLICITY_DAYS:
        raise InvalidInput("invalid_publicity_days", field="publicity_days")
    if request.gifting not in GIFTING:
        raise InvalidInput("invalid_input", field="gifting")
    holidays = request.holidays
    if holidays is not None and len(holidays) > MAX_HOLIDAYS:
        raise InvalidInput("invalid_input", field="holidays")
    rules = Rules(
        expiry=expiry, expiry_months=expiry_months, publicity_days=request.publicity_days,
        gifting=request.gifting,
        gift_cap_per_month=_cap(request.gift_cap_per_month, "gift_cap_per_month", nullable=False) or 0,
        cap_per_day=_cap(request.cap_per_day, "cap_per_day", nullable=True),
        cap_per_month=_cap(request.cap_per_month, "cap_per_month", nullable=True),
    )
    if rules.cap_per_day is not None and rules.cap_per_month is not None \
            and rules.cap_per_day > rules.cap_per_month:
        raise InvalidInput("cap_day_over_month", field="cap_per_day")
    return rules, None if holidays is None else sorted(set(holidays))


# -- reading and saving ---------------------------------------------------------------------------

_COLUMNS = ("expiry, expiry_months, publicity_days, gifting, gift_cap_per_month, cap_per_day,"
            " cap_per_month")


def rules_steps(community_id: int) -> Steps[Rules]:
    """The community's rules, read inside a write unit (every credit reads them: one row by key)."""
    rows = yield (f"SELECT {_COLUMNS} FROM points_policy WHERE community = {{}}", (community_id,))
    return _rules(rows[0]) if rows else DEFAULT


def _rules(row: dict) -> Rules:
    return Rules(
        expiry=row["expiry"], expiry_months=row["expiry_months"], publicity_days=row["publicity_days"],
        gifting=row["gifting"], gift_cap_per_month=row["gift_cap_per_month"],
        cap_per_day=row["cap_per_day"], cap_per_month=row["cap_per_month"],
    )


async def rules(community_id: int) -> Rules:
    from market.db import fetch

    rows = await fetch(f"SELECT {_COLUMNS} FROM points_policy WHERE community = {{}}", community_id)
    return _rules(rows[0]) if rows else DEFAULT


async def holidays(community_id: int) -> list[date]:
    from market.db import fetch

    rows = await fetch("SELECT day FROM points_holiday WHERE community = {} ORDER BY day", community_id)
    return [date.fromisoformat(row["day"]) for row in rows]


def view(found: Rules, days: list[date]) -> PolicyView:
    expiry: Literal["none", "calendar_year"] | ExpiryMonths
    if found.expiry == "months" and found.expiry_months:
        expiry = ExpiryMonths(months=found.expiry_months)
    else:
        expiry = "calendar_year" if found.expiry == "calendar_year" else "none"

    def cap(value: int | None) -> str | None:
        return None if value is None else format_points(value)

    return PolicyView(
        expiry=expiry, publicity_days=found.publicity_days, gifting=found.gifting,  # type: ignore[arg-type]
        gift_cap_per_month=format_points(found.gift_cap_per_month),
        cap_per_day=cap(found.cap_per_day), cap_per_month=cap(found.cap_per_month), holidays=days,
    )


async def policy(community_id: int) -> PolicyView:
    return view(await rules(community_id), await holidays(community_id))


async def save(community_id: int, actor_id: int, request: PolicyUpdate) -> PolicyView:
    """Replace the community's policy (and holidays, when sent), audited, in one transaction."""
    new, days = rules_from(request)
    await write(_save_steps, community_id, actor_id, new, days)
    return await policy(community_id)


def _save_steps(community_id: int, actor_id: int, new: Rules, days: list[date] | None) -> Steps[None]:
    now_ms = clock.now_ms()
    values = (new.expiry, new.expiry_months, new.publicity_days, new.gifting, new.gift_cap_per_month,
              new.cap_per_day, new.cap_per_month)
    yield (
        f"INSERT INTO points_policy (community, {_COLUMNS}, updated_ms, updated_by)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})"
        " ON CONFLICT (community) DO UPDATE SET expiry = excluded.expiry,"
        " expiry_months = excluded.expiry_months, publicity_days = excluded.publicity_days,"
        " gifting = excluded.gifting, gift_cap_per_month = excluded.gift_cap_per_month,"
        " cap_per_day = excluded.cap_per_day, cap_per_month = excluded.cap_per_month,"
        " updated_ms = excluded.updated_ms, updated_by = excluded.updated_by",
        (community_id, *values, now_ms, actor_id),
    )
    if days is not None:
        yield ("DELETE FROM points_holiday WHERE community = {}", (community_id,))
        if days:
            yield (
                "INSERT INTO points_holiday (community, day) VALUES "
                + ", ".join("({}, {})" for _ in days),
                tuple(v for day in days for v in (community_id, day.isoformat())),
            )
    yield audit.entry(community_id, actor_id, "points_policy", f"community:{community_id}")


def working_days_after(start: date, days: int, holidays: set[date]) -> date:
    """The day the 公示 window of ``days`` working days that starts the day after ``start`` ends
    (Monday–Friday, not a listed holiday): a credit made on ``start`` counts after that day."""
    day, counted = start, 0
    while counted < days:
        day = date.fromordinal(day.toordinal() + 1)
        if day.weekday() < 5 and day not in holidays:
            counted += 1
    return day
