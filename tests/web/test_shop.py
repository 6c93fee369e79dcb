"""The resident's shop pages and activities near me over plain HTTP: the catalogue, reserving,
my orders and cancelling, the role and community guards, CSRF, refusals with the input kept."""

import io
import re
import secrets
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from litestar import Litestar
from PIL import Image

from ledger import Ledger
from market.community import service as communities
from tests.market.support import Enrol, Member, adjust
from tests.web.support import browser, code_url, csrf_of, path_of, running_activity, sign_in

MAX_PAGE_BYTES = 100 * 1024
KEY_FIELD = re.compile(r'name="key" value="([^"]+)"')


async def make_product(keeper: Member, **fields: object) -> dict:
    data = {"name": f"大米-{secrets.token_hex(3)}", "price": "12.50", "stock": 5, "category": "粮油"} | fields
    response = await keeper.client.post("/api/products", json=data)
    assert response.status_code == 201, response.text
    return response.json()


def small_photo() -> bytes:
    """A real little JPEG: a red packet on a white shelf."""
    picture = Image.new("RGB", (320, 240), "white")
    picture.paste((200, 30, 30), (80, 40, 240, 200))
    out = io.BytesIO()
    picture.save(out, "JPEG")
    return out.getvalue()


async def with_photo(keeper: Member, product: dict) -> dict:
    response = await keeper.client.put(
        f"/api/products/{product['id']}/photo", files={"file": ("rice.jpg", small_photo(), "image/jpeg")}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def points_of(member: Member) -> dict:
    response = await member.client.get("/api/me/balance")
    assert response.status_code == 200, response.text
    return response.json()


async def stock_of(keeper: Member, product_id: int) -> int:
    response = await keeper.client.get(f"/api/products/{product_id}")
    assert response.status_code == 200, response.text
    return response.json()["stock"]


async def reserve(client: httpx.AsyncClient, product_id: int, quantity: object,
                  key: str | None = None) -> httpx.Response:
    """Open the product page and send its form, as a browser does (its own key unless given)."""
    form = (await client.get(f"/shop/{product_id}")).text
    return await client.post(f"/shop/{product_id}", data={
        "csrf": csrf_of(form), "key": key or KEY_FIELD.search(form).group(1), "quantity": str(quantity),
    })


async def staff_sign_in(client: httpx.AsyncClient, member: Member) -> None:
    form = await client.get("/signin")
    response = await client.post("/signin", data={
        "csrf": csrf_of(form.text), "login": member.phone, "secret": member.password,
    })
    assert response.status_code == 303, response.text


async def test_signed_out_pages_send_to_sign_in(app: Litestar) -> None:
    async with browser(app) as client:
        for path in ("/shop", "/shop/1", "/orders", "/orders/1/cancel", "/activities"):
            response = await client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == f"/signin?next={path}"


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_every_shop_page_renders(
    app: Litestar, admin: Member, shopkeeper: Member, organizer: Member, resident: Member, language: str,
) -> None:
    await adjust(admin, resident.id, "40")
    rice = await with_photo(shopkeeper, await make_product(
        shopkeeper, name="东北大米", limit_per_person=2, limit_period="week"))
    await make_product(shopkeeper, name="洗衣液", category="日用品", price="8", stock=0)
    await running_activity(organizer, title="楼道清扫")
    zh = language == "zh"
    async with browser(app, language) as client:
        await sign_in(client, resident)
        assert (await reserve(client, rice["id"], 1)).status_code == 303
        pages = {}
        for path in ("/shop", f"/shop/{rice['id']}", "/orders", "/activities"):
            response = await client.get(path)
            assert response.status_code == 200, (path, response.text)
            assert f'lang="{"zh-CN" if zh else "en"}"' in response.text
            assert response.headers["cache-control"] == "no-store"
            pages[path] = response.text
            size = len(response.content)
            for static in re.findall(r'(?:src|href)="(/static/[^"]+)"', response.text):
                size += len((await client.get(static)).content)
            assert size < MAX_PAGE_BYTES, (path, size)
            assert not re.search(r'(?:src|href|action)="(?:https?:)?//', response.text)
        # The photos the pages show are served to the resident's browser (by the session cookie).
        for url in (rice["thumb_url"], rice["photo_url"]):
            picture = await client.get(url)
            assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    catalogue, product, orders, activities = pages.values()
    assert 'id="available">27.5<' in catalogue  # 40 less the 12.50 held
    assert f'src="{rice["thumb_url"]}"'.replace("&", "&amp;") in catalogue
    assert "东北大米" in catalogue and "洗衣液" in catalogue and "日用品" in catalogue
    assert ("已售完" if zh else "Sold out") in catalogue
    assert ("每人每周限 2 件" if zh else "Limit 2 per person a week") in catalogue
    assert ("您还可兑 1 件" if zh else "1 left for me") in catalogue  # one is reserved already
    assert f'src="{rice["photo_url"]}"'.replace("&", "&amp;") in product
    assert ("12.5 积分" if zh else "12.5 points") in product and 'name="quantity"' in product
    assert ("待领取" if zh else "To collect") in orders and "东北大米 × 1" in orders
    assert "楼道清扫" in activities and ("集体劳动" if zh else "Collective labour") in activities
    assert ("签到得 5 积分" if zh else "5 for checking in") in activities


async def test_catalogue_filters_by_kind_of_goods(
    app: Litestar, shopkeeper: Member, resident: Member
) -> None:
    await make_product(shopkeeper, name="菜籽油", category="粮油")
    await make_product(shopkeeper, name="牙膏", category="日用品")
    async with browser(app) as client:
        await sign_in(client, resident)
        everything = (await client.get("/shop")).text
        daily = (await client.get("/shop", params={"category": "日用品"})).text
        stale = (await client.get("/shop", params={"category": "不存在的分类"})).text
    assert "菜籽油" in everything and "牙膏" in everything
    assert "牙膏" in daily and "菜籽油" not in daily
    assert 'href="/shop?category=%E6%97%A5%E7%94%A8%E5%93%81" aria-current="page"' in daily
    assert "菜籽油" in stale and "牙膏" in stale


async def test_staff_without_the_resident_role_get_the_403_page(
    app: Litestar, shopkeeper: Member
) -> None:
    product = await make_product(shopkeeper)
    async with browser(app, "en") as client:
        await staff_sign_in(client, shopkeeper)
        csrf = csrf_of((await client.get("/")).text)
        for path in ("/shop", f"/shop/{product['id']}", "/orders", "/activities", "/orders/1/cancel"):
            response = await client.get(path)
            assert response.status_code == 403, path
            assert response.headers["content-type"].startswith("text/html")
            assert "You are not allowed to do this" in response.text
        refused = await client.post(f"/shop/{product['id']}",
                                    data={"csrf": csrf, "key": "k1", "quantity": "1"})
        assert refused.status_code == 403
    assert await stock_of(shopkeeper, product["id"]) == 5


async def test_another_communitys_product_is_not_found(
    app: Litestar, ledger: Ledger, enrol: Enrol, resident: Member, admin: Member
) -> None:
    await adjust(admin, resident.id, "100")
    elsewhere = await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(4)}")
    keeper = await enrol("shopkeeper", community_id=elsewhere.id)
    theirs = await make_product(keeper, name="别处的香油")
    async with browser(app) as client:
        await sign_in(client, resident)
        csrf = csrf_of((await client.get("/shop")).text)
        assert "别处的香油" not in (await client.get("/shop")).text
        response = await client.get(f"/shop/{theirs['id']}")
        assert response.status_code == 404 and "找不到该内容" in response.text
        posted = await client.post(f"/shop/{theirs['id']}", data={
            "csrf": csrf, "key": "web-elsewhere", "quantity": "1"})
        assert posted.status_code == 409 and "该商品不存在或已下架" in posted.text
    assert await stock_of(keeper, theirs["id"]) == 5
    assert (await points_of(resident))["held"] == "0.00"


