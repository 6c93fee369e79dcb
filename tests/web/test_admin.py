"""The admin's pages over plain HTTP: every page in both languages, the role guard, CSRF,
refusals that keep what was typed, and each form's success changing the data exactly once."""

import csv
import io
import re
import secrets
import time

import httpx
import pytest
from litestar import Litestar

from ledger import Ledger
from market.cards import service as cards
from market.community import structure
from market.community.service import CommunityView
from market.db import fetch
from market.errors import Gone
from market.people import import_jobs
from market.people import service as people
from market.points import service as points
from market.shop import rules as shop_rules
from market.tables import Person
from tests.market.support import Enrol, Member, adjust, balance, random_phone
from tests.web.support import browser, csrf_of, sign_in

MAX_PAGE_BYTES = 100 * 1024
ASSET = re.compile(r'(?:src|href)="(/static/[^"]+)"')
PAGES = ("/admin", "/admin/structure", "/admin/people", "/admin/people/new", "/admin/import",
         "/admin/cards", "/admin/adjustments", "/admin/shop-rules")


async def staff_sign_in(client: httpx.AsyncClient, member: Member, next_path: str = "/admin") -> None:
    """Staff sign in on the same form with their password."""
    form = await client.get("/signin", params={"next": next_path})
    response = await client.post("/signin", data={
        "csrf": csrf_of(form.text), "next": next_path, "login": member.phone, "secret": member.password,
    })
    assert response.status_code == 303, response.text


async def csrf(client: httpx.AsyncClient) -> str:
    return csrf_of((await client.get("/admin")).text)


def roster_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["姓名", "手机号", "小区", "楼栋", "单元", "房号", "网格", "志愿服务队"])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


async def upload(client: httpx.AsyncClient, content: bytes, name: str = "台账.csv") -> httpx.Response:
    """Upload a roster through the form; the job's page once its check is over."""
    response = await client.post(
        "/admin/import", data={"csrf": await csrf(client)}, files={"file": (name, content, "text/csv")}
    )
    if response.status_code != 303:
        return response
    location = response.headers["location"]
    await import_jobs.settle(location.rsplit("/", 1)[1])
    return await client.get(location)


# -- every page, both languages, the guard ------------------------------------------------------------


@pytest.mark.parametrize(("language", "marks"), [
    ("zh", {"/admin": "社区管理", "/admin/structure": "社区结构", "/admin/people": "人员和角色",
            "/admin/people/new": "登记人员", "/admin/import": "导入台账", "/admin/cards": "打印会员卡",
            "/admin/adjustments": "调整积分", "/admin/shop-rules": "积分超市开放规则"}),
    ("en", {"/admin": "Community administration", "/admin/structure": "Community structure",
            "/admin/people": "People and roles", "/admin/people/new": "Enrol a person",
            "/admin/import": "Import the roster", "/admin/cards": "Print member cards",
            "/admin/adjustments": "Adjust points", "/admin/shop-rules": "Shop opening rules"}),
])
async def test_every_admin_page_renders(
    app: Litestar, admin: Member, resident: Member, language: str, marks: dict[str, str]
) -> None:
    await adjust(admin, resident.id, "8.5", reason="楼道清扫")
    async with browser(app, language) as client:
        await staff_sign_in(client, admin)
        paths = [*PAGES, f"/admin/people/{resident.id}", f"/admin/adjustments?person={resident.id}"]
        for path in paths:
            response = await client.get(path)
            assert response.status_code == 200, (path, response.text)
            assert f'lang="{"en" if language == "en" else "zh-CN"}"' in response.text
            assert response.headers["cache-control"] == "no-store"
            if path in marks:
                assert f"<h1>{marks[path]}</h1>" in response.text, path
        person = (await client.get(f"/admin/people/{resident.id}")).text
    assert resident.phone not in person and resident.phone[:3] + "****" in person  # masked
    assert resident.card_no in person and "8.50" in person
    assert f'src="/api/people/{resident.id}/card.png"' in person


