"""The organizer's pages over plain HTTP: my activities, the activity form, the activity with its
attendance, check-in by a typed code, approvals, hours by hand, cancelling, the screen code and
the poster; role and community guards, CSRF, both languages, page weight."""

import re
import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from litestar import Litestar

from ledger import Ledger
from market import clock
from market.activities import service as activities
from market.cards import service as cards
from market.community import service as communities
from tests.market.support import Enrol, Member, balance
from tests.web.support import browser, csrf_of, running_activity

BEIJING = ZoneInfo("Asia/Shanghai")
MAX_PAGE_BYTES = 100 * 1024
#: How ``<input type="datetime-local">`` sends a time.
BEIJING_FORM = "%Y-%m-%dT%H:%M"


async def staff_sign_in(client: httpx.AsyncClient, member: Member, next_path: str = "/organizer") -> None:
    """Staff sign in on the same form as residents, with their password."""
    form = await client.get("/signin", params={"next": next_path})
    response = await client.post("/signin", data={
        "csrf": csrf_of(form.text), "next": next_path, "login": member.phone,
        "secret": member.password,
    })
    assert response.status_code == 303, response.text


async def future_activity(organizer: Member, **fields: object) -> dict:
    start = datetime.now(UTC) + timedelta(days=2)
    return await running_activity(organizer, starts_at=start.isoformat(),
                                  ends_at=(start + timedelta(hours=2)).isoformat(), **fields)


def activity_form(csrf: str, **fields: str) -> dict[str, str]:
    """A filled activity form: tomorrow 09:00–11:00 Beijing time."""
    start = (datetime.now(UTC) + timedelta(days=1)).astimezone(BEIJING).replace(
        hour=9, minute=0, second=0, microsecond=0)
    return {
        "csrf": csrf, "title": "社区义诊", "category": "volunteer_service", "location": "服务站",
        "starts_at": start.strftime(BEIJING_FORM),
        "ends_at": (start + timedelta(hours=2)).strftime(BEIJING_FORM),
        "points_per_checkin": "5", "points_per_hour": "10", "max_hours": "", "capacity": "",
    } | fields


async def page_bytes(client: httpx.AsyncClient, path: str) -> int:
    """A page with the CSS, JS and pictures it loads; nothing from another origin."""
    html = (await client.get(path)).text
    assert not re.search(r'(?:src|href|action)="(?:https?:)?//', html), "a reference to another origin"
    total = len(html.encode())
    for linked in re.findall(r'(?:src|href)="(/(?:static|api)/[^"]+)"', html):
        fetched = await client.get(linked.replace("&amp;", "&"))
        assert fetched.status_code == 200, linked
        total += len(fetched.content)
    return total


def member_code_of(app: Litestar, member: Member) -> str:
    return cards.member_code(app.state.settings, member.id).code


def notice_of(html: str) -> str:
    found = re.search(r'id="notice"[^>]*>(.*?)</div>', html, re.S)
    assert found, "the page says nothing about what happened"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


# -- guards ------------------------------------------------------------------------------------


async def test_strangers_are_sent_to_sign_in(app: Litestar, organizer: Member) -> None:
    made = await running_activity(organizer)
    async with browser(app) as client:
        for path in ("/organizer", "/organizer/activities/new", f"/organizer/activities/{made['id']}",
                     f"/organizer/activities/{made['id']}/screen"):
            response = await client.get(path)
            assert response.status_code == 303 and response.headers["location"] == f"/signin?next={path}"


@pytest.mark.parametrize(("language", "text"), [
    ("zh", "您没有权限进行此操作"), ("en", "You are not allowed to do this"),
])
async def test_a_resident_gets_the_403_page(
    app: Litestar, organizer: Member, resident: Member, language: str, text: str
) -> None:
    made = await running_activity(organizer)
    base = f"/organizer/activities/{made['id']}"
    async with browser(app, language) as client:
        await sign_in_resident(client, resident)
        csrf = csrf_of((await client.get("/")).text)
        for path in ("/organizer", "/organizer/activities/new", base, f"{base}/scan", f"{base}/screen",
                     f"{base}/poster", f"{base}/cancel"):
            response = await client.get(path)
            assert response.status_code == 403, path
            assert response.headers["content-type"].startswith("text/html") and text in response.text
        posted = await client.post(f"{base}/attendance", data={
            "csrf": csrf, "member_code": member_code_of(app, resident), "direction": "in"})
        assert posted.status_code == 403
    assert await balance(resident) == "0.00"


