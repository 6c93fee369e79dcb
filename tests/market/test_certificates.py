"""The volunteer service certificate: content, PDF (text, picture, QR), signature and verification.

A small fixed data set with hand-computed hours (Beijing dates):

    2025-03-01 09:00 楼道清扫      collective_labour  2.50 h
    2025-04-10 14:00 敬老院探访    volunteer_service  3.00 h
    2025-04-30 23:30 夜间巡逻      self_governance    0.50 h   (the last half hour of the period's day)
    2025-05-20 09:00 垃圾分类宣传  volunteer_service  1.75 h
    not counted: a stay awaiting approval (4.00 h), a rejected one (6.00 h), a cancelled
    activity's stay (5.00 h), a stay still checked in, another resident's stay (9.00 h).

Total 7.75 h; April 2025 alone 3.50 h.
"""

import base64
import io
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image

import qr
from market.community import service as communities
from market.reports import certificate_records as records
from market.reports.certificate_pdf import render_pdf
from market.tables import Activity, Stay
from tests.market.support import Enrol, Member

CHINA = ZoneInfo("Asia/Shanghai")
TOTAL = Decimal("7.75")


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHINA)


async def served(community_id: int, person_id: int, title: str, category: str, start: datetime,
                 hundredths: int | None, *, status: str = "out", approval: str | None = None,
                 activity_status: str = "scheduled", out_at: datetime | None = None) -> int:
    """An activity of two hours at ``start`` and the person's stay at it; the stay's id."""
    activity = Activity(community=community_id, title=title, category=category, starts_at=start,
                        ends_at=start + timedelta(hours=2), status=activity_status)
    await activity.save()
    stay = Stay(community=community_id, activity=activity.id, person=person_id, in_at=start,
                out_at=None if status != "out" else out_at or start + timedelta(hours=2),
                hours=hundredths, status=status, approval=approval)
    await stay.save()
    return stay.id


@dataclass
class DataSet:
    resident: Member
    other: Member
    stays: dict[str, int]


@pytest.fixture
async def data(enrol: Enrol, community) -> DataSet:
    resident = await enrol("resident", name="李阿姨")
    other = await enrol("resident", name="王大爷")
    cid, pid = community.id, resident.id
    stays = {
        "楼道清扫": await served(cid, pid, "楼道清扫", "collective_labour", at(2025, 3, 1, 9), 250),
        "敬老院探访": await served(cid, pid, "敬老院探访", "volunteer_service", at(2025, 4, 10, 14), 300),
        "夜间巡逻": await served(cid, pid, "夜间巡逻", "self_governance", at(2025, 4, 30, 23, 30), 50),
        "垃圾分类宣传": await served(cid, pid, "垃圾分类宣传", "volunteer_service", at(2025, 5, 20, 9), 175),
    }
    await served(cid, pid, "待审核活动", "volunteer_service", at(2025, 6, 1, 9), 400, approval="pending")
    await served(cid, pid, "被驳回活动", "volunteer_service", at(2025, 6, 2, 9), 600, approval="rejected")
    await served(cid, pid, "已取消活动", "volunteer_service", at(2025, 6, 3, 9), 500,
                 status="cancelled", activity_status="cancelled")
    await served(cid, pid, "进行中活动", "volunteer_service", at(2025, 6, 4, 9), None, status="in")
    await served(cid, other.id, "他人活动", "volunteer_service", at(2025, 4, 11, 9), 900)
    return DataSet(resident=resident, other=other, stays=stays)


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    assert shutil.which("pdftotext"), "poppler-utils (pdftotext) is needed"
    path = tmp_path / "certificate.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def pdf_pages(pdf: bytes, tmp_path: Path, stem: str, screenshots: Path) -> list[Path]:
    """The PDF's pages as PNG (150 dpi), kept in the screenshots directory to be looked at."""
    source = tmp_path / f"{stem}.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "150", str(source), str(screenshots / stem)], check=True)
    return sorted(screenshots.glob(f"{stem}*.png"))


@pytest.fixture
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("MARKET_SCREENSHOTS")
    directory = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


async def token_of(client: httpx.AsyncClient, path: str = "/api/me/certificate.pdf", **params) -> tuple[
        bytes, str]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    urls = qr.decode_image(pdf_last_page(response.content))
    assert len(urls) == 1, urls
    return response.content, urls[0]


def pdf_last_page(pdf: bytes) -> Image.Image:
    """The last page, where the QR is printed under the table, at 150 dpi (an ordinary scan)."""
    png = subprocess.run(["pdftoppm", "-png", "-r", "150", "-singlefile", "-f", str(page_count(pdf)), "-"],
                         input=pdf, capture_output=True, check=True).stdout
    return Image.open(io.BytesIO(png))


