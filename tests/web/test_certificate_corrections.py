"""The certificate pages of issue 16: the resident's ID and correction requests on /certificate,
the office's /admin/certificates (issuer, a resident's ID, the requests), and in Chromium the
resident asking for a correction and the office deciding it, in Chinese and English.

Data for the page tests: the fixed set of ``tests.market.test_certificates`` (4.75 h of volunteer
service, 3.00 h of participation). Screenshots (390 × 844) go to ``MARKET_SCREENSHOTS``.
"""

import re
import time
from pathlib import Path

import httpx
from litestar import Litestar
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from market.tables import CertificateCorrection, PersonIdentity
from tests.market.support import Member
from tests.market.test_certificates import DataSet
from tests.market.test_certificates import data as data  # the data set's fixture
from tests.web.browser import (
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    CHROMIUM,
    DENSITY,
    PHONE_SIZE,
    RESIDENT_PHONE,
    RESIDENT_PIN,
    Server,
    Watch,
    activity_code_url,
    bearer,
    set_up_people,
    snapshot,
)
from tests.web.support import browser, csrf_of, sign_in

RESIDENT_ID = "11010519491231002X"


async def _staff_sign_in(client: httpx.AsyncClient, member: Member) -> None:
    form = await client.get("/signin")
    response = await client.post("/signin", data={
        "csrf": csrf_of(form.text), "next": "/", "login": member.phone, "secret": member.password})
    assert response.status_code == 303, response.text


async def test_the_resident_page_splits_hours_and_keeps_the_id_masked(app: Litestar, data: DataSet) -> None:
    async with browser(app) as client:
        await sign_in(client, data.resident, "/certificate")
        html = (await client.get("/certificate")).text
        assert 'id="volunteer-hours">4.75<' in html and 'id="participation-hours">3.00<' in html
        assert "集体劳动" in html and 'id="total-hours">7.75<' in html
        csrf = csrf_of(html)
        # A bad resident ID: refused on the page, nothing recorded, the number not echoed back.
        bad = await client.post("/certificate/identity", data={
            "csrf": csrf, "id_type": "resident_id", "id_number": "110105194912310021"})
        assert bad.status_code == 400 and 'role="alert"' in bad.text and "居民身份证号码不正确" in bad.text
        assert "110105194912310021" not in bad.text
        assert await PersonIdentity.count().where(PersonIdentity.person == data.resident.id) == 0
        saved = await client.post("/certificate/identity", data={
            "csrf": csrf, "id_type": "resident_id", "id_number": RESIDENT_ID})
        assert saved.status_code == 303
        html = (await client.get("/certificate")).text
        assert "110***********002X" in html and RESIDENT_ID not in html and 'id="download-full"' in html
        # Adding a volunteer number keeps the ID (its field is left empty: it is never shown).
        await client.post("/certificate/identity", data={
            "csrf": csrf, "id_type": "resident_id", "id_number": "", "volunteer_number": "VN2025000123"})
        row = await PersonIdentity.select().where(PersonIdentity.person == data.resident.id).first()
        assert (row["id_number"], row["volunteer_number"]) == (RESIDENT_ID, "VN2025000123")
        full = await client.get("/certificate/download", params={"full_identity": "1"})
        assert full.status_code == 200 and full.content.startswith(b"%PDF")
        # Removing clears both.
        await client.post("/certificate/identity",
                          data={"csrf": csrf, "clear": "1", "id_type": "resident_id"})
        assert await PersonIdentity.select(PersonIdentity.id_number).where(
            PersonIdentity.person == data.resident.id).first() == {"id_number": None}
    async with browser(app, "en") as client:
        await sign_in(client, data.resident, "/certificate")
        html = (await client.get("/certificate")).text
        assert "Volunteer service hours" in html and "Participation hours" in html


