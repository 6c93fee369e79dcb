"""Opening rules: validated as a whole, enforced to the minute, and a minimum of earned points or hours."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from market.errors import Conflict
from market.messages import message
from market.shop import rules
from market.shop.rules import NotEnoughEarned, ShopClosed
from market.tables import Activity, AuditEntry, Stay
from tests.market.records import person
from tests.market.support import Enrol, Member, adjust

CHINA = ZoneInfo("Asia/Shanghai")
WEEKDAYS = {"open_days": [1, 2, 3, 4, 5], "opens_at": "08:30", "closes_at": "17:00"}


def beijing(day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    """A moment of the week of Monday 23 November 2026, Beijing time (day 23 = Monday)."""
    return datetime(2026, 11, day, hour, minute, second, micro, tzinfo=CHINA)


async def put_rules(admin: Member, **body: object) -> dict:
    response = await admin.client.put("/api/shop/rules", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def stored(community_id: int) -> tuple:
    found = await rules.stored_rules(community_id)
    audits = await AuditEntry.count().where(
        (AuditEntry.community == community_id) & (AuditEntry.action == "shop_rules_changed")
    )
    return found, audits


async def refusal(community_id: int, person_id: int, at: datetime) -> Conflict | None:
    try:
        await rules.check_may_redeem(community_id, person_id, at)
    except Conflict as error:
        return error
    return None


# -- reading and setting -----------------------------------------------------------------------


async def test_without_rules_the_shop_is_always_open(resident: Member, community) -> None:
    response = await resident.client.get("/api/shop/rules")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body | {"updated_at": None} == {
        "open_days": [1, 2, 3, 4, 5, 6, 7], "opens_at": "00:00", "closes_at": "24:00",
        "min_earned": "0.00", "min_hours": "0.00", "configured": False, "open_now": True,
        "next_open_at": None, "updated_at": None, "updated_by": None,
    }
    for at in (beijing(29, 0, 0), beijing(29, 23, 59, 59, 999_999)):
        assert await refusal(community.id, resident.id, at) is None


async def test_an_admin_sets_the_rules_and_residents_read_them(
    admin: Member, resident: Member, community
) -> None:
    body = await put_rules(admin, open_days=[5, 1, 3, 3], opens_at="8:30", closes_at="17:00",
                           min_earned="12.5", min_hours=3)
    assert body["open_days"] == [1, 3, 5] and body["opens_at"] == "08:30" and body["closes_at"] == "17:00"
    assert body["min_earned"] == "12.50" and body["min_hours"] == "3.00"
    assert body["configured"] is True and body["updated_by"] == admin.id
    seen = (await resident.client.get("/api/shop/rules")).json()
    assert seen == body | {"open_now": seen["open_now"], "next_open_at": seen["next_open_at"]}
    assert (await stored(community.id))[1] == 1
    # a second PUT replaces every field, minimums included
    again = await put_rules(admin, open_days=[6, 7], opens_at="00:00", closes_at="24:00")
    assert (again["open_days"], again["min_earned"], again["min_hours"]) == ([6, 7], "0.00", "0.00")
    assert (await stored(community.id))[1] == 2


@pytest.mark.parametrize(("change", "reason"), [
    ({"open_days": []}, "invalid_open_days"),
    ({"open_days": [0, 1]}, "invalid_open_days"),
    ({"open_days": [1, 8]}, "invalid_open_days"),
    ({"open_days": [True]}, "invalid_input"),
    ({"open_days": "1,2,3"}, "invalid_input"),
    ({"opens_at": "8"}, "invalid_shop_time"),
    ({"opens_at": "08:60"}, "invalid_shop_time"),
    ({"opens_at": "-1:00"}, "invalid_shop_time"),
    ({"closes_at": "24:01"}, "invalid_shop_time"),
    ({"closes_at": "25:00"}, "invalid_shop_time"),
    ({"closes_at": "17:00:00"}, "invalid_shop_time"),
    ({"opens_at": "24:00", "closes_at": "24:00"}, "invalid_shop_hours"),
    ({"opens_at": "17:00", "closes_at": "08:30"}, "invalid_shop_hours"),
    ({"opens_at": "08:30", "closes_at": "08:30"}, "invalid_shop_hours"),
    ({"min_earned": "1.005"}, "invalid_minimum"),
    ({"min_earned": 0.001}, "invalid_minimum"),
    ({"min_hours": "0.125"}, "invalid_minimum"),
    ({"min_hours": "-1"}, "invalid_minimum"),
    ({"min_earned": "NaN"}, "invalid_input"),
    ({"min_earned": "1000000.01"}, "invalid_minimum"),
    ({"extra": 1}, "invalid_input"),
])
async def test_bad_rules_are_refused_and_change_nothing(
    admin: Member, community, change: dict, reason: str
) -> None:
    await put_rules(admin, **WEEKDAYS, min_earned="5.00")
    before = await stored(community.id)
    response = await admin.client.put("/api/shop/rules", json=WEEKDAYS | change)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["reason"] == reason
    assert problem["detail"] and "{" not in problem["detail"]
    assert await stored(community.id) == before


async def test_only_admins_change_the_rules(enrol: Enrol, anon, community) -> None:
    for role in ("resident", "organizer", "shopkeeper"):
        member = await enrol(role)
        response = await member.client.put("/api/shop/rules", json=WEEKDAYS)
        assert response.status_code == 403 and response.json()["reason"] == "forbidden"
        assert (await member.client.get("/api/shop/rules")).status_code == 200
    assert (await anon.get("/api/shop/rules")).status_code == 401
    assert (await anon.put("/api/shop/rules", json=WEEKDAYS)).status_code in (401, 403)
    assert (await stored(community.id)) == (rules.Stored(), 0)


# -- opening hours -----------------------------------------------------------------------------


async def test_open_from_the_opening_minute_to_before_the_closing_minute(
    admin: Member, resident: Member, community
) -> None:
    await put_rules(admin, **WEEKDAYS)
    monday = 23
    assert await refusal(community.id, resident.id, beijing(monday, 8, 30)) is None
    assert await refusal(community.id, resident.id, beijing(monday, 16, 59, 59, 999_999)) is None
    # the same moments given in UTC
    assert await refusal(community.id, resident.id, datetime(2026, 11, 23, 0, 30, tzinfo=UTC)) is None

    early = await refusal(community.id, resident.id, beijing(monday, 8, 29, 59, 999_999))
    assert isinstance(early, ShopClosed) and early.reason == "shop_closed" and early.status == 409
    assert early.opening == beijing(monday, 8, 30)
    assert message("shop_closed", "zh", **early.params) == "积分超市现在不开放，今天 08:30–17:00 开放"
    assert message("shop_closed", "en", **early.params) == (
        "The points shop is closed now. It is open today 08:30–17:00")
    assert early.members("zh")["next_open_at"] == "2026-11-23T08:30:00+08:00"

    closing = await refusal(community.id, resident.id, beijing(monday, 17, 0))
    assert isinstance(closing, ShopClosed) and closing.opening == beijing(24, 8, 30)
    assert message("shop_closed", "zh", **closing.params).endswith("，明天（周二）08:30–17:00 开放")
    assert "tomorrow (Tuesday) 08:30–17:00" in message("shop_closed", "en", **closing.params)


@pytest.mark.parametrize("at", [beijing(27, 17, 0), beijing(28, 10, 0), beijing(29, 23, 59)])
async def test_a_closed_weekday_says_when_the_shop_opens_next(
    admin: Member, resident: Member, community, at: datetime
) -> None:
    await put_rules(admin, **WEEKDAYS)
    closed = await refusal(community.id, resident.id, at)
    assert isinstance(closed, ShopClosed)
    assert closed.opening == beijing(30, 8, 30)  # Monday 30 November
    if at.day == 29:  # Sunday: Monday is tomorrow
        assert "明天（周一）" in message("shop_closed", "zh", **closed.params)
    else:
        assert message("shop_closed", "zh", **closed.params).endswith(
            "积分超市现在不开放，下次开放是 11月30日（周一）08:30–17:00")
        english = message("shop_closed", "en", **closed.params)
        assert english.endswith("It next opens on Monday 30 November, 08:30–17:00")


async def test_a_shop_open_until_midnight_and_on_one_day_only(
    admin: Member, resident: Member, community
) -> None:
    await put_rules(admin, open_days=[7], opens_at="00:00", closes_at="24:00")
    sunday = 29
    assert await refusal(community.id, resident.id, beijing(sunday, 0, 0)) is None
    assert await refusal(community.id, resident.id, beijing(sunday, 23, 59, 59, 999_999)) is None
    monday = await refusal(community.id, resident.id, beijing(30, 0, 0))
    assert isinstance(monday, ShopClosed)
    assert monday.opening == datetime(2026, 12, 6, 0, 0, tzinfo=CHINA)  # the next Sunday


async def test_rules_are_per_community(admin: Member, community, enrol: Enrol, ledger) -> None:
    from market.community import service as communities

    await put_rules(admin, open_days=[1], opens_at="09:00", closes_at="10:00", min_earned="100")
    other = await communities.get_or_create(ledger, f"别的社区-{datetime.now().timestamp()}")
    stranger = await person(other.id)
    assert await refusal(other.id, stranger, beijing(28, 3, 0)) is None


async def test_naive_times_are_refused(admin: Member, resident: Member, community) -> None:
    await put_rules(admin, **WEEKDAYS)
    with pytest.raises(ValueError):
        await rules.check_may_redeem(community.id, resident.id, datetime(2026, 11, 23, 9, 0))


# -- minimums ----------------------------------------------------------------------------------


async def test_a_minimum_of_earned_points(admin: Member, resident: Member, community) -> None:
    await put_rules(admin, open_days=[1, 2, 3, 4, 5, 6, 7], opens_at="00:00", closes_at="24:00",
                    min_earned="10.00")
    at = beijing(25, 12, 0)
    nothing = await refusal(community.id, resident.id, at)
    assert isinstance(nothing, NotEnoughEarned) and nothing.reason == "not_enough_earned"
    assert nothing.status == 409
    assert (await adjust(admin, resident.id, "9.99")).status_code == 201
    below = await refusal(community.id, resident.id, at)
    assert isinstance(below, NotEnoughEarned)
    assert below.members("zh") == {
        "min_earned": "10.00", "earned": "9.99", "min_hours": "0.00", "service_hours": "0.00",
    }
    assert message("not_enough_earned", "zh", **below.params) == (
        "需要先参加社区活动，累计获得 10.00 积分后才能兑换。您目前已获得 9.99 积分"
    )
    assert message("not_enough_earned", "en", **below.params) == (
        "You can redeem once you have earned 10.00 points at community activities. "
        "So far you have earned 9.99 points"
    )
    assert (await adjust(admin, resident.id, "0.01")).status_code == 201
    assert await refusal(community.id, resident.id, at) is None
    assert await rules.earned_points(resident.id) == 1000
    # points taken back by an admin are not earned; points spent or expired still are
    assert (await adjust(admin, resident.id, "-0.01")).status_code == 201
    assert isinstance(await refusal(community.id, resident.id, at), NotEnoughEarned)


async def test_spending_does_not_undo_what_was_earned(
    admin: Member, resident: Member, community, ledger
) -> None:
    from decimal import Decimal

    from market.points.service import account_id, wallet_id

    await put_rules(admin, open_days=[1, 2, 3, 4, 5, 6, 7], opens_at="00:00", closes_at="24:00",
                    min_earned="10.00")
    assert (await adjust(admin, resident.id, "10.00")).status_code == 201
    wallet = await wallet_id(ledger, community.id, resident.id)
    shop = await account_id(ledger, community.id, "shop")
    await ledger.transfer(f"spent-{resident.id}", debit=wallet, credit=shop, amount=Decimal("8.00"),
                          kind="redemption")
    assert await rules.earned_points(resident.id) == 1000
    assert await refusal(community.id, resident.id, beijing(25, 12, 0)) is None


async def _stay(community_id: int, person_id: int, hours: int, approval: str | None = None) -> None:
    start = datetime(2026, 11, 1, 9, tzinfo=UTC)
    activity = Activity(community=community_id, title="打扫楼道", category="collective_labour",
                        starts_at=start, ends_at=start + timedelta(hours=8))
    await activity.save()
    await Stay(community=community_id, activity=activity.id, person=person_id, in_at=start,
               out_at=start + timedelta(hours=1), hours=hours, status="out", approval=approval).save()


async def test_a_minimum_of_service_hours(admin: Member, resident: Member, community) -> None:
    await put_rules(admin, **WEEKDAYS, min_hours="2.50")
    at = beijing(23, 9, 0)
    await _stay(community.id, resident.id, 200)
    await _stay(community.id, resident.id, 100, approval="pending")  # not counted until approved
    await _stay(community.id, resident.id, 49)
    below = await refusal(community.id, resident.id, at)
    assert isinstance(below, NotEnoughEarned)
    assert below.members("en")["service_hours"] == "2.49"
    assert message("not_enough_earned", "zh", **below.params) == (
        "需要先参加社区活动，服务满 2.50 小时后才能兑换。您目前已服务 2.49 小时"
    )
    await _stay(community.id, resident.id, 1)
    assert await refusal(community.id, resident.id, at) is None
    # the hours are shown on the resident's balance page as the same figure
    assert (await resident.client.get("/api/me/balance")).json()["service_hours"] == "2.50"
    # closed comes first: outside the hours the answer is "closed", whatever was earned
    assert isinstance(await refusal(community.id, resident.id, beijing(28, 9, 0)), ShopClosed)


async def test_both_minimums_must_be_met(admin: Member, resident: Member, community) -> None:
    await put_rules(admin, **WEEKDAYS, min_earned="1", min_hours="1")
    at = beijing(23, 9, 0)
    assert (await adjust(admin, resident.id, "1")).status_code == 201
    short = await refusal(community.id, resident.id, at)
    assert isinstance(short, NotEnoughEarned)
    assert message("not_enough_earned", "zh", **short.params) == (
        "需要先参加社区活动，累计获得 1.00 积分、服务满 1.00 小时后才能兑换。"
        "您目前已获得 1.00 积分，已服务 0.00 小时"
    )
    await _stay(community.id, resident.id, 100)
    assert await refusal(community.id, resident.id, at) is None
