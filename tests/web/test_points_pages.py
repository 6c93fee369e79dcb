"""The points rules' pages over plain HTTP: the policy form's refusals (input kept, the reason in
the reader's language) and its round trip, the categories' forms, the expiring list, how to earn,
the expiry notices, and the activity form's categories with their rates."""

import re
from datetime import datetime, timedelta
from html import unescape

import httpx
import pytest
from litestar import Litestar

from market import clock
from market.points.policy import CHINA
from tests.market.support import Member, adjust
from tests.web.support import browser, csrf_of, sign_in
from tests.web.test_admin import staff_sign_in

POLICY = "/admin/points/policy"


def policy_form(csrf: str, **fields: object) -> dict:
    return {"csrf": csrf, "expiry": "none", "expiry_months": "", "publicity_days": "0", "new_holiday": "",
            "gifting": "off", "gift_cap_per_month": "0.00", "cap_per_day": "", "cap_per_month": ""} | fields


def value_of(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" type="[a-z]+" value="([^"]*)"', html)
    assert found, f"no field {name}"
    return unescape(found.group(1))


def problem_of(html: str) -> str:
    found = re.search(r'id="problem">([^<]*)<', html)
    assert found, "no problem shown"
    return unescape(found.group(1))


async def test_the_policy_form_refuses_clearly_and_keeps_what_was_typed(app: Litestar, admin: Member) -> None:
    async with browser(app) as client:
        await staff_sign_in(client, admin, POLICY)
        form = await client.get(POLICY)
        assert form.status_code == 200
        assert 'href="/admin/deductions"' in form.text and 'href="/admin/points/categories"' in form.text
        assert 'id="from-now-on"' in form.text
        csrf = csrf_of(form.text)
        for fields, reason_text, bad in (
            ({"expiry": "months", "expiry_months": "0"}, "有效月数须为 1 到 120 之间的整数", "expiry_months"),
            ({"expiry": "forever"}, "有效期只能是", None),
            ({"publicity_days": "31"}, "公示期为 0 到 30 个工作日", "publicity_days"),
            ({"new_holiday": "十月一日"}, "节假日请写成 2026-10-01 这样的日期", "new_holiday"),
            ({"cap_per_day": "abc"}, "每人每天最多获得 须为积分数", "cap_per_day"),
            ({"cap_per_day": "2000000"}, "每人每天最多获得 应在 0 到 1000000 积分之间", "cap_per_day"),
            ({"cap_per_day": "50", "cap_per_month": "20"}, "每日上限不能大于每月上限", "cap_per_day"),
        ):
            refused = await client.post(POLICY, data=policy_form(csrf, **fields))
            assert refused.status_code == 400, refused.text
            assert problem_of(refused.text).startswith(reason_text), problem_of(refused.text)
            for name, typed in fields.items():
                if name != "expiry":
                    assert value_of(refused.text, name) == typed
            if bad:
                assert re.search(rf'name="{bad}"[^>]*aria-invalid="true"', refused.text)
        english = await client.post(POLICY, data=policy_form(csrf, publicity_days="x"),
                                    headers={"Accept-Language": "en"})
        assert problem_of(english.text) == "The 公示 window is 0 to 30 working days"
    assert (await admin.client.get("/api/points/policy")).json()["expiry"] == "none"  # nothing saved


async def test_the_policy_form_round_trip(app: Litestar, admin: Member, resident: Member) -> None:
    async with browser(app) as client:
        await staff_sign_in(client, admin, POLICY)
        csrf = csrf_of((await client.get(POLICY)).text)
        saved = await client.post(POLICY, data=policy_form(
            csrf, expiry="months", expiry_months="３６", publicity_days="5", new_holiday="2026/10/1",
            gifting="household", gift_cap_per_month="50", cap_per_day="20", cap_per_month="200.5"))
        assert saved.status_code == 303 and saved.headers["location"] == f"{POLICY}?saved=1"
        stored = (await admin.client.get("/api/points/policy")).json()
        assert stored == {"expiry": {"months": 36}, "publicity_days": 5, "gifting": "household",
                          "gift_cap_per_month": "50.00", "cap_per_day": "20.00", "cap_per_month": "200.50",
                          "holidays": ["2026-10-01"]}
        shown = (await client.get(f"{POLICY}?saved=1")).text
        assert 'id="saved"' in shown and value_of(shown, "expiry_months") == "36"
        assert 'name="holidays" value="2026-10-01" checked' in shown
        # Another holiday added, the first one unticked (removed), the caps emptied (none).
        again = await client.post(POLICY, data=policy_form(
            csrf, expiry="calendar_year", publicity_days="5", new_holiday="2026-10-02", gifting="household",
            gift_cap_per_month="50"))
        assert again.status_code == 303
        stored = (await admin.client.get("/api/points/policy")).json()
        assert (stored["expiry"], stored["holidays"], stored["cap_per_day"]) == (
            "calendar_year", ["2026-10-02"], None)
        kept = await client.post(POLICY, data=policy_form(csrf, expiry="calendar_year",
                                                          holidays="2026-10-02"))
        assert kept.status_code == 303
        assert (await admin.client.get("/api/points/policy")).json()["holidays"] == ["2026-10-02"]
        # Not the admin's: a resident gets the friendly 403 page; no CSRF, no change.
        forged = await client.post(POLICY, data=policy_form("forged", expiry="none"))
        assert forged.status_code == 403
    assert (await admin.client.get("/api/points/policy")).json()["expiry"] == "calendar_year"
    async with browser(app) as client:
        await sign_in(client, resident)
        assert (await client.get(POLICY)).status_code == 403


async def test_categories_page_adds_refuses_and_archives(app: Litestar, admin: Member) -> None:
    async with browser(app) as client:
        await staff_sign_in(client, admin, "/admin/points/categories")
        listing = await client.get("/admin/points/categories")
        assert 'id="no-categories"' in listing.text
        csrf = csrf_of(listing.text)
        added = await client.post("/admin/points/categories", data={
            "csrf": csrf, "name": "环境整治", "points_per_checkin": "３", "points_per_hour": "",
            "description": "清理楼道"})
        assert added.status_code == 303, added.text
        (made,) = (await admin.client.get("/api/points/categories")).json()["items"]
        assert (made["name"], made["points_per_checkin"], made["points_per_hour"]) == (
            "环境整治", "3.00", "0.00")
        twice = await client.post("/admin/points/categories", data={
            "csrf": csrf, "name": "环境整治", "points_per_checkin": "1", "points_per_hour": "",
            "description": ""})
        assert twice.status_code == 409 and "已有同名的积分类别" in twice.text
        assert value_of(twice.text.split('id="new-category"')[1], "points_per_checkin") == "1"
        bad = await client.post(f"/admin/points/categories/{made['id']}", data={
            "csrf": csrf, "name": "环境整治", "points_per_checkin": "ten", "points_per_hour": "0",
            "description": ""})
        assert bad.status_code == 400 and 'id="problem-' + str(made["id"]) + '"' in bad.text
        assert "每次参与积分 须为 0 到 1000 之间的积分" in bad.text
        archived = await client.post(f"/admin/points/categories/{made['id']}",
                                     data={"csrf": csrf, "action": "archive"})
        assert archived.status_code == 303
        assert (await admin.client.get("/api/points/categories")).json()["items"][0]["archived"] is True
        assert "重新启用" in (await client.get("/admin/points/categories")).text
        assert (await client.post("/admin/points/categories/999999", data={
            "csrf": csrf, "action": "archive"})).status_code == 404


async def test_expiry_notices_the_expiring_list_and_how_to_earn(
    app: Litestar, monkeypatch, admin: Member, resident: Member, organizer: Member
) -> None:
    await admin.client.put("/api/points/policy", json={"expiry": "calendar_year", "cap_per_day": "30"})
    monkeypatch.setattr(clock, "clock", lambda: datetime(2026, 12, 20, 10, tzinfo=CHINA))
    assert (await adjust(admin, resident.id, "12.50")).status_code == 201
    category = await admin.client.post("/api/points/categories", json={
        "name": "邻里互助", "points_per_checkin": "2", "points_per_hour": "6"})
    start = clock.now() + timedelta(days=1)  # upcoming on the moved day (one clock for all)
    made = await organizer.client.post("/api/activities", json={
        "title": "帮老人买菜", "category": "邻里互助", "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(), "points_per_checkin": "2",
        "points_per_hour": "6"})
    assert category.status_code == 201 and made.status_code == 201, made.text
    for language, notice, words in (
        ("zh", "12.5 积分将于 2026年12月31日 到期", "积分在获得当年的 12 月 31 日后清零"),
        ("en", "12.5 points will expire on 31 December 2026", "Points are cleared after 31 December"),
    ):
        async with browser(app, language) as client:
            await sign_in(client, resident)
            home = (await client.get("/")).text
            assert notice in home and 'href="/earn"' in home
            assert notice in (await client.get("/statement")).text
            earn = (await client.get("/earn")).text
            assert words in earn and "邻里互助" in earn and "帮老人买菜" in earn
            assert re.search(r'id="cap-day">[^<]*\b30 (积分|points)', earn)
    async with browser(app) as client:
        await staff_sign_in(client, admin, "/admin/points/expiring")
        listed = (await client.get("/admin/points/expiring", params={"days": "30"})).text
        assert resident.name in listed and "12.50" in listed and "2026-12-31" in listed
        assert '<option value="30" selected>' in listed
        none = (await client.get("/admin/points/expiring", params={"days": "7"})).text
        assert 'id="expiring-none"' in none
        assert (await client.get("/admin/points/expiring", params={"days": "400"})).status_code == 400
        assert 'href="/admin/points/policy"' in (await client.get("/admin")).text


@pytest.mark.parametrize("with_catalogue", [True, False])
async def test_the_activity_form_offers_the_catalogue_and_fills_in_its_rates(
    app: Litestar, admin: Member, organizer: Member, with_catalogue: bool
) -> None:
    if with_catalogue:
        await admin.client.post("/api/points/categories", json={
            "name": "垃圾分类", "points_per_checkin": "4", "points_per_hour": "1.5"})
    async with browser(app) as client:
        await staff_sign_in(client, organizer, "/organizer/activities/new")
        form = (await client.get("/organizer/activities/new")).text
        if not with_catalogue:  # the built-in kinds, as before
            assert 'value="volunteer_service"' in form and "category_rates.js" not in form
            return
        assert 'value="垃圾分类" data-points-per-checkin="4.00" data-points-per-hour="1.50"' in form
        assert 'value="volunteer_service"' not in form and "category_rates.js" in form
        start = datetime.now(CHINA) + timedelta(days=2)
        made = await client.post("/organizer/activities/new", data={
            "csrf": csrf_of(form), "title": "垃圾分类督导", "category": "垃圾分类", "location": "",
            "starts_at": start.strftime("%Y-%m-%dT%H:00"),
            "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:00"),
            "points_per_checkin": "", "points_per_hour": "2", "max_hours": "", "capacity": ""})
        assert made.status_code == 303, made.text
        activity_id = int(made.headers["location"].split("/")[-1].split("?")[0])
        created = (await organizer.client.get(f"/api/activities/{activity_id}")).json()
        # An empty rate took the category's; a typed one stands.
        assert (created["category"], created["points_per_checkin"], created["points_per_hour"]) == (
            "垃圾分类", "4.00", "2.00")
        shown = (await client.get(f"/organizer/activities/{activity_id}")).text
        assert "垃圾分类" in shown and "志愿服务" not in shown  # the category's own name


async def test_pages_need_their_roles(app: Litestar, anon: httpx.AsyncClient, resident: Member) -> None:
    for path in ("/earn", POLICY, "/admin/points/categories", "/admin/points/expiring"):
        response = await anon.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/signin")
    async with browser(app) as client:
        await sign_in(client, resident)
        for path in ("/admin/points/categories", "/admin/points/expiring"):
            assert (await client.get(path)).status_code == 403
        assert (await client.get("/earn")).status_code == 200