async def test_only_admins_get_in(
    app: Litestar, organizer: Member, resident: Member, admin: Member, community: CommunityView
) -> None:
    async with browser(app) as client:
        for path in PAGES:
            response = await client.get(path)
            assert response.status_code == 303 and response.headers["location"] == f"/signin?next={path}"
    for member in (organizer, resident):
        async with browser(app, "en") as client:
            if member is resident:
                await sign_in(client, member)
            else:
                await staff_sign_in(client, member)
            token = csrf_of((await client.get("/")).text)
            for path in (*PAGES, f"/admin/people/{admin.id}"):
                response = await client.get(path)
                assert response.status_code == 403, (path, response.status_code)
                assert response.headers["content-type"].startswith("text/html")
                assert "You are not allowed to do this" in response.text
            for path, data in (
                ("/admin/structure", {"kind": "grid", "grid_name": "越权网格"}),
                (f"/admin/people/{member.id}/roles", {"roles": "admin"}),
                ("/admin/adjustments", {"person_id": str(member.id), "amount": "100", "reason": "越权",
                                        "key": "k1"}),
                ("/admin/shop-rules", {"open_days": "1", "opens_at": "08:00", "closes_at": "09:00"}),
            ):
                response = await client.post(path, data={"csrf": token, **data})
                assert response.status_code == 403, (path, response.text)
    assert "越权网格" not in [g.name for g in await structure.list_grids(community.id)]
    assert await balance(resident) == "0.00"
    assert (await people.get_person(community.id, organizer.id)).roles == ["organizer"]


async def test_posts_need_the_csrf_token(
    app: Litestar, admin: Member, resident: Member, community: CommunityView
) -> None:
    async with browser(app, "en") as client:
        await staff_sign_in(client, admin)
        for path, data in (
            ("/admin/structure", {"kind": "grid", "grid_name": "第一网格"}),
            ("/admin/people/new", {"name": "王五", "phone": random_phone(), "roles": "resident",
                                   "pin": "258036"}),
            (f"/admin/people/{resident.id}/roles", {"roles": "organizer"}),
            (f"/admin/people/{resident.id}/card", {}),
            (f"/admin/people/{resident.id}/pin", {"pin": "258036"}),
            ("/admin/adjustments", {"person_id": str(resident.id), "amount": "5", "reason": "x",
                                    "key": "k"}),
            ("/admin/shop-rules", {"open_days": "1", "opens_at": "08:00", "closes_at": "09:00"}),
        ):
            for token in (None, "forged-" + secrets.token_hex(8)):
                sent = data | ({"csrf": token} if token else {})
                response = await client.post(path, data=sent)
                assert response.status_code == 403, (path, response.text)
                assert "reload the page" in response.text
        refused = await client.post("/admin/import", data={},
                                    files={"file": ("a.csv", roster_csv([]), "text/csv")})
        assert refused.status_code == 403
    assert await balance(resident) == "0.00"
    assert (await shop_rules.rules(community.id)).configured is False
    assert await structure.list_grids(community.id) == []


# -- the dashboard --------------------------------------------------------------------------------


async def test_dashboard_shows_the_ledger_and_the_points(
    app: Litestar, admin: Member, resident: Member
) -> None:
    await adjust(admin, resident.id, "12.5", reason="义务植树")
    await adjust(admin, resident.id, "-2.25", reason="更正")
    async with browser(app, "en") as client:
        await staff_sign_in(client, admin)
        html = (await client.get("/admin?verify=now")).text
    assert 'id="ledger-status" data-ok="true"' in html and "Verified" in html
    head = (await admin.client.get("/api/ledger/verify")).json()
    assert f'<code id="ledger-head">{head["head"]}</code>' in html
    assert re.search(r'id="ledger-entries">\d+<', html)
    assert 'id="issued">10.25<' in html and 'id="outstanding">10.25<' in html
    for path in PAGES[1:]:
        assert path == "/admin/people/new" or f'href="{path}"' in html


# -- the community's structure ----------------------------------------------------------------------


