"""The 民声 pages (issue 18) over HTTP, on both engines: every page in both languages, the role
guards (a stranger is sent to sign in, a shop keeper or a plain resident gets the 403 page), the
forms' CSRF, refusals shown beside their field with what was typed kept and the reason in the
reader's language, another community's request a 404, a confirmation sent twice crediting once,
the grid worker's list and assisted form, and the office's board and terms."""

import contextlib
import io
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar
from PIL import Image

from market.community import doorplates
from market.community import service as communities
from market.db import fetch
from market.tables import GridWorker, Household
from tests.market import records
from tests.market.support import Enrol, Member, balance
from tests.market.test_help_requests import home, neighbour_of
from tests.web.support import browser, csrf_of, sign_in
from tests.web.test_admin import staff_sign_in

REQUEST_ID = re.compile(r"^/help/(\d+)\?done=")

#: Every page (GET) and who may open it; ``{id}`` is a request of the community.
PAGES = {
    "/help": ("resident", "organizer", "admin"),
    "/help/new": ("resident",),
    "/help/{id}": ("resident", "organizer", "admin"),
    "/help/grid": ("grid worker",),
    "/help/assisted": ("grid worker", "organizer", "admin"),
    "/admin/help": ("organizer", "admin"),
    "/admin/help/terms": ("admin",),
}
#: Every form (POST), its fields, and who may send it at all (the step itself may still refuse).
FORMS = {
    "/help/new": ("resident",),
    "/help/assisted": ("grid worker", "organizer", "admin"),
    "/help/{id}/claim": ("resident",),
    "/help/{id}/release": ("resident", "organizer", "admin"),
    "/help/{id}/confirm": ("resident", "organizer", "admin"),
    "/help/{id}/dispute": ("resident", "organizer", "admin"),
    "/help/{id}/withdraw": ("resident", "organizer", "admin"),
    "/help/{id}/review": ("organizer", "admin"),
    "/help/{id}/resolve": ("organizer", "admin"),
    "/help/{id}/photo": ("resident", "organizer", "admin"),
    "/admin/help/terms": ("admin",),
}


