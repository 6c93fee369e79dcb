"""The office's and the grid workers' view of 民声 requests: the board by grid, a grid worker's
list, the figures for the dashboards, and escalation. (The 台账 is one of the exports:
``market.reports.export_queries``, ``help_requests``.)

**Overdue** is computed where it is read: a request open (unclaimed) for longer than the
community's ``escalate_hours`` since it became open. **Escalation** writes it down once: the
background job (``escalate``, every few minutes on one worker) stamps ``escalated_us`` on each
request found overdue and audits it, so the grid worker's list shows it first and it stays
marked even after someone takes it. Both read the same moment from the activities' clock,
which tests move.

The board's counts are one grouped query over the covering index ``help_request_counts``
(community, grid, state, open_since_us), the grids' names joined to its few groups afterwards;
its list is a page of at most 100 rows read backwards along an index by id (``help_request_grid``
for one grid, ``help_request_recent`` for all, ``help_request_open`` by state). Measured with
10,000 requests in a grid by ``bench.help_board``.
"""

import logging
import statistics
from datetime import datetime

from market import audit, clock
from market.auth.sessions import Principal
from market.db import fetch
from market.errors import Forbidden
from market.help_requests import service
from market.help_requests.rules import CATEGORIES, CATEGORY_NAMES, DEFAULT_ESCALATE_HOURS
from market.help_requests.schemas import Board, CategoryFigures, Figures, GridCounts, HelpRequestPage
from market.help_requests.terms import terms
from market.paging import parse_cursor
from market.points import lots
from market.writes import Steps, write

log = logging.getLogger(__name__)

HOUR_US = 3_600_000_000


def _office(me: Principal) -> None:
    if not service.is_office(me):
        raise Forbidden()


async def _overdue_before(community_id: int, at_us: int) -> int:
    """Requests open since before this moment are overdue."""
    return at_us - (await terms(community_id)).escalate_hours * HOUR_US


async def board(me: Principal, grid: int | None, state: str | None, overdue: bool, limit: int,
                cursor: str | None) -> Board:
    """Counts by grid (and state), and a page of requests: of one grid (0: those of no grid), one
    state, or only the overdue ones."""
    _office(me)
    after = parse_cursor(cursor)
    before_us = await _overdue_before(me.community_id, service.now_us())
    # Counted per (grid, state) over the covering index first; the ~30 groups then get their names.
    rows = await fetch(
        "SELECT c.grid, g.name, c.state, c.n, c.overdue FROM (SELECT r.grid, r.state, COUNT(*) AS n,"
        " SUM(CASE WHEN r.state = 'open' AND r.open_since_us < {} THEN 1 ELSE 0 END) AS overdue"
        " FROM help_request r WHERE r.community = {} GROUP BY r.grid, r.state) c"
        " LEFT JOIN grid g ON g.id = c.grid", before_us, me.community_id,
    )
    grids: dict[int | None, GridCounts] = {}
    for row in rows:
        counts = grids.setdefault(row["grid"], GridCounts(
            grid_id=row["grid"], grid=row["name"] or "", review=0, open=0, claimed=0, disputed=0,
            done=0, overdue=0))
        if row["state"] != "closed":
            setattr(counts, row["state"], getattr(counts, row["state"]) + int(row["n"]))
        counts.overdue += int(row["overdue"] or 0)
    where, args = ["r.community = {}"], [me.community_id]
    if grid is not None:
        where.append("r.grid IS NULL" if grid == 0 else "r.grid = {}")
        args += [] if grid == 0 else [grid]
    if state is not None:
        where.append("r.state = {}")
        args.append(state)
    if overdue:
        where.append("r.state = 'open' AND r.open_since_us < {}")
        args.append(before_us)
    if after is not None:
        where.append("r.id < {}")
        args.append(after)
    found = await fetch(service.ROW_SQL + " WHERE " + " AND ".join(where)
                        + f" ORDER BY r.id DESC LIMIT {limit + 1}", *args)
    more = len(found) > limit
    found = found[:limit]
    who = await service.reader(me)
    ordered = sorted(grids.values(), key=lambda c: (c.grid_id is None, c.grid))
    return Board(ordered, [service.view_of(row, who) for row in found],
                 str(found[-1]["id"]) if more else None)