def page_count(pdf: bytes) -> int:
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


# -- content --------------------------------------------------------------------------------


async def test_content_counts_only_finished_approved_stays_of_the_person(data: DataSet, community) -> None:
    found = await records.compute(community.id, data.resident.id, datetime.now(UTC), records.Period())
    assert [line.title for line in found.lines] == ["楼道清扫", "敬老院探访", "夜间巡逻", "垃圾分类宣传"]
    assert [line.hours for line in found.lines] == ["2.50", "3.00", "0.50", "1.75"]
    assert Decimal(found.total_hours) == TOTAL
    assert sum(Decimal(line.hours) for line in found.lines) == TOTAL
    assert found.lines[2].day.isoformat() == "2025-04-30"  # 23:30 Beijing is still April 30th


async def test_period_is_inclusive_in_beijing_time(data: DataSet, community) -> None:
    april = records.Period.parse("2025-04-01", "2025-04-30")
    found = await records.compute(community.id, data.resident.id, datetime.now(UTC), april)
    assert [line.title for line in found.lines] == ["敬老院探访", "夜间巡逻"]
    assert found.total_hours == "3.50"
    since = await records.compute(community.id, data.resident.id, datetime.now(UTC),
                                  records.Period.parse("2025-05-01", ""))
    assert since.total_hours == "1.75"


async def test_a_stay_finished_after_the_issue_is_not_on_it(data: DataSet, community) -> None:
    before = await records.compute(community.id, data.resident.id, at(2025, 4, 20, 0), records.Period())
    assert before.total_hours == "5.50"  # March and April 10th only


def test_masked_names() -> None:
    assert [records.mask_name(n) for n in ("张小明", "王五", "欧阳小明", "李", "")] == [
        "张*明", "王*", "欧**明", "*", "*"]


# -- the PDF --------------------------------------------------------------------------------


async def test_my_certificate_pdf_text_picture_and_qr(data: DataSet, community, tmp_path: Path,
                                                       screenshots: Path) -> None:
    pdf, url = await token_of(data.resident.client)
    text = pdf_text(pdf, tmp_path)
    for expected in ("志愿服务记录证明", "李阿姨", "7.75", community.name, "敬老院探访", "2025-04-10",
                     "3.00", "出具单位", "出具日期", "合计"):
        assert expected in text, expected
    assert "王大爷" not in text and "他人活动" not in text and "待审核活动" not in text
    pages = pdf_pages(pdf, tmp_path, f"certificate-{community.id}", screenshots)
    assert len(pages) == 1
    # The QR decodes to the verification page of this server, with a 181-character token.
    assert url.startswith("http://test/verify/")
    token = url.rsplit("/", 1)[1]
    assert len(token) == 181 and token == token.upper()
    assert qr.version_of(url) <= 10