async def test_an_inactive_product_is_not_listed(app: Litestar, shopkeeper: Member, resident: Member) -> None:
    gone = await make_product(shopkeeper, name="下架的酱油")
    kept = await make_product(shopkeeper, name="在售的醋")
    async with browser(app) as client:
        await sign_in(client, resident)
        form = (await client.get(f"/shop/{gone['id']}")).text
        changed = await shopkeeper.client.patch(f"/api/products/{gone['id']}", json={"active": False})
        assert changed.status_code == 200, changed.text
        listed = (await client.get("/shop")).text
        assert "在售的醋" in listed and "下架的酱油" not in listed
        assert (await client.get(f"/shop/{gone['id']}")).status_code == 404
        # A form opened before it was taken off sale: refused, and the way back is offered.
        late = await client.post(f"/shop/{gone['id']}", data={
            "csrf": csrf_of(form), "key": KEY_FIELD.search(form).group(1), "quantity": "2"})
        assert late.status_code == 409 and 'data-reason="product_unavailable"' in late.text
        assert 'href="/shop"' in late.text
    assert kept["id"] != gone["id"]


async def test_reserving_holds_points_and_sets_the_goods_aside(
    app: Litestar, admin: Member, shopkeeper: Member, resident: Member
) -> None:
    await adjust(admin, resident.id, "50")
    oil = await make_product(shopkeeper, name="花生油", price="12.50", stock=5)
    async with browser(app) as client:
        await sign_in(client, resident)
        done = await reserve(client, oil["id"], "２")  # full-width digits from a Chinese keyboard
        assert done.status_code == 303, done.text
        target = done.headers["location"]
        assert re.fullmatch(r"/orders\?new=(\d+)#order-\1", target)
        order_id = int(target.split("=")[1].split("#")[0])
        listed = await client.get(target.split("#")[0])
    wallet = await points_of(resident)
    assert (wallet["balance"], wallet["held"], wallet["available"]) == ("50.00", "25.00", "25.00")
    assert await stock_of(shopkeeper, oil["id"]) == 3
    orders = (await resident.client.get("/api/orders")).json()["items"]
    assert [(o["id"], o["status"], o["total"]) for o in orders] == [(order_id, "reserved", "25.00")]
    html = listed.text
    assert 'id="reserved"' in html and "预约成功" in html
    assert f'class="card order new" id="order-{order_id}"' in html
    assert "花生油 × 2" in html and ">25<" in html and 'id="held">25<' in html
    assert f'href="/orders/{order_id}/cancel"' in html


