"""Forms that report every error at once (issue 16): the product form and the activity form show
each mistake next to its field in one round and keep what was typed; the rates' bound on the
form; and the assisted check-in pages (search by name and room, confirm, the mark and the tally)
over plain HTTP."""

import re

import pytest
from litestar import Litestar

from market.db import fetch
from tests.market.support import Enrol, Member, balance
from tests.market.test_assisted_checkin import housed
from tests.web.support import browser, csrf_of, running_activity
from tests.web.test_organizer import activity_form, staff_sign_in
from tests.web.test_scanner import sign_in_staff


def error_of(html: str, field: str) -> str | None:
    found = re.search(rf'id="{field}-error"[^>]*>(.*?)</p>', html, re.S)
    return " ".join(found.group(1).split()) if found else None


# -- the product form --------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "price_text", "stock_text"), [
    ("zh", "价格须为大于 0 的积分数", "库存须为 0 到 1000000 之间的整数"),
    ("en", "The price must be more than 0 points", "The stock must be a whole number from 0 to 1000000"),
])
async def test_a_new_product_shows_every_error_in_one_round(
    app: Litestar, shopkeeper: Member, language: str, price_text: str, stock_text: str
) -> None:
    async with browser(app, language) as client:
        await sign_in_staff(client, shopkeeper)
        csrf = csrf_of((await client.get("/counter/products/new")).text)
        bad = await client.post("/counter/products/new", data={
            "csrf": csrf, "name": "", "category": "粮油", "price": "-3", "stock": "-10",
            "limit_per_person": "", "limit_period": "", "active": "1"})
        assert bad.status_code == 400, bad.text
        assert price_text in (error_of(bad.text, "price") or "")
        assert stock_text in (error_of(bad.text, "stock") or "")
        assert error_of(bad.text, "name") is not None
        # What was typed is still there, to correct.
        assert 'value="-3"' in bad.text and 'value="-10"' in bad.text and 'value="粮油"' in bad.text
        assert (await client.get("/api/products")).json()["items"] == []


async def test_a_product_edit_shows_every_error_in_one_round(app: Litestar, shopkeeper: Member) -> None:
    made = await shopkeeper.client.post("/api/products", json={"name": "大米", "price": "5", "stock": 3})
    product = made.json()
    async with browser(app) as client:
        await sign_in_staff(client, shopkeeper)
        page = await client.get(f"/counter/products/{product['id']}")
        csrf = csrf_of(page.text)
        bad = await client.post(f"/counter/products/{product['id']}", data={
            "csrf": csrf, "name": "大米" * 30, "category": "", "price": "-3",
            "limit_per_person": "0", "limit_period": "week", "active": "1"})
        assert bad.status_code == 400, bad.text
        assert error_of(bad.text, "name") and error_of(bad.text, "price")
        assert error_of(bad.text, "limit")  # the limit pair's one message
        assert 'value="-3"' in bad.text
    assert (await shopkeeper.client.get(f"/api/products/{product['id']}")).json()["price"] == "5.00"


# -- the activity form -------------------------------------------------------------------------


async def test_an_activity_form_shows_every_error_in_one_round(app: Litestar, organizer: Member) -> None:
    async with browser(app, "en") as client:
        await staff_sign_in(client, organizer)
        csrf = csrf_of((await client.get("/organizer/activities/new")).text)
        sent = activity_form(csrf, title="", points_per_checkin="-3", points_per_hour="99999999999",
                             capacity="0")
        bad = await client.post("/organizer/activities/new", data=sent)
        assert bad.status_code == 400, bad.text
        assert error_of(bad.text, "title") and error_of(bad.text, "capacity")
        assert "at least 0" in (error_of(bad.text, "points_per_checkin") or "")
        assert "at most 1000" in (error_of(bad.text, "points_per_hour") or "")
        assert 'value="99999999999"' in bad.text and 'value="-3"' in bad.text
        # The window's and a rate's mistakes together too.
        sent = activity_form(csrf, points_per_hour="1000.01")
        sent["ends_at"] = sent["starts_at"]
        both = await client.post("/organizer/activities/new", data=sent)
        assert both.status_code == 400
        assert error_of(both.text, "ends_at") and error_of(both.text, "points_per_hour")
        # The bound itself is fine.
        made = await client.post("/organizer/activities/new",
                                 data=activity_form(csrf, points_per_hour="1000"))
        assert made.status_code == 303, made.text
    listed = (await organizer.client.get("/api/activities")).json()["items"]
    assert [a["points_per_hour"] for a in listed] == ["1000.00"]


