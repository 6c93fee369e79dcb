"""The certificate's pages: the public verification page its QR opens, and the resident's page.

Data: the fixed set of ``tests.market.test_certificates`` (7.75 h in four activities).
"""

import base64
import time
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from playwright.sync_api import expect, sync_playwright

import qr
from market.tables import Stay
from tests.market.test_certificates import DataSet, pdf_last_page, token_of
from tests.market.test_certificates import data as data  # the data set's fixture
from tests.web.browser import (
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
from tests.web.support import browser, csrf_of, path_of, sign_in, without_times


async def _token(data: DataSet) -> str:
    _, url = await token_of(data.resident.client)
    return url.rsplit("/", 1)[1]


async def test_verify_page_valid_in_chinese_and_english(app: Litestar, data: DataSet, community) -> None:
    token = await _token(data)
    async with browser(app) as client:
        html = without_times((await client.get(f"/verify/{token}")).text)
    assert "证明有效" in html and "李*姨" in html and "李阿姨" not in html
    assert 'id="total-hours">7.75<' in html and "敬老院探访" in html and "3.00 小时" in html
    assert community.name in html and "开具日期" in html
    assert data.resident.phone not in html
    assert len(html.encode()) < 100_000
    async with browser(app, "en") as client:
        html = without_times((await client.get(f"/verify/{token}")).text)
    assert "Certificate valid" in html and "3.00 h" in html and "Volunteer service" in html


async def test_verify_page_invalid_and_changed(app: Litestar, data: DataSet) -> None:
    token = await _token(data)
    raw = bytearray(base64.b32decode(token + "=" * (-len(token) % 8)))
    raw[-1] ^= 0x80  # one bit of the signature
    forged = base64.b32encode(bytes(raw)).decode().rstrip("=")
    async with browser(app) as client:
        response = await client.get(f"/verify/{forged}")
        assert response.status_code == 200
        assert "无效证明" in response.text and "7.75" not in without_times(response.text)
        assert "无效证明" in (await client.get("/verify/garbage")).text
        await Stay.update({Stay.hours: 275}).where(Stay.id == data.stays["楼道清扫"])
        html = without_times((await client.get(f"/verify/{token}")).text)
        assert "已更改" in html and "7.75" not in html and "证明有效" not in html
        assert "李*姨" in html
    async with browser(app, "en") as client:
        assert "Changed: this certificate no longer matches" in (await client.get(f"/verify/{token}")).text


async def test_resident_page_previews_and_downloads(app: Litestar, data: DataSet, tmp_path: Path) -> None:
    async with browser(app) as client:
        response = await client.get("/certificate")
        assert response.status_code == 303 and path_of(response.headers["location"]) == "/signin"
        await sign_in(client, data.resident, "/certificate")
        html = (await client.get("/certificate")).text
        assert "我的志愿服务记录证明" in html and 'id="total-hours">7.75<' in html
        assert 'href="/certificate/download"' in html and '<label for="from">' in html
        april = (await client.get("/certificate", params={"from": "2025-04-01", "to": "2025-04-30"})).text
        assert 'id="total-hours">3.50<' in april
        assert 'href="/certificate/download?from=2025-04-01&amp;to=2025-04-30"' in april
        pdf = await client.get("/certificate/download", params={"from": "2025-04-01", "to": "2025-04-30"})
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        bad = await client.get("/certificate", params={"from": "2025-02-30"})
        assert bad.status_code == 400 and "年-月-日" in bad.text and 'role="alert"' in bad.text
        none = await client.get("/certificate/download", params={"to": "2024-01-01"})
        assert none.status_code == 409 and "没有服务时长记录" in none.text
        empty = (await client.get("/certificate", params={"to": "2024-01-01"})).text
        assert 'id="no-service"' in empty and "/certificate/download" not in empty


async def test_resident_page_is_for_residents(app: Litestar, organizer) -> None:
    async with browser(app) as client:
        form = await client.get("/signin")
        response = await client.post("/signin", data={
            "csrf": csrf_of(form.text), "next": "/", "login": organizer.phone,
            "secret": organizer.password,
        })
        assert response.status_code == 303
        assert (await client.get("/certificate")).status_code == 403


@pytest.mark.parametrize("path", ["/verify/x", "/VERIFY/x"])
async def test_verify_page_needs_no_sign_in(app: Litestar, path: str) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get(path)
    assert response.status_code == 200 and "无效证明" in response.text


def test_certificate_end_to_end_in_chromium(server: Server, screenshots: Path) -> None:
    """A real server: check in and out, download the PDF, scan its QR, open it on a phone."""
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    organizer = set_up_people(server.url)
    url = activity_code_url(organizer, "社区义诊志愿服务")
    with bearer(server.url, RESIDENT_PHONE, RESIDENT_PIN) as resident:
        for direction in ("in", "out"):
            response = resident.post("/api/checkins", json={"token": url, "direction": direction})
            assert response.status_code == 201, response.text
        hours = resident.get("/api/me/balance").json()["service_hours"]
        # A certificate is as of a whole second: a stay checked out in the same second is on the next.
        time.sleep(1.1)
        pdf = resident.get("/api/me/certificate.pdf")
        assert pdf.status_code == 200, pdf.text
    picture = pdf_last_page(pdf.content)
    picture.save(screenshots / "certificate-e2e.png")
    (link,) = qr.decode_image(picture)
    assert link.startswith(server.url + "/verify/")
    watch = Watch(server.url)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = chromium.new_context(viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True,
                                       has_touch=True, locale="zh-CN")
        page = context.new_page()
        page.on("pageerror", lambda error: watch.errors.append(str(error)))
        context.on("request", watch.request)
        page.goto(link)
        expect(page.get_by_text("证明有效")).to_be_visible()
        expect(page.locator("#total-hours")).to_have_text(hours)
        expect(page.get_by_text("李*姨")).to_be_visible()
        expect(page.get_by_text("幸福里社区").first).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SIZE["width"]
        snapshot(page, str(screenshots / "certificate-verify-zh.png"))
        page.get_by_role("link", name="English").click()
        expect(page.get_by_text("Certificate valid")).to_be_visible()
        snapshot(page, str(screenshots / "certificate-verify-en.png"))
        page.goto(link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB"))
        expect(page.get_by_text("Invalid certificate")).to_be_visible()
        snapshot(page, str(screenshots / "certificate-verify-invalid.png"))
        chromium.close()
    assert not watch.errors and not watch.foreign, (watch.errors, watch.foreign)