#: A grid worker's list is read escalated first: its cursor is the section (0 escalated, 1 the
#: rest) and the id, as one number, section × ``_SECTION`` + id (ids stay below 2**31).
_SECTION = 10**10
_LATE_LAST = "(CASE WHEN r.escalated_us IS NULL THEN 1 ELSE 0 END)"


async def grid_requests(me: Principal, limit: int, cursor: str | None) -> HelpRequestPage:
    """A grid worker's list: the waiting requests of their grids, escalated ones first, newest
    first within each."""
    who = await service.reader(me)
    if not who.grids:
        return HelpRequestPage([], None)
    after = parse_cursor(cursor)
    marks = ", ".join("{}" for _ in who.grids)
    args: list[object] = [me.community_id, *sorted(who.grids)]
    where = (f"r.community = {{}} AND r.grid IN ({marks})"
             f" AND r.state IN ({', '.join(repr(s) for s in service.WAITING)})")
    if after is not None:
        section, last_id = divmod(after, _SECTION)
        where += f" AND ({_LATE_LAST} > {{}} OR ({_LATE_LAST} = {{}} AND r.id < {{}}))"
        args += [section, section, last_id]
    rows = await fetch(service.ROW_SQL + f" WHERE {where} ORDER BY {_LATE_LAST}, r.id DESC"
                       f" LIMIT {limit + 1}", *args)
    more = len(rows) > limit
    rows = rows[:limit]
    views = [service.view_of(row, who) for row in rows]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = str((0 if last["escalated_us"] is not None else 1) * _SECTION + last["id"])
    return HelpRequestPage(views, next_cursor)


# -- escalation ----------------------------------------------------------------------------------


def _escalate_steps(at_us: int) -> Steps[list[dict]]:
    hours = ("COALESCE((SELECT s.escalate_hours FROM help_setting s WHERE s.community = r.community),"
             f" {DEFAULT_ESCALATE_HOURS})")
    rows = yield (
        "UPDATE help_request SET escalated_us = {} WHERE id IN (SELECT r.id FROM help_request r"
        " WHERE r.state = 'open' AND r.escalated_us IS NULL"
        f" AND r.open_since_us < {{}} - {hours} * {HOUR_US})"
        " RETURNING id, community",
        (at_us, at_us),
    )
    for row in rows:
        yield audit.entry(row["community"], None, "help_escalated", service.subject(row["id"]))
    return rows


async def escalate(at: datetime | None = None) -> int:
    """Stamp every request nobody took in time (each community's ``escalate_hours``) as escalated
    to its grid worker, once; how many. Safe to repeat: a stamped request is not stamped again."""
    rows = await write(_escalate_steps, lots.to_us(at or clock.now()))
    if rows:
        log.info("%s help requests escalated to their grid workers", len(rows))
    return len(rows)


# -- the figures ---------------------------------------------------------------------

def _median_hours(spans_us: list[int]) -> str | None:
    """The median of durations (microseconds) in hours, two decimals, floored."""
    if not spans_us:
        return None
    hundredths = int(statistics.median(spans_us) * 100 // HOUR_US)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


async def figures(community_id: int, since: datetime, until: datetime) -> Figures:
    """Posted and solved per category in [since, until), and the median time from posting to
    confirmation of those solved in it (the dashboards': ``GET /api/dashboards/help-requests``)."""
    since_us, until_us = lots.to_us(since), lots.to_us(until)
    posted = await fetch(
        "SELECT category, COUNT(*) AS n FROM help_request WHERE community = {} AND posted_us >= {}"
        " AND posted_us < {} GROUP BY category", community_id, since_us, until_us)
    solved = await fetch(
        "SELECT category, done_us - posted_us AS took FROM help_request WHERE community = {}"
        " AND state = 'done' AND done_us >= {} AND done_us < {}", community_id, since_us, until_us)
    counts = {row["category"]: int(row["n"]) for row in posted}
    took: dict[str, list[int]] = {c: [] for c in CATEGORIES}
    for row in solved:
        took[row["category"]].append(int(row["took"]))
    return Figures(
        since=since, until=until,
        categories=[CategoryFigures(category=c, category_name=CATEGORY_NAMES[c], posted=counts.get(c, 0),
                                    solved=len(took[c]), median_hours_to_solve=_median_hours(took[c]))
                    for c in CATEGORIES],
        posted=sum(counts.values()), solved=len(solved),
        median_hours_to_solve=_median_hours([t for spans in took.values() for t in spans]),
    )
