"""The subdistrict's honour roll (红榜): residents of all its communities ranked together by the
points they earned in a month, quarter or year, each with their community's name.

Each community's public board (``market.reports.leaderboards``: masked names, no ids, cached) is
read and the tops are merged, so what counts as earned and how a name is masked are decided in
one place. The top ``limit`` of the merge is exact: no one outside a community's top ``limit``
can be in the subdistrict's. Ties share a rank (1, 2, 2, 4), in the order of the communities.
"""

from decimal import Decimal

from market.reports.board_period import Period
from market.reports.leaderboards import leaderboards, period_view
from market.subdistricts.schemas import CommunityRef, SubdistrictBoard, SubdistrictBoardRow
from market.subdistricts.service import get

BOARD, MEASURE = "residents", "points"


async def leaderboard(subdistrict_id: int, period: Period, *, limit: int, language: str = "zh"
                      ) -> SubdistrictBoard:
    view = await get(subdistrict_id)
    entries: list[tuple[Decimal, int, str, str, CommunityRef]] = []
    ranked = 0
    for order, community in enumerate(view.communities):
        found = await leaderboards(community.id, period, limit=limit, public=True, language=language)
        board = next(b for b in found.boards if (b.board, b.measure) == (BOARD, MEASURE))
        ranked += board.ranked
        entries.extend((Decimal(row.value), order, row.name, row.value, community) for row in board.rows)
    entries.sort(key=lambda entry: (-entry[0], entry[1]))
    rows: list[SubdistrictBoardRow] = []
    for position, (value, _, name, text, community) in enumerate(entries[:limit], 1):
        rank = rows[-1].rank if rows and Decimal(rows[-1].value) == value else position
        rows.append(SubdistrictBoardRow(rank=rank, name=name, value=text, community=community))
    return SubdistrictBoard(subdistrict_id=view.id, subdistrict=view.name,
                            period=period_view(period, language), measure=MEASURE, rows=rows, ranked=ranked)
