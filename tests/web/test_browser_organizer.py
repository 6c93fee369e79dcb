"""The organizer's pages in a real browser: Debian's Chromium driven by Playwright.

The admin enrols the people through the API; the organizer only uses the pages: signs in,
creates an activity with the form (a refusal first), checks a resident in by typing the member
code, watches the attendance list update itself, approves one resident and rejects another,
shows the full-screen code and sees it rotate
without a reload, prints the poster to an A4 PDF. In Chinese, then in English with the
长辈版 (senior mode). Screenshots of every page (390×844; the screen page also at 1280×720) go to
``MARKET_SCREENSHOTS`` (default: a temporary directory), with the poster as PDF.

The rotating code changes at each 30-second step of the clock (``qr.rotating``); there is no
setting to shorten it, so each story's screen page is opened first and checked last: after the
rest of that story and the whole English one (the Chinese screen), so that both waits overlap
and the two stories together use up most of them.
"""

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect, sync_playwright

from tests.web.browser import DENSITY, snapshot, snapshots, wait_until
from tests.web.test_browser import (  # noqa: F401  (fixtures)
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    CHROMIUM,
    PHONE_SIZE,
    Server,
    Watch,
    bearer,
    screenshots,
    server,
)

ORGANIZER_PHONE, ORGANIZER_PASSWORD = "13900000011", "a-long-organizer-password"
RESIDENTS = {"李阿姨": ("13700000012", "258031"), "王大爷": ("13700000013", "258032")}
PROJECTOR = {"width": 1280, "height": 720}
BEIJING = ZoneInfo("Asia/Shanghai")
#: What ``<input type="datetime-local">`` takes.
LOCAL = "%Y-%m-%dT%H:%M"


@dataclass
class OrganizerWatch(Watch):
    """As ``Watch``, except the refusals the story asks for: a refused form is answered with its
    status (400), which Chromium reports as a failed load of the page's own URL."""

    refused: set[str] = field(default_factory=set)

    def console(self, message: ConsoleMessage) -> None:
        if message.text.startswith("Failed to load resource") and message.location.get("url") in self.refused:
            return
        super().console(message)