async def sign_in_resident(client: httpx.AsyncClient, resident: Member) -> None:
    form = await client.get("/signin")
    response = await client.post("/signin", data={
        "csrf": csrf_of(form.text), "login": resident.phone, "secret": resident.pin})
    assert response.status_code == 303


async def test_another_communitys_or_organizers_activity_is_404(
    app: Litestar, organizer: Member, enrol: Enrol, ledger: Ledger
) -> None:
    made = await running_activity(organizer)
    other = await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(4)}")
    strangers = [await enrol("admin", community_id=other.id), await enrol("organizer")]
    for stranger in strangers:
        async with browser(app, "en") as client:
            await staff_sign_in(client, stranger)
            for suffix in ("", "/edit", "/scan", "/screen", "/poster", "/cancel"):
                response = await client.get(f"/organizer/activities/{made['id']}{suffix}")
                assert response.status_code == 404, suffix
                assert "Not found" in response.text and "楼道清扫" not in response.text
            assert "楼道清扫" not in (await client.get("/organizer")).text


async def test_an_admin_may_manage_the_communitys_activities(
    app: Litestar, organizer: Member, admin: Member
) -> None:
    made = await running_activity(organizer)
    async with browser(app) as client:
        await staff_sign_in(client, admin)
        assert "楼道清扫" in (await client.get("/organizer")).text
        assert (await client.get(f"/organizer/activities/{made['id']}")).status_code == 200


# -- every page renders, in both languages -----------------------------------------------------


@pytest.mark.parametrize(("language", "marks"), [
    ("zh", {"/organizer": ["我组织的活动", "正在进行", "即将开始", "新建活动"],
            "new": ["新建活动", "北京时间", "签到得分"],
            "activity": ["签到情况", "显示签到码", "扫描居民会员码"],
            "edit": ["修改活动", "保存修改"],
            "scan": ["扫描居民会员码", "会员码（或会员卡上的码）"],
            "screen": ["用手机相机或微信扫一扫签到", "距离更新还有"],
            "poster": ["打印海报", "签到得 5.00 积分", "用手机相机或微信扫一扫签到",
                       "经您审核通过后才发放积分"],
            "cancel": ["要取消这个活动吗？", "不能撤销"]}),
    ("en", {"/organizer": ["My activities", "Going on now", "Coming up", "Create an activity"],
            "new": ["Create an activity", "Beijing time", "Points for checking in"],
            "activity": ["Attendance", "Show the check-in code", "Scan residents' codes"],
            "edit": ["Edit the activity", "Save the changes"],
            "scan": ["Scan residents' codes", "Member code or card code"],
            "screen": ["Scan with your phone camera or WeChat to check in", "New code in"],
            "poster": ["Print the poster", "5.00 points for checking in", "wait for your approval"],
            "cancel": ["Cancel the activity?", "cannot be undone"]}),
])
async def test_every_page_renders(
    app: Litestar, organizer: Member, language: str, marks: dict[str, list[str]]
) -> None:
    now = await running_activity(organizer)
    later = await future_activity(organizer, title="读书会")
    base = f"/organizer/activities/{now['id']}"
    paths = {
        "/organizer": "/organizer", "new": "/organizer/activities/new", "activity": base,
        "edit": f"/organizer/activities/{later['id']}/edit", "scan": f"{base}/scan",
        "screen": f"{base}/screen", "poster": f"{base}/poster", "cancel": f"{base}/cancel",
    }
    async with browser(app, language) as client:
        await staff_sign_in(client, organizer)
        for name, path in paths.items():
            response = await client.get(path)
            assert response.status_code == 200, (path, response.text)
            assert f'lang="{"en" if language == "en" else "zh-CN"}"' in response.text
            assert response.headers["cache-control"] == "no-store"
            for mark in marks[name]:
                assert mark in response.text, (path, mark)
            # Every control has a label.
            for control in re.findall(r'<(?:input|select|textarea)\b[^>]*\bid="([^"]+)"', response.text):
                assert f'for="{control}"' in response.text, (path, control)
            assert await page_bytes(client, path) < MAX_PAGE_BYTES


