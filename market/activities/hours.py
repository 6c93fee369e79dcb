"""Service hours: the permanent record of time served, apart from spendable points.

The sum of the hours of a person's checked-out stays and of the 民声 requests they did
(``help_request``, confirmed: ``market.help_requests``); spending points never touches it.
Only a cancelled activity takes its hours back; stays awaiting approval (or rejected) do not
count.
"""

from piccolo.query.functions.aggregate import Sum

from market.activities.earning import stars
from market.db import fetch
from market.tables import Stay


async def service_hours(person_id: int) -> int:
    """Hundredths of an hour."""
    row = await Stay.select(Sum(Stay.hours)).where(
        (Stay.person == person_id) & (Stay.status == "out")
        & (Stay.approval.is_null() | (Stay.approval == "approved"))
    ).first()
    value = next(iter(row.values()), None) if row else None
    # By name, not by import: the requests' package sits above this one.
    helped = await fetch("SELECT COALESCE(SUM(hours), 0) AS n FROM help_request"
                         " WHERE volunteer = {} AND state = 'done'", person_id)
    return int(value or 0) + int(helped[0]["n"])


async def hours_and_stars(person_id: int) -> tuple[int, int]:
    hours = await service_hours(person_id)
    return hours, stars(hours)
