"""The honour-board and dashboard pages over HTTP: Chinese and English, masked in public, the
reader's own row marked, organizers only for dashboards, a bad period explained, each < 100 KB."""

import contextlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from ledger import Ledger
from tests.market.board_data import BoardData, build
from tests.market.support import Enrol, Member
from tests.web.support import browser, csrf_of

LIMIT = 100_000


@pytest.fixture
async def data(enrol: Enrol, ledger: Ledger, community) -> BoardData:
    return await build(enrol, ledger, community.id)


@contextlib.asynccontextmanager
async def signed_in(app: Litestar, member: Member, language: str | None = None
                    ) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app, language) as client:
        form = await client.get("/signin")
        response = await client.post("/signin", data={
            "csrf": csrf_of(form.text), "next": "/", "login": member.phone,
            "secret": member.password or member.pin,
        })
        assert response.status_code == 303, response.text
        yield client


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_a_resident_sees_the_full_board_with_their_own_row(app: Litestar, data: BoardData) -> None:
    async with signed_in(app, data.people["李四"]) as client:
        response = await client.get("/boards", params={"period": "month", "at": "2025-11"})
        assert response.status_code == 200, response.text
        html = response.text
        assert len(response.content) < LIMIT
        assert "红榜" in html and "2025年11月" in html and "获得积分" in html and "服务时长" in html
        board = html.split('id="board-residents-points"')[1].split("</section>")[0]
        assert text_of(board).count("张三明") == 1 and "25.00" in board and "王五" in board
        mine = re.findall(r'<tr class="me"[^>]*>(.*?)</tr>', board, re.S)
        assert len(mine) == 1 and "李四" in mine[0] and "20.00" in mine[0]
        assert "第 2 名" in html.split('id="my-rank"')[1].split("</dl>")[0]


async def test_the_public_board_is_masked_in_chinese_and_english(
    app: Litestar, anon: httpx.AsyncClient, data: BoardData
) -> None:
    params = {"community": data.community_id, "period": "quarter", "at": "2025-Q4"}
    response = await anon.get("/public/boards", params=params)
    assert response.status_code == 200 and len(response.content) < LIMIT
    html = response.text
    assert "张*明" in html and "欧**明" in html and "李*" in html
    for name, member in data.people.items():
        assert name not in html and member.phone not in html
    assert 'class="me"' not in html and "隐私" in html
    async with browser(app, "en") as client:
        english = await client.get("/public/boards", params=params)
        assert english.status_code == 200
        assert "Honour boards" in english.text and "Points earned" in english.text and "张*明" in english.text
        assert "Q4 2025" in english.text


async def test_a_bad_period_gets_a_friendly_400_page(app: Litestar, anon, data: BoardData) -> None:
    response = await anon.get("/public/boards", params={"community": data.community_id, "period": "week"})
    assert response.status_code == 400 and "统计周期无效" in response.text
    async with signed_in(app, data.people["王五"], "en") as client:
        bad = await client.get("/boards", params={"period": "month", "at": "2025-13"})
        assert bad.status_code == 400 and "Invalid period" in bad.text


async def test_an_unknown_community_has_no_public_board(anon: httpx.AsyncClient) -> None:
    for community in ("999999999", "abc"):
        assert (await anon.get("/public/boards", params={"community": community})).status_code == 404


async def test_strangers_are_sent_to_sign_in(anon: httpx.AsyncClient) -> None:
    for path in ("/boards", "/dashboards"):
        response = await anon.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/signin")


async def test_dashboards_page_draws_charts_with_their_numbers(
    app: Litestar, enrol: Enrol, data: BoardData
) -> None:
    organizer = await enrol("organizer", community_id=data.community_id, name="周干事")
    for language, words in (("zh", ("数据看板", "发放积分", "志愿服务", "图表数据")),
                            ("en", ("Dashboards", "Points issued", "Volunteer service", "The numbers"))):
        async with signed_in(app, organizer, language) as client:
            response = await client.get("/dashboards", params={"period": "year", "at": "2025"})
            assert response.status_code == 200, response.text
            html = response.text
            assert len(response.content) < LIMIT
            for word in words:
                assert word in html, word
            assert html.count('role="img"') == 4 and html.count("<desc id=") == 4  # no goods in 2025
            points = html.split('id="table-points"')[1].split("</table>")[0]
            assert re.search(r"2025-11</th><td class=\"n\">165.00</td><td class=\"n\">10.00</td>"
                             r"<td class=\"n\">155.00</td>", points)
            hours = html.split('id="table-hours"')[1].split("</table>")[0]
            assert "3.50" in hours and "1.00" in hours


async def test_a_resident_gets_the_403_page_for_dashboards(app: Litestar, data: BoardData) -> None:
    async with signed_in(app, data.people["王五"]) as client:
        assert (await client.get("/dashboards")).status_code == 403
