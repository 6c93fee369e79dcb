"""Dashboards against the hand-computed numbers of ``tests/market/board_data.py`` (2025), and the
shop's goods and turnover from redemptions made now through the API (this month)."""

import secrets

import pytest

from ledger import Ledger
from market.reports import charts
from market.reports.board_period import today
from tests.market.board_data import BoardData, build
from tests.market.support import Enrol, Member


@pytest.fixture
async def data(enrol: Enrol, ledger: Ledger, community) -> BoardData:
    return await build(enrol, ledger, community.id)


async def dashboard(member: Member, part: str, **params: str) -> dict:
    response = await member.client.get(f"/api/dashboards/{part}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def staff(enrol: Enrol, data: BoardData) -> Member:
    return await enrol("organizer", community_id=data.community_id, name="周干事")


async def test_activities_by_category_and_month(staff: Member) -> None:
    response = await staff.client.get("/api/dashboards/activities", params={"period": "year", "at": "2025"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["months"] == [f"2025-{m:02d}" for m in range(1, 13)]
    held = {(r["month"], r["category"]): (r["activities"], r["participants"], r["hours"])
            for r in body["rows"] if r["activities"]}
    # A4 was cancelled; A3 starts at 00:30 on Dec 1 Beijing (still Nov 30 in UTC); the stay
    # awaiting approval is a participant without hours; 李四's hours count with A2 in November.
    assert held == {
        ("2025-11", "volunteer_service"): (1, 3, "3.50"),
        ("2025-11", "collective_labour"): (1, 1, "1.00"),
        ("2025-12", "self_governance"): (1, 1, "0.00"),
    }
    assert (body["activities"], body["participants"], body["hours"]) == (3, 5, "4.50")
    assert len(body["rows"]) == 36


async def test_points_issued_redeemed_and_outstanding(staff: Member) -> None:
    body = (await staff.client.get("/api/dashboards/points", params={"period": "year", "at": "2025"})).json()
    months = {m["month"]: (m["issued"], m["redeemed"], m["outstanding"]) for m in body["months"]}
    # November: 165.00 issued (credits 70.00 and 赵六's 5.00 reversed, plus the 100.00
    # adjustment: issued, though not earned), 10.00 redeemed; December: 8.00.
    assert months["2025-10"] == ("0.00", "0.00", "0.00")
    assert months["2025-11"] == ("165.00", "10.00", "155.00")
    assert months["2025-12"] == ("8.00", "0.00", "163.00")
    assert (body["issued"], body["redeemed"], body["outstanding"]) == ("173.00", "10.00", "163.00")
    november = (await staff.client.get("/api/dashboards/points",
                                       params={"period": "month", "at": "2025-11"})).json()
    assert [m["month"] for m in november["months"]] == ["2025-11"]
    assert november["issued"] == "165.00"


async def _product(keeper: Member, name: str, price: str, stock: int) -> int:
    response = await keeper.client.post("/api/products", json={"name": name, "price": price, "stock": stock})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _redeem(keeper: Member, resident: Member, items: list[tuple[int, int]]) -> dict:
    code = (await resident.client.get("/api/me/code")).json()["code"]
    response = await keeper.client.post(
        "/api/redemptions", headers={"Idempotency-Key": secrets.token_hex(8)},
        json={"member_code": code, "items": [{"product_id": p, "quantity": q} for p, q in items]},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_most_redeemed_goods_and_stock_turnover(
    enrol: Enrol, data: BoardData, staff: Member, ledger: Ledger
) -> None:
    keeper = await enrol("shopkeeper", community_id=data.community_id, name="孙店员")
    rice = await _product(keeper, f"大米{secrets.token_hex(2)}", "2.00", 10)
    oil = await _product(keeper, f"食用油{secrets.token_hex(2)}", "3.00", 5)
    made = await _redeem(keeper, data.people["张三明"], [(rice, 3), (oil, 1)])
    back = {"reason": "多拿了", "items": [{"product_id": rice, "quantity": 1}]}
    refund = await keeper.client.post(f"/api/redemptions/{made['id']}/refund", json=back)
    assert refund.status_code == 201, refund.text
    await _redeem(keeper, data.people["李四"], [(oil, 1)])
    now = today()
    month = f"{now.year}-{now.month:02d}"
    body = (await staff.client.get("/api/dashboards/shop", params={"period": "month", "at": month})).json()
    # Both went out twice (3 − 1 rice, 1 + 1 oil); the oil earned more points, so it leads.
    assert [(g["product_id"], g["quantity"], g["points"]) for g in body["top"]] == [
        (oil, 2, "6.00"), (rice, 2, "4.00"),
    ]
    turnover = {t["product_id"]: (t["opening_stock"], t["closing_stock"], t["redeemed"], t["turnover"])
                for t in body["turnover"]}
    # Created this month: no stock at its start; 2 out over an average stock of (0 + 8) / 2 → 0.50,
    # and of (0 + 3) / 2 → 1.33.
    assert turnover == {rice: (0, 8, 2, "0.50"), oil: (0, 3, 2, "1.33")}
    points = await dashboard(staff, "points", period="month", at=month)
    assert (points["redeemed"], points["outstanding"]) == ("10.00", "153.00")
    last_year = await dashboard(staff, "points", period="year", at="2025")
    assert {m["month"]: m["outstanding"] for m in last_year["months"]}["2025-11"] == "155.00"
    assert (await ledger.verify(data.community_id)).ok


async def test_dashboards_are_for_organizers_and_admins(data: BoardData, enrol: Enrol, anon) -> None:
    resident = data.people["王五"]
    admin = await enrol("admin", community_id=data.community_id, name="管理员")
    for part in ("activities", "points", "shop"):
        assert (await resident.client.get(f"/api/dashboards/{part}")).status_code == 403
        assert (await anon.get(f"/api/dashboards/{part}")).status_code == 401
        assert (await admin.client.get(f"/api/dashboards/{part}")).status_code == 200


@pytest.mark.parametrize("params", [{"period": "fortnight"}, {"period": "quarter", "at": "2025-11"}])
async def test_a_bad_period_is_a_400_problem(staff: Member, params: dict) -> None:
    response = await staff.client.get("/api/dashboards/points", params=params)
    assert response.status_code == 400 and response.json()["reason"] == "invalid_period"


async def test_another_communitys_numbers_are_not_shown(data: BoardData, enrol: Enrol, ledger) -> None:
    from market.community import service as communities

    other = await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(3)}")
    outsider = await enrol("organizer", community_id=other.id)
    body = await dashboard(outsider, "points", period="year", at="2025")
    assert (body["issued"], body["outstanding"]) == ("0.00", "0.00")


def test_charts_are_accessible_svg_with_exact_numbers() -> None:
    svg = charts.bar_chart("c1", "活动场次", "2025年各月", ["01", "02"], [("自治", [1, 3]), ("志愿", [0, 2])])
    assert svg.startswith("<svg") and 'role="img"' in svg and "<title id=\"c1-t\">活动场次</title>" in svg
    assert "<desc id=\"c1-d\">2025年各月</desc>" in svg and svg.count("<rect") == 4 + 2
    line = charts.line_chart("c2", "积分", "d", ["11", "12"], [("发放", [16500, 800])], scale=100)
    assert "165.00" in line and "8.00" in line
    bars = charts.hbar_chart("c3", "<商品>", "d", [("大米", 2)])
    assert "&lt;商品&gt;" in bars
    assert [charts.nice_top(n) for n in (0, 1, 3, 7, 12, 16500)] == [1, 1, 5, 10, 20, 20000]