@contextlib.asynccontextmanager
async def signed(app: Litestar, member: Member, language: str | None = None
                 ) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client signed in as the member (staff with their password)."""
    async with browser(app, language) as client:
        if member.password:
            await staff_sign_in(client, member, "/")
        else:
            await sign_in(client, member)
        yield client


async def token(client: httpx.AsyncClient) -> str:
    return csrf_of((await client.get("/")).text)


async def post_request(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    data = {"csrf": await token(client), "body": "厨房水龙头漏水，请帮忙修一下", "category": "repair",
            "visibility": "building"} | fields
    return await client.post("/help/new", data=data)


def request_id(response: httpx.Response) -> int:
    assert response.status_code == 303, response.text
    found = REQUEST_ID.match(response.headers["location"])
    assert found, response.headers["location"]
    return int(found.group(1))


@pytest.fixture
async def neighbours(enrol: Enrol, community: communities.CommunityView) -> tuple[Member, Member, int]:
    """王奶奶 (asking) and 刘志愿 (helping), in two households of one building and grid; the grid."""
    asker = await enrol("resident", name="王奶奶")
    helper = await enrol("resident", name="刘志愿")
    household_id = await home(community.id, asker)
    await home(community.id, helper, household_id=await neighbour_of(community.id, household_id))
    grid = (await Household.select(Household.grid).where(Household.id == household_id).first())["grid"]
    return asker, helper, grid


# -- the whole round, in both languages -------------------------------------------------------------


@pytest.mark.parametrize(("language", "marks"), [
    ("zh", {"title": "民声求助", "posted": "求助已发布", "claimed": "您已认领", "done": "已完成",
            "confirm": "确认已完成", "near": "附近的求助"}),
    ("en", {"title": "Help requests (民声)", "posted": "Your request is posted", "claimed": "You took it on",
            "done": "Done", "confirm": "Confirm it was done", "near": "Nearby"}),
])
async def test_ask_take_on_and_confirm_through_the_pages(
    app: Litestar, neighbours: tuple[Member, Member, int], language: str, marks: dict[str, str]
) -> None:
    asker, helper, _ = neighbours
    async with signed(app, asker, language) as mine, signed(app, helper, language) as theirs:
        assert 'href="/help"' in (await mine.get("/")).text  # on the home page's menu
        assert 'href="/help/new"' in (await mine.get("/household")).text
        form = await mine.get("/help/new")
        assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
        posted = await post_request(mine)
        number = request_id(posted)
        shown = await mine.get(posted.headers["location"])
        assert marks["posted"] in shown.text and "厨房水龙头漏水" in shown.text
        assert 'id="withdraw-button"' in shown.text and 'id="claim-button"' not in shown.text

        near = await theirs.get("/help")
        assert near.status_code == 200 and f"<h1>{marks['title']}</h1>" in near.text
        assert marks["near"] in near.text and f'id="request-{number}"' in near.text
        assert "王*奶" in near.text and "王奶奶" not in near.text  # masked
        taken = await theirs.post(f"/help/{number}/claim", data={"csrf": await token(theirs)})
        assert taken.status_code == 303 and taken.headers["location"] == f"/help/{number}?done=claim#request"
        page = await theirs.get(f"/help/{number}?done=claim")
        assert marks["claimed"] in page.text and 'id="release-button"' in page.text
        assert 'id="confirm-button"' not in page.text  # never for the volunteer
        listed = await theirs.get("/help?list=claimed")
        assert f'id="request-{number}"' in listed.text and 'aria-current="page"' in listed.text

        detail = await mine.get(f"/help/{number}")
        assert marks["confirm"] in detail.text and "刘*愿" in detail.text
        csrf = csrf_of(detail.text)
        for _ in range(2):  # the button pressed twice: one credit
            done = await mine.post(f"/help/{number}/confirm", data={"csrf": csrf, "hours": "１.５"})
            assert done.status_code == 303, done.text
        finished = await mine.get(f"/help/{number}")
        assert marks["done"] in finished.text and 'id="request-points">20<' in finished.text
    assert await balance(helper) == "20.00"  # 5 + 10 × 1.5, the default rates, once
    credits = await fetch("SELECT COUNT(*) AS n FROM help_request WHERE id = {} AND state = 'done'", number)
    assert credits[0]["n"] == 1


async def test_the_menus_lead_to_the_help_pages(
    app: Litestar, enrol: Enrol, community: communities.CommunityView, neighbours: tuple[Member, Member, int]
) -> None:
    """Home and the household for a resident, the doorplate for whoever scans it, the office's menus."""
    asker, _, _ = neighbours
    household_id = (await fetch("SELECT household FROM person WHERE id = {}", asker.id))[0]["household"]
    plate = await doorplates.plate(community.id, household_id, settings=app.state.settings,
                                   request_base="http://test/")
    async with browser(app) as stranger:
        door = await stranger.get(httpx.URL(plate.url).path)
        assert door.status_code == 200 and 'href="/signin?next=/help/new"' in door.text
    async with signed(app, asker) as mine:
        assert 'id="to-help"' in (await mine.get("/")).text
        assert 'id="household-help"' in (await mine.get("/household")).text
        assert 'id="to-grid"' not in (await mine.get("/help")).text  # not a grid worker
    for roles in (("organizer",), ("admin",)):
        async with signed(app, await enrol(*roles)) as office:
            assert 'id="to-help-board"' in (await office.get("/")).text
            if roles == ("admin",):
                assert 'href="/admin/help"' in (await office.get("/admin")).text


# -- guards ------------------------------------------------------------------------------------------