async def test_structure_is_added_from_the_page(
    app: Litestar, admin: Member, community: CommunityView
) -> None:
    async with browser(app) as client:
        await staff_sign_in(client, admin)
        token = await csrf(client)

        async def add(kind: str, **fields: str) -> httpx.Response:
            return await client.post("/admin/structure", data={"csrf": token, "kind": kind, **fields})

        assert (await add("compound", compound_name=" 幸福里 ")).status_code == 303
        compound = (await structure.list_compounds(community.id))[0]
        assert compound.name == "幸福里"
        building = await add("building", building_compound=str(compound.id), building_name="3号楼")
        assert building.status_code == 303
        assert (await add("grid", grid_name="第一网格")).status_code == 303
        assert (await add("team", team_name="银发志愿队")).status_code == 303
        building = (await structure.list_buildings(community.id))[0]
        grid = (await structure.list_grids(community.id))[0]
        done = await add("household", household_building=str(building.id), household_unit="2单元",
                         household_room="301", household_grid=str(grid.id))
        assert done.status_code == 303
        assert done.headers["location"] == "/admin/structure?added=household#household"
        page = (await client.get(done.headers["location"])).text
    assert "已添加" in page
    for text in ("幸福里", "3号楼", "第一网格", "银发志愿队", "301"):
        assert text in page
    households = (await structure.list_households(community.id)).items
    assert [(h.building_id, h.unit, h.room, h.grid_id) for h in households] == [
        (building.id, "2单元", "301", grid.id)
    ]


@pytest.mark.parametrize(("language", "taken", "empty"), [
    ("zh", "该名称已被使用", "名称须为 1–50 个字"),
    ("en", "That name is already in use", "The name must be 1–50 characters long"),
])
async def test_a_refused_structure_form_keeps_the_input(
    app: Litestar, admin: Member, community: CommunityView, language: str, taken: str, empty: str
) -> None:
    await structure.create_grid(community.id, "第一网格")
    async with browser(app, language) as client:
        await staff_sign_in(client, admin)
        token = await csrf(client)
        again = await client.post("/admin/structure", data={"csrf": token, "kind": "grid",
                                                             "grid_name": "第一网格"})
        assert again.status_code == 409
        assert taken in again.text and 'id="grid-problem"' in again.text
        assert 'value="第一网格"' in again.text and 'aria-invalid="true"' in again.text
        blank = await client.post("/admin/structure", data={"csrf": token, "kind": "team", "team_name": "  "})
        assert blank.status_code == 400 and empty in blank.text and 'id="team-problem"' in blank.text
        building = await structure.create_building(
            community.id, (await structure.create_compound(community.id, "幸福里")).id, "1号楼")
        await structure.create_household(community.id, building.id, "1单元", "101")
        room = await client.post("/admin/structure", data={
            "csrf": token, "kind": "household", "household_building": str(building.id),
            "household_unit": "1单元", "household_room": "101"})
        assert room.status_code == 409 and 'id="household-problem"' in room.text
        assert 'value="1单元"' in room.text and 'value="101"' in room.text
        assert f'<option value="{building.id}" selected>' in room.text
    assert [g.name for g in await structure.list_grids(community.id)] == ["第一网格"]
    assert await structure.list_teams(community.id) == []


# -- people, roles, cards, PINs -------------------------------------------------------------------------


async def test_a_person_is_enrolled_from_the_page(
    app: Litestar, admin: Member, community: CommunityView
) -> None:
    compound = await structure.create_compound(community.id, "阳光花园")
    building = await structure.create_building(community.id, compound.id, "5号楼")
    phone = random_phone()
    async with browser(app) as client:
        await staff_sign_in(client, admin)
        form = await client.get("/admin/people/new")
        assert "阳光花园 5号楼" in form.text
        response = await client.post("/admin/people/new", data={
            "csrf": csrf_of(form.text), "name": "赵奶奶", "phone": " ".join(phone), "roles": "resident",
            "pin": "２５８０３６", "building": str(building.id), "unit": "1单元", "room": "502",
        })
        assert response.status_code == 303, response.text
        shown = await client.get(response.headers["location"])
        assert "登记成功" in shown.text and "赵奶奶" in shown.text
        assert "阳光花园 5号楼 1单元 502" in shown.text
    found = (await people.list_people(community.id, q=phone)).items
    assert [(p.name, p.roles) for p in found] == [("赵奶奶", ["resident"])]
    async with browser(app) as client:  # the PIN the admin set works
        login = await client.get("/signin")
        signed = await client.post("/signin", data={"csrf": csrf_of(login.text), "login": phone,
                                                    "secret": "258036"})
        assert signed.status_code == 303


