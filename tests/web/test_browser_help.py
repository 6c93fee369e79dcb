"""民声 requests (issue 18) in a real browser: Debian's Chromium at phone size (390 × 844), driven by
Playwright, against a real ``market serve`` on the engine under test (``tests.web.browser``) whose
background jobs run every second (``MARKET_SWEEP_SECONDS``).

The office sets up a building of one grid through the API: 王奶奶 (who asks), 刘志愿 (a neighbour
who helps), 钱奶奶 (an elder without a phone) and 吴网格员 (the grid's worker). Then only pages:
王奶奶 posts a request after an empty try (the mistake beside its field); 刘志愿 takes it on, gives
it back, takes it on again, finds no confirm button, and sending the confirm form anyway is
refused with the reason; 王奶奶 confirms with 1.5 hours by double-clicking — 刘志愿's statement
shows the credit once and the request says 已完成. 吴网格员 posts for 钱奶奶 and sees it on the
grid's list; it is made older than the community's escalation time in the server's database,
and the server's own job marks it 已超时上报 on the worker's page. The office's board counts it.
Every page is measured for tap targets of at least 44 px (MIIT's 适老化 numbers, 60 px, in
长辈版) and for no sideways scroll; no console error but the refused form's. Screenshots go to
``MARKET_SCREENSHOTS`` (``help-<n>-<name>.png``).
"""

import asyncio
import io
import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import db_engine
from tests.web.browser import (
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    CHROMIUM,
    DENSITY,
    PHONE_SIZE,
    Server,
    Watch,
    bearer,
    serving,
    snapshot,
    snapshots,
    wait_until,
)
from tests.web.test_browser_elder import ELDER, MEASURE, STANDARD

ASKER_PHONE, ASKER_PIN = "13700000401", "258401"
HELPER_PHONE, HELPER_PIN = "13700000402", "369402"
ELDER_PHONE, ELDER_PIN = "13700000403", "481403"
WORKER_PHONE, WORKER_PIN = "13700000404", "592404"
#: Every background job runs this often: the escalation is seen within seconds.
SWEEP_SECONDS = 1
HOUR_US = 3_600_000_000


@pytest.fixture
def help_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("MARKET_SWEEP_SECONDS", str(SWEEP_SECONDS))  # serving() passes it on
    with serving(tmp_path) as running:
        yield running


def on_server_database(server: Server, sql: str) -> None:
    """Run one statement on the database the server uses (a test's hand on the clock)."""
    url = server.env["DATABASE_URL"]
    if db_engine() == "postgres":
        import asyncpg

        async def run() -> None:
            # asyncpg passes the URL's search_path to the server as a setting: the server's schema.
            connection = await asyncpg.connect(url)
            try:
                await connection.execute(sql)
            finally:
                await connection.close()

        # Playwright's sync API keeps an event loop running in this thread: another thread's.
        with ThreadPoolExecutor(1) as worker:
            worker.submit(asyncio.run, run()).result()
    else:
        with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30) as connection:
            connection.execute(sql)