async def test_my_activities_are_grouped_with_their_counts(
    app: Litestar, organizer: Member, resident: Member, enrol: Enrol
) -> None:
    ongoing = await running_activity(organizer, title="正在进行的活动")
    await future_activity(organizer, title="以后的活动")
    await organizer.client.post(f"/api/activities/{ongoing['id']}/attendance", json={
        "member_code": member_code_of(app, resident)})
    someone_elses = await enrol("organizer")
    await running_activity(someone_elses, title="别人的活动")
    async with browser(app) as client:
        await staff_sign_in(client, organizer)
        html = (await client.get("/organizer")).text
    now_part, _, later_part = html.partition('id="group-upcoming"')
    assert "正在进行的活动" in now_part and "1 人签到" in now_part and "1 人在场" in now_part
    assert "以后的活动" in later_part and "别人的活动" not in html


# -- the activity form -------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "why"), [
    ("zh", "结束时间须晚于开始时间"), ("en", "The end must be after the start"),
])
async def test_a_refused_form_keeps_the_input_and_says_why(
    app: Litestar, organizer: Member, language: str, why: str
) -> None:
    async with browser(app, language) as client:
        await staff_sign_in(client, organizer)
        csrf = csrf_of((await client.get("/organizer/activities/new")).text)
        sent = activity_form(csrf, title="重阳节敬老", location="老年活动室", points_per_checkin="3.5")
        sent["ends_at"] = sent["starts_at"]
        response = await client.post("/organizer/activities/new", data=sent)
        assert response.status_code == 400
        assert why in response.text and 'id="ends_at-error"' in response.text
        for value in ("重阳节敬老", "老年活动室", "3.5", sent["starts_at"]):
            assert f'value="{value}"' in response.text
        assert 'value="volunteer_service" checked' in response.text
        # What the form itself cannot read is named, field by field.
        unreadable = activity_form(csrf, category="", starts_at="tomorrow", points_per_hour="ten")
        response = await client.post("/organizer/activities/new", data=unreadable)
        assert response.status_code == 400
        for field in ("category", "starts_at", "points_per_hour"):
            assert f'id="{field}-error"' in response.text
        assert 'value="tomorrow"' in response.text and 'value="ten"' in response.text
    assert (await organizer.client.get("/api/activities")).json()["items"] == []


async def test_create_then_it_appears_in_my_list(app: Litestar, organizer: Member) -> None:
    async with browser(app, "en") as client:
        await staff_sign_in(client, organizer)
        csrf = csrf_of((await client.get("/organizer/activities/new")).text)
        sent = activity_form(csrf, max_hours="1.5", capacity="３０", requires_approval="on")
        response = await client.post("/organizer/activities/new", data=sent)
        assert response.status_code == 303, response.text
        target = response.headers["location"]
        assert re.fullmatch(r"/organizer/activities/\d+\?created=1", target)
        shown = await client.get(target)
        assert "The activity is created" in notice_of(shown.text)
        listed = (await client.get("/organizer")).text
    made = (await organizer.client.get("/api/activities")).json()["items"][0]
    assert made["title"] == "社区义诊" and made["category"] == "volunteer_service"
    assert made["max_hours"] == "1.50" and made["capacity"] == 30 and made["requires_approval"]
    # The times typed were Beijing time.
    assert datetime.fromisoformat(made["starts_at"]).astimezone(BEIJING).strftime(
        BEIJING_FORM) == sent["starts_at"]
    assert "社区义诊" in listed.partition('id="group-upcoming"')[2]


