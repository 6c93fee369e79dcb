"""Service hours: the permanent record of time served, shown beside a wallet's points and never
spent, and the stars they earn.

The sum of the hours of a person's checked-out stays and of the 民声 requests they did
(``help_request``, confirmed: ``market.help_requests``); spending points never touches it.
Only a cancelled activity takes its hours back; stays awaiting approval (or rejected) do not
count.
"""

from piccolo.query.functions.aggregate import Sum

from market.db import fetch
from market.tables import Stay

#: Stars by service hours (whole hours): 1★ from 100 h … 5★ from 1500 h.
STAR_THRESHOLDS = (100, 300, 600, 1000, 1500)


def stars(hours_hundredths: int) -> int:
    """0–5 stars for a total of service hours (hundredths)."""
    return sum(1 for threshold in STAR_THRESHOLDS if hours_hundredths >= threshold * 100)


async def service_hours(person_id: int) -> int:
    """Hundredths of an hour."""
    row = await Stay.select(Sum(Stay.hours)).where(
        (Stay.person == person_id) & (Stay.status == "out")
        & (Stay.approval.is_null() | (Stay.approval == "approved"))
    ).first()
    value = next(iter(row.values()), None) if row else None
    # By name, not by import: the activities' and the requests' packages sit above this one.
    helped = await fetch("SELECT COALESCE(SUM(hours), 0) AS n FROM help_request"
                         " WHERE volunteer = {} AND state = 'done'", person_id)
    return int(value or 0) + int(helped[0]["n"])


async def hours_and_stars(person_id: int) -> tuple[int, int]:
    hours = await service_hours(person_id)
    return hours, stars(hours)
