"""The small fixed data set of the leaderboard and dashboard tests, with its hand-computed numbers.

Dates are in 2025 (Beijing), so the expectations do not move with today's date. Credits are
written through the app's own ledger with its clock set to each credit's time, so the hash
chain stays valid. The ledger never lets time step back behind its head (other tests of the
session wrote "now"), so while the set is written the planner is shown a head without a time
(``backdating``): the chain and every balance still verify; only the times are the test's.

People (household · building · grid · teams):
  张三明  H1 (1号楼 1-101, 东网格)  银发队      credits 5 + 20 (Nov 10); adjustment +100 (not earned)
  李四    H1                                    credits 15 (Nov 20) + 5 at 2025-11-30 23:30 Beijing
  王五    H2 (1号楼 1-102, 东网格)  银发队      credits 5 + 15 (Nov 10); redeems 10.00 (Nov 21)
  欧阳小明 H3 (2号楼 2-201, 西网格)  老兵队      credit 8 at 2025-12-01 00:10 Beijing (= Nov 30 UTC)
  赵六    no household                          credit 5 (Nov 12), reversed (activity cancelled)

Stays (hours, check-out Beijing):
  A1 志愿服务 2025-11-10 09:00: 张三明 2.00 (out Nov 10 11:00), 王五 1.50 (Nov 10 10:30),
     欧阳小明 3.00 (Nov 10, awaiting approval: not counted)
  A2 集体劳动 2025-11-30 20:00: 李四 1.00 (out 2025-12-01 00:30: December's hours)
  A3 自治 2025-12-01 00:30 (= Nov 30 16:30 UTC: a December activity): 欧阳小明 checked in only
  A4 集体劳动 2025-11-12, cancelled: 赵六 (stay cancelled, 4.00 h not counted)
"""

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import ledger.stores.postgres as pg_store
import ledger.stores.sqlite as sqlite_store
from ledger import Ledger
from market.points.service import account_id, wallet_id
from market.tables import (
    Activity,
    Building,
    Compound,
    Grid,
    Household,
    Person,
    Stay,
    Team,
    TeamMember,
)
from tests.market.support import Enrol, Member

CHINA = ZoneInfo("Asia/Shanghai")


def beijing(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHINA)


@contextlib.contextmanager
def backdating() -> Iterator[None]:
    """Let the ledger write transfers dated before its head (test data only)."""
    sqlite_answer, pg_answer = sqlite_store._answer, pg_store._answer

    def sqlite_head(con, query):
        found = sqlite_answer(con, query)
        return (*found[:2], 0) if query == ("head",) else found

    async def pg_head(con, query):
        found = await pg_answer(con, query)
        return (*found[:2], 0) if query == ("head",) else found

    sqlite_store._answer, pg_store._answer = sqlite_head, pg_head
    try:
        yield
    finally:
        sqlite_store._answer, pg_store._answer = sqlite_answer, pg_answer


@dataclass
class BoardData:
    community_id: int
    people: dict[str, Member]
    households: dict[str, int]
    buildings: dict[str, int]
    grids: dict[str, int]
    teams: dict[str, int]
    activities: dict[str, int]


async def _insert(table, **values) -> int:
    row = table(**values)
    await row.save()
    return row.id