async def test_correction_forms_need_csrf_and_roles(app: Litestar, data: DataSet, admin: Member,
                                                    organizer: Member) -> None:
    async with browser(app) as resident:
        await sign_in(resident, data.resident, "/certificate")
        csrf = csrf_of((await resident.get("/certificate")).text)
        forged = await resident.post("/certificate/corrections", data={"csrf": "x" * 32, "what": "错了"})
        assert forged.status_code == 403
        empty = await resident.post("/certificate/corrections", data={"csrf": csrf, "what": "  "})
        assert empty.status_code == 400 and "请写明哪里有误" in empty.text
        mine = CertificateCorrection.person == data.resident.id
        assert await CertificateCorrection.count().where(mine) == 0
        sent = await resident.post("/certificate/corrections", data={
            "csrf": csrf, "what": "楼道清扫应为3小时", "number": ""})
        assert sent.status_code == 303 and sent.headers["location"].endswith("#corrections")
        assert "等待社区处理" in (await resident.get("/certificate")).text
        assert (await resident.get("/admin/certificates")).status_code == 403
        (request,) = await CertificateCorrection.select(CertificateCorrection.id).where(mine)
        path = f"/admin/certificates/corrections/{request['id']}/decision"
        assert (await resident.post(path, data={"csrf": csrf, "accept": "1"})).status_code == 403
    async with browser(app) as client:
        await _staff_sign_in(client, organizer)
        assert (await client.get("/admin/certificates")).status_code == 403
    async with browser(app) as office:
        await _staff_sign_in(office, admin)
        page = await office.get("/admin/certificates")
        assert page.status_code == 200 and "楼道清扫应为3小时" in page.text
        csrf = csrf_of(page.text)
        assert (await office.post(path, data={"csrf": "bad", "accept": "1"})).status_code == 403
        no_reason = await office.post(path, data={"csrf": csrf, "accept": "0", "note": ""})
        assert no_reason.status_code == 400 and "驳回时请写明原因" in no_reason.text
        done = await office.post(path, data={"csrf": csrf, "accept": "0", "note": "时长与签到记录一致"})
        assert done.status_code == 303
        assert (await office.post(path, data={"csrf": csrf, "accept": "1"})).status_code == 409
        bad_phone = await office.post("/admin/certificates/office", data={
            "csrf": csrf, "leader": "王主任", "handler": "", "contact": "打电话"})
        assert bad_phone.status_code == 400 and "联系电话只能包含数字" in bad_phone.text
        ok = await office.post("/admin/certificates/office", data={
            "csrf": csrf, "leader": "王主任", "handler": "陈经办", "contact": "028-87654321"})
        assert ok.status_code == 303
        person = await office.get("/admin/certificates", params={"person": str(data.resident.id)})
        saved = await office.post("/admin/certificates/identity", data={
            "csrf": csrf_of(person.text), "person_id": str(data.resident.id), "id_type": "passport",
            "id_number": "E12345678"})
        assert saved.status_code == 303
        assert "E*******8" in (await office.get(saved.headers["location"])).text
    async with browser(app) as resident:
        await sign_in(resident, data.resident, "/certificate")
        html = (await resident.get("/certificate")).text
        assert "已驳回" in html and "时长与签到记录一致" in html and "E*******8" in html


# -- in Chromium -------------------------------------------------------------------------------------


def _signed_in(context: BrowserContext, base: str, login: str, secret: str, watch: Watch) -> Page:
    page = context.new_page()
    page.on("console", watch.console)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    page.goto(base + "/signin")
    page.get_by_label("手机号或会员卡号").fill(login)
    page.get_by_label(re.compile("密码")).fill(secret)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(base + "/")
    return page