async def test_the_same_form_sent_twice_reserves_once(
    app: Litestar, admin: Member, shopkeeper: Member, resident: Member
) -> None:
    await adjust(admin, resident.id, "50")
    soap = await make_product(shopkeeper, name="香皂", price="3")
    async with browser(app) as client:
        await sign_in(client, resident)
        form = (await client.get(f"/shop/{soap['id']}")).text
        sent = {"csrf": csrf_of(form), "key": KEY_FIELD.search(form).group(1), "quantity": "1"}
        first = await client.post(f"/shop/{soap['id']}", data=sent)
        second = await client.post(f"/shop/{soap['id']}", data=sent)
        assert first.status_code == second.status_code == 303
        assert first.headers["location"] == second.headers["location"]
        # The back button, then another quantity with the same form: nothing reserved, a fresh key.
        changed = await client.post(f"/shop/{soap['id']}", data=sent | {"quantity": "2"})
        assert changed.status_code == 422 and "这张表单已经预约过了" in changed.text
        assert 'value="2"' in changed.text and KEY_FIELD.search(changed.text).group(1) != sent["key"]
        # A new page load gives a new key: a second reservation on purpose is one more order.
        assert (await reserve(client, soap["id"], 1)).status_code == 303
    assert len((await resident.client.get("/api/orders")).json()["items"]) == 2
    assert await stock_of(shopkeeper, soap["id"]) == 3
    assert (await points_of(resident))["held"] == "6.00"