async def test_a_long_record_runs_over_pages(enrol: Enrol, community, tmp_path: Path,
                                             screenshots: Path) -> None:
    resident = await enrol("resident", name="赵志愿")
    for day in range(60):
        await served(community.id, resident.id, f"社区服务第{day + 1}次", "volunteer_service",
                     at(2025, 1 + day // 28, 1 + day % 28, 9), 125)
    pdf, url = await token_of(resident.client)
    text = pdf_text(pdf, tmp_path)
    assert "75.00" in text  # 60 × 1.25 h
    assert "社区服务第60次" in text and "第2页" in text.replace(" ", "")
    pages = pdf_pages(pdf, tmp_path, f"certificate-long-{community.id}", screenshots)
    assert len(pages) >= 2
    answer = (await resident.client.get(f"/api/certificates/verify/{url.rsplit('/', 1)[1]}")).json()
    assert answer["valid"] and answer["total_hours"] == "75.00" and len(answer["activities"]) == 60


async def test_period_certificate(data: DataSet, tmp_path: Path) -> None:
    pdf, url = await token_of(data.resident.client, **{"from": "2025-04-01", "to": "2025-04-30"})
    text = pdf_text(pdf, tmp_path)
    assert "3.50" in text and "2025年4月1日至2025年4月30日" in text and "楼道清扫" not in text
    answer = (await data.resident.client.get("/api/certificates/verify/" + url.rsplit("/", 1)[1])).json()
    assert answer["period_from"] == "2025-04-01" and answer["period_to"] == "2025-04-30"
    assert answer["total_hours"] == "3.50"


def _no_system_font(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine without any CJK font: no known font file, no MARKET_CJK_FONT, and fontconfig
    (the real fc-list) pointed at an empty font directory."""
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    config = tmp_path / "fonts.conf"
    config.write_text(f'<?xml version="1.0"?><fontconfig><dir>{fonts}</dir>'
                      f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>")
    monkeypatch.setenv("FONTCONFIG_FILE", str(config))
    monkeypatch.delenv("MARKET_CJK_FONT", raising=False)
    monkeypatch.setattr("market.cards.picture._KNOWN_FONTS", ())


def _fonts_of(pdf: bytes) -> str:
    return subprocess.run(["pdffonts", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def test_without_a_system_font_the_built_in_cid_font_prints_chinese(tmp_path: Path) -> None:
    certificate = records.Certificate(
        community_id=1, community="测试社区", person_id=1, name="李阿姨", issued_at=datetime.now(UTC),
        period=records.Period(), lines=(), total_hours="0.00", token="X")
    not_a_font = tmp_path / "fake.ttf"
    not_a_font.write_bytes(b"not a font")
    for font_path in (None, str(not_a_font)):
        pdf = render_pdf(certificate, "http://test/verify/X", font_path=font_path)
        assert "STSong-Light" in _fonts_of(pdf)
        text = pdf_text(pdf, tmp_path)
        assert "志愿服务记录证明" in text and "李阿姨" in text and "测试社区" in text


async def test_a_fresh_machine_without_fonts_gets_the_certificate(
        data: DataSet, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, screenshots: Path) -> None:
    """Right after ``pip install -e .``: no system CJK font at all, and the certificate works."""
    from market.cards.picture import cjk_font_path

    cjk_font_path.cache_clear()  # it looks once per process
    try:
        with monkeypatch.context() as patched:
            _no_system_font(patched, tmp_path)
            assert cjk_font_path() is None
            response = await data.resident.client.get("/api/me/certificate.pdf")
    finally:
        cjk_font_path.cache_clear()
    assert response.status_code == 200, response.text
    fonts = _fonts_of(response.content)
    assert "STSong-Light" in fonts and "TrueType" not in fonts  # nothing embedded from the machine
    text = pdf_text(response.content, tmp_path)
    for expected in ("志愿服务记录证明", "李阿姨", "敬老院探访", "志愿者信息", "出具单位", "盖章"):
        assert expected in text, expected
    pdf_pages(response.content, tmp_path, "certificate-no-font", screenshots)
    # Its QR still opens the verification page.
    (url,) = qr.decode_image(pdf_last_page(response.content))
    assert "/verify/" in url


def test_an_installed_font_is_embedded_when_there_is_one() -> None:
    from market.cards.picture import cjk_font_path

    path = cjk_font_path()
    if path is None:
        pytest.skip("no system CJK font on this machine: the built-in one is used (tested above)")
    certificate = records.Certificate(
        community_id=1, community="测试社区", person_id=1, name="李阿姨", issued_at=datetime.now(UTC),
        period=records.Period(), lines=(), total_hours="0.00", token="X")
    fonts = _fonts_of(render_pdf(certificate, "http://test/verify/X"))
    assert "TrueType" in fonts and "STSong-Light" not in fonts  # the installed one, embedded


# -- verification -----------------------------------------------------------------------------


async def test_the_genuine_token_verifies(data: DataSet, anon: httpx.AsyncClient, community) -> None:
    _, url = await token_of(data.resident.client)
    answer = (await anon.get("/api/certificates/verify/" + url.rsplit("/", 1)[1])).json()
    assert answer["valid"] is True and answer["status"] == "valid"
    assert answer["name"] == "李*姨" and "李阿姨" not in str(answer)
    assert answer["community"] == community.name
    assert answer["total_hours"] == "7.75"
    assert [(a["date"], a["title"], a["hours"]) for a in answer["activities"]] == [
        ("2025-03-01", "楼道清扫", "2.50"), ("2025-04-10", "敬老院探访", "3.00"),
        ("2025-04-30", "夜间巡逻", "0.50"), ("2025-05-20", "垃圾分类宣传", "1.75")]
    assert sum(Decimal(a["hours"]) for a in answer["activities"]) == TOTAL
    assert len(answer["public_key"]) == 64
    assert answer["issued_on"] in {datetime.now(CHINA).date().isoformat(),
                                   (datetime.now(CHINA) - timedelta(minutes=1)).date().isoformat()}
    # Lower case (a hand-typed URL) is the same token.
    again = (await anon.get("/api/certificates/verify/" + url.rsplit("/", 1)[1].lower())).json()
    assert again["valid"] is True


async def test_any_altered_byte_is_invalid(data: DataSet, anon: httpx.AsyncClient) -> None:
    _, url = await token_of(data.resident.client)
    token = url.rsplit("/", 1)[1]
    raw = base64.b32decode(token + "=" * (-len(token) % 8))
    assert len(raw) == records.TOKEN_BYTES == 113
    for position in range(len(raw)):  # header, content hash and signature alike
        altered = bytearray(raw)
        altered[position] ^= 0x01
        text = base64.b32encode(bytes(altered)).decode().rstrip("=")
        response = await anon.get(f"/api/certificates/verify/{text}")
        answer = response.json()
        assert response.status_code == 404
        assert answer["valid"] is False and answer["status"] == "invalid", position
        assert answer["total_hours"] is None and answer["name"] is None
    # The last character carries spare bits: another spelling of the same bytes is refused too.
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    spare = token[:-1] + last[last.index(token[-1]) ^ 1]
    assert (await anon.get(f"/api/certificates/verify/{spare}")).json()["status"] == "invalid"
    for junk in ("X", token[:-1], token + "A", "1" * 181, "not-a-token"):
        response = await anon.get(f"/api/certificates/verify/{junk}")
        assert response.status_code == 404
        answer = response.json()
        assert answer == answer | {"valid": False, "status": "invalid", "reason": "malformed"}, junk


async def test_changed_hours_make_it_no_longer_match(data: DataSet, anon: httpx.AsyncClient,
                                                     community) -> None:
    checked_in = datetime.now(UTC) - timedelta(minutes=30)
    _, url = await token_of(data.resident.client)
    token = url.rsplit("/", 1)[1]
    # Service finished after the issue does not spoil it: checked in before, out after.
    await served(community.id, data.resident.id, "后来的活动", "volunteer_service", checked_in, 100,
                 out_at=datetime.now(UTC) + timedelta(seconds=1))
    assert (await anon.get(f"/api/certificates/verify/{token}")).json()["valid"] is True
    # An organizer's correction of hours that were certified does.
    await Stay.update({Stay.hours: 200}).where(Stay.id == data.stays["敬老院探访"])
    response = await anon.get(f"/api/certificates/verify/{token}")
    assert response.status_code == 200
    answer = response.json()
    assert answer["valid"] is False and answer["status"] == "changed"
    assert answer["reason"] == "records_changed"
    assert answer["total_hours"] is None and answer["activities"] is None  # nothing confirmed
    assert answer["name"] == "李*姨"
    # Put back exactly as it was, the certificate matches again: the proof is of the content.
    await Stay.update({Stay.hours: 300}).where(Stay.id == data.stays["敬老院探访"])
    assert (await anon.get(f"/api/certificates/verify/{token}")).json()["valid"] is True


async def test_a_cancelled_activity_makes_it_no_longer_match(data: DataSet, anon: httpx.AsyncClient
                                                             ) -> None:
    _, url = await token_of(data.resident.client)
    await Stay.update({Stay.status: "cancelled"}).where(Stay.id == data.stays["楼道清扫"])
    answer = (await anon.get("/api/certificates/verify/" + url.rsplit("/", 1)[1])).json()
    assert answer["status"] == "changed"


# -- who may have one, and bad input -----------------------------------------------------------


async def test_role_guards(data: DataSet, enrol: Enrol, anon: httpx.AsyncClient, ledger) -> None:
    path = f"/api/people/{data.resident.id}/certificate.pdf"
    for role in ("admin", "organizer"):
        staff = await enrol(role)
        response = await staff.client.get(path)
        assert response.status_code == 200, (role, response.text)
        assert response.content.startswith(b"%PDF")
    shopkeeper = await enrol("shopkeeper")
    assert (await shopkeeper.client.get(path)).status_code == 403
    assert (await data.other.client.get(path)).status_code == 403  # a resident, not their own
    assert (await anon.get(path)).status_code == 401
    assert (await anon.get("/api/me/certificate.pdf")).status_code == 401
    organizer = await enrol("organizer")
    assert (await organizer.client.get("/api/me/certificate.pdf")).status_code == 403  # not a resident
    # Another community's admin finds no such person.
    away = await communities.get_or_create(ledger, f"邻居社区-{secrets.token_hex(6)}")
    stranger = await enrol("admin", community_id=away.id)
    response = await stranger.client.get(path)
    assert response.status_code == 404


async def test_bad_input_is_refused(data: DataSet) -> None:
    client = data.resident.client
    response = await client.get("/api/me/certificate.pdf", params={"from": "2025-13-01"})
    assert response.status_code == 400 and response.json()["reason"] == "invalid_date"
    response = await client.get("/api/me/certificate.pdf", params={"from": "2025-05-01", "to": "2025-04-01"},
                                headers={"Accept-Language": "en"})
    assert response.status_code == 400 and response.json()["reason"] == "certificate_bad_period"
    assert "start date" in response.json()["detail"]
    response = await client.get("/api/me/certificate.pdf", params={"from": "2024-01-01", "to": "2024-12-31"})
    assert response.status_code == 409 and response.json()["reason"] == "certificate_no_service"
    response = await data.other.client.get("/api/me/certificate.pdf", params={"to": "2025-01-01"})
    assert response.status_code == 409