def _story(resident: Page, office: Page, base: str, lang: str, shots: Path) -> None:
    en = lang == "en"

    def t(zh: str, english: str) -> str:
        return english if en else zh

    def fits(page: Page) -> None:
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SIZE["width"]

    what = t("3月的楼道清扫我做了3小时", "The stairwell cleaning took me 3 hours")
    resident.goto(base + "/certificate")
    expect(resident.locator("#volunteer-hours")).to_be_visible()
    fits(resident)
    snapshot(resident, shots / f"certificate-page-{lang}.png")
    form = resident.locator("#correction-form")
    form.get_by_role("button", name=t("申请更正", "Ask for a correction")).click()
    expect(resident.locator("#correction-problem")).to_contain_text(t("请写明哪里有误", "Say what is wrong"))
    form = resident.locator("#correction-form")
    form.get_by_label(t("哪里有误？", "What is wrong?")).fill(what)
    form.get_by_role("button", name=t("申请更正", "Ask for a correction")).click()
    expect(resident.locator("#saved")).to_be_visible()
    mine = resident.locator("#my-corrections .correction").filter(has_text=what)
    expect(mine).to_contain_text(t("等待社区处理", "Waiting for the office"))
    snapshot(resident, shots / f"certificate-correction-sent-{lang}.png")

    office.goto(base + "/admin/certificates")
    request = office.locator(".correction").filter(has_text=what)
    expect(request).to_be_visible()
    fits(office)
    snapshot(office, shots / f"certificate-admin-{lang}.png")
    request.get_by_role("button", name=t("驳回", "Reject")).click()
    expect(office.locator("#problem")).to_contain_text(
        t("驳回时请写明原因", "Give the reason when rejecting"))
    request = office.locator(".correction").filter(has_text=what)
    request.get_by_label(t("给居民的说明（驳回时必填）", "Note to the resident (required to reject)")).fill(
        t("已请组织者更正时长", "Asked the organizer to correct the hours"))
    request.get_by_role("button", name=t("采纳", "Accept"), exact=True).click()
    expect(office.locator("#decided")).to_be_visible()
    expect(office.locator("#decided-corrections")).to_contain_text(what)
    snapshot(office, shots / f"certificate-admin-decided-{lang}.png")

    resident.reload()
    answer = resident.locator("#my-corrections .correction").filter(has_text=what)
    expect(answer).to_contain_text(t("已采纳", "Accepted"))
    expect(answer).to_contain_text(t("已请组织者更正时长", "Asked the organizer to correct the hours"))
    answer.scroll_into_view_if_needed()
    snapshot(resident, shots / f"certificate-correction-answered-{lang}.png", full_page=False)

    # 长辈版: the same page, larger, still within the phone's width.
    resident.goto(base + "/elder/on")
    resident.goto(base + "/certificate")
    expect(resident.locator("html")).to_have_class(re.compile("elder"))
    fits(resident)
    snapshot(resident, shots / f"certificate-page-elder-{lang}.png")
    resident.goto(base + "/elder/off")


def test_a_correction_asked_and_decided_in_chromium(server: Server, screenshots: Path) -> None:
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    organizer = set_up_people(server.url)
    url = activity_code_url(organizer, "敬老院探访")
    with bearer(server.url, RESIDENT_PHONE, RESIDENT_PIN) as resident:
        for direction in ("in", "out"):
            response = resident.post("/api/checkins", json={"token": url, "direction": direction})
            assert response.status_code == 201, response.text
        assert resident.put("/api/me/identity", json={
            "id_type": "resident_id", "id_number": RESIDENT_ID}).status_code == 200
    time.sleep(1.1)  # a certificate is as of a whole second
    watch = Watch(server.url)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for lang in ("zh", "en"):
            contexts = [chromium.new_context(viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True,
                                             has_touch=True, locale="zh-CN") for _ in range(2)]
            for context in contexts:
                context.on("request", watch.request)
            resident_page = _signed_in(contexts[0], server.url, RESIDENT_PHONE, RESIDENT_PIN, watch)
            office_page = _signed_in(contexts[1], server.url, ADMIN_PHONE, ADMIN_PASSWORD, watch)
            if lang == "en":
                for page in (resident_page, office_page):
                    page.goto(server.url + "/lang/en")
            expect(resident_page.locator("html")).to_have_attribute("lang", re.compile(lang))
            _story(resident_page, office_page, server.url, lang, screenshots)
            for context in contexts:
                context.close()
        chromium.close()
    # The two refusals a round shows on purpose (an empty request, a rejection without its reason)
    # are pages answered 400; nothing else may fail.
    failed_load = re.compile(r"Failed to load resource: .* status of 400 .*")
    refused = [error for error in watch.errors if failed_load.fullmatch(error)]
    assert len(refused) == 4 and len(watch.errors) == 4, watch.errors
    assert not watch.foreign, watch.foreign
