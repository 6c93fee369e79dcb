"""Exports for the books (台账): each one re-read with openpyxl and csv on a small fixed data set,
against rows computed by hand; headers in Chinese and English; the period's Beijing midnights;
who may take which export; bad periods refused with a problem.

The attendance, redemption and stock rows are written straight to the tables with fixed times
around the Beijing midnights of April 2025 (the export reads what the tables hold); the ledger's
rows are made through the API (the ledger stamps its own times), so its period is today's.
"""

import csv
import io
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

import httpx
import openpyxl
import pytest

from ledger import Ledger
from market.community.service import CommunityView
from market.reports import export_queries, exports
from market.reports.export_queries import CHINA
from market.tables import (
    Activity,
    Building,
    Compound,
    Grid,
    Household,
    Person,
    Product,
    Redemption,
    RedemptionLine,
    Refund,
    Stay,
    StockMovement,
)
from tests.market.support import Enrol, Member, adjust

APRIL = {"from": "2025-04-01", "to": "2025-04-30"}
#: Beijing midnights as UTC: 2025-04-01 00:00 and 2025-05-01 00:00 (UTC+8).
START = datetime(2025, 3, 31, 16, 0, tzinfo=UTC)
END = datetime(2025, 4, 30, 16, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def read_csv(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\xef\xbb\xbf"), "no BOM: Excel would misread the Chinese"
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def exact(value: object) -> object:
    """A cell as text: numbers as Excel reads them, compared as exact decimals by the caller."""
    if value is None:
        return ""
    if isinstance(value, int | str):
        return str(value)
    return str(Decimal(str(value)))


def read_xlsx(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    rows = [[exact(cell) for cell in row] for row in book.worksheets[0].iter_rows(values_only=True)]
    book.close()
    return rows


def same_numbers(row: list[str], expected: list[str]) -> bool:
    """Equal, numbers compared as decimals ("12.5" from a workbook equals "12.50")."""
    if len(row) != len(expected):
        return False
    for got, want in zip(row, expected, strict=True):
        try:
            if Decimal(got) != Decimal(want):
                return False
        except ArithmeticError:
            if got != want:
                return False
    return True


async def both(client: httpx.AsyncClient, kind: str, **params: str) -> list[list[list[str]]]:
    """The export as CSV and as .xlsx, each read back; they must hold the same rows."""
    as_csv = read_csv(await client.get(f"/api/exports/{kind}.csv", params=params))
    as_xlsx = read_xlsx(await client.get(f"/api/exports/{kind}.xlsx", params=params))
    assert as_csv[0] == as_xlsx[0]
    assert len(as_csv) == len(as_xlsx)
    for one, other in zip(as_csv[1:], as_xlsx[1:], strict=True):
        assert same_numbers(other, one), (one, other)
    return [as_csv, as_xlsx]


# -- the fixed data set -------------------------------------------------------------------------


async def _person(community_id: int, name: str, household: int | None = None) -> int:
    row = Person(community=community_id, name=name, phone=f"1{secrets.randbelow(10**10):010d}",
                 roles="resident", card_no=f"T{secrets.token_hex(4)}", household=household)
    await row.save()
    return row.id


@pytest.fixture
async def books(community: CommunityView, organizer: Member, shopkeeper: Member) -> dict:
    """Two residents, two activities, stays, a product's movements and redemptions, around April."""
    cid = community.id
    compound = Compound(community=cid, name="幸福里")
    await compound.save()
    building = Building(community=cid, compound=compound.id, name="3号楼")
    await building.save()
    grid = Grid(community=cid, name="第一网格")
    await grid.save()
    household = Household(community=cid, building=building.id, unit="1", room="301", grid=grid.id)
    await household.save()
    wang = await _person(cid, "王大妈", household.id)
    zhao = await _person(cid, "=赵六")  # a formula-looking name must not become a formula

    clean = Activity(community=cid, organizer=organizer.id, title="楼道清扫", category="collective_labour",
                     starts_at=START, ends_at=START + timedelta(hours=3))
    await clean.save()
    other = Activity(community=cid, organizer=None, title="敬老院探访", category="volunteer_service",
                     starts_at=START, ends_at=END)
    await other.save()
    early = Activity(community=cid, organizer=None, title="义诊", category="volunteer_service",
                     starts_at=START - timedelta(hours=1), ends_at=START + timedelta(hours=1))
    await early.save()
    stays = [
        # Beijing 03-31 23:59:59.999999: the day before the period
        Stay(community=cid, activity=early.id, person=wang, in_at=START - TICK, out_at=START + TICK,
             hours=100, points_in=500, points_out=1000, status="out"),
        # Beijing 04-01 00:00:00 exactly: in; checked out after 1.50 h
        Stay(community=cid, activity=clean.id, person=wang, in_at=START,
             out_at=START + timedelta(minutes=90), hours=150, points_in=500, points_out=1500,
             status="out"),
        # never checked out: closed with 0 h
        Stay(community=cid, activity=other.id, person=wang, in_at=START + timedelta(days=3),
             hours=0, points_in=500, points_out=0, status="closed"),
        # rejected: listed in attendance, not counted in hours
        Stay(community=cid, activity=other.id, person=zhao, in_at=END - TICK, status="in",
             points_in=200, approval="rejected"),
        # Beijing 05-01 00:00:00: the day after
        Stay(community=cid, activity=clean.id, person=zhao, in_at=END, status="in", points_in=200),
    ]
    for stay in stays:
        await stay.save()

    rice = Product(community=cid, name="大米", price=1250, stock=7)
    await rice.save()
    moves = [
        StockMovement(community=cid, product=rice.id, delta=10, stock_after=10, kind="initial",
                      at=START - TICK),
        StockMovement(community=cid, product=rice.id, delta=5, stock_after=15, kind="donation",
                      donor="爱心超市", reason="捐赠", at=START),
        StockMovement(community=cid, product=rice.id, delta=-8, stock_after=7, kind="adjustment",
                      reason="-盘点损耗", at=END - TICK),
        StockMovement(community=cid, product=rice.id, delta=-1, stock_after=6, kind="redemption",
                      ref="redemption:0", at=END),
    ]
    for move in moves:
        await move.save()

    redemptions = []
    for at, quantity in ((START - TICK, 1), (START, 2), (END, 1)):
        row = Redemption(community=cid, person=wang, keeper=shopkeeper.id, key=secrets.token_hex(8),
                         request_hash="x", total=1250 * quantity, transfer_id=secrets.token_hex(8),
                         balance_after=0, created_at=at)
        await row.save()
        await RedemptionLine(redemption=row.id, product=rice.id, quantity=quantity, unit_price=1250).save()
        redemptions.append(row.id)
    oil = Product(community=cid, name="食用油", price=2000, stock=0)
    await oil.save()
    await RedemptionLine(redemption=redemptions[1], product=oil.id, quantity=1, unit_price=2000).save()
    await Refund(community=cid, redemption=redemptions[1], keeper=shopkeeper.id, total=1250,
                 reason="质量问题", transfer_id=secrets.token_hex(8)).save()
    return {"wang": wang, "zhao": zhao, "clean": clean.id, "other": other.id, "redemptions": redemptions,
            "shopkeeper": shopkeeper.name}


# -- hand-computed rows -------------------------------------------------------------------------


async def test_attendance_rows_zh_and_period_edges(admin: Member, books: dict) -> None:
    for rows in await both(admin.client, "attendance", **APRIL):
        assert rows[0] == ["活动编号", "活动", "姓名", "签到时间", "签退时间", "时长（小时）", "积分",
                           "状态", "审核"]
        assert same_numbers(rows[1], [str(books["clean"]), "楼道清扫", "王大妈", "2025-04-01 00:00:00",
                                      "2025-04-01 01:30:00", "1.50", "20.00", "已签退", "无需审核"])
        assert same_numbers(rows[2], [str(books["other"]), "敬老院探访", "王大妈", "2025-04-04 00:00:00",
                                      "", "0.00", "5.00", "未签退", "无需审核"])
        assert same_numbers(rows[3], [str(books["other"]), "敬老院探访", "'=赵六", "2025-04-30 23:59:59",
                                      "", "", "2.00", "已签到", "未通过"])
        assert len(rows) == 4


async def test_attendance_organizer_sees_own_activities_only(organizer: Member, books: dict) -> None:
    rows = read_csv(await organizer.client.get("/api/exports/attendance.csv", params=APRIL))
    assert [row[1] for row in rows[1:]] == ["楼道清扫"]


async def test_hours_rows_count_what_service_hours_count(admin: Member, books: dict) -> None:
    for rows in await both(admin.client, "hours", **APRIL):
        assert rows[0] == ["编号", "姓名", "楼栋", "网格", "参与次数", "服务时长（小时）", "获得积分"]
        # 1.50 h; points 5 + 15 (checked out) + 5 (closed); the rejected stay and May's do not count.
        assert same_numbers(rows[1], [str(books["wang"]), "王大妈", "幸福里 3号楼", "第一网格", "2", "1.50",
                                      "25.00"])
        assert len(rows) == 2


async def test_stock_rows(shopkeeper: Member, books: dict) -> None:
    for rows in await both(shopkeeper.client, "stock", **APRIL):
        assert rows[0] == ["时间（北京时间）", "商品", "变动数量", "变动后库存", "类型", "捐赠人", "原因",
                           "关联单据"]
        assert rows[1:] == [
            ["2025-04-01 00:00:00", "大米", "5", "15", "捐赠", "爱心超市", "捐赠", ""],
            ["2025-04-30 23:59:59", "大米", "-8", "7", "盘点调整", "", "'-盘点损耗", ""],
        ]


async def test_redemption_rows(admin: Member, books: dict) -> None:
    number = books["redemptions"][1]
    for rows in await both(admin.client, "redemptions", **APRIL):
        assert rows[0] == ["小票号", "时间（北京时间）", "居民", "店员", "商品", "合计积分", "已退积分"]
        assert len(rows) == 2
        assert same_numbers(rows[1], [f"20250401-{number:06d}", "2025-04-01 00:00:00", "王大妈",
                                      books["shopkeeper"], "大米×2；食用油×1", "25.00", "12.50"])


async def test_one_day_period_is_that_beijing_day(admin: Member, books: dict) -> None:
    rows = read_csv(await admin.client.get(
        "/api/exports/stock.csv", params={"from": "2025-03-31", "to": "2025-03-31"}))
    assert [row[:3] for row in rows[1:]] == [["2025-03-31 23:59:59", "大米", "10"]]
    rows = read_csv(await admin.client.get(
        "/api/exports/stock.csv", params={"from": "2025-05-01", "to": "2025-05-01"}))
    assert [row[:3] for row in rows[1:]] == [["2025-05-01 00:00:00", "大米", "-1"]]


async def test_english_headers_by_header_or_query(admin: Member, books: dict) -> None:
    by_header = read_csv(await admin.client.get(
        "/api/exports/stock.csv", params=APRIL, headers={"Accept-Language": "en"}))
    by_query = read_xlsx(await admin.client.get("/api/exports/stock.xlsx", params={**APRIL, "lang": "en"}))
    header = ["Time (Beijing)", "Product", "Change", "Stock after", "Kind", "Donor", "Reason", "Reference"]
    assert by_header[0] == header and by_query[0] == header
    assert by_header[1][4] == "donation"


async def test_ledger_rows_today(admin: Member, resident: Member, ledger: Ledger) -> None:
    first = await adjust(admin, resident.id, "12.50", reason="扫雪")
    second = await adjust(admin, resident.id, "-2.25", reason="@更正")
    assert first.status_code == second.status_code == 201
    today = datetime.now(CHINA).date().isoformat()
    transfers = [await ledger.get(first.json()["id"]), await ledger.get(second.json()["id"])]
    wallet = f"居民 {resident.name}（#{resident.id}）"
    for rows in await both(admin.client, "ledger", **{"from": today, "to": today}):
        assert rows[0] == ["序号", "时间（北京时间）", "类型", "阶段", "转出账户", "转入账户", "积分", "摘要",
                           "关联单据", "哈希"]
        assert len(rows) == 3
        at = [t.at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S") for t in transfers]
        expected = [
            [str(transfers[0].seq), at[0], "人工调整", "记账", "社区积分发放", wallet, "12.50", "扫雪", "",
             transfers[0].hash],
            [str(transfers[1].seq), at[1], "人工调整", "记账", wallet, "社区积分发放", "2.25", "'@更正", "",
             transfers[1].hash],
        ]
        assert same_numbers(rows[1], expected[0]) and same_numbers(rows[2], expected[1])
    yesterday = (datetime.now(CHINA).date() - timedelta(days=1)).isoformat()
    rows = read_csv(await admin.client.get("/api/exports/ledger.csv",
                                           params={"from": yesterday, "to": yesterday}))
    assert rows[1:] == []


async def test_other_communities_rows_never_appear(enrol: Enrol, books: dict, ledger: Ledger) -> None:
    from market.community import service as communities

    away = await communities.get_or_create(ledger, f"邻居-{secrets.token_hex(6)}")
    stranger = await enrol("admin", community_id=away.id)
    for kind in ("attendance", "hours", "stock", "redemptions"):
        rows = read_csv(await stranger.client.get(f"/api/exports/{kind}.csv", params=APRIL))
        assert rows[1:] == [], kind


# -- the file, the guards, the refusals ---------------------------------------------------------


async def test_filename_is_chinese_with_an_ascii_fallback(admin: Member) -> None:
    response = await admin.client.get("/api/exports/ledger.xlsx", params=APRIL)
    disposition = response.headers["content-disposition"]
    assert disposition == (
        'attachment; filename="ledger_2025-04-01_2025-04-30.xlsx"; '
        f"filename*=UTF-8''{quote('积分流水_2025-04-01_2025-04-30.xlsx', safe='')}"
    )
    assert response.headers["cache-control"] == "no-store"
    assert read_xlsx(response)[1:] == []


@pytest.mark.parametrize(("role", "allowed"), [
    ("resident", set()),
    ("organizer", {"attendance"}),
    ("shopkeeper", {"redemptions", "stock"}),
    ("admin", {"ledger", "attendance", "redemptions", "stock", "hours"}),
])
async def test_who_may_take_which_export(enrol: Enrol, role: str, allowed: set[str]) -> None:
    member = await enrol(role)
    for kind in ("ledger", "attendance", "redemptions", "stock", "hours"):
        for fmt in ("csv", "xlsx"):
            response = await member.client.get(f"/api/exports/{kind}.{fmt}", params=APRIL)
            assert response.status_code == (200 if kind in allowed else 403), (kind, fmt)


async def test_anonymous_is_401(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/exports/ledger.csv")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("params", "reason", "zh", "en"), [
    ({"from": "2025-04-31", "to": "2025-05-01"}, "invalid_period_date", "日期格式不正确（from）",
     "Invalid date (from)"),
    ({"from": "2025/04/01"}, "invalid_period_date", "日期格式不正确", "Invalid date"),
    ({"to": "tomorrow"}, "invalid_period_date", "日期格式不正确（to）", "Invalid date (to)"),
    ({"from": "9999-12-31", "to": "9999-12-31"}, "invalid_period_date", "日期格式不正确（to）",
     "Invalid date (to)"),
    ({"from": "0001-01-01", "to": "0001-01-01"}, "invalid_period_date", "日期格式不正确（to）",
     "Invalid date (to)"),
    ({"from": "2025-05-02", "to": "2025-05-01"}, "period_reversed", "开始日期不能晚于结束日期",
     "The start date must not be after"),
    ({"from": "2024-01-01", "to": "2025-01-01"}, "period_too_long", "一次最多导出 366 天",
     "at most 366 days"),
])
async def test_bad_periods_are_400_problems(
    admin: Member, params: dict, reason: str, zh: str, en: str
) -> None:
    for fmt in ("csv", "xlsx"):
        response = await admin.client.get(f"/api/exports/ledger.{fmt}", params=params)
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["reason"] == reason
        assert zh in response.json()["detail"]
    english = await admin.client.get("/api/exports/ledger.csv", params=params,
                                      headers={"Accept-Language": "en"})
    assert en in english.json()["detail"]


async def test_a_leap_year_fits(admin: Member) -> None:
    # 2024-01-01 … 2024-12-31 is 366 days: allowed.
    response = await admin.client.get("/api/exports/stock.csv",
                                      params={"from": "2024-01-01", "to": "2024-12-31"})
    assert response.status_code == 200


async def test_unknown_export_or_format_is_404(admin: Member) -> None:
    for path in ("/api/exports/people.csv", "/api/exports/ledger.pdf", "/api/exports/ledger"):
        response = await admin.client.get(path)
        assert response.status_code == 404, path
        assert response.json()["reason"] == "not_found"


def test_period_bounds_are_beijing_midnights() -> None:
    period = exports.period_of("2025-04-01", "2025-04-30")
    assert (period.start, period.end) == (START, END)
    assert period.start_us == 1_743_436_800_000_000


async def test_the_xlsx_goes_out_page_by_page() -> None:
    asked: list[str] = []

    async def pages():
        for number, name in enumerate(("a", "b"), 1):
            asked.append(name)
            yield [(name, number)]

    received = []
    async for chunk in exports.xlsx_stream("表", ["x", "y"], pages()):
        received.append((chunk, list(asked)))
    # The workbook's start went out before any row was read, the first page before the second.
    assert received[0][1] == [] and received[1][1] == ["a"] and received[2][1] == ["a", "b"]
    assert received[0][0].startswith(b"PK")  # the zip's first parts, sent before any row was read
    book = openpyxl.load_workbook(io.BytesIO(b"".join(chunk for chunk, _ in received)), read_only=True)
    assert [list(row) for row in book.worksheets[0].iter_rows(values_only=True)] == [
        ["x", "y"], ["a", 1], ["b", 2]]
    book.close()


@pytest.mark.parametrize("kind", ["ledger", "attendance", "redemptions", "stock", "hours"])
async def test_pages_of_one_row_give_the_same_export(
    admin: Member, resident: Member, books: dict, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every export is read a page at a time; with pages of one row each the file is the same."""
    params = APRIL
    if kind == "ledger":  # the ledger stamps its own times: today's transfers
        for amount in ("3.00", "4.00", "-1.50"):
            assert (await adjust(admin, resident.id, amount)).status_code == 201
        today = datetime.now(CHINA).date().isoformat()
        params = {"from": today, "to": today}
    whole = read_csv(await admin.client.get(f"/api/exports/{kind}.csv", params=params))
    monkeypatch.setattr(export_queries, "PAGE_SIZE", 1)
    monkeypatch.setattr(export_queries, "LOOKUP_PAGE", 1)
    paged = read_csv(await admin.client.get(f"/api/exports/{kind}.csv", params=params))
    assert paged == whole
    # At least one row: with pages of one row, every export then asks for a next page.
    assert len(whole) >= 2
