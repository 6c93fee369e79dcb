"""The subdistrict's dashboard: each community's activities, participants, service hours and points
in a month, quarter or year, and the sums across them — read from each community's own dashboard
(``market.reports.dashboards``), so the office sees the figures its communities see."""

from decimal import Decimal

from market.reports import dashboards
from market.reports.board_period import Period
from market.reports.leaderboards import period_view
from market.subdistricts.schemas import ActivityTotals, CommunityActivity, SubdistrictDashboard
from market.subdistricts.service import get


def _sum(texts: list[str]) -> str:
    return f"{sum((Decimal(text) for text in texts), Decimal(0)):.2f}"


async def dashboard(subdistrict_id: int, period: Period, language: str = "zh") -> SubdistrictDashboard:
    view = await get(subdistrict_id)
    rows = []
    for community in view.communities:
        held = await dashboards.activities(community.id, period, language)
        moved = await dashboards.points(community.id, period, language)
        rows.append(CommunityActivity(
            community=community, activities=held.activities, participants=held.participants,
            hours=held.hours, issued=moved.issued, redeemed=moved.redeemed,
        ))
    return SubdistrictDashboard(
        subdistrict_id=view.id, period=period_view(period, language), communities=rows,
        totals=ActivityTotals(
            activities=sum(r.activities for r in rows), participants=sum(r.participants for r in rows),
            hours=_sum([r.hours for r in rows]), issued=_sum([r.issued for r in rows]),
            redeemed=_sum([r.redeemed for r in rows]),
        ),
    )