async def test_who_may_check_in_is_chosen_from_the_community(
    app: Litestar, organizer: Member, community: communities.CommunityView
) -> None:
    from market.community import structure

    grid = await structure.create_grid(community.id, "第三网格")
    team = await structure.create_team(community.id, "红马甲志愿服务队")
    compound = await structure.create_compound(community.id, "幸福小区")
    building = await structure.create_building(community.id, compound.id, "5 号楼")
    async with browser(app) as client:
        await staff_sign_in(client, organizer)
        form = (await client.get("/organizer/activities/new")).text
        for name in ("第三网格", "红马甲志愿服务队", "幸福小区 5 号楼"):
            assert name in form
        sent = activity_form(csrf_of(form), team_id=str(team.id)) | {
            "grid_ids": [str(grid.id)], "building_ids": [str(building.id)]}
        response = await client.post("/organizer/activities/new", data=sent)
        assert response.status_code == 303, response.text
        made = (await organizer.client.get("/api/activities")).json()["items"][0]
        chosen = (made["team_id"], made["grid_ids"], made["building_ids"])
        assert chosen == (team.id, [grid.id], [building.id])
        # Another community's (or a made-up) grid is refused, the choices kept.
        refused = await client.post("/organizer/activities/new", data=sent | {"grid_ids": ["999999"]})
        assert refused.status_code == 400 and "请选择本社区现有" in refused.text
        assert f'value="{team.id}" selected' in refused.text
        assert f'value="{building.id}" checked' in refused.text


async def test_edit_until_it_starts(app: Litestar, organizer: Member) -> None:
    later = await future_activity(organizer, max_hours="2")
    path = f"/organizer/activities/{later['id']}/edit"
    async with browser(app, "en") as client:
        await staff_sign_in(client, organizer)
        form = (await client.get(path)).text
        assert 'value="楼道清扫"' in form and 'value="2.00"' in form
        sent = activity_form(csrf_of(form), title="楼道大扫除", max_hours="3")
        response = await client.post(path, data=sent)
        assert response.status_code == 303 and response.headers["location"].endswith("?saved=1")
        # A limit emptied is refused (the service keeps what it is not given), input kept.
        refused = await client.post(path, data=sent | {"max_hours": "", "title": "又改名"})
        assert refused.status_code == 400 and "cannot be removed" in refused.text
        assert 'value="又改名"' in refused.text
        # Once it started (someone checked in), the form is gone and says why.
        running = await running_activity(organizer)
        locked = await client.get(f"/organizer/activities/{running['id']}/edit")
        assert locked.status_code == 409 and "it cannot be edited" in locked.text
        assert 'name="title"' not in locked.text
        late = await client.post(f"/organizer/activities/{running['id']}/edit",
                                 data=activity_form(csrf_of(form), title="改名"))
        assert late.status_code == 409 and 'value="改名"' in late.text
    changed = (await organizer.client.get(f"/api/activities/{later['id']}")).json()
    assert changed["title"] == "楼道大扫除" and changed["max_hours"] == "3.00"
    assert (await organizer.client.get(f"/api/activities/{running['id']}")).json()["title"] == "楼道清扫"


# -- attendance: check-in by code, approvals, hours, cancelling --------------------------------


