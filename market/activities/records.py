"""One activity's row: read as it is or row-locked inside a unit, who may manage it, and its view.

Every scan, edit, cancellation and review starts here; the reads are hand-written SQL
(``market.db.fetch``) because a scan makes one on the busiest path.
"""

from collections.abc import Generator

from ledger import format_points
from market.activities.schemas import ActivityView
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.db import fetch
from market.errors import Conflict, NotFound
from market.writes import Statement, Steps, on_postgres

ACTIVITY = "SELECT * FROM activity WHERE id = {} AND community = {}"


def ids(text: str) -> list[int]:
    """The ids of a comma-separated column (``grids``, ``buildings``)."""
    return [int(part) for part in text.split(",") if part]


def view(row: dict) -> ActivityView:
    return ActivityView(
        id=row["id"], title=row["title"], category=row["category"], location=row["location"],
        starts_at=row["starts_at"], ends_at=row["ends_at"],
        points_per_checkin=format_points(row["points_per_checkin"]),
        points_per_hour=format_points(row["points_per_hour"]),
        max_hours=None if row["max_hours"] is None else format_points(row["max_hours"]),
        capacity=row["capacity"], requires_approval=row["requires_approval"],
        status=row["status"], organizer_id=row["organizer"], cancel_reason=row["cancel_reason"],
        team_id=row["team"], grid_ids=ids(row["grids"]), building_ids=ids(row["buildings"]),
    )


async def activity(community_id: int, activity_id: int) -> dict | None:
    rows = await fetch(ACTIVITY, activity_id, community_id)
    return rows[0] if rows else None


def locked_activity(
    community_id: int, activity_id: int, mode: str = "FOR UPDATE"
) -> Generator[Statement, list[dict], dict | None]:
    """The activity, row-locked to the end of the unit on PostgreSQL (SQLite's one writer
    already serialises units): ``FOR UPDATE`` to change it or what hangs on it (waits for
    the scans in flight), ``FOR KEY SHARE`` for a scan (scans do not wait for each other)."""
    rows = yield (ACTIVITY + (f" {mode}" if on_postgres() else ""), (activity_id, community_id))
    return rows[0] if rows else None


def may_manage(me: Principal, row: dict) -> bool:
    return ADMIN in me.roles or row["organizer"] == me.id


async def managed_row(me: Principal, activity_id: int) -> dict:
    """The activity if ``me`` organizes it or is an admin; 404 otherwise (as if absent)."""
    row = await activity(me.community_id, activity_id)
    if row is None or not may_manage(me, row):
        raise NotFound()
    return row


def managed_steps(me: Principal, activity_id: int, *, scheduled: bool) -> Steps[dict]:
    """The activity, locked (``FOR UPDATE``), if ``me`` may manage it (404 otherwise); with
    ``scheduled``, 409 ``activity_cancelled`` once it is cancelled."""
    row = yield from locked_activity(me.community_id, activity_id)
    if row is None or not may_manage(me, row):
        raise NotFound()
    if scheduled and row["status"] != "scheduled":
        raise Conflict("activity_cancelled")
    return row
