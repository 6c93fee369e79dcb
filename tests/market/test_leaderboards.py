"""Leaderboards (红榜) against the hand-computed numbers of ``tests/market/board_data.py``."""

import pytest

from ledger import Ledger
from market.errors import MarketError
from market.reports.board_period import parse_period
from market.reports.leaderboards import mask_name
from market.tables import Stay
from tests.market.board_data import BoardData, beijing, build
from tests.market.support import Enrol, Member


@pytest.fixture
async def data(enrol: Enrol, ledger: Ledger, community) -> BoardData:
    return await build(enrol, ledger, community.id)


def rows(body: dict, board: str, measure: str) -> list[tuple[int, str, str]]:
    found = next(b for b in body["boards"] if b["board"] == board and b["measure"] == measure)
    return [(r["rank"], r["name"], r["value"]) for r in found["rows"]]


async def board(member: Member, **params: str):
    return await member.client.get("/api/leaderboards", params=params)


async def test_november_by_points_counts_credits_not_adjustments_or_reversed(data: BoardData) -> None:
    me = data.people["李四"]
    response = await board(me, period="month", at="2025-11")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period"]["at"] == "2025-11" and body["period"]["kind"] == "month"
    # 张三明 5 + 20 (his 100.00 adjustment is not earned); 李四 15 + 5 (the 23:30 Beijing credit
    # on Nov 30 is November's) ties 王五 5 + 15 (his redemption changes nothing); 赵六's credit
    # was reversed; 欧阳小明's came at 00:10 on Dec 1 Beijing.
    assert rows(body, "residents", "points") == [
        (1, "张三明", "25.00"), (2, "李四", "20.00"), (2, "王五", "20.00"),
    ]
    assert rows(body, "households", "points") == [(1, "幸福里 1号楼 1-101", "45.00"),
                                                  (2, "幸福里 1号楼 1-102", "20.00")]
    assert rows(body, "buildings", "points") == [(1, "幸福里 1号楼", "65.00")]
    assert rows(body, "grids", "points") == [(1, "东网格", "65.00")]
    assert rows(body, "teams", "points") == [(1, "银发队", "45.00")]
    mine = {m["measure"]: (m["rank"], m["value"]) for m in body["mine"]}
    assert mine == {"points": (2, "20.00"), "hours": (None, "0.00")}
    me_rows = [r for b in body["boards"] if b["measure"] == "points" for r in b["rows"] if r["me"]]
    assert {(r["name"], r["value"]) for r in me_rows} == {
        ("李四", "20.00"), ("幸福里 1号楼 1-101", "45.00"), ("幸福里 1号楼", "65.00"), ("东网格", "65.00"),
    }
    assert all(r["id"] is not None for b in body["boards"] for r in b["rows"])


async def test_november_by_hours_counts_checked_out_approved_stays(data: BoardData) -> None:
    body = (await board(data.people["张三明"], period="month", at="2025-11")).json()
    # 欧阳小明's 3.00 await approval, 赵六's activity was cancelled, 李四 checked out in December.
    assert rows(body, "residents", "hours") == [(1, "张三明", "2.00"), (2, "王五", "1.50")]
    assert rows(body, "households", "hours") == [(1, "幸福里 1号楼 1-101", "2.00"),
                                                 (2, "幸福里 1号楼 1-102", "1.50")]
    assert rows(body, "buildings", "hours") == [(1, "幸福里 1号楼", "3.50")]
    assert rows(body, "grids", "hours") == [(1, "东网格", "3.50")]
    assert rows(body, "teams", "hours") == [(1, "银发队", "3.50")]


async def test_december_quarter_and_year(data: BoardData) -> None:
    me = data.people["欧阳小明"]
    december = (await board(me, period="month", at="2025-12")).json()
    assert rows(december, "residents", "points") == [(1, "欧阳小明", "8.00")]
    assert rows(december, "residents", "hours") == [(1, "李四", "1.00")]
    assert rows(december, "teams", "points") == [(1, "老兵队", "8.00")]
    assert rows(december, "grids", "points") == [(1, "西网格", "8.00")]
    quarter = (await board(me, period="quarter", at="2025-Q4")).json()
    assert quarter["period"]["at"] == "2025-Q4"
    assert rows(quarter, "residents", "points") == [
        (1, "张三明", "25.00"), (2, "李四", "20.00"), (2, "王五", "20.00"), (4, "欧阳小明", "8.00"),
    ]
    assert rows(quarter, "residents", "hours") == [(1, "张三明", "2.00"), (2, "王五", "1.50"),
                                                   (3, "李四", "1.00")]
    assert rows(quarter, "buildings", "points") == [(1, "幸福里 1号楼", "65.00"), (2, "幸福里 2号楼", "8.00")]
    year = (await board(me, period="year", at="2025", limit="2")).json()
    assert rows(year, "residents", "points") == [(1, "张三明", "25.00"), (2, "李四", "20.00")]
    assert next(b for b in year["boards"] if b["board"] == "residents" and b["measure"] == "points")[
        "ranked"] == 4
    empty = (await board(me, period="year", at="2024")).json()
    assert all(b["rows"] == [] for b in empty["boards"])