async def test_check_in_by_a_typed_code_appears_in_the_attendance(
    app: Litestar, organizer: Member, resident: Member
) -> None:
    made = await running_activity(organizer)
    base = f"/organizer/activities/{made['id']}"
    async with browser(app) as client:
        await staff_sign_in(client, organizer)
        page = (await client.get(f"{base}/scan")).text
        assert 'name="member_code"' in page and "autofocus" in page
        # As a phone keyboard or a USB scanner may type it: lower case, spaces around.
        typed = f"  {member_code_of(app, resident).lower()} "
        response = await client.post(f"{base}/attendance", data={
            "csrf": csrf_of(page), "member_code": typed, "direction": "in", "back": "scan"})
        assert response.status_code == 303
        assert response.headers["location"].startswith(f"{base}/scan?scanned={resident.id}&direction=in")
        shown = (await client.get(response.headers["location"])).text
        assert "李阿姨" in notice_of(shown) and "签到" in notice_of(shown) and "5.00" in notice_of(shown)
        assert 'id="count-came">1<' in shown
        activity_page = (await client.get(base)).text
        assert "李阿姨" in activity_page and resident.phone not in activity_page
        assert 'data-value="in"' in activity_page
        # The JSON the page refreshes itself from, with the session cookie.
        listed = (await client.get(f"/api/activities/{made['id']}/attendance")).json()["items"]
        assert [(s["person_id"], s["status"], s["points"]) for s in listed] == [(resident.id, "in", "5.00")]
        # Again: nothing more credited, and the page says so.
        again = await client.post(f"{base}/attendance", data={
            "csrf": csrf_of(page), "member_code": typed, "direction": "in"})
        assert "已经签到过" in notice_of((await client.get(again.headers["location"])).text)
        out = await client.post(f"{base}/attendance", data={
            "csrf": csrf_of(page), "member_code": typed, "direction": "out"})
        assert "签退" in notice_of((await client.get(out.headers["location"])).text)
    assert await balance(resident) == "5.00"


@pytest.mark.parametrize(("language", "bad", "card"), [
    ("zh", "二维码无效", "卡号"), ("en", "The code is not valid", "card number"),
])
async def test_a_bad_code_is_refused_with_the_input_kept(
    app: Litestar, organizer: Member, resident: Member, language: str, bad: str, card: str
) -> None:
    made = await running_activity(organizer)
    base = f"/organizer/activities/{made['id']}"
    async with browser(app, language) as client:
        await staff_sign_in(client, organizer)
        csrf = csrf_of((await client.get(base)).text)
        for back, code, text in (("scan", "NOT-A-CODE", bad), ("activity", resident.card_no, card)):
            response = await client.post(f"{base}/attendance", data={
                "csrf": csrf, "member_code": code, "direction": "out", "back": back})
            assert response.status_code == 400, response.text
            assert text in response.text and 'role="alert"' in response.text
            assert f'value="{code}"' in response.text
            assert 'value="out" checked' in response.text
    assert await balance(resident) == "0.00"


async def test_approve_and_reject_pending_attendance(
    app: Litestar, organizer: Member, resident: Member, enrol: Enrol
) -> None:
    made = await running_activity(organizer, requires_approval=True)
    base = f"/organizer/activities/{made['id']}"
    other = await enrol("resident", name="王大爷")
    third = await enrol("resident", name="赵奶奶")
    async with browser(app, "en") as client:
        await staff_sign_in(client, organizer)
        csrf = csrf_of((await client.get(base)).text)
        for person in (resident, other, third):
            await client.post(f"{base}/attendance", data={
                "csrf": csrf, "member_code": member_code_of(app, person), "direction": "in"})
        page = (await client.get(base)).text
        assert page.count('data-value="pending"') == 3 and 'id="count-pending">3<' in page
        # One by one …
        approved = await client.post(f"{base}/approve", data={"csrf": csrf, "person_id": str(resident.id)})
        assert approved.headers["location"] == f"{base}?approved=1&credited=5.00"
        shown = (await client.get(approved.headers["location"])).text
        assert "1 approved; 5.00 points credited" in notice_of(shown)
        # … a rejection needs a reason (kept when refused) …
        form = await client.get(f"{base}/reject", params={"person": other.id})
        assert form.status_code == 200 and "王大爷" in form.text
        refused = await client.post(f"{base}/reject", data={"csrf": csrf, "person_id": str(other.id),
                                                            "reason": " "})
        assert refused.status_code == 400 and "Give a reason" in refused.text
        rejected = await client.post(f"{base}/reject", data={
            "csrf": csrf, "person_id": str(other.id), "reason": "没有参加"})
        assert rejected.headers["location"] == f"{base}?rejected=1"
        # … and all the rest at once.
        everyone = await client.post(f"{base}/approve", data={"csrf": csrf})
        assert everyone.headers["location"] == f"{base}?approved=1&credited=5.00"
        page = (await client.get(base)).text
        assert 'data-value="pending"' not in page and 'id="approve-all" hidden' in page
    assert [await balance(m) for m in (resident, other, third)] == ["5.00", "0.00", "5.00"]