def set_up(base: str) -> dict[str, int]:
    """3号楼 of 第一网格: three households and the grid's worker, made by the office over the API."""
    with bearer(base, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        compound = admin.post("/api/compounds", json={"name": "幸福里小区"}).json()["id"]
        building = admin.post("/api/buildings", json={"compound_id": compound, "name": "3号楼"}).json()["id"]
        grid = admin.post("/api/grids", json={"name": "第一网格"})
        assert grid.status_code == 201, grid.text
        made = {"grid": grid.json()["id"]}
        for name, phone, pin, unit, room in (
            ("王奶奶", ASKER_PHONE, ASKER_PIN, "1单元", "502"),
            ("刘志愿", HELPER_PHONE, HELPER_PIN, "2单元", "301"),
            ("钱奶奶", ELDER_PHONE, ELDER_PIN, "1单元", "101"),
            ("吴网格员", WORKER_PHONE, WORKER_PIN, None, None),
        ):
            household = None
            if room:
                home = admin.post("/api/households", json={"building_id": building, "unit": unit,
                                                           "room": room, "grid_id": made["grid"]})
                assert home.status_code == 201, home.text
                household = home.json()["id"]
            person = admin.post("/api/people", json={"name": name, "phone": phone, "roles": ["resident"],
                                                     "pin": pin, "household_id": household})
            assert person.status_code == 201, person.text
            made[name] = person.json()["id"]
        worker = admin.post(f"/api/grids/{made['grid']}/workers", json={"person_id": made["吴网格员"]})
        assert worker.status_code in (200, 201), worker.text
        terms = admin.put("/api/help-requests/terms", json={"escalate_hours": 1, "claims_per_day": 3})
        assert terms.status_code == 200, terms.text
    return made


class Story:
    """The phones of the story, each its own browser context, and what the pages are measured by."""

    def __init__(self, browser: Browser, base: str, shots: Path, watch: Watch) -> None:
        self.browser, self.base, self.shots, self.watch = browser, base, shots, watch
        self.count = 0

    def phone(self) -> Page:
        context = self.browser.new_context(viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True,
                                           has_touch=True, locale="zh-CN")
        context.on("request", self.watch.request)
        page = context.new_page()
        page.on("console", self.watch.console)
        page.on("pageerror", lambda error: self.watch.errors.append(str(error)))
        return page

    def signed_in(self, phone: str, secret: str) -> Page:
        page = self.phone()
        page.goto(self.base + "/signin")
        page.get_by_label("手机号或会员卡号").fill(phone)
        page.get_by_label("6 位数字密码（或登录密码）").fill(secret)
        page.get_by_role("button", name="登录").click()
        expect(page).not_to_have_url(re.compile("/signin"))
        return page

    def look(self, page: Page, name: str, limits: dict = STANDARD) -> None:
        """Measure the page (tap targets, and in 长辈版 text, contrast), check it does not scroll
        sideways, and take its screenshot."""
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), name
        bad = page.evaluate(MEASURE, limits)
        assert bad == [], (name, bad)
        self.count += 1
        snapshot(page, self.shots / f"help-{self.count:02d}-{name}.png")


def test_help_requests_in_chromium(help_server: Server, screenshots: Path) -> None:
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    base = help_server.url
    made = set_up(base)
    watch = Watch(base)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            story = Story(browser, base, screenshots, watch)
            number = ask_take_on_and_confirm(story)
            assisted = grid_worker_and_escalation(story, help_server, made)
            office_board(story, made, number, assisted)
        finally:
            browser.close()
    # The empty request form is answered 400 on purpose, and Chromium says so; nothing else.
    refused = "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    assert [error for error in watch.errors if error != refused] == [], watch.errors
    assert not watch.foreign, watch.foreign
    assert len(snapshots(screenshots, "help-*.png")) == story.count
    assert httpx.get(base + "/health").status_code == 200


