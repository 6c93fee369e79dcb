"""Leaderboards (红榜) for a period: residents, households, buildings, grids and teams by points
earned and by service hours; public boards mask names.

What counts is decided in ``market.reports.board_queries`` (activity credits less their
reversals; no adjustments; hours of checked-out stays). A household, building or grid scores
what its current residents earned; a team what its current members earned. Ties share a rank
(1, 2, 2, 4). Everything is scoped to one community: a signed-in person sees their own; the
public board names a community and shows only ranks, masked names and values — no ids.
"""

import bisect
from collections import defaultdict
from typing import Annotated

from litestar.params import QueryParameter

from ledger import format_points
from market.auth.sessions import Principal
from market.community import service as communities
from market.errors import NotFound
from market.people.rules import mask_name
from market.reports import board_cache
from market.reports import board_queries as q
from market.reports.board_period import Period
from market.reports.schemas import Board, BoardRow, Leaderboards, MyRank, PeriodView

BOARDS = ("residents", "households", "buildings", "grids", "teams")
MEASURES = ("points", "hours")
DEFAULT_LIMIT, MAX_LIMIT = 10, 100


def mask_room(room: str) -> str:
    """A room number shown publicly: only its first character (the floor), the rest masked."""
    return room[:1] + "*" * max(len(room) - 1, 1) if room else ""


def period_view(period: Period, language: str) -> PeriodView:
    return PeriodView(kind=period.kind, at=period.key, label=period.label(language), start=period.start,
                      end=period.end)


class Ranking:
    """A board's entries best first, ties sharing a rank (1, 2, 2, 4); zero and unnamed entries
    (erased people, archived places) left out. Ties in the order of enrolment (id)."""

    def __init__(self, values: dict[int, int], names: dict[int, str]) -> None:
        # One int per entry, (-value, id) in its high and low bits: sorting 10,000 ints is a
        # tenth of sorting as many tuples (a board is ranked again after every change).
        self._codes = sorted((-v << _ID_BITS) | k for k, v in values.items() if v > 0 and k in names)

    def __len__(self) -> int:
        return len(self._codes)

    def top(self, limit: int) -> list[tuple[int, int, int]]:
        """(rank, id, value) of the first ``limit``."""
        out, rank, last = [], 0, None
        for position, code in enumerate(self._codes[:limit], 1):
            negative, key = code >> _ID_BITS, code & _ID_MASK
            if negative != last:
                rank, last = position, negative
            out.append((rank, key, -negative))
        return out

    def rank_of(self, value: int) -> int:
        """The rank an entry of ``value`` has: one more than the entries worth more."""
        return bisect.bisect_left(self._codes, -value << _ID_BITS) + 1


_ID_BITS = 32
_ID_MASK = (1 << _ID_BITS) - 1


async def _scores(community_id: int, period: Period) -> dict:
    """Every board's values and names, who belongs where, and each board's ranking (cached)."""
    return await board_cache.cached(("leaderboards", community_id, period.kind, period.key),
                                    lambda: _compute_scores(community_id, period))


async def _compute_scores(community_id: int, period: Period) -> dict:
    earned, hours = await q.person_totals(community_id, period)
    where = await board_cache.remembered(("where", community_id), lambda: _where(community_id))
    names, home, teams_of = where["names"], where["home"], where["teams_of"]
    values = {board: {measure: defaultdict(int) for measure in MEASURES} for board in BOARDS}
    for measure, by_person in (("points", earned), ("hours", hours)):
        residents, households, buildings, grids, teams = (values[board][measure] for board in BOARDS)
        for pid, value in by_person.items():
            residents[pid] += value
            place = home.get(pid)
            if place is not None:
                household, building, grid = place
                if household is not None:
                    households[household] += value
                if building is not None:
                    buildings[building] += value
                if grid is not None:
                    grids[grid] += value
            for team in teams_of.get(pid, ()):
                teams[team] += value
    rankings = {(board, measure): Ranking(values[board][measure], names[board])
                for board in BOARDS for measure in MEASURES}
    residents = {measure: values["residents"][measure] for measure in MEASURES}
    return {**where, "rankings": rankings, "residents": residents}


async def _where(community_id: int) -> dict:
    """Who lives where and belongs to which team, and every board's names (in full and masked),
    from the community's structure: read at most once a minute (``board_cache.remembered``)."""
    everyone, building_names, grid_names, (team_names, members) = (
        await q.people(community_id), await q.buildings(community_id), await q.grids(community_id),
        await q.teams(community_id))
    names: dict[str, dict[int, str]] = {
        "residents": {}, "households": {}, "buildings": building_names, "grids": grid_names,
        "teams": team_names,
    }
    public_names: dict[str, dict[int, str]] = {
        "residents": {}, "households": {}, "buildings": building_names, "grids": grid_names,
        "teams": team_names,
    }
    home: dict[int, tuple[int | None, int | None, int | None]] = {}
    for person in everyone:
        pid = person["id"]
        if person["erased_at"] is None:
            names["residents"][pid] = person["name"]
            public_names["residents"][pid] = mask_name(person["name"])
        home[pid] = (person["household"], person["building"], person["grid"])
        if person["household"] is not None and person["household_archived"] is None:
            place = building_names.get(person["building"], "")
            names["households"][person["household"]] = f"{place} {person['unit']}-{person['room']}".strip()
            public_names["households"][person["household"]] = (
                f"{place} {person['unit']}-{mask_room(person['room'])}".strip()
            )
    teams_of: dict[int, list[int]] = defaultdict(list)
    for team, person in members:
        teams_of[person].append(team)
    return {"names": names, "public_names": public_names, "home": home, "teams_of": teams_of}


def _mine(scores: dict, me: Principal | None) -> dict[str, set[int]]:
    if me is None:
        return {board: set() for board in BOARDS}
    household, building, grid = scores["home"].get(me.id, (None, None, None))
    return {
        "residents": {me.id},
        "households": {household} - {None},
        "buildings": {building} - {None},
        "grids": {grid} - {None},
        "teams": set(scores["teams_of"].get(me.id, ())),
    }


async def leaderboards(
    community_id: int, period: Period, *, limit: int = DEFAULT_LIMIT, public: bool = False,
    me: Principal | None = None, language: str = "zh",
) -> Leaderboards:
    community = await communities.get(community_id)
    if community is None:
        raise NotFound(field="community")
    scores = await _scores(community_id, period)
    names = scores["public_names" if public else "names"]
    mine = _mine(scores, None if public else me)
    boards = []
    my_ranks = []
    for board in BOARDS:
        for measure in MEASURES:
            ranking = scores["rankings"][(board, measure)]
            rows = [
                BoardRow(rank=rank, name=names[board][key], value=format_points(value),
                         id=None if public else key, me=key in mine[board])
                for rank, key, value in ranking.top(limit)
            ]
            boards.append(Board(board=board, measure=measure, rows=rows, ranked=len(ranking)))
            if board == "residents" and me is not None and not public:
                value = scores["residents"][measure].get(me.id, 0)
                ranked_here = value > 0 and me.id in scores["names"]["residents"]
                my_ranks.append(MyRank(measure=measure, rank=ranking.rank_of(value) if ranked_here else None,
                                       value=format_points(value)))
    return Leaderboards(community_id=community.id, community=community.name,
                        period=period_view(period, language), boards=boards, mine=my_ranks)


Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]