def enrol_people(base: str) -> dict[str, httpx.Client]:
    """The admin enrols the organizer and two residents; each resident's API client."""
    with bearer(base, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        response = admin.post("/api/people", json={
            "name": "刘组长", "phone": ORGANIZER_PHONE, "roles": ["organizer"],
            "password": ORGANIZER_PASSWORD})
        assert response.status_code == 201, response.text
        for name, (phone, pin) in RESIDENTS.items():
            response = admin.post("/api/people", json={
                "name": name, "phone": phone, "roles": ["resident"], "pin": pin})
            assert response.status_code == 201, response.text
    return {name: bearer(base, phone, pin) for name, (phone, pin) in RESIDENTS.items()}


def member_code(resident: httpx.Client) -> str:
    response = resident.get("/api/me/code")
    assert response.status_code == 200, response.text
    return response.json()["code"]


def organizer_story(
    context: BrowserContext, base: str, lang: str, shots: Path, residents: dict[str, httpx.Client],
) -> Callable[[], None]:
    """The story up to the projector's last look, which is returned, to be called later."""
    english = lang == "en"

    def say(zh: str, en: str) -> str:
        return en if english else zh

    def shot(target: Page, name: str) -> None:
        snapshot(target, shots / f"organizer-{lang}-{name}.png")

    page = context.pages[0]
    page.goto(base + "/organizer")
    if not english:
        expect(page).to_have_url(re.compile(r"/signin\?next=/organizer$"))
        page.get_by_label("手机号或会员卡号").fill(ORGANIZER_PHONE)
        page.get_by_label("6 位数字密码（或登录密码）").fill(ORGANIZER_PASSWORD)
        page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(say("我组织的活动", "My activities"))
    shot(page, "1-my-activities")

    # The form: a refusal first (the end before the start), then the activity.
    page.get_by_role("link", name=say("新建活动", "Create an activity")).first.click()
    start = datetime.now(UTC).astimezone(BEIJING) - timedelta(minutes=5)
    title = say("社区义诊志愿服务", "Library volunteers")
    page.get_by_label(say("活动名称", "Title")).fill(title)
    page.get_by_label(say("志愿服务", "Volunteer service")).check()
    page.get_by_label(say("地点", "Place")).fill(say("社区服务站", "Community library"))
    page.get_by_label(say("开始时间", "Starts at")).fill(start.strftime(LOCAL))
    page.get_by_label(say("结束时间", "Ends at")).fill((start - timedelta(hours=1)).strftime(LOCAL))
    page.get_by_label(say("签到得分", "Points for checking in")).fill("5")
    page.get_by_label(say("每小时得分", "Points per hour")).fill("10")
    page.get_by_label(
        say("由我确认参加后再发放积分", "I confirm attendance before points are credited")).check()
    page.get_by_role("button", name=say("创建活动", "Create the activity")).click()
    expect(page.locator("#ends_at-error")).to_contain_text(
        say("结束时间须晚于开始时间", "The end must be after the start"))
    expect(page.get_by_label(say("活动名称", "Title"))).to_have_value(title)
    shot(page, "2-form-refused")
    page.get_by_label(say("结束时间", "Ends at")).fill((start + timedelta(hours=2)).strftime(LOCAL))
    page.get_by_role("button", name=say("创建活动", "Create the activity")).click()
    expect(page.locator("#notice")).to_have_attribute("data-kind", "created")
    activity = page.url.split("?")[0]
    activity_id = activity.rsplit("/", 1)[1]
    shot(page, "3-activity")

    # The screen page in a second tab (a projector): checked last, once its code has rotated.
    screen = context.new_page()
    screen.goto(f"{activity}/screen")
    wait_until(screen, "document.getElementById('activity-code-image')?.naturalWidth > 0")
    first_code = screen.locator("#activity-code").get_attribute("data-token")
    screen.evaluate("window.notReloaded = true")
    shot(screen, "4-screen")

    # Check a resident in by typing the member code (as a USB scanner would).
    page.get_by_role("link", name=say("扫描居民会员码", "Scan residents' codes")).click()
    page.get_by_label(say("会员码（或会员卡上的码）", "Member code or card code")).fill(
        member_code(residents["李阿姨"]))
    page.get_by_role("button", name=say("登记", "Record")).click()
    expect(page.locator("#notice")).to_contain_text("李阿姨")
    expect(page.locator("#notice")).to_contain_text(
        say("积分待您确认后发放", "Points wait for your approval"))
    expect(page.locator("#count-came")).to_have_text("1")
    shot(page, "5-scan")

    # The attendance list updates itself: someone checked in elsewhere shows up without a reload.
    page.get_by_role("link", name=say("签到名单", "Attendance list")).click()
    expect(page.locator("#stays .stay")).to_have_count(1)
    page.evaluate("window.notReloaded = true")
    with bearer(base, ORGANIZER_PHONE, ORGANIZER_PASSWORD) as api:
        response = api.post(f"/api/activities/{activity_id}/attendance",
                            json={"member_code": member_code(residents["王大爷"])})
        assert response.status_code in (200, 201), response.text
    expect(page.locator("#stays .stay")).to_have_count(2, timeout=15_000)
    expect(page.locator("#count-came")).to_have_text("2")
    expect(page.locator("#stays")).to_contain_text("王大爷")
    assert page.evaluate("window.notReloaded === true")
    expect(page.locator("#count-pending")).to_have_text("2")
    shot(page, "6-attendance-live")

    # Approve one; reject the other on its own page, with a reason.
    page.locator(".stay", has_text="李阿姨").get_by_role("button", name=say("确认", "Approve")).click()
    expect(page.locator("#notice")).to_have_attribute("data-kind", "approved")
    page.locator(".stay", has_text="王大爷").get_by_role("link", name=say("驳回…", "Reject…")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(say("驳回签到", "Reject attendance"))
    page.get_by_label(say("原因", "Reason")).fill(say("没有参加活动", "Was not there"))
    shot(page, "6b-reject")
    page.get_by_role("button", name=say("驳回", "Reject")).click()
    expect(page.locator("#notice")).to_have_attribute("data-kind", "rejected")
    expect(page.locator(".stay", has_text="李阿姨").locator("[data-slot=approval]")).to_have_attribute(
        "data-value", "approved")
    expect(page.locator(".stay", has_text="王大爷").locator("[data-slot=approval]")).to_have_attribute(
        "data-value", "rejected")
    shot(page, "6c-reviewed")

    # The poster: on screen, then printed to an A4 PDF.
    page.get_by_role("link", name=say("打印海报", "Print the poster")).click()
    wait_until(page, "document.querySelector('.poster-qr')?.naturalWidth > 0")
    expect(page.locator(".poster-title")).to_have_text(title)
    shot(page, "7-poster")
    print_poster(page, shots / f"organizer-{lang}-8-poster-a4")

    # Cancelling sits behind a confirmation page; here it is only looked at.
    page.goto(f"{activity}/cancel")
    expect(page.get_by_role("button", name=say("确定取消活动", "Yes, cancel the activity"))).to_be_visible()
    shot(page, "9-cancel-confirm")

    # Editing: only before an activity starts, so a second one for tomorrow.
    page.goto(base + "/organizer/activities/new")
    tomorrow = start + timedelta(days=1)
    page.get_by_label(say("活动名称", "Title")).fill(say("楼道清扫", "Stairwell clean-up"))
    page.get_by_label(say("集体劳动", "Collective labour")).check()
    page.get_by_label(say("开始时间", "Starts at")).fill(tomorrow.strftime(LOCAL))
    page.get_by_label(say("结束时间", "Ends at")).fill((tomorrow + timedelta(hours=1)).strftime(LOCAL))
    page.get_by_label(say("签到得分", "Points for checking in")).fill("3")
    page.get_by_label(say("每小时得分", "Points per hour")).fill("0")
    page.get_by_label(
        say("由我确认参加后再发放积分", "I confirm attendance before points are credited")).check()
    page.get_by_role("button", name=say("创建活动", "Create the activity")).click()
    expect(page.locator("#notice")).to_have_attribute("data-kind", "created")
    page.get_by_role("link", name=say("修改活动", "Edit the activity")).click()
    expect(page.get_by_label(say("每小时得分", "Points per hour"))).to_have_value("0.00")
    shot(page, "10-edit")
    page.goto(base + "/organizer")
    expect(page.locator(".activity-card")).to_have_count(4 if english else 2)
    shot(page, "11-my-activities")

    def back_to_the_projector() -> None:
        """The code changed, and the page never reloaded."""
        wait_until(screen,
            f"document.getElementById('activity-code').dataset.token !== undefined"
            f" && !document.getElementById('activity-code-image').src.includes('{first_code}')",
            timeout=40,
        )
        wait_until(screen, "document.getElementById('activity-code-image').complete")
        assert screen.evaluate("window.notReloaded === true")
        shot(screen, "12-screen-rotated")
        screen.set_viewport_size(PROJECTOR)
        snapshot(screen, shots / f"organizer-{lang}-13-screen-1280x720.png", full_page=False)
        screen.close()

    return back_to_the_projector


def print_poster(page: Page, stem: Path) -> None:
    """The poster as an A4 PDF of one page, and a picture of it to look at."""
    pdf = page.pdf(format="A4", print_background=True)
    stem.with_suffix(".pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1
    if pdftoppm := shutil.which("pdftoppm"):
        subprocess.run([pdftoppm, "-png", "-r", "60", "-singlefile", str(stem.with_suffix(".pdf")),
                        str(stem)], check=True)
    else:
        page.emulate_media(media="print")
        page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
        snapshot(page, stem.with_suffix(".png"), full_page=False)
        page.set_viewport_size(PHONE_SIZE)
        page.emulate_media(media="no-override")


def test_organizer_story_in_chromium(server: Server, screenshots: Path) -> None:  # noqa: F811
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    residents = enrol_people(server.url)
    watch = OrganizerWatch(server.url)
    watch.refused.add(server.url + "/organizer/activities/new")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(
            viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True, has_touch=True,
            locale="zh-CN",
        )
        context.on("console", watch.console)
        context.on("weberror", lambda error: watch.errors.append(str(error.error)))
        context.on("request", watch.request)
        page = context.new_page()
        chinese_projector = organizer_story(context, server.url, "zh", screenshots, residents)
        expect(page.locator("html")).not_to_have_class("large")

        page.get_by_role("link", name="English").click()
        page.get_by_role("switch", name="Senior mode").click()
        expect(page.locator("html")).to_have_class(re.compile(r"\belder\b"))  # 长辈版 (once "larger text")
        assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 22
        english_projector = organizer_story(context, server.url, "en", screenshots, residents)
        # Both screens last: the Chinese one has waited through the English story meanwhile.
        chinese_projector()
        english_projector()

        context.close()
        browser.close()
    for client in residents.values():
        client.close()
    assert not watch.errors, watch.errors
    assert not watch.foreign, watch.foreign
    assert len(snapshots(screenshots, "organizer-*.png")) >= 30