async def test_each_page_and_form_lets_in_only_its_people(
    app: Litestar, enrol: Enrol, community: communities.CommunityView, shopkeeper: Member,
    neighbours: tuple[Member, Member, int],
) -> None:
    asker, _, grid = neighbours
    number = await records.help_request(community.id)
    worker = await enrol("resident", name="网格员吴")
    await GridWorker.insert(GridWorker(grid=grid, person=worker.id))
    people = {
        "resident": asker, "grid worker": worker, "shopkeeper": shopkeeper,
        "organizer": await enrol("organizer"), "admin": await enrol("admin"),
    }
    async with browser(app) as stranger:
        for path in [*PAGES, *FORMS]:
            url = path.replace("{id}", str(number))
            if path in PAGES:
                answer = await stranger.get(url)
                assert answer.status_code == 303 and answer.headers["location"] == f"/signin?next={url}", url
            if path in FORMS:
                answer = await stranger.post(url, data={"csrf": "x" * 30})
                assert answer.status_code == 303 and answer.headers["location"].startswith("/signin"), url
    for role, member in people.items():
        async with signed(app, member, "en") as client:
            for path, allowed in PAGES.items():
                url = path.replace("{id}", str(number))
                answer = await client.get(url)
                # A grid worker here is a resident too: the resident's pages are theirs as well.
                may = role in allowed or (role == "grid worker" and "resident" in allowed)
                assert (answer.status_code == 200) == may, (role, url, answer.status_code)
                if not may:
                    assert answer.status_code == 403 and "You are not allowed to do this" in answer.text
            for path, allowed in FORMS.items():
                url = path.replace("{id}", str(number))
                may = role in allowed or (role == "grid worker" and "resident" in allowed)
                if not may:
                    answer = await client.post(url, data={"csrf": await token(client)})
                    assert answer.status_code == 403, (role, url, answer.status_code)
    assert (await fetch("SELECT state FROM help_request WHERE id = {}", number))[0]["state"] == "open"


async def test_another_communitys_request_is_not_found(
    app: Litestar, enrol: Enrol, ledger, neighbours: tuple[Member, Member, int]
) -> None:
    other = await communities.get_or_create(ledger, "乙社区-民声页面")
    theirs = await records.help_request(other.id, body="乙社区的求助")
    _, helper, _ = neighbours
    office = await enrol("admin", "organizer")
    for member in (helper, office):
        async with signed(app, member) as client:
            csrf = await token(client)
            assert (await client.get(f"/help/{theirs}")).status_code == 404
            for step in ("claim", "release", "confirm", "dispute", "withdraw", "review", "resolve"):
                answer = await client.post(f"/help/{theirs}/{step}", data={
                    "csrf": csrf, "hours": "1", "reason": "x", "decision": "confirm"})
                assert answer.status_code in (403, 404), (step, answer.status_code)
                assert "乙社区的求助" not in answer.text
            board = await client.get("/admin/help") if member is office else None
            assert board is None or "乙社区的求助" not in board.text
    assert (await fetch("SELECT state FROM help_request WHERE id = {}", theirs))[0]["state"] == "open"


async def test_forms_need_the_csrf_token(app: Litestar, neighbours: tuple[Member, Member, int]) -> None:
    asker, helper, _ = neighbours
    async with signed(app, asker) as mine, signed(app, helper) as theirs:
        refused = await mine.post("/help/new", data={"csrf": "forged" * 5, "body": "帮忙买药",
                                                     "category": "elder_care", "visibility": "building"})
        assert refused.status_code == 403 and "请刷新页面" in refused.text and "帮忙买药" in refused.text
        number = request_id(await post_request(mine))
        forged = await theirs.post(f"/help/{number}/claim", data={"csrf": "forged" * 5})
        assert forged.status_code == 403
    rows = await fetch("SELECT state FROM help_request WHERE requester = {}", asker.id)
    assert [row["state"] for row in rows] == ["open"]


# -- refusals keep what was typed --------------------------------------------------------------------