async def build(enrol: Enrol, ledger: Ledger, community_id: int) -> BoardData:
    tag = secrets.token_hex(3)
    compound = await _insert(Compound, community=community_id, name="幸福里")
    buildings = {n: await _insert(Building, community=community_id, compound=compound, name=n)
                 for n in ("1号楼", "2号楼")}
    grids = {n: await _insert(Grid, community=community_id, name=n) for n in ("东网格", "西网格")}
    households = {
        "H1": await _insert(Household, community=community_id, building=buildings["1号楼"], unit="1",
                            room="101", grid=grids["东网格"]),
        "H2": await _insert(Household, community=community_id, building=buildings["1号楼"], unit="1",
                            room="102", grid=grids["东网格"]),
        "H3": await _insert(Household, community=community_id, building=buildings["2号楼"], unit="2",
                            room="201", grid=grids["西网格"]),
    }
    teams = {n: await _insert(Team, community=community_id, name=n) for n in ("银发队", "老兵队")}
    people = {}
    for name, household in (("张三明", "H1"), ("李四", "H1"), ("王五", "H2"), ("欧阳小明", "H3"),
                            ("赵六", None)):
        member = await enrol("resident", community_id=community_id, name=name)
        people[name] = member
        if household:
            await Person.update({Person.household: households[household]}).where(Person.id == member.id)
    for team, names in (("银发队", ("张三明", "王五")), ("老兵队", ("欧阳小明",))):
        for name in names:
            await _insert(TeamMember, team=teams[team], person=people[name].id)

    def activity(title: str, category: str, starts: datetime, status: str = "scheduled") -> Activity:
        return Activity(community=community_id, title=f"{title}-{tag}", category=category,
                        starts_at=starts, ends_at=starts.replace(hour=min(starts.hour + 3, 23)),
                        points_per_checkin=500, points_per_hour=1000, status=status)

    activities = {}
    for key, title, category, starts, status in (
        ("A1", "敬老院探访", "volunteer_service", beijing(2025, 11, 10, 9), "scheduled"),
        ("A2", "楼道清扫", "collective_labour", beijing(2025, 11, 30, 20), "scheduled"),
        ("A3", "议事会", "self_governance", beijing(2025, 12, 1, 0, 30), "scheduled"),
        ("A4", "绿地除草", "collective_labour", beijing(2025, 11, 12, 9), "cancelled"),
    ):
        row = activity(title, category, starts, status)
        await row.save()
        activities[key] = row.id

    def stay(activity_key: str, name: str, in_at: datetime, out_at: datetime | None, hours: int | None,
             status: str, approval: str | None = None) -> Stay:
        return Stay(community=community_id, activity=activities[activity_key], person=people[name].id,
                    in_at=in_at, out_at=out_at, hours=hours, status=status, approval=approval)

    for row in (
        stay("A1", "张三明", beijing(2025, 11, 10, 9), beijing(2025, 11, 10, 11), 200, "out"),
        stay("A1", "王五", beijing(2025, 11, 10, 9), beijing(2025, 11, 10, 10, 30), 150, "out"),
        stay("A1", "欧阳小明", beijing(2025, 11, 10, 9), beijing(2025, 11, 10, 12), 300, "out", "pending"),
        stay("A2", "李四", beijing(2025, 11, 30, 23, 30), beijing(2025, 12, 1, 0, 30), 100, "out"),
        stay("A3", "欧阳小明", beijing(2025, 12, 1, 0, 30), None, None, "in"),
        stay("A4", "赵六", beijing(2025, 11, 12, 9), beijing(2025, 11, 12, 13), 400, "cancelled"),
    ):
        await row.save()

    issuance = await account_id(ledger, community_id, "issuance")
    shop = await account_id(ledger, community_id, "shop")
    with backdating():
        await _credits(ledger, community_id, people, tag, issuance, shop)
    return BoardData(community_id=community_id, people=people, households=households,
                     buildings=buildings, grids=grids, teams=teams, activities=activities)


async def _credits(ledger: Ledger, community_id: int, people: dict[str, Member], tag: str, issuance: int,
                   shop: int) -> None:
    saved_clock = ledger.clock

    async def move(at: datetime, id_: str, debit: int, credit: int, amount: str, kind: str) -> None:
        ledger.clock = lambda: int(at.astimezone(UTC).timestamp()) * 1_000_000
        await ledger.transfer(f"{id_}-{tag}", debit, credit, amount, kind, memo="board test")

    try:
        wallets = {name: await wallet_id(ledger, community_id, m.id) for name, m in people.items()}
        await move(beijing(2025, 11, 10, 9), "z-in", issuance, wallets["张三明"], "5.00", "checkin")
        await move(beijing(2025, 11, 10, 11), "z-out", issuance, wallets["张三明"], "20.00", "checkout")
        await move(beijing(2025, 11, 11, 9), "z-adj", issuance, wallets["张三明"], "100.00", "adjustment")
        await move(beijing(2025, 11, 20, 9), "l-out", issuance, wallets["李四"], "15.00", "checkout")
        await move(beijing(2025, 11, 30, 23, 30), "l-in", issuance, wallets["李四"], "5.00", "checkin")
        await move(beijing(2025, 11, 10, 9), "w-in", issuance, wallets["王五"], "5.00", "checkin")
        await move(beijing(2025, 11, 10, 10, 30), "w-out", issuance, wallets["王五"], "15.00", "checkout")
        await move(beijing(2025, 11, 21, 15), "w-shop", wallets["王五"], shop, "10.00", "redemption")
        await move(beijing(2025, 12, 1, 0, 10), "o-in", issuance, wallets["欧阳小明"], "8.00", "checkin")
        await move(beijing(2025, 11, 12, 9), "s-in", issuance, wallets["赵六"], "5.00", "checkin")
        ledger.clock = lambda: int(beijing(2025, 11, 13, 9).astimezone(UTC).timestamp()) * 1_000_000
        await ledger.reverse(f"s-in-{tag}:rev", f"s-in-{tag}", "活动取消")
    finally:
        ledger.clock = saved_clock