def ask_take_on_and_confirm(story: Story) -> int:
    """王奶奶 asks, 刘志愿 takes it on, gives it back, takes it on again; 王奶奶 confirms twice over."""
    asker = story.signed_in(ASKER_PHONE, ASKER_PIN)
    asker.get_by_role("link", name="民声求助").click()
    expect(asker.get_by_role("heading", level=1)).to_have_text("民声求助")
    story.look(asker, "resident-lists")
    asker.get_by_role("link", name="我要求助").click()
    asker.get_by_role("button", name="发布求助").click()  # nothing filled in
    expect(asker.locator("#body-error")).to_contain_text("请用 1 到 500 个字说明需要什么帮助")
    expect(asker.locator("#category-error")).to_have_text("请选择求助类别。")
    story.look(asker, "new-refused")
    asker.get_by_label("需要什么帮助？").fill("厨房水龙头漏水，请帮忙修一下")
    asker.get_by_label("求助类别").select_option(label="维修")
    expect(asker.get_by_label("本楼可见")).to_be_checked()
    asker.get_by_label("拍照或选择照片").set_input_files(
        {"name": "tap.png", "mimeType": "image/png", "buffer": picture()})
    expect(asker.locator("#photo-name")).to_have_text("已选照片：tap.png")
    story.look(asker, "new-filled")
    asker.get_by_role("button", name="发布求助").click()
    expect(asker.locator("#step-done")).to_contain_text("求助已发布")
    photo = asker.locator("#request-photo")
    expect(photo).to_be_visible()
    wait_until(asker, "document.getElementById('request-photo').naturalWidth === 160")
    number = int(re.search(r"/help/(\d+)", asker.url).group(1))
    expect(asker.locator("#request-state")).to_have_text("待认领")
    expect(asker.locator("#request-place")).to_have_text("3号楼1单元502")
    story.look(asker, "posted")

    helper = story.signed_in(HELPER_PHONE, HELPER_PIN)
    helper.goto(story.base + "/help")
    card = helper.locator(f"#request-{number}")
    expect(card).to_contain_text("厨房水龙头漏水")
    expect(card).to_contain_text("王*奶")
    expect(card).not_to_contain_text("502")  # a neighbour sees the building, not the door
    story.look(helper, "near-me")
    card.get_by_role("button", name="我来帮忙（认领）").click()
    expect(helper.locator("#step-done")).to_contain_text("您已认领")
    expect(helper.locator("#request-place")).to_have_text("3号楼1单元502")  # now they need the door
    expect(helper.locator("#confirm-button")).to_have_count(0)
    story.look(helper, "claimed")
    helper.get_by_role("button", name="做不了，放弃认领").click()
    expect(helper.locator("#step-done")).to_contain_text("求助已重新开放")
    expect(helper.locator("#request-state")).to_have_text("待认领")
    helper.get_by_role("button", name="我来帮忙（认领）").click()
    expect(helper.locator("#request-state")).to_have_text("已认领")
    expect(helper.locator("#confirm-button")).to_have_count(0)
    # The confirm form sent anyway, as a page would send it: refused, with the reason.
    csrf = helper.locator("input[name=csrf]").first.input_value()
    own = helper.request.post(f"{story.base}/help/{number}/confirm", form={"csrf": csrf, "hours": "2"},
                              max_redirects=0)
    assert own.status == 409 and "志愿服务须由求助人或网格员确认" in own.text()

    asker.goto(f"{story.base}/help/{number}")
    expect(asker.locator("#volunteer")).to_have_text("刘*愿")
    asker.get_by_label("志愿者服务了几个小时？").fill("1.5")
    story.look(asker, "to-confirm")
    asker.locator("#confirm-button").dblclick()
    expect(asker.locator("#step-done")).to_contain_text("已确认完成")
    expect(asker.locator("#request-state")).to_have_text("已完成")
    expect(asker.locator("#request-points")).to_have_text("20")
    story.look(asker, "confirmed")
    # The same form once more (the back button, then the button again): nothing more is credited.
    again = asker.request.post(f"{story.base}/help/{number}/confirm",
                               form={"csrf": csrf_of(asker), "hours": "1.5"}, max_redirects=0)
    assert again.status == 303

    helper.goto(story.base + "/statement")
    expect(helper.locator(".balance-line .figure")).to_have_text("20")
    expect(helper.locator(".entry", has_text="民声服务")).to_have_count(1)
    story.look(helper, "statement")
    helper.goto(story.base + "/help?list=claimed")
    expect(helper.locator(f"#request-{number}")).to_contain_text("已完成")
    story.look(helper, "taken-on")
    helper.context.close()

    # In English with 长辈版 on: the same request, measured by MIIT's numbers.
    asker.goto(f"{story.base}/lang/en?next=/help/{number}")
    asker.goto(f"{story.base}/elder/on?next=/help/{number}")
    expect(asker.locator("#request-state")).to_have_text("Done")
    story.look(asker, "en-elder-done", ELDER)
    asker.goto(story.base + "/help?list=posted")
    story.look(asker, "en-elder-mine", ELDER)
    asker.goto(story.base + "/help/new")
    expect(asker.get_by_label("Take a photo or choose one")).to_be_attached()
    story.look(asker, "en-elder-new", ELDER)
    asker.context.close()
    return number


def picture() -> bytes:
    """A photo of what needs doing: 160 × 120 pixels of a dripping tap's colours."""
    out = io.BytesIO()
    Image.new("RGB", (160, 120), (70, 110, 160)).save(out, format="PNG")
    return out.getvalue()