@pytest.mark.parametrize(("language", "texts"), [
    ("zh", {"stock": "库存不足：该商品只剩 3 件", "points": "积分不足",
            "quantity": "每种商品的数量须为 1–99 件", "limit": "每人限兑 2 件",
            "earned": "需要先参加社区活动"}),
    ("en", {"stock": "Not enough stock: only 3 left", "points": "Not enough points",
            "quantity": "Each quantity must be 1–99", "limit": "limited to 2 per person",
            "earned": "You can redeem once you have earned 100.00 points"}),
])
async def test_refusals_are_shown_with_the_quantity_kept(
    app: Litestar, admin: Member, shopkeeper: Member, resident: Member, language: str, texts: dict,
) -> None:
    await adjust(admin, resident.id, "20")
    tea = await make_product(shopkeeper, name="茶叶", price="5", stock=3)
    towel = await make_product(shopkeeper, name="毛巾", price="1", stock=50, limit_per_person=2,
                               limit_period="month")
    cooker = await make_product(shopkeeper, name="电饭煲", price="30")
    cases = (
        (tea, "7", "out_of_stock", texts["stock"]),
        (cooker, "1", "insufficient_points", texts["points"]),
        (tea, "0", None, texts["quantity"]),
        (tea, "两个", None, texts["quantity"]),
        (towel, "3", "limit_exceeded", texts["limit"]),
    )
    async with browser(app, language) as client:
        await sign_in(client, resident)
        for product, quantity, reason, text in cases:
            response = await reserve(client, product["id"], quantity)
            assert response.status_code in (400, 409), (quantity, response.text)
            assert 'role="alert"' in response.text and text in response.text, (quantity, text)
            assert 'name="quantity" type="number"' in response.text
            assert f'value="{quantity}"' in response.text, quantity
            if reason:
                assert f'data-reason="{reason}"' in response.text
        # The community's minimum: a resident must first earn points at activities.
        rules = await admin.client.put("/api/shop/rules", json={
            "open_days": [1, 2, 3, 4, 5, 6, 7], "opens_at": "00:00", "closes_at": "24:00",
            "min_earned": "100",
        })
        assert rules.status_code == 200, rules.text
        response = await reserve(client, tea["id"], 2)
        assert response.status_code == 409 and texts["earned"] in response.text
        assert 'value="2"' in response.text
    assert (await points_of(resident))["held"] == "0.00"
    assert await stock_of(shopkeeper, tea["id"]) == 3
    assert (await resident.client.get("/api/orders")).json()["items"] == []


async def test_reserving_needs_the_csrf_token(
    app: Litestar, admin: Member, shopkeeper: Member, resident: Member
) -> None:
    await adjust(admin, resident.id, "50")
    rice = await make_product(shopkeeper)
    async with browser(app, "en") as client:
        await sign_in(client, resident)
        form = (await client.get(f"/shop/{rice['id']}")).text
        key = KEY_FIELD.search(form).group(1)
        for token in (None, "forged-" + secrets.token_hex(8)):
            sent = {"key": key, "quantity": "3"} | ({"csrf": token} if token else {})
            response = await client.post(f"/shop/{rice['id']}", data=sent)
            assert response.status_code == 403 and "reload the page" in response.text
            assert 'value="3"' in response.text
        crossed = await client.post(f"/shop/{rice['id']}", data={
            "csrf": csrf_of(form), "key": key, "quantity": "1"}, headers={"Sec-Fetch-Site": "cross-site"})
        assert crossed.status_code == 403
    assert (await points_of(resident))["held"] == "0.00"
    assert await stock_of(shopkeeper, rice["id"]) == 5


async def test_cancelling_releases_the_hold_and_the_goods(
    app: Litestar, admin: Member, shopkeeper: Member, resident: Member
) -> None:
    await adjust(admin, resident.id, "30")
    flour = await make_product(shopkeeper, name="面粉", price="7.25", stock=4)
    async with browser(app) as client:
        await sign_in(client, resident)
        done = await reserve(client, flour["id"], 2)
        order_id = int(done.headers["location"].split("=")[1].split("#")[0])
        assert (await points_of(resident))["held"] == "14.50"
        confirm = await client.get(f"/orders/{order_id}/cancel")
        assert confirm.status_code == 200
        assert "要取消这个预约吗" in confirm.text and "14.5 积分将退回给您" in confirm.text
        refused = await client.post(f"/orders/{order_id}/cancel", data={})
        assert refused.status_code == 403
        assert (await points_of(resident))["held"] == "14.50"
        cancelled = await client.post(f"/orders/{order_id}/cancel", data={"csrf": csrf_of(confirm.text)})
        assert cancelled.status_code == 303
        assert cancelled.headers["location"] == f"/orders?cancelled={order_id}"
        listed = (await client.get(cancelled.headers["location"])).text
        # Cancelled already: the confirmation page sends back to the list; a second POST says why.
        again = await client.get(f"/orders/{order_id}/cancel")
        assert again.status_code == 303 and again.headers["location"] == "/orders"
        twice = await client.post(f"/orders/{order_id}/cancel", data={"csrf": csrf_of(confirm.text)})
        assert twice.status_code == 409 and "这个预订已经处理过了" in twice.text
    wallet = await points_of(resident)
    assert (wallet["balance"], wallet["held"], wallet["available"]) == ("30.00", "0.00", "30.00")
    assert await stock_of(shopkeeper, flour["id"]) == 4
    assert 'id="cancelled"' in listed and "预约已取消" in listed
    assert f'id="order-{order_id}" data-status="cancelled"' in listed and "已取消" in listed
    assert "没有待领取的预约" in listed