@pytest.mark.parametrize(("language", "text"), [
    ("zh", "该手机号已在本社区登记"), ("en", "This phone number is already registered in this community"),
])
async def test_a_refused_enrolment_keeps_the_input(
    app: Litestar, admin: Member, resident: Member, community: CommunityView, language: str, text: str
) -> None:
    async with browser(app, language) as client:
        await staff_sign_in(client, admin)
        form = await client.get("/admin/people/new")
        response = await client.post("/admin/people/new", data={
            "csrf": csrf_of(form.text), "name": "重复的人", "phone": resident.phone,
            "roles": ["resident", "organizer"], "pin": "258036", "password": "long enough pw",
        })
        assert response.status_code == 409
        assert text in response.text and 'role="alert"' in response.text
        assert 'value="重复的人"' in response.text and f'value="{resident.phone}"' in response.text
        # The admin's own password stays (issue 16: nothing typed must be typed again).
        assert 'value="organizer" checked' in response.text and 'value="long enough pw"' in response.text
        weak = await client.post("/admin/people/new", data={
            "csrf": csrf_of(form.text), "name": "新居民", "phone": random_phone(), "roles": "resident",
            "pin": "123456"})
        assert weak.status_code == 400 and 'id="pin" name="pin"' in weak.text
        assert re.search(r'id="pin"[^>]*aria-invalid="true"', weak.text)
        no_building = await client.post("/admin/people/new", data={
            "csrf": csrf_of(form.text), "name": "新居民", "phone": random_phone(), "roles": "resident",
            "pin": "258036", "unit": "2单元", "room": "301"})
        assert no_building.status_code == 400 and 'value="301"' in no_building.text
        assert ("请选择住址所在的楼栋" if language == "zh" else "Choose the building") in no_building.text
    assert (await people.list_people(community.id, q="重复的人")).items == []


async def test_roles_are_changed_and_the_last_admin_stays(
    app: Litestar, admin: Member, enrol: Enrol, community: CommunityView
) -> None:
    staff = await enrol("organizer", name="刘组长")
    async with browser(app, "en") as client:
        await staff_sign_in(client, admin)
        token = await csrf(client)
        changed = await client.post(f"/admin/people/{staff.id}/roles",
                                    data={"csrf": token, "roles": ["organizer", "shopkeeper"]})
        assert changed.status_code == 303
        assert "The roles were changed" in (await client.get(changed.headers["location"])).text
        refused = await client.post(f"/admin/people/{admin.id}/roles",
                                    data={"csrf": token, "roles": ["resident"]})
        assert refused.status_code == 409 and 'id="roles-problem"' in refused.text
        assert "last admin cannot lose the admin role" in refused.text
        # What was ticked stays ticked.
        assert 'value="resident" checked' in refused.text and 'value="admin" checked' not in refused.text
    assert (await people.get_person(community.id, staff.id)).roles == ["organizer", "shopkeeper"]
    assert (await people.get_person(community.id, admin.id)).roles == ["admin"]


async def test_a_card_is_reissued_and_a_pin_set(
    app: Litestar, admin: Member, resident: Member, community: CommunityView
) -> None:
    settings = app.state.settings
    old = await cards.printable_card(community.id, resident.id, settings=settings)
    async with browser(app, "en") as client:
        await staff_sign_in(client, admin)
        token = await csrf(client)
        done = await client.post(f"/admin/people/{resident.id}/card", data={"csrf": token})
        assert done.status_code == 303 and done.headers["location"].endswith("?done=card")
        assert "the old card no longer works" in (await client.get(done.headers["location"])).text
        weak = await client.post(f"/admin/people/{resident.id}/pin", data={"csrf": token, "pin": "111111"})
        assert weak.status_code == 400 and "too easy to guess" in weak.text
        set_pin = await client.post(f"/admin/people/{resident.id}/pin", data={"csrf": token, "pin": "730418"})
        assert set_pin.status_code == 303
        staff_pin = await client.post(f"/admin/people/{admin.id}/pin", data={"csrf": token, "pin": "730418"})
        assert staff_pin.status_code == 409 and "Only residents have a PIN" in staff_pin.text
    with pytest.raises(Gone) as refused:
        await cards.resolve_member_code(community.id, old.code, settings=settings)
    assert refused.value.reason == "revoked"
    async with browser(app) as client:
        login = await client.get("/signin")
        signed = await client.post("/signin", data={"csrf": csrf_of(login.text), "login": resident.phone,
                                                    "secret": "730418"})
        assert signed.status_code == 303


