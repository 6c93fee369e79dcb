"""The shop's opening rules per community: the days and hours it redeems, and who may redeem at all.

Rules decided here:

- One row of ``shop_rules`` per community; without one the shop is always
  open and has no minimum.
- Open days are ISO weekdays (1 = Monday … 7 = Sunday); the hours are
  minutes after midnight in Asia/Shanghai, ``opens_at`` ≤ t < ``closes_at``
  (the opening minute is open, the closing minute is closed). The same hours
  hold on every open day; a shop does not open across midnight.
- A minimum may require a resident to have earned points or served hours
  before their first redemption. "Earned" is the net of what the communities
  have issued to the person's wallets (every community they have a wallet in:
  a visitor's own, one they moved from): transfers issuance → wallet (check-in and
  check-out credits, approved credits, positive adjustments) less transfers
  wallet → issuance (reversals of those credits, negative adjustments).
  Spending at the shop, refunds and expiry do not change it; a hold awaiting
  approval does not count until it is posted. Service hours are
  ``market.points.hours.service_hours``, the figure of the balance page.
- Changing the rules is for admins and is written to the audit log
  (``community:{id}``).
"""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from ledger import InvalidAmount, format_points, to_hundredths
from market import clock
from market.auth.sessions import Principal
from market.china_time import CHINA
from market.db import fetch, write_transaction
from market.errors import Conflict, InvalidInput
from market.messages import Language
from market.points.hours import service_hours
from market.shop.limits import TIME
from market.shop.schemas import RulesChange, ShopRules
from market.tables import AuditEntry

DAYS = (1, 2, 3, 4, 5, 6, 7)
DAY_MINUTES = 24 * 60
#: The highest minimum, in points or in hours: far above what anyone earns, well inside BIGINT.
MAX_MINIMUM = 1_000_000