async def test_only_my_own_orders_even_when_i_keep_the_shop(
    app: Litestar, admin: Member, enrol: Enrol, shopkeeper: Member
) -> None:
    both = await enrol("resident", "shopkeeper", name="钱店长")
    neighbour = await enrol("resident", name="周奶奶")
    for person in (both, neighbour):
        await adjust(admin, person.id, "20")
    candy = await make_product(shopkeeper, name="红糖", price="2")
    placed = await neighbour.client.post("/api/orders", json={"items": [{"product_id": candy["id"],
                                                                         "quantity": 1}]})
    assert placed.status_code == 201, placed.text
    theirs = placed.json()["id"]
    async with browser(app) as client:
        await staff_sign_in(client, both)
        csrf = csrf_of((await client.get("/shop")).text)
        listed = (await client.get("/orders")).text
        assert f'id="order-{theirs}"' not in listed and "没有待领取的预约" in listed
        assert (await client.get(f"/orders/{theirs}/cancel")).status_code == 404
        assert (await client.post(f"/orders/{theirs}/cancel", data={"csrf": csrf})).status_code == 404
    assert (await neighbour.client.get(f"/api/orders/{theirs}")).json()["status"] == "reserved"


async def test_activities_near_me(
    app: Litestar, ledger: Ledger, admin: Member, organizer: Member, resident: Member, enrol: Enrol
) -> None:
    later = datetime.now(UTC) + timedelta(days=2)
    now_on = await running_activity(organizer, title="楼道清扫", capacity=20, max_hours="2")
    await running_activity(organizer, title="读书会", category="self_governance", points_per_hour="0",
                           starts_at=later.isoformat(), ends_at=(later + timedelta(hours=1)).isoformat())
    over = await running_activity(organizer, title="已经结束的义诊",
                                  starts_at=(later - timedelta(days=10)).isoformat(),
                                  ends_at=(later - timedelta(days=10) + timedelta(hours=1)).isoformat())
    team = await admin.client.post("/api/teams", json={"name": "巡逻队"})
    assert team.status_code == 201, team.text
    await running_activity(organizer, title="巡逻队内部活动", team_id=team.json()["id"])
    called_off = await running_activity(organizer, title="取消的活动")
    assert (await organizer.client.post(f"/api/activities/{called_off['id']}/cancel",
                                        json={"reason": "下雨"})).status_code in (200, 201)
    elsewhere = await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(4)}")
    other_organizer = await enrol("organizer", community_id=elsewhere.id)
    await running_activity(other_organizer, title="别的社区的活动")
    neighbour = await enrol("resident", name="吴大爷")
    for person in (neighbour, resident):
        async with browser(app) as client:
            await sign_in(client, person)
            path = path_of(await code_url(organizer, now_on["id"]))
            checked = await client.post(path, data={"csrf": csrf_of((await client.get(path)).text),
                                                    "direction": "in"})
            assert checked.status_code == 200, checked.text
    async with browser(app) as client:
        await sign_in(client, resident)
        html = (await client.get("/activities")).text
    now_part, _, rest = html.partition("即将开始")
    coming, _, mine = rest.partition("我参加过的活动")
    assert "楼道清扫" in now_part and "读书会" in coming
    assert "2 人（限 20 人）" in now_part and "您已签到" in now_part
    assert "每小时 10 积分<br>最多计 2.00 小时" in now_part
    assert "社区自治" in coming and "每小时" not in coming
    for hidden in ("已经结束的义诊", "巡逻队内部活动", "取消的活动", "别的社区的活动"):
        assert hidden not in now_part + coming, hidden
    assert "楼道清扫" in mine and "+5<" in mine and "离开时请再扫码签退" in mine
    assert over["id"] != now_on["id"]