async def test_an_activity_edit_shows_every_error_and_changes_nothing(
    app: Litestar, organizer: Member
) -> None:
    async with browser(app) as client:
        await staff_sign_in(client, organizer)
        csrf = csrf_of((await client.get("/organizer/activities/new")).text)
        made = await client.post("/organizer/activities/new", data=activity_form(csrf))
        path = made.headers["location"].split("?")[0]
        bad = await client.post(path + "/edit", data=activity_form(
            csrf, title="", points_per_hour="5000", points_per_checkin="abc"))
        assert bad.status_code == 400
        for field in ("title", "points_per_hour", "points_per_checkin"):
            assert error_of(bad.text, field), field
        assert "不能超过 1000" in error_of(bad.text, "points_per_hour")
    activity = (await organizer.client.get("/api" + path.removeprefix("/organizer"))).json()
    assert activity["title"] == "社区义诊" and activity["points_per_hour"] == "10.00"


# -- assisted check-in pages -------------------------------------------------------------------


async def test_check_in_by_name_and_room_then_confirm(
    app: Litestar, organizer: Member, resident: Member, enrol: Enrol
) -> None:
    community_id = (await fetch("SELECT community FROM person WHERE id = {}", resident.id))[0]["community"]
    building = await housed(resident, community_id, "3号楼", "301")
    neighbour = await enrol("resident", name="李大爷")
    await housed(neighbour, community_id, "3号楼", "302")
    made = await running_activity(organizer, points_per_checkin="2")
    base = f"/organizer/activities/{made['id']}"
    async with browser(app) as client:
        await staff_sign_in(client, organizer)
        page = await client.get(base)
        assert 'id="assist-search"' in page.text and "按姓名和房号签到" in page.text
        assert 'id="assist-link"' in (await client.get(f"{base}/scan")).text
        assert 'id="assist-search"' in (await client.get(f"{base}/assist")).text
        found = await client.get(f"{base}/assist", params={"name": "李", "building": str(building),
                                                            "room": "301"})
        assert found.status_code == 200
        assert "李阿姨" in found.text and "李大爷" not in found.text
        assert resident.phone not in found.text and resident.phone[-4:] in found.text
        assert "幸福小区 3号楼 1单元 301" in found.text
        confirm = await client.get(f"{base}/assist", params={"person": resident.id, "direction": "in"})
        assert 'id="confirm"' in confirm.text and 'id="chosen-name">李阿姨<' in confirm.text
        # Nothing happened yet: the search and the confirm step are GETs.
        assert await balance(resident) == "0.00"
        csrf = csrf_of(confirm.text)
        forged = await client.post(f"{base}/assist", data={"csrf": "x", "person_id": resident.id})
        assert forged.status_code == 403 and await balance(resident) == "0.00"
        done = await client.post(f"{base}/assist", data={"csrf": csrf, "person_id": resident.id,
                                                         "direction": "in"})
        assert done.status_code == 303, done.text
        shown = await client.get(done.headers["location"])
        assert 'id="assisted-note"' in shown.text and "签到成功" in shown.text
        assert re.search(r'id="assisted-by">\s*<li><span>' + re.escape(organizer.name)
                         + r'</span> <b class="number-inline">1</b>', shown.text)
        assert "按姓名代登记 · " in shown.text
        twice = await client.post(f"{base}/assist", data={"csrf": csrf, "person_id": resident.id,
                                                          "direction": "in"})
        assert "已经签到过了" in (await client.get(twice.headers["location"])).text
        empty = await client.get(f"{base}/assist", params={"name": "", "room": "301"})
        assert empty.status_code == 400 and "请输入姓名" in empty.text
    assert await balance(resident) == "2.00"


async def test_the_assist_pages_are_guarded(app: Litestar, organizer: Member, resident: Member,
                                            enrol: Enrol) -> None:
    made = await running_activity(organizer)
    base = f"/organizer/activities/{made['id']}"
    other = await enrol("organizer")
    async with browser(app, "en") as client:
        await staff_sign_in(client, other)
        assert (await client.get(f"{base}/assist", params={"name": "李"})).status_code == 404
        csrf = csrf_of((await client.get("/organizer")).text)
        refused = await client.post(f"{base}/assist", data={"csrf": csrf, "person_id": resident.id})
        assert refused.status_code == 404
    async with browser(app) as client:
        assert (await client.get(f"{base}/assist")).status_code == 303  # sign in first
    assert await balance(resident) == "0.00"