#: Not strftime's %B, which follows the server's locale.
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
WEEKDAY_NAMES = {
    "zh": ("", "周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "en": ("", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}


class Stored(msgspec.Struct):
    """The rules as stored: minutes and hundredths."""

    open_days: tuple[int, ...] = DAYS
    opens_at: int = 0
    closes_at: int = DAY_MINUTES
    min_earned: int = 0
    min_hours: int = 0
    configured: bool = False
    updated_at: datetime | None = None
    updated_by: int | None = None


class ShopClosed(Conflict):
    """409 ``shop_closed``: the problem says when the shop opens next (``next_open_at``)."""

    def __init__(self, stored: Stored, at: datetime) -> None:
        opening = next_opening(stored, at)
        hours = f"{time_of_day(stored.opens_at)}–{time_of_day(stored.closes_at)}"
        today = at.astimezone(CHINA).date()
        super().__init__(
            "shop_closed", when_zh=_when(opening.date(), today, hours, "zh"),
            when_en=_when(opening.date(), today, hours, "en"),
        )
        self.stored, self.opening = stored, opening

    def members(self, language: Language) -> dict[str, Any]:
        return {
            "next_open_at": self.opening.isoformat(), "opens_at": time_of_day(self.stored.opens_at),
            "closes_at": time_of_day(self.stored.closes_at), "open_days": list(self.stored.open_days),
        }


class NotEnoughEarned(Conflict):
    """409 ``not_enough_earned``: the problem names both minimums and what the person has."""

    def __init__(self, stored: Stored, earned: int, hours: int) -> None:
        need_zh, need_en, have_zh, have_en = [], [], [], []
        if stored.min_earned:
            need_zh.append(f"累计获得 {format_points(stored.min_earned)} 积分")
            need_en.append(f"earned {format_points(stored.min_earned)} points")
            have_zh.append(f"已获得 {format_points(earned)} 积分")
            have_en.append(f"earned {format_points(earned)} points")
        if stored.min_hours:
            need_zh.append(f"服务满 {format_points(stored.min_hours)} 小时")
            need_en.append(f"served {format_points(stored.min_hours)} hours")
            have_zh.append(f"已服务 {format_points(hours)} 小时")
            have_en.append(f"served {format_points(hours)} hours")
        super().__init__(
            "not_enough_earned", need_zh="、".join(need_zh), need_en=" and ".join(need_en),
            have_zh="，".join(have_zh), have_en=" and ".join(have_en),
        )
        self.stored, self.earned, self.hours = stored, earned, hours

    def members(self, language: Language) -> dict[str, Any]:
        return {
            "min_earned": format_points(self.stored.min_earned), "earned": format_points(self.earned),
            "min_hours": format_points(self.stored.min_hours), "service_hours": format_points(self.hours),
        }


# -- times -------------------------------------------------------------------------------------


def time_of_day(minutes: int) -> str:
    """Minutes after midnight as "HH:MM" (1440 is "24:00")."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_clock(text: str, field: str) -> int:
    """ "HH:MM" from "00:00" to "24:00" → minutes after midnight; 400 ``invalid_shop_time``."""
    found = TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is not None:
        hour, minute = int(found[1]), int(found[2])
        if minute < 60 and (hour < 24 or (hour == 24 and minute == 0)):
            return hour * 60 + minute
    raise InvalidInput("invalid_shop_time", field=field)


def _local(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("use an aware datetime")
    return at.astimezone(CHINA)


def is_open(stored: Stored, at: datetime) -> bool:
    local = _local(at)
    micros = ((local.hour * 60 + local.minute) * 60 + local.second) * 1_000_000 + local.microsecond
    return (
        local.isoweekday() in stored.open_days
        and stored.opens_at * 60_000_000 <= micros < stored.closes_at * 60_000_000
    )


def next_opening(stored: Stored, at: datetime) -> datetime:
    """The next moment at or after ``at`` when the shop opens (``at`` itself while it is open)."""
    if is_open(stored, at):
        return _local(at)
    local = _local(at)
    for ahead in range(8):
        day = local.date() + timedelta(days=ahead)
        opening = datetime.combine(day, time(0), CHINA) + timedelta(minutes=stored.opens_at)
        if day.isoweekday() in stored.open_days and opening >= local:
            return opening
    raise AssertionError("open days are never empty")  # pragma: no cover


def _when(day: date, today: date, hours: str, language: Language) -> str:
    weekday = WEEKDAY_NAMES[language][day.isoweekday()]
    if language == "zh":
        if day == today:
            return f"今天 {hours} 开放"
        if day == today + timedelta(days=1):
            return f"明天（{weekday}）{hours} 开放"
        return f"下次开放是 {day.month}月{day.day}日（{weekday}）{hours}"
    if day == today:
        return f"It is open today {hours}"
    if day == today + timedelta(days=1):
        return f"It opens tomorrow ({weekday}) {hours}"
    return f"It next opens on {weekday} {day.day} {MONTHS[day.month - 1]}, {hours}"


# -- reading -----------------------------------------------------------------------------------


async def stored_rules(community_id: int) -> Stored:
    rows = await fetch("SELECT * FROM shop_rules WHERE community = {}", community_id)
    if not rows:
        return Stored()
    row = rows[0]
    return Stored(
        open_days=tuple(int(day) for day in row["open_days"].split(",") if day),
        opens_at=row["opens_at"], closes_at=row["closes_at"], min_earned=int(row["min_earned"]),
        min_hours=int(row["min_hours"]), configured=True, updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def _view(stored: Stored, at: datetime) -> ShopRules:
    open_now = is_open(stored, at)
    return ShopRules(
        open_days=list(stored.open_days), opens_at=time_of_day(stored.opens_at),
        closes_at=time_of_day(stored.closes_at), min_earned=format_points(stored.min_earned),
        min_hours=format_points(stored.min_hours), configured=stored.configured, open_now=open_now,
        next_open_at=None if open_now else next_opening(stored, at),
        updated_at=stored.updated_at, updated_by=stored.updated_by,
    )


async def rules(community_id: int, at: datetime | None = None) -> ShopRules:
    """The community's rules as the API shows them, with whether the shop is open at ``at`` (now)."""
    return _view(await stored_rules(community_id), at or clock.now())


async def earned_points(person_id: int) -> int:
    """Hundredths of points issued to the person's wallets, net (see the module): by every
    community they have had a wallet in, so what a resident earned before moving house (or at
    home, when visiting another community's shop: 通存通兑) counts wherever they redeem."""
    rows = await fetch(
        "SELECT COALESCE(SUM(CASE WHEN t.credit = w.id THEN t.amount ELSE -t.amount END), 0) AS n"
        " FROM ledger_accounts w JOIN ledger_accounts i ON i.ledger = w.ledger AND i.kind = 'issuance'"
        " JOIN ledger_transfers t ON (t.debit = i.id AND t.credit = w.id)"
        "  OR (t.debit = w.id AND t.credit = i.id)"
        " WHERE w.kind = 'wallet' AND w.owner = {} AND t.phase IN ('single', 'post')",
        str(person_id),
    )
    return int(rows[0]["n"]) if rows else 0


async def check_may_redeem(
    community_id: int, person_id: int, at: datetime, *, opening_hours: bool = True
) -> None:
    """Refuse a redemption the community's rules do not allow at ``at`` (an aware datetime).

    409 ``ShopClosed`` (reason ``shop_closed``) outside the open days and hours
    (unless ``opening_hours`` is False: a reservation may be made any time, it is
    collected at the counter); 409 ``NotEnoughEarned`` (reason ``not_enough_earned``)
    while the person has earned fewer points or served fewer hours than the
    minimums (earned in any community: ``earned_points``). Only reads.
    """
    stored = await stored_rules(community_id)
    if not stored.configured:
        return
    if opening_hours and not is_open(stored, at):
        raise ShopClosed(stored, at)
    if not stored.min_earned and not stored.min_hours:
        return
    earned = await earned_points(person_id) if stored.min_earned else 0
    hours = await service_hours(person_id) if stored.min_hours else 0
    if earned < stored.min_earned or hours < stored.min_hours:
        raise NotEnoughEarned(stored, earned, hours)


# -- writing -----------------------------------------------------------------------------------


def _minimum(value: Decimal, field: str) -> int:
    try:
        hundredths = to_hundredths(value)
    except InvalidAmount:
        hundredths = -1
    if not 0 <= hundredths <= MAX_MINIMUM * 100:
        raise InvalidInput("invalid_minimum", field=field, max=MAX_MINIMUM)
    return hundredths


def _days(days: list[int]) -> tuple[int, ...]:
    if not days or any(isinstance(day, bool) or day not in DAYS for day in days):
        raise InvalidInput("invalid_open_days", field="open_days")
    return tuple(sorted(set(days)))


def check(data: RulesChange) -> Stored:
    """The rules of ``data`` validated; 400 with the first rule broken."""
    days = _days(data.open_days)
    opens = parse_clock(data.opens_at, "opens_at")
    closes = parse_clock(data.closes_at, "closes_at")
    if opens >= closes:
        raise InvalidInput("invalid_shop_hours", field="closes_at")
    return Stored(
        open_days=days, opens_at=opens, closes_at=closes,
        min_earned=_minimum(data.min_earned, "min_earned"), min_hours=_minimum(data.min_hours, "min_hours"),
        configured=True,
    )


async def set_rules(me: Principal, data: RulesChange) -> ShopRules:
    """Replace the community's rules (admins; the controller guards it), audited."""
    new = check(data)
    at = clock.now()
    async with write_transaction():
        await fetch(
            "INSERT INTO shop_rules (community, open_days, opens_at, closes_at, min_earned, min_hours,"
            " updated_at, updated_by) VALUES ({}, {}, {}, {}, {}, {}, {}, {})"
            " ON CONFLICT (community) DO UPDATE SET open_days = excluded.open_days,"
            " opens_at = excluded.opens_at, closes_at = excluded.closes_at,"
            " min_earned = excluded.min_earned, min_hours = excluded.min_hours,"
            " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            me.community_id, ",".join(str(day) for day in new.open_days), new.opens_at, new.closes_at,
            new.min_earned, new.min_hours, at, me.id,
        )
        await AuditEntry.insert(AuditEntry(
            community=me.community_id, actor=me.id, action="shop_rules_changed",
            subject=f"community:{me.community_id}",
        ))
    return await rules(me.community_id, at)
