"""The exports page (/exports): renders in Chinese and English, offers each person only the exports
they may take, refuses a bad period on the page itself, and hands a good one to the API's file."""

import csv
import io

import httpx
from litestar import Litestar

from tests.market.support import Member
from tests.web.support import browser, csrf_of

MAX_PAGE_BYTES = 100 * 1024


async def staff_sign_in(client: httpx.AsyncClient, member: Member) -> None:
    form = await client.get("/signin", params={"next": "/exports"})
    response = await client.post("/signin", data={
        "csrf": csrf_of(form.text), "next": "/exports", "login": member.phone, "secret": member.password,
    })
    assert response.status_code == 303, response.text


async def test_page_in_chinese_and_english(app: Litestar, admin: Member) -> None:
    for language, words in (("zh", ["台账导出", "积分流水", "居民服务时长", "开始日期", "下载"]),
                            ("en", ["Exports for the books", "Ledger", "Stock movements", "From (first day)",
                                    "Download"])):
        async with browser(app, language) as client:
            await staff_sign_in(client, admin)
            response = await client.get("/exports")
            assert response.status_code == 200
            assert len(response.content) < MAX_PAGE_BYTES
            for word in words:
                assert word in response.text, (language, word)
            for kind in ("ledger", "attendance", "redemptions", "stock", "hours"):
                assert f'value="{kind}"' in response.text
            assert '<label for="from">' in response.text and '<label for="to">' in response.text


async def test_a_good_choice_goes_to_the_file(app: Litestar, admin: Member) -> None:
    async with browser(app) as client:
        await staff_sign_in(client, admin)
        response = await client.get("/exports", params={
            "kind": "stock", "format": "csv", "from": "2025-04-01", "to": "2025-04-30"})
        assert response.status_code == 303
        target = response.headers["location"]
        assert target == "/api/exports/stock.csv?from=2025-04-01&to=2025-04-30&lang=zh"
        file = await client.get(target)  # the session cookie is enough for a GET
        assert file.status_code == 200
        rows = list(csv.reader(io.StringIO(file.content.decode("utf-8-sig"))))
        assert rows == [["时间（北京时间）", "商品", "变动数量", "变动后库存", "类型", "捐赠人", "原因",
                         "关联单据"]]


async def test_english_reader_gets_english_headers(app: Litestar, admin: Member) -> None:
    async with browser(app, "en") as client:
        await staff_sign_in(client, admin)
        response = await client.get("/exports", params={
            "kind": "hours", "format": "xlsx", "from": "2025-01-01", "to": "2025-12-31"})
        assert response.headers["location"].endswith("lang=en")


async def test_a_bad_period_is_refused_on_the_page(app: Litestar, admin: Member) -> None:
    async with browser(app) as client:
        await staff_sign_in(client, admin)
        response = await client.get("/exports", params={
            "kind": "ledger", "format": "csv", "from": "2025-05-02", "to": "2025-05-01"})
        assert response.status_code == 400
        assert "开始日期不能晚于结束日期" in response.text
        assert 'value="2025-05-02"' in response.text  # what was typed stays
        response = await client.get("/exports", params={"kind": "ledger", "from": "2025-02-30"})
        assert response.status_code == 400 and "日期格式不正确" in response.text
        response = await client.get("/exports", params={"kind": "nothing"})
        assert response.status_code == 400 and "请选择要导出的台账" in response.text


async def test_each_role_sees_its_own_exports(app: Litestar, organizer: Member, shopkeeper: Member) -> None:
    for member, offered in ((organizer, {"attendance"}), (shopkeeper, {"redemptions", "stock"})):
        async with browser(app) as client:
            await staff_sign_in(client, member)
            page = await client.get("/exports")
            assert page.status_code == 200
            shown = {kind for kind in ("ledger", "attendance", "redemptions", "stock", "hours")
                     if f'value="{kind}"' in page.text}
            assert shown == offered
            # One not offered is refused on the page, never handed on.
            response = await client.get("/exports", params={"kind": "ledger", "format": "csv"})
            assert response.status_code == 400


async def test_residents_and_strangers(app: Litestar, resident: Member) -> None:
    async with browser(app) as client:
        response = await client.get("/exports")
        assert response.status_code == 303 and response.headers["location"].startswith("/signin")
        form = await client.get("/signin", params={"next": "/exports"})
        await client.post("/signin", data={"csrf": csrf_of(form.text), "next": "/exports",
                                           "login": resident.phone, "secret": resident.pin})
        response = await client.get("/exports")
        assert response.status_code == 403