def csrf_of(page: Page) -> str:
    return page.locator("input[name=csrf]").first.input_value()


def grid_worker_and_escalation(story: Story, server: Server, made: dict[str, int]) -> int:
    """吴网格员 posts for 钱奶奶; nobody takes it; the server's job marks it escalated."""
    worker = story.signed_in(WORKER_PHONE, WORKER_PIN)
    worker.goto(story.base + "/help")
    worker.locator("#to-grid").click()
    expect(worker.get_by_role("heading", level=1)).to_have_text("我的网格求助")
    worker.get_by_role("link", name="代居民求助").click()
    worker.get_by_label("按姓名、楼栋或房号查找").fill("钱")
    worker.get_by_role("button", name="查找").click()
    choices = worker.locator("#residents .choice")
    expect(choices).to_have_count(1)
    expect(choices.first).to_contain_text("钱*奶")
    expect(choices.first).to_contain_text("3号楼1单元101")
    choices.first.click()
    worker.get_by_label("需要什么帮助？").fill("腿脚不便，请帮忙到药店取降压药")
    worker.get_by_label("求助类别").select_option(label="助老")
    worker.get_by_label("本网格可见").check()
    story.look(worker, "assisted-form")
    worker.get_by_role("button", name="代为发布").click()
    expect(worker.locator("#step-done")).to_contain_text("已为居民发布求助")
    assisted = int(re.search(r"/help/(\d+)", worker.url).group(1))
    expect(worker.locator("#requester")).to_have_text("钱*奶")
    story.look(worker, "assisted-posted")

    # Open for two hours with nobody taking it on: past the community's hour.
    on_server_database(server, f"UPDATE help_request SET open_since_us = open_since_us - {2 * HOUR_US}"
                               f" WHERE id = {assisted}")
    worker.goto(story.base + "/help/grid")
    card = worker.locator(f"#request-{assisted}")
    expect(card).to_be_visible()
    deadline = 30
    while not card.locator(".tag.overdue").count() and deadline:
        worker.wait_for_timeout(1000)  # the server's job runs each second
        worker.reload()
        deadline -= 1
    expect(card.locator(".tag.overdue")).to_have_text("已超时上报")
    wait_until(worker, f"document.querySelector('#requests > li').id === 'request-{assisted}'")
    story.look(worker, "grid-escalated")
    worker.context.close()
    return assisted


def office_board(story: Story, made: dict[str, int], done: int, assisted: int) -> None:
    """The office's board: the grid's counts, the overdue list, the books and the terms."""
    office = story.phone()
    office.goto(story.base + "/signin")
    office.locator("#login").fill(ADMIN_PHONE)
    office.locator("#secret").fill(ADMIN_PASSWORD)
    office.locator("form button[type=submit]").first.click()
    expect(office).not_to_have_url(re.compile("/signin"))
    office.goto(story.base + "/")
    office.locator("#to-help-board").click()
    expect(office.get_by_role("heading", level=1)).to_have_text("民声求助看板（社区）")
    grid = office.locator(f'.grid-card[data-grid="{made["grid"]}"]')
    expect(grid).to_contain_text("第一网格")
    for count, expected in (("review", "0"), ("open", "1"), ("claimed", "0"), ("disputed", "0"),
                            ("done", "1"), ("overdue", "1")):
        expect(grid.locator(f'[data-count="{count}"] a')).to_have_text(expected)
    story.look(office, "board")
    grid.locator('[data-count="overdue"] a').click()
    expect(office.locator("#requests > li")).to_have_count(1)
    expect(office.locator(f"#request-{assisted}")).to_contain_text("已超时上报")
    office.locator(f"#request-{assisted}").get_by_role("link", name="查看详情").click()
    expect(office.locator("#withdraw-button")).to_be_visible()  # the office may withdraw it
    story.look(office, "office-request")
    office.goto(story.base + "/admin/help/terms")
    expect(office.locator("#escalate_hours")).to_have_value("1")
    story.look(office, "terms")
    office.context.close()