@pytest.mark.parametrize(("language", "texts"), [
    ("zh", ("您还没有登记户籍住址", "请用 1 到 500 个字说明", "请选择求助类别", "服务时长须大于 0",
            "请填写服务时长", "志愿服务须由求助人或网格员确认")),
    ("en", ("You are in no household yet", "Describe what you need in 1 to 500 characters",
            "Choose what kind of help you need", "Hours must be more than 0",
            "Enter how many hours the volunteer worked",
            "work is confirmed by the requester or the grid worker")),
])
async def test_a_refused_form_keeps_what_was_typed_and_says_why(
    app: Litestar, enrol: Enrol, neighbours: tuple[Member, Member, int], language: str,
    texts: tuple[str, ...],
) -> None:
    no_home, blank, no_category, bad_hours, no_hours, self_confirm = texts
    homeless = await enrol("resident", name="无户籍")
    async with signed(app, homeless, language) as client:
        refused = await post_request(client, body="楼道灯坏了", category="repair", visibility="building")
        assert refused.status_code == 400 and no_home in refused.text
        assert 'data-reason="help_needs_household"' in refused.text
        assert ">楼道灯坏了</textarea>" in refused.text
        assert 'value="repair" selected' in refused.text and 'value="building" checked' in refused.text
        both = await post_request(client, body="   ", category="", visibility="community")
        assert both.status_code == 400 and blank in both.text and no_category in both.text
        assert 'id="body-error"' in both.text and 'id="category-error"' in both.text
        assert 'value="community" checked' in both.text
    asker, helper, _ = neighbours
    async with signed(app, asker, language) as mine, signed(app, helper, language) as theirs:
        number = request_id(await post_request(mine))
        await theirs.post(f"/help/{number}/claim", data={"csrf": await token(theirs)})
        csrf = await token(mine)
        for typed, text in (("abc", bad_hours), ("30", bad_hours), ("", no_hours)):
            answer = await mine.post(f"/help/{number}/confirm", data={"csrf": csrf, "hours": typed})
            assert answer.status_code == 400 and text in answer.text, (typed, answer.text)
            assert 'id="hours-error"' in answer.text and f'value="{typed}"' in answer.text
        # The volunteer's own confirmation, sent straight to the form's address: refused, and said why.
        own = await theirs.post(f"/help/{number}/confirm", data={"csrf": await token(theirs), "hours": "1"})
        assert own.status_code == 409 and self_confirm in own.text
        assert 'data-reason="help_self_confirm"' in own.text
        disputed = await mine.post(f"/help/{number}/dispute", data={"csrf": csrf, "reason": "  "})
        assert disputed.status_code == 400 and 'id="reason-error"' in disputed.text
    assert await balance(helper) == "0.00"


async def test_a_photo_is_added_and_a_broken_one_refused(
    app: Litestar, neighbours: tuple[Member, Member, int]
) -> None:
    asker, helper, _ = neighbours
    picture = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(picture, format="PNG")
    async with signed(app, asker) as mine:
        csrf = await token(mine)
        made = await mine.post("/help/new", data={"csrf": csrf, "body": "墙皮脱落", "category": "repair",
                                                  "visibility": "building"},
                               files={"photo": ("wall.png", picture.getvalue(), "image/png")})
        number = request_id(made)
        page = await mine.get(f"/help/{number}")
        assert f'src="/api/help-requests/{number}/photo.jpg"' in page.text
        jpeg = await mine.get(f"/api/help-requests/{number}/photo.jpg")
        assert jpeg.headers["content-type"] == "image/jpeg"
        broken = await mine.post(f"/help/{number}/photo", data={"csrf": csrf},
                                 files={"photo": ("x.png", b"not a picture", "image/png")})
        assert broken.status_code == 400 and 'id="photo-error"' in broken.text
        none = await mine.post(f"/help/{number}/photo", data={"csrf": csrf},
                               files={"photo": ("", b"", "application/octet-stream")})
        assert none.status_code == 400 and "请先选择一张照片" in none.text
    async with signed(app, helper) as theirs:
        shown = await theirs.get(f"/help/{number}")
        assert 'id="photo-button"' not in shown.text
        refused = await theirs.post(f"/help/{number}/photo", data={"csrf": await token(theirs)},
                                    files={"photo": ("wall.png", picture.getvalue(), "image/png")})
        assert refused.status_code == 409 and 'data-reason="help_not_yours"' in refused.text


# -- grid workers ------------------------------------------------------------------------------------