async def test_set_the_hours_of_a_stay_that_never_checked_out(
    app: Litestar, organizer: Member, resident: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await running_activity(organizer)
    base = f"/organizer/activities/{made['id']}"
    await organizer.client.post(f"/api/activities/{made['id']}/attendance", json={
        "member_code": member_code_of(app, resident)})
    async with browser(app, "en") as client:
        await staff_sign_in(client, organizer)
        csrf = csrf_of((await client.get(base)).text)
        early = await client.get(f"{base}/hours", params={"person": resident.id})
        assert early.status_code == 409 and "closed without a check-out" in early.text
        ended = datetime.fromisoformat(made["ends_at"]) + timedelta(hours=3)
        monkeypatch.setattr(clock, "clock", lambda: ended)
        page = (await client.get(base)).text
        assert 'data-value="closed"' in page and f"hours?person={resident.id}" in page
        refused = await client.post(f"{base}/hours", data={
            "csrf": csrf, "person_id": str(resident.id), "hours": "1.5", "reason": ""})
        assert refused.status_code == 400 and 'value="1.5"' in refused.text
        assert "Give a reason" in refused.text
        done = await client.post(f"{base}/hours", data={
            "csrf": csrf, "person_id": str(resident.id), "hours": "1.5", "reason": "忘记签退"})
        assert done.status_code == 303 and done.headers["location"] == f"{base}?hours={resident.id}"
        assert "李阿姨" in notice_of((await client.get(done.headers["location"])).text)
    assert await balance(resident) == "20.00"  # 5 for checking in, 1.5 h × 10


async def test_cancel_behind_a_confirmation_reverses_the_credits(
    app: Litestar, organizer: Member, resident: Member
) -> None:
    made = await running_activity(organizer)
    base = f"/organizer/activities/{made['id']}"
    async with browser(app) as client:
        await staff_sign_in(client, organizer)
        csrf = csrf_of((await client.get(base)).text)
        await client.post(f"{base}/attendance", data={
            "csrf": csrf, "member_code": member_code_of(app, resident), "direction": "in"})
        assert await balance(resident) == "5.00"
        confirm = await client.get(f"{base}/cancel")
        assert "已有 1 人签到" in confirm.text and 'name="reason"' in confirm.text
        refused = await client.post(f"{base}/cancel", data={"csrf": csrf, "reason": ""})
        assert refused.status_code == 400 and "请填写原因" in refused.text
        done = await client.post(f"{base}/cancel", data={"csrf": csrf, "reason": "暴雨停办"})
        assert done.status_code == 303
        assert done.headers["location"] == f"{base}?cancelled=1&reversed=1&not_reversed=0"
        page = (await client.get(done.headers["location"])).text
        assert "1 笔积分已收回" in notice_of(page) and "暴雨停办" in page
        assert 'name="member_code"' not in page and f"{base}/cancel" not in page
        assert "已取消" in (await client.get("/organizer")).text
    assert await balance(resident) == "0.00"


async def test_every_post_needs_the_csrf_token(app: Litestar, organizer: Member, resident: Member) -> None:
    made = await running_activity(organizer)
    base = f"/organizer/activities/{made['id']}"
    code = member_code_of(app, resident)
    posts = {
        "/organizer/activities/new": activity_form(""),
        f"{base}/edit": activity_form("", title="改名"),
        f"{base}/attendance": {"member_code": code, "direction": "in"},
        f"{base}/approve": {},
        f"{base}/reject": {"person_id": str(resident.id), "reason": "x"},
        f"{base}/hours": {"person_id": str(resident.id), "hours": "1", "reason": "x"},
        f"{base}/cancel": {"reason": "x"},
    }
    async with browser(app, "en") as client:
        await staff_sign_in(client, organizer)
        for path, data in posts.items():
            for token in (None, "forged-" + secrets.token_hex(8)):
                sent = {k: v for k, v in data.items() if k != "csrf"} | ({"csrf": token} if token else {})
                response = await client.post(path, data=sent)
                assert response.status_code == 403, (path, response.text)
                assert "reload the page" in response.text
    assert await balance(resident) == "0.00"
    found = (await organizer.client.get(f"/api/activities/{made['id']}")).json()
    assert found["status"] == "scheduled" and found["title"] == "楼道清扫"
    assert len((await organizer.client.get("/api/activities")).json()["items"]) == 1


# -- the screen code and the poster --------------------------------------------------------------


async def test_the_screen_shows_the_current_code(app: Litestar, organizer: Member) -> None:
    made = await running_activity(organizer)
    async with browser(app) as client:
        await staff_sign_in(client, organizer)
        html = (await client.get(f"/organizer/activities/{made['id']}/screen")).text
        token = re.search(r'data-token="([A-Z0-9]+)"', html).group(1)
        assert f'src="/api/activities/{made["id"]}/code.png?v={token}"' in html
        assert activities.checkin_activity(cards.signer_for(app.state.settings), token,
                                           activities.now()) == made["id"]
        refresh = int(re.search(r'data-refresh="(\d+)"', html).group(1))
        assert 1 <= refresh <= 30
        assert f'<meta http-equiv="refresh" content="{refresh}">' in html  # without JS
        assert f'href="/organizer/activities/{made["id"]}/screen"' in html  # the reload link
        # What organizer.js fetches, with the session cookie alone.
        code = await client.get(f"/api/activities/{made['id']}/code")
        assert code.status_code == 200 and code.json()["refresh_in"] >= 1
        picture = await client.get(f"/api/activities/{made['id']}/code.png?v={token}")
        assert picture.headers["content-type"] == "image/png"


async def test_the_poster_is_an_a4_page_with_the_poster_code(app: Litestar, organizer: Member) -> None:
    made = await running_activity(organizer, max_hours="1.5", requires_approval=True)
    async with browser(app) as client:
        await staff_sign_in(client, organizer)
        html = (await client.get(f"/organizer/activities/{made['id']}/poster")).text
        for text in ("楼道清扫", "3 号楼", "集体劳动", "签到得 5.00 积分", "每小时 10.00 积分",
                     "最多计 1.50 小时", "组织者确认", "用手机相机或微信扫一扫签到"):
            assert text in html, text
        assert f'src="/api/activities/{made["id"]}/poster.png"' in html
        picture = await client.get(f"/api/activities/{made['id']}/poster.png")
        assert picture.headers["content-type"] == "image/png"
        css = (await client.get(re.search(r'href="(/static/organizer\.css[^"]*)"', html).group(1))).text
    assert "@page { size: A4" in css and "@media print" in css


# -- the service's list of managed activities ------------------------------------------------


async def test_managed_activities_are_my_own_with_counts(
    app: Litestar, organizer: Member, admin: Member, enrol: Enrol, resident: Member
) -> None:
    from market.auth import sessions

    mine = await running_activity(organizer)
    theirs = await running_activity(await enrol("organizer"))
    await organizer.client.post(f"/api/activities/{mine['id']}/attendance", json={
        "member_code": member_code_of(app, resident)})
    as_organizer = await sessions.resolve(organizer.token, via="bearer")
    as_admin = await sessions.resolve(admin.token, via="bearer")
    listed = await activities.managed(as_organizer)
    assert [(m.activity.id, m.checked_in, m.present) for m in listed] == [(mine["id"], 1, 1)]
    assert {m.activity.id for m in await activities.managed(as_admin)} == {mine["id"], theirs["id"]}