async def test_the_public_board_masks_names_and_shows_no_ids(data: BoardData, anon, ledger) -> None:
    response = await anon.get("/api/leaderboards/public", params={
        "community": data.community_id, "period": "quarter", "at": "2025-Q4"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert rows(body, "residents", "points") == [
        (1, "张*明", "25.00"), (2, "李*", "20.00"), (2, "王*", "20.00"), (4, "欧**明", "8.00"),
    ]
    assert rows(body, "households", "points")[0] == (1, "幸福里 1号楼 1-1**", "45.00")
    assert all(r["id"] is None and not r["me"] for b in body["boards"] for r in b["rows"])
    assert body["mine"] == []
    assert "phone" not in response.text and data.people["张三明"].phone not in response.text
    assert (await ledger.verify(data.community_id)).ok  # the backdated data set keeps the chain intact


async def test_a_resident_sees_only_their_own_community(data: BoardData, enrol: Enrol, ledger) -> None:
    from market.community import service as communities

    other = await communities.get_or_create(ledger, "别的社区-board")
    stranger = await enrol("resident", community_id=other.id, name="路人甲")
    body = (await board(stranger, period="quarter", at="2025-Q4")).json()
    assert body["community_id"] == other.id
    assert all(b["rows"] == [] for b in body["boards"])


@pytest.mark.parametrize("params", [
    {"period": "week"}, {"period": "month", "at": "2025-13"}, {"period": "month", "at": "2025"},
    {"period": "quarter", "at": "2025-Q5"}, {"period": "year", "at": "25"}, {"period": "year", "at": "1999"},
    {"period": "month", "at": "2025-1x"},
])
async def test_a_bad_period_is_a_400_problem_with_a_reason(resident: Member, params: dict) -> None:
    response = await resident.client.get("/api/leaderboards", params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["reason"] == "invalid_period"
    assert "统计周期无效" in response.json()["detail"]
    english = await resident.client.get("/api/leaderboards", params=params,
                                        headers={"Accept-Language": "en"})
    assert english.json()["detail"].startswith("Invalid period")


async def test_the_board_needs_sign_in_and_the_public_one_does_not(anon) -> None:
    assert (await anon.get("/api/leaderboards")).status_code == 401
    public = await anon.get("/api/leaderboards/public", params={"period": "year", "at": "2025"})
    assert public.status_code == 200
    assert (await anon.get("/api/leaderboards/public", params={"period": "x"})).status_code == 400
    assert (await anon.get("/api/leaderboards/public", params={"community": 999999999})).status_code == 404


async def test_a_new_stay_shows_at_once(data: BoardData) -> None:
    """The boards are cached while nothing they read has changed; a new stay is a change."""
    me = data.people["赵六"]
    before = (await board(me, period="month", at="2025-11")).json()
    assert rows(before, "residents", "hours") == [(1, "张三明", "2.00"), (2, "王五", "1.50")]
    await Stay(community=data.community_id, activity=data.activities["A2"], person=me.id,
               in_at=beijing(2025, 11, 30, 20), out_at=beijing(2025, 11, 30, 23), hours=300,
               status="out").save()
    after = (await board(me, period="month", at="2025-11")).json()
    assert rows(after, "residents", "hours") == [(1, "赵六", "3.00"), (2, "张三明", "2.00"),
                                                 (3, "王五", "1.50")]


def test_masking() -> None:
    assert [mask_name(n) for n in ("张三明", "张三", "欧阳小明", "张", " 李四 ", "")] == [
        "张*明", "张*", "欧**明", "*", "李*", "",
    ]


def test_period_boundaries_are_beijing_calendar_periods() -> None:
    november = parse_period("month", "2025-11")
    assert november.start.isoformat() == "2025-10-31T16:00:00+00:00"
    assert november.end.isoformat() == "2025-11-30T16:00:00+00:00"
    q4 = parse_period("quarter", "2025-q4")
    assert (q4.start.isoformat(), q4.end.isoformat()) == ("2025-09-30T16:00:00+00:00",
                                                          "2025-12-31T16:00:00+00:00")
    assert parse_period("year", "2025").previous().key == "2024"
    assert parse_period("month", "2025-12").next().key == "2026-01"
    assert parse_period("quarter", "2025-Q1").previous().key == "2024-Q4"
    with pytest.raises(MarketError):
        parse_period("decade", "2020")
