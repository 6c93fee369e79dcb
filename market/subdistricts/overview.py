"""What a subdistrict's office sees across its communities: the points of each and in total, and
each community's ledger check, with the clearing pairs between them.

Only sums and chain heads: nothing here names a resident or acts inside a community.
"""

import csv
import io
from decimal import Decimal

from ledger import Ledger, to_decimal
from market.db import fetch
from market.points import service as points
from market.reports.exports import csv_cell
from market.subdistricts.schemas import (
    ClearingCheck,
    CommunityCheck,
    CommunityFigures,
    LedgerChecks,
    Overview,
    Totals,
)
from market.subdistricts.service import clearing_pairs, get

AMOUNTS = ("issued", "redeemed", "outstanding", "expired", "travelled")


async def _residents(community_ids: list[int]) -> dict[int, int]:
    if not community_ids:
        return {}
    marks = ", ".join("{}" for _ in community_ids)
    rows = await fetch(
        f"SELECT community, count(*) AS n FROM person WHERE community IN ({marks})"
        " AND erased_at IS NULL AND (',' || roles || ',') LIKE '%,resident,%' GROUP BY community",
        *community_ids,
    )
    return {row["community"]: int(row["n"]) for row in rows}


async def overview(ledger: Ledger, subdistrict_id: int) -> Overview:
    view = await get(subdistrict_id)
    residents = await _residents([c.id for c in view.communities])
    figures = []
    sums = dict.fromkeys(AMOUNTS, Decimal(0))
    for community in view.communities:
        seen = await points.transparency(ledger, community.id)
        for name in AMOUNTS:
            sums[name] += Decimal(getattr(seen, name))
        figures.append(CommunityFigures(
            community=community, residents=residents.get(community.id, 0), issued=seen.issued,
            redeemed=seen.redeemed, outstanding=seen.outstanding, expired=seen.expired,
            travelled=seen.travelled, entries=seen.entries, head=seen.head,
        ))
    return Overview(
        subdistrict_id=view.id, name=view.name, shared_redemption=view.shared_redemption,
        communities=figures,
        totals=Totals(residents=sum(residents.values()),
                      **{name: points.points(total) for name, total in sums.items()}),
    )


def overview_csv(seen: Overview, *, english: bool = False) -> str:
    """The overview as a spreadsheet: one row per community and a total row (UTF-8 with BOM, so
    Excel opens the Chinese names as they are)."""
    header = (
        ["community", "slug", "residents", *AMOUNTS, "entries", "head"] if english else
        ["社区", "地址代号", "居民数", "已发放", "已兑换", "未使用", "已过期", "跨社区净兑换",
         "账本条数", "账本哈希"]
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in seen.communities:
        writer.writerow([csv_cell(row.community.name), row.community.slug, row.residents,
                         *(getattr(row, name) for name in AMOUNTS), row.entries, row.head])
    total = seen.totals
    writer.writerow(["total" if english else "合计", "", total.residents,
                     *(getattr(total, name) for name in AMOUNTS), "", ""])
    return "\ufeff" + out.getvalue()


async def ledger_checks(ledger: Ledger, subdistrict_id: int) -> LedgerChecks:
    """Each community's chain and books checked now, and every clearing pair between them."""
    view = await get(subdistrict_id)
    checks = []
    for community in view.communities:
        result = await points.verify(ledger, community.id)
        checks.append(CommunityCheck(
            community=community, ok=result.ok, entries=result.entries, head=result.head,
            problem=None if result.problem is None else result.problem.message,
        ))
    pairs = []
    for first, second, ours, theirs in await clearing_pairs(ledger, view):
        first_says = (await ledger.balance(ours.id)).balance if ours else to_decimal(0)
        second_says = -(await ledger.balance(theirs.id)).balance if theirs else to_decimal(0)
        pairs.append(ClearingCheck(
            first=first, second=second, first_says=points.points(first_says),
            second_says=points.points(second_says), ok=first_says == second_says,
        ))
    return LedgerChecks(ok=all(c.ok for c in checks) and all(p.ok for p in pairs),
                        communities=checks, clearing=pairs)
