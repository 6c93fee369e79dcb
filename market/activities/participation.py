"""What a resident sees of activities on their pages: the ones near them (open for check-in now,
and coming), how many came, the ones they took part in and what each earned them, and their stay
at the activity whose code they scanned."""

from ledger import format_points
from market import clock
from market.activities import credits, service
from market.activities.scans import CHECKIN_EARLY
from market.activities.schemas import ActivitiesNearMe, MyStay
from market.auth.sessions import Principal
from market.db import fetch
from market.tables import Stay

#: How many of my past activities the activities page lists.
MY_ACTIVITIES = 30


async def near_me(me: Principal) -> ActivitiesNearMe:
    """My community's scheduled activities I may join (``service.open_to_me``: the check-in's own
    audience rule), split at ``CHECKIN_EARLY`` before the start; with their check-in counts and
    my latest stays."""
    at = clock.now()
    listed = await service.open_to_me(me, at)
    stays = await my_stays(me)
    return ActivitiesNearMe(
        ongoing=[a for a in listed if a.starts_at - CHECKIN_EARLY <= at],
        coming=[a for a in listed if a.starts_at - CHECKIN_EARLY > at],
        counts=await checked_in_counts(me.community_id, [a.id for a in listed]),
        stays=stays, joined={stay.activity_id: stay.status for stay in stays},
    )


async def checked_in_counts(community_id: int, activity_ids: list[int]) -> dict[int, int]:
    """People checked in at each activity, cancelled stays aside; an activity nobody came to is
    absent."""
    if not activity_ids:
        return {}
    rows = await fetch(
        "SELECT activity, COUNT(*) AS n FROM activity_stay WHERE community = {}"
        f" AND status <> 'cancelled' AND activity IN ({', '.join('{}' for _ in activity_ids)})"
        " GROUP BY activity",
        community_id, *activity_ids,
    )
    return {row["activity"]: int(row["n"]) for row in rows}


async def my_stays(me: Principal) -> list[MyStay]:
    """The activities I took part in, newest first (at most ``MY_ACTIVITIES``), with the points
    they credited me (``credits.earned``)."""
    rows = await fetch(
        "SELECT s.activity, s.in_at, s.out_at, s.hours, s.points_in, s.points_out, s.status,"
        " s.approval, a.title, a.category, a.location FROM activity_stay s"
        " JOIN activity a ON a.id = s.activity"
        " WHERE s.person = {} AND s.community = {} ORDER BY s.in_at DESC LIMIT {}",
        me.id, me.community_id, MY_ACTIVITIES,
    )
    return [
        MyStay(
            activity_id=row["activity"], title=row["title"], category=row["category"],
            location=row["location"], in_at=row["in_at"], out_at=row["out_at"],
            hours_text=None if row["hours"] is None else format_points(row["hours"]),
            points=format_points(credits.earned(row)), status=row["status"], approval=row["approval"],
        )
        for row in rows
    ]


async def my_stay_status(me: Principal, activity_id: int) -> str | None:
    """My stay's status at the activity ("in", "out", "closed", "cancelled"); None: not checked in."""
    row = await Stay.select(Stay.status).where(
        (Stay.activity == activity_id) & (Stay.person == me.id)
    ).first()
    return None if row is None else row["status"]