async def test_people_are_searched_and_paged(
    app: Litestar, admin: Member, community: CommunityView
) -> None:
    for number in range(22):
        await Person.insert(Person(
            community=community.id, name=f"居民{number:02d}", phone=random_phone(), roles="resident",
            card_no=f"9{secrets.randbelow(10**9):09d}",
        ))
    async with browser(app) as client:
        await staff_sign_in(client, admin)
        first = (await client.get("/admin/people")).text
        cursor = re.search(r'cursor=(\d+)"', first).group(1)
        second = (await client.get(f"/admin/people?cursor={cursor}")).text
        found = (await client.get("/admin/people", params={"q": "居民07"})).text
        phone = (await client.get("/admin/people", params={"q": admin.phone[-6:]})).text
    assert "居民00" in first and "居民21" not in first
    assert "居民21" in second and "居民00" not in second
    assert "居民07" in found and "居民08" not in found
    assert admin.name in phone and admin.phone not in phone


async def test_another_communitys_person_is_not_found(
    app: Litestar, admin: Member, enrol: Enrol, ledger: Ledger
) -> None:
    from market.community import service as communities

    other = await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(4)}")
    stranger = await enrol("resident", community_id=other.id, name="外人")
    async with browser(app, "en") as client:
        await staff_sign_in(client, admin)
        for path in (f"/admin/people/{stranger.id}", f"/admin/adjustments?person={stranger.id}"):
            response = await client.get(path)
            assert response.status_code == 404 and "外人" not in response.text
        response = await client.post("/admin/adjustments", data={
            "csrf": await csrf(client), "person_id": str(stranger.id), "amount": "5", "reason": "x",
            "key": "k-stranger"})
        assert response.status_code == 404
    assert await balance(stranger) == "0.00"


# -- the roster import ---------------------------------------------------------------------------------


async def test_a_roster_is_checked_then_imported(
    app: Litestar, admin: Member, community: CommunityView
) -> None:
    good = [["王大爷", random_phone(), "幸福里", "1号楼", "1单元", "101", "第一网格", "银发志愿队"],
            ["李阿姨", random_phone(), "幸福里", "1号楼", "1单元", "102", "第一网格", ""]]
    bad = [*good, ["", random_phone(), "", "", "", "", "", ""],
           ["张三", "12345", "幸福里", "", "", "", "", ""]]
    for language, texts in (
        ("zh", ("姓名不能为空", "请输入正确的 11 位手机号", "未导入")),
        ("en", ("The name is missing", "Enter a valid 11-digit", "Nothing was imported")),
    ):
        async with browser(app, language) as client:
            await staff_sign_in(client, admin)
            checked = await upload(client, roster_csv(bad))
            assert checked.status_code == 200
            for text in texts:
                assert text in checked.text
            # Every bad row with its number (the header is row 1).
            assert "<th scope=\"row\">4</th>" in checked.text and "<th scope=\"row\">5</th>" in checked.text
            assert 'id="import-button"' not in checked.text
    assert (await people.list_people(community.id, q="王大爷")).items == []

    async with browser(app) as client:
        await staff_sign_in(client, admin)
        ready = await upload(client, roster_csv(good))
        assert "每一行都正确" in ready.text and 'id="will-create">2<' in ready.text
        assert (await people.list_people(community.id, q="王大爷")).items == []  # a dry run only
        action = re.search(r'action="(/admin/import/[^"]+)"', ready.text).group(1)
        token = csrf_of(ready.text)
        first = await client.post(action, data={"csrf": token})
        again = await client.post(action, data={"csrf": token})  # a double tap imports once
        assert first.status_code == again.status_code == 303
        await import_jobs.settle(action.rsplit("/", 1)[1])
        done = await client.get(action)
        assert 'id="imported"' in done.text and "新增 2 人" in done.text
        status = (await client.get(action + "/status")).json()
        assert status["state"] == "done" and status["done"] == status["total"] == 2
    names = sorted(p.name for p in (await people.list_people(community.id)).items)
    assert names == sorted([admin.name, "王大爷", "李阿姨"])
    assert [t.name for t in await structure.list_teams(community.id)] == ["银发志愿队"]


