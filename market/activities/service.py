"""Activities themselves: create one, edit it before it starts, read and list them (the
organizer's, with how many came; a resident's, those open to them).

The other jobs of the domain have rooms of their own: ``validation`` (what an organizer may
ask), ``codes`` (check-in codes and posters), ``scans`` (the check-in and check-out unit),
``assisted`` (check-in by name and room), ``review`` (attendance, approvals, hours by hand),
``cancellation``, ``participation`` (the resident's activities and check-in pages). Callers
outside the package that know the domain as this one module (the organizer's pages, the earning
categories, the app's jobs) reach the rooms' public functions through it: they are re-exported
below (``name as name``).
"""

import logging
from datetime import datetime

from market.activities import audience, records, validation
from market.activities.assisted import assist as assist
from market.activities.assisted import find_resident as find_resident
from market.activities.assisted import find_residents as find_residents
from market.activities.cancellation import cancel as cancel
from market.activities.codes import checkin_activity as checkin_activity
from market.activities.codes import code as code
from market.activities.review import approve as approve
from market.activities.review import attendance as attendance
from market.activities.review import close_unfinished as close_unfinished
from market.activities.review import reject as reject
from market.activities.review import set_hours as set_hours
from market.activities.scans import CHECKIN_EARLY as CHECKIN_EARLY
from market.activities.scans import CHECKOUT_LATE as CHECKOUT_LATE
from market.activities.scans import attend as attend
from market.activities.schemas import (
    CATEGORIES,
    ActivityChanges,
    ActivityList,
    ActivityView,
    ManagedActivity,
    NewActivity,
)
from market.activities.validation import problems as problems
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.clock import now as now
from market.db import fetch
from market.errors import Conflict, NotFound
from market.points.rules import MAX_RATE as MAX_RATE
from market.tables import Activity
from market.writes import Steps, write

log = logging.getLogger(__name__)


async def create(me: Principal, data: NewActivity) -> ActivityView:
    """A new activity organized by ``me``, every field checked (all bad ones refused at once)."""
    await validation.check_category(me.community_id, data.category)
    values = validation.columns(data)
    validation.check_window(values["starts_at"], values["ends_at"])
    values |= await validation.audience_columns(me.community_id, data)
    row = Activity(community=me.community_id, organizer=me.id, **values)
    await row.save()
    log.info("activity %s created by person %s", row.id, me.id)
    found = await records.activity(me.community_id, row.id)
    assert found is not None
    return records.view(found)


async def list_activities(me: Principal) -> ActivityList:
    rows = await Activity.select().where(Activity.community == me.community_id).order_by(
        Activity.starts_at, ascending=False
    ).limit(500)
    return ActivityList(items=[records.view(row) for row in rows])


async def open_to_me(me: Principal, at: datetime) -> list[ActivityView]:
    """The community's scheduled activities not yet ended at ``at`` that ``me`` may check in to,
    soonest first (the resident's activities page, the how-to-earn page)."""
    places = await audience.places_of(me)
    listed = [
        activity for activity in (await list_activities(me)).items
        if activity.status == "scheduled" and activity.ends_at >= at and audience.open_to(activity, places)
    ]
    listed.sort(key=lambda activity: activity.starts_at)
    return listed


async def managed(me: Principal) -> list[ManagedActivity]:
    """The activities ``me`` may manage, newest first: their own, or every one for an admin."""
    where = Activity.community == me.community_id
    if ADMIN not in me.roles:
        where &= Activity.organizer == me.id
    rows = await Activity.select().where(where).order_by(Activity.starts_at, ascending=False).limit(500)
    ids = [row["id"] for row in rows]
    # Counted by the database, for the listed activities only: a busy one has hundreds of stays.
    found = await fetch(
        "SELECT activity, count(*) AS came, sum(CASE WHEN status = 'in' THEN 1 ELSE 0 END) AS present"
        " FROM activity_stay WHERE community = {} AND activity IN (" + ", ".join("{}" for _ in ids)
        + ") GROUP BY activity",
        me.community_id, *ids,
    ) if ids else []
    counts = {row["activity"]: (int(row["came"]), int(row["present"] or 0)) for row in found}
    return [
        ManagedActivity(activity=records.view(row), checked_in=counts.get(row["id"], (0, 0))[0],
                        present=counts.get(row["id"], (0, 0))[1])
        for row in rows
    ]


async def get(me: Principal, activity_id: int) -> ActivityView:
    row = await records.activity(me.community_id, activity_id)
    if row is None:
        raise NotFound()
    return records.view(row)


async def get_managed(me: Principal, activity_id: int) -> ActivityView:
    """One activity ``me`` organizes (any of the community's for an admin); 404 otherwise."""
    return records.view(await records.managed_row(me, activity_id))


async def update(me: Principal, activity_id: int, changes: ActivityChanges) -> ActivityView:
    """Edit an activity before it starts; 409 ``already_started`` once it has or anyone came."""
    if changes.category is not None and changes.category not in CATEGORIES:
        current = await records.activity(me.community_id, activity_id)
        await validation.check_category(me.community_id, changes.category, current and current["category"])
    values = validation.columns(changes) | await validation.audience_columns(me.community_id, changes)
    await write(_update_steps, me, activity_id, values, now())
    found = await records.activity(me.community_id, activity_id)
    assert found is not None
    return records.view(found)


def _update_steps(me: Principal, activity_id: int, values: dict, at: datetime) -> Steps[None]:
    row = yield from records.managed_steps(me, activity_id, scheduled=True)
    started = yield ("SELECT 1 AS yes FROM activity_stay WHERE activity = {} LIMIT 1", (activity_id,))
    if at >= row["starts_at"] or started:
        raise Conflict("already_started")
    validation.check_window(values.get("starts_at", row["starts_at"]), values.get("ends_at", row["ends_at"]))
    if values:
        assignments = ", ".join(f"{column} = {{}}" for column in values)
        yield (f"UPDATE activity SET {assignments} WHERE id = {{}}", (*values.values(), activity_id))