async def test_a_grid_worker_posts_for_a_resident_of_their_grid(
    app: Litestar, enrol: Enrol, community: communities.CommunityView, neighbours: tuple[Member, Member, int]
) -> None:
    elder, _, grid = neighbours
    stranger = await enrol("resident", name="孙外人")
    await home(community.id, stranger)  # another household, in a grid of its own
    worker = await enrol("resident", name="网格员吴")
    await GridWorker.insert(GridWorker(grid=grid, person=worker.id))
    async with signed(app, worker) as client:
        assert 'id="to-grid"' in (await client.get("/help")).text
        picker = await client.get("/help/assisted")
        assert picker.status_code == 200
        assert f'name="person_id" value="{elder.id}"' in picker.text and "王*奶" in picker.text
        assert f'value="{stranger.id}"' not in picker.text and "孙*人" not in picker.text
        narrowed = await client.get("/help/assisted", params={"q": "刘"})
        assert f'value="{elder.id}"' not in narrowed.text and "刘*愿" in narrowed.text
        csrf = csrf_of(picker.text)
        unchosen = await client.post("/help/assisted", data={"csrf": csrf, "body": "帮忙取药",
                                                             "category": "elder_care", "visibility": "grid"})
        assert unchosen.status_code == 400 and 'id="person_id-error"' in unchosen.text
        assert ">帮忙取药</textarea>" in unchosen.text and 'value="grid" checked' in unchosen.text
        outside = await client.post("/help/assisted", data={
            "csrf": csrf, "person_id": str(stranger.id), "body": "帮忙取药", "category": "elder_care",
            "visibility": "grid"})
        assert outside.status_code == 409 and "只能为您负责网格内的居民代发求助" in outside.text
        assert ">帮忙取药</textarea>" in outside.text
        posted = await client.post("/help/assisted", data={
            "csrf": csrf, "person_id": str(elder.id), "body": "帮忙取药", "category": "elder_care",
            "visibility": "grid"})
        number = request_id(posted)
        assert posted.headers["location"] == f"/help/{number}?done=assisted"
        mine = await client.get("/help/grid")
        assert mine.status_code == 200 and f'id="request-{number}"' in mine.text
        assert "网格员代发" in mine.text
    rows = await fetch("SELECT requester, posted_by FROM help_request WHERE id = {}", number)
    assert (rows[0]["requester"], rows[0]["posted_by"]) == (elder.id, worker.id)


# -- the office --------------------------------------------------------------------------------------


async def test_the_board_counts_by_grid_and_filters(
    app: Litestar, enrol: Enrol, neighbours: tuple[Member, Member, int]
) -> None:
    asker, helper, grid = neighbours
    office = await enrol("organizer")
    async with signed(app, asker) as mine, signed(app, helper) as theirs:
        first = request_id(await post_request(mine))
        second = request_id(await post_request(mine, body="楼上噪音，请社区调解", category="mediation"))
        await theirs.post(f"/help/{first}/claim", data={"csrf": await token(theirs)})
    async with signed(app, office, "zh") as client:
        board = await client.get("/admin/help")
        assert board.status_code == 200
        card = re.search(rf'<li class="grid-card" data-grid="{grid}">(.*?)</li>', board.text, re.S).group(1)
        counts = dict(re.findall(r'data-count="(\w+)">.*?<a [^>]*>(\d+)</a>', card, re.S))
        assert counts == {"review": "1", "open": "0", "claimed": "1", "disputed": "0", "done": "0",
                          "overdue": "0"}
        assert 'id="export-xlsx"' in board.text and "kind=help_requests" in board.text
        assert 'id="to-terms"' not in board.text  # the terms are the admins'
        waiting = await client.get("/admin/help", params={"grid": str(grid), "state": "review"})
        assert f'id="request-{second}"' in waiting.text and f'id="request-{first}"' not in waiting.text
        assert (await client.get("/admin/help", params={"grid": "x"})).status_code == 404
        review = await client.get(f"/help/{second}")
        assert 'id="accept-button"' in review.text
        accepted = await client.post(f"/help/{second}/review", data={"csrf": csrf_of(review.text),
                                                                    "decision": "accept"})
        assert accepted.status_code == 303
        undecided = await client.post(f"/help/{first}/review", data={"csrf": csrf_of(review.text)})
        assert undecided.status_code == 400 and "请选择处理结果" in undecided.text
        # A volunteer who went quiet: the office takes the request back for others.
        held = await client.get(f"/help/{first}")
        assert "收回认领" in held.text
        taken_back = await client.post(f"/help/{first}/release", data={"csrf": csrf_of(held.text)})
        assert taken_back.status_code == 303
    states = await fetch("SELECT id, state FROM help_request WHERE id IN ({}, {})", first, second)
    assert {row["id"]: row["state"] for row in states} == {first: "open", second: "open"}