async def test_import_refuses_a_missing_or_wrong_file(app: Litestar, admin: Member) -> None:
    async with browser(app, "en") as client:
        await staff_sign_in(client, admin)
        token = await csrf(client)
        nothing = await client.post("/admin/import", data={"csrf": token},
                                    files={"file": ("", b"", "application/octet-stream")})
        assert nothing.status_code == 400 and "Choose the roster file" in nothing.text
        xls = ("roster.xls", b"\xd0\xcf\x11\xe0", "application/vnd.ms-excel")
        wrong = await client.post("/admin/import", data={"csrf": token}, files={"file": xls})
        assert wrong.status_code == 400 and "save an .xls file as .xlsx first" in wrong.text
        columns = await upload(client, "名字,电话\n王,13800000000\n".encode())
        assert "missing required columns: 姓名、手机号" in columns.text
        other = await client.get("/admin/import/no-such-job")
        assert other.status_code == 404


# -- the card sheet -----------------------------------------------------------------------------------


async def test_the_card_sheet_shows_residents_by_building(
    app: Litestar, admin: Member, enrol: Enrol, community: CommunityView
) -> None:
    compound = await structure.create_compound(community.id, "和平里")
    one = await structure.create_building(community.id, compound.id, "1号楼")
    grid = await structure.create_grid(community.id, "第二网格")
    home = await structure.create_household(community.id, one.id, "", "101", grid.id)
    inside, outside = await enrol("resident", name="楼里人"), await enrol("resident", name="楼外人")
    await Person.update({Person.household: home.id}).where(Person.id == inside.id)
    async with browser(app) as client:
        await staff_sign_in(client, admin)
        everyone = (await client.get("/admin/cards")).text
        building = (await client.get("/admin/cards", params={"who": f"b{one.id}"})).text
        by_grid = (await client.get("/admin/cards", params={"who": f"g{grid.id}"})).text
        picture = await client.get(f"/api/people/{inside.id}/card.png")
    for person in (inside, outside):
        assert f"/api/people/{person.id}/card.png" in everyone
    assert f"/api/people/{admin.id}/card.png" not in everyone  # staff have no card
    for sheet in (building, by_grid):
        assert f"/api/people/{inside.id}/card.png" in sheet and f"/api/people/{outside.id}/" not in sheet
    assert "本批卡片：1 张" in building and f'value="b{one.id}" selected' in building
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"


# -- adjustments -----------------------------------------------------------------------------------------


async def test_an_adjustment_moves_points_exactly_once(
    app: Litestar, admin: Member, resident: Member
) -> None:
    async with browser(app) as client:
        await staff_sign_in(client, admin)
        found = await client.get("/admin/adjustments", params={"q": resident.card_no})
        # A whole card number goes straight to the person's form.
        assert f'name="person_id" value="{resident.id}"' in found.text
        key = re.search(r'name="key" value="([^"]+)"', found.text).group(1)
        sent = {"csrf": csrf_of(found.text), "person_id": str(resident.id), "amount": "１２.５０",
                "reason": "帮助邻居", "key": key}
        first = await client.post("/admin/adjustments", data=sent)
        second = await client.post("/admin/adjustments", data=sent)  # the same form sent again
        assert first.status_code == second.status_code == 303
        assert first.headers["location"] == second.headers["location"]
        shown = (await client.get(first.headers["location"])).text
        assert "+12.50" in shown and "新余额：12.50" in shown
        fresh = re.search(r'name="key" value="([^"]+)"', shown).group(1)
        assert fresh != key
    assert await balance(resident) == "12.50"
    statement = (await resident.client.get("/api/me/entries")).json()["items"]
    assert [(e["amount"], e["memo"]) for e in statement] == [("12.50", "帮助邻居")]


@pytest.mark.parametrize(("language", "texts"), [
    ("zh", {"insufficient": "积分不足", "amount": "积分数额无效", "reason": "请填写原因"}),
    ("en", {"insufficient": "Not enough points", "amount": "Invalid amount", "reason": "Give a reason"}),
])
async def test_a_refused_adjustment_keeps_the_input(
    app: Litestar, admin: Member, resident: Member, language: str, texts: dict[str, str]
) -> None:
    await adjust(admin, resident.id, "3", reason="起始")
    async with browser(app, language) as client:
        await staff_sign_in(client, admin)
        form = (await client.get(f"/admin/adjustments?person={resident.id}")).text
        key = re.search(r'name="key" value="([^"]+)"', form).group(1)
        base = {"csrf": csrf_of(form), "person_id": str(resident.id), "key": key}
        cases = (
            ("insufficient", {"amount": "-5", "reason": "扣减"}, 409),
            ("amount", {"amount": "1.234", "reason": "三位小数"}, 400),
            ("amount", {"amount": "abc", "reason": "不是数字"}, 400),
            ("amount", {"amount": "0", "reason": "零"}, 400),
            ("reason", {"amount": "2", "reason": "  "}, 400),
        )
        for kind, fields, status in cases:
            response = await client.post("/admin/adjustments", data=base | fields)
            assert response.status_code == status, (fields, response.text)
            assert texts[kind] in response.text
            assert f'value="{fields["amount"]}"' in response.text
            assert f'name="key" value="{key}"' in response.text  # nothing moved: the same form
            if fields["reason"].strip():
                assert f'value="{fields["reason"]}"' in response.text
        # The refused key was never used: the corrected form goes through with it.
        fixed = await client.post("/admin/adjustments", data=base | {"amount": "-2", "reason": "扣减"})
        assert fixed.status_code == 303
        # The same form used again for another amount: refused, with a fresh form.
        reused = await client.post("/admin/adjustments", data=base | {"amount": "-1", "reason": "扣减"})
        assert reused.status_code == 422 and f'name="key" value="{key}"' not in reused.text
    assert await balance(resident) == "1.00"


# -- the shop's rules -------------------------------------------------------------------------------------


async def test_shop_rules_are_saved(app: Litestar, admin: Member, community: CommunityView) -> None:
    async with browser(app) as client:
        await staff_sign_in(client, admin)
        form = await client.get("/admin/shop-rules")
        assert "还没有设置规则" in form.text and "周一" in form.text
        saved = await client.post("/admin/shop-rules", data={
            "csrf": csrf_of(form.text), "open_days": ["2", "4", "6"], "opens_at": "8:30",
            "closes_at": "１１：３０", "min_earned": "10.5", "min_hours": "2",
        })
        assert saved.status_code == 303 and saved.headers["location"] == "/admin/shop-rules?saved=1"
        page = (await client.get(saved.headers["location"])).text
    assert "规则已保存" in page and 'value="08:30"' in page and 'value="11:30"' in page
    assert 'value="2" checked' in page and 'value="1" checked' not in page
    rules = await shop_rules.rules(community.id)
    assert (rules.open_days, rules.opens_at, rules.closes_at, rules.min_earned, rules.min_hours) == (
        [2, 4, 6], "08:30", "11:30", "10.50", "2.00")


@pytest.mark.parametrize(("language", "text"), [
    ("zh", "开门时间须早于关门时间"), ("en", "The opening time must be before the closing time"),
])
async def test_refused_shop_rules_keep_the_input(
    app: Litestar, admin: Member, community: CommunityView, language: str, text: str
) -> None:
    async with browser(app, language) as client:
        await staff_sign_in(client, admin)
        form = await client.get("/admin/shop-rules")
        response = await client.post("/admin/shop-rules", data={
            "csrf": csrf_of(form.text), "open_days": ["3"], "opens_at": "17:00", "closes_at": "09:00",
            "min_earned": "5", "min_hours": "",
        })
        assert response.status_code == 400 and text in response.text
        assert 'value="17:00"' in response.text and 'value="09:00"' in response.text
        assert 'value="5"' in response.text and 'value="3" checked' in response.text
        assert re.search(r'id="closes-at"[^>]*aria-invalid="true"', response.text)
        no_day = await client.post("/admin/shop-rules", data={
            "csrf": csrf_of(form.text), "opens_at": "08:00", "closes_at": "09:00"})
        assert no_day.status_code == 400
    assert (await shop_rules.rules(community.id)).configured is False


# -- size ----------------------------------------------------------------------------------------------


async def test_admin_pages_are_small_and_load_nothing_from_elsewhere(
    app: Litestar, admin: Member, resident: Member
) -> None:
    async with browser(app) as client:
        await staff_sign_in(client, admin)
        for path in (*PAGES, f"/admin/people/{resident.id}"):
            response = await client.get(path)
            html = response.text
            assert not re.search(r'(?:src|href|action)="(?:https?:)?//', html), path
            total = len(response.content)
            for static in ASSET.findall(html):
                total += len((await client.get(static)).content)
            assert total < MAX_PAGE_BYTES, (path, total)