async def test_a_disputed_claim_is_decided_by_the_office_on_the_request_page(
    app: Litestar, enrol: Enrol, neighbours: tuple[Member, Member, int]
) -> None:
    asker, helper, _ = neighbours
    office = await enrol("organizer")
    async with signed(app, asker) as mine, signed(app, helper) as theirs:
        number = request_id(await post_request(mine))
        await theirs.post(f"/help/{number}/claim", data={"csrf": await token(theirs)})
        disputed = await mine.post(f"/help/{number}/dispute", data={"csrf": await token(mine),
                                                                    "reason": "只修了一半"})
        assert disputed.status_code == 303
        assert 'id="confirm-button"' not in (await mine.get(f"/help/{number}")).text
    async with signed(app, office) as client:
        page = await client.get(f"/help/{number}")
        assert 'id="resolve-button"' in page.text and "只修了一半" in page.text
        csrf = csrf_of(page.text)
        no_hours = await client.post(f"/help/{number}/resolve", data={"csrf": csrf, "decision": "confirm"})
        assert no_hours.status_code == 400 and 'id="hours-error"' in no_hours.text
        assert 'value="confirm" checked' in no_hours.text
        decided = await client.post(f"/help/{number}/resolve", data={"csrf": csrf, "decision": "confirm",
                                                                     "hours": "0.5", "note": "已核实"})
        assert decided.status_code == 303
        assert "处理结果已保存" in (await client.get(decided.headers["location"])).text
    assert await balance(helper) == "10.00"  # 5 + 10 × 0.5


async def test_the_terms_form_shows_every_mistake_and_saves_once_right(
    app: Litestar, admin: Member, community: communities.CommunityView
) -> None:
    async with signed(app, admin, "en") as client:
        form = await client.get("/admin/help/terms")
        assert form.status_code == 200 and 'value="48"' in form.text and 'name="repair.per_hour"' in form.text
        fields = {"csrf": csrf_of(form.text), "escalate_hours": "0", "claims_per_day": "3"}
        for category in ("elder_care", "repair", "mediation", "environment", "other"):
            fields |= {f"{category}.per_request": "5", f"{category}.per_hour": "10"}
        bad = await client.post("/admin/help/terms", data=fields | {"repair.per_hour": "-1",
                                                                   "other.per_request": "2000"})
        assert bad.status_code == 400
        assert 'id="escalate_hours-error"' in bad.text and 'id="repair-per_hour-error"' in bad.text
        assert 'value="-1"' in bad.text and 'value="0"' in bad.text
        assert not await fetch("SELECT community FROM help_setting WHERE community = {}", community.id)
        too_high = await client.post("/admin/help/terms", data=fields | {"escalate_hours": "24",
                                                                        "other.per_request": "2000"})
        assert too_high.status_code == 400 and 'id="other-per_request-error"' in too_high.text
        saved = await client.post("/admin/help/terms", data=fields | {"escalate_hours": "24",
                                                                     "repair.per_hour": "１２.5"})
        assert saved.status_code == 303 and saved.headers["location"] == "/admin/help/terms?saved=1"
        again = await client.get(saved.headers["location"])
        assert 'id="terms-saved"' in again.text
        assert 'value="24"' in again.text and 'value="12.50"' in again.text
    rates = await fetch("SELECT per_hour FROM help_rate WHERE community = {} AND category = 'repair'",
                        community.id)
    assert [int(row["per_hour"]) for row in rates] == [1250]


async def test_the_dashboards_count_requests_posted_and_solved(
    app: Litestar, enrol: Enrol, neighbours: tuple[Member, Member, int]
) -> None:
    asker, helper, _ = neighbours
    admin = await enrol("admin")
    async with signed(app, asker) as mine, signed(app, helper) as theirs:
        number = request_id(await post_request(mine))
        request_id(await post_request(mine, category="elder_care", body="帮忙取快递"))
        taken = await theirs.post(f"/help/{number}/claim", data={"csrf": await token(theirs)})
        assert taken.status_code == 303
        done = await mine.post(f"/help/{number}/confirm", data={"csrf": await token(mine), "hours": "1"})
        assert done.status_code == 303, done.text
    async with signed(app, admin) as office:
        shown = await office.get("/dashboards")
    assert shown.status_code == 200
    table = shown.text[shown.text.index('id="table-help"'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r'<tr(?: class="total")?><th scope="row">([^<]+)</th><td class="n">(\d+)</td>'
                      r'<td class="n">(\d+)</td><td class="n">([^<]+)</td></tr>', table)
    assert rows[1][:3] == ("维修", "1", "1") and rows[1][3] != "—"
    assert rows[0] == ("助老", "1", "0", "—")
    assert rows[-1][:3] == ("合计", "2", "1")