async def test_a_large_roster_reports_its_progress(
    app: Litestar, admin: Member, community: CommunityView, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int, int]] = []
    original = import_jobs.ImportJob.progress

    def progress(self: import_jobs.ImportJob, stage: str, done: int, total: int) -> None:
        seen.append((stage, done, total))
        original(self, stage, done, total)

    monkeypatch.setattr(import_jobs.ImportJob, "progress", progress)
    rows = [[f"居民{i}", f"139{i:08d}", "大院", f"{i % 7 + 1}号楼", "", str(100 + i), "", ""]
            for i in range(1200)]
    async with browser(app) as client:
        await staff_sign_in(client, admin)
        ready = await upload(client, roster_csv(rows))
        action = re.search(r'action="(/admin/import/[^"]+)"', ready.text).group(1)
        await client.post(action, data={"csrf": csrf_of(ready.text)})
        await import_jobs.settle(action.rsplit("/", 1)[1])
        assert "新增 1200 人" in (await client.get(action)).text
    people_steps = [done for stage, done, total in seen if stage == "people" and total == 1200]
    wallet_steps = [done for stage, done, total in seen if stage == "wallets"]
    # Counted in chunks as the import goes, for the dry run and then the import.
    assert people_steps.count(1200) == 2 and len(people_steps) >= 6
    assert wallet_steps == [1000, 1200]


async def test_a_running_import_shows_a_progress_bar(
    app: Litestar, admin: Member, community: CommunityView
) -> None:
    """A job another worker is running: its page and its poll read the progress it wrote."""
    job_id = "test-" + secrets.token_hex(6)
    now = int(time.time() * 1000)
    await fetch(
        "INSERT INTO roster_import (id, community, owner, filename, state, stage, done, total,"
        " runner, created_ms, changed_ms) VALUES ({}, {}, {}, '台账.xlsx', 'importing', 'people',"
        " 500, 1200, 'another-worker', {}, {})", job_id, community.id, admin.id, now, now,
    )
    async with browser(app, "en") as client:
        await staff_sign_in(client, admin)
        page = (await client.get(f"/admin/import/{job_id}")).text
        status = (await client.get(f"/admin/import/{job_id}/status")).json()
    assert '<progress id="progress-bar" max="1200" value="500"' in page
    assert "500 / 1200" in page and "Importing" in page
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    assert status == {"state": "importing", "stage": "people", "done": 500, "total": 1200,
                      "percent": 41}
    # Before anything can be counted: no value, no count.
    await fetch("UPDATE roster_import SET stage = 'structure', done = 0 WHERE id = {}", job_id)
    async with browser(app, "en") as client:
        await staff_sign_in(client, admin)
        page = (await client.get(f"/admin/import/{job_id}")).text
    assert '<progress id="progress-bar" max="1200" aria-labelledby' in page


async def test_an_adjustment_is_shown_only_for_its_own_person(
    app: Litestar, admin: Member, resident: Member, enrol: Enrol, community: CommunityView, ledger: Ledger
) -> None:
    other = await enrol("resident", name="王大爷")
    made = (await adjust(admin, resident.id, "4", reason="看护")).json()
    mine = await points.adjustment_of(ledger, community.id, resident.id, made["id"])
    assert (mine.amount, mine.balance_after) == ("4.00", "4.00")
    assert await points.adjustment_of(ledger, community.id, other.id, made["id"]) is None
    assert await points.adjustment_of(ledger, community.id, resident.id, "no-such-transfer") is None
    taken = (await adjust(admin, resident.id, "-1.5", reason="更正")).json()
    back = await points.adjustment_of(ledger, community.id, resident.id, taken["id"])
    assert (back.amount, back.balance_after) == ("-1.50", "2.50")
    history = await points.person_entries(ledger, community.id, resident.id, 10, None)
    assert [e.amount for e in history.items] == ["-1.50", "4.00"]
    assert (await points.wallet_of(ledger, community.id, resident.id)).balance == "2.50"
    async with browser(app) as client:
        await staff_sign_in(client, admin)
        forged = (await client.get(f"/admin/adjustments?person={other.id}&done={made['id']}")).text
    assert 'id="adjusted"' not in forged
