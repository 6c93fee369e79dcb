"""Certificates in the national format (issue 16): the four parts, the ID masked unless the
resident chooses otherwise, volunteer service hours apart from participation, the issuing
office, correction requests, and the ID in the person's data export and erasure.

Data: the fixed set of ``tests.market.test_certificates`` (hand-computed):

    volunteer_service  敬老院探访 3.00 + 垃圾分类宣传 1.75       = 4.75 h 志愿服务时长
    collective_labour  楼道清扫 2.50                              = 2.50 h ┐ 参与时长
    self_governance    夜间巡逻 0.50                              = 0.50 h ┘ 3.00 h
"""

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ledger import Ledger
from market.community import service as communities
from market.reports import certificate_records as records
from market.tables import AuditEntry, CertificateCorrection, PersonIdentity
from tests.market.support import Enrol, Member, balance
from tests.market.test_certificates import DataSet, pdf_pages, pdf_text, screenshots, token_of
from tests.market.test_certificates import data as data  # the data set's fixture

__all__ = ["screenshots"]

#: A valid resident ID (GB 11643 check digit X) — the standard's own example, nobody's.
RESIDENT_ID = "11010519491231002X"
MASKED_ID = "110***********002X"
EN = {"Accept-Language": "en"}


async def _actions(community_id: int, subject: str | None = None) -> list[str]:
    query = AuditEntry.select(AuditEntry.action).where(AuditEntry.community == community_id)
    if subject is not None:
        query = query.where(AuditEntry.subject == subject)
    return [row["action"] for row in await query.order_by(AuditEntry.id)]


# -- hours: volunteer service apart from participation ---------------------------------------------


async def test_only_volunteer_service_counts_as_volunteer_hours(data: DataSet, community) -> None:
    found = await records.compute(community.id, data.resident.id, datetime.now(UTC), records.Period())
    assert found.volunteer_hours == "4.75"
    assert found.participation == [("collective_labour", "2.50"), ("self_governance", "0.50")]
    assert found.participation_hours == "3.00" and found.total_hours == "7.75"
    april = await records.compute(community.id, data.resident.id, datetime.now(UTC),
                                  records.Period.parse("2025-04-01", "2025-04-30"))
    assert (april.volunteer_hours, april.participation_hours) == ("3.00", "0.50")


async def test_the_verification_answer_splits_the_hours(data: DataSet, anon: httpx.AsyncClient) -> None:
    _, url = await token_of(data.resident.client)
    answer = (await anon.get("/api/certificates/verify/" + url.rsplit("/", 1)[1])).json()
    assert answer["valid"] is True
    assert (answer["volunteer_hours"], answer["participation_hours"], answer["total_hours"]) == (
        "4.75", "3.00", "7.75")


# -- the PDF's four parts --------------------------------------------------------------------------


async def test_the_pdf_has_the_four_parts_of_the_national_format(
        data: DataSet, admin: Member, community, tmp_path: Path, screenshots: Path) -> None:
    assert (await admin.client.put("/api/certificates/office", json={
        "leader": "王主任", "handler": "陈经办", "contact": "028-87654321"})).status_code == 200
    assert (await data.resident.client.put("/api/me/identity", json={
        "id_type": "resident_id", "id_number": RESIDENT_ID, "volunteer_number": "VN2025000123"})
            ).status_code == 200
    pdf, _ = await token_of(data.resident.client)
    text = pdf_text(pdf, tmp_path)
    flat = "".join(text.split())
    # 一 identity: name, ID type and number (masked), the national volunteer number (masked).
    for expected in ("一、志愿者信息", "李阿姨", "居民身份证", MASKED_ID, "全国志愿者编号", "VN2*****0123"):
        assert expected in flat, expected
    assert RESIDENT_ID not in flat and "VN2025000123" not in flat
    # 二 service: 志愿服务时长 of volunteer service only, 参与时长 by category, what was done.
    for expected in ("二、服务情况", "志愿服务时长4.75小时", "参与时长3.00小时", "集体劳动2.50小时",
                     "社区自治0.50小时", "敬老院探访", "楼道清扫"):
        assert expected in flat, expected
    assert "累计志愿服务时长7.75" not in flat  # labour and self-governance are not 志愿服务
    # 三 issuer: organisation, 负责人, 经办人, contact.
    for expected in ("三、出具单位", community.name, "负责人王主任", "经办人陈经办", "联系电话028-87654321"):
        assert expected in flat, expected
    # 四 number, date, notes, the seal's place.
    assert re.search(r"证明编号：[0-9A-F]{4}(-[0-9A-F]{4}){3}", flat)
    for expected in ("四、证明信息", "证明编号：", "出具日期：", "备注：", "盖章"):
        assert expected in flat, expected
    pdf_pages(pdf, tmp_path, f"certificate-national-{community.id}", screenshots)


async def test_an_unset_office_prints_blanks_not_names(data: DataSet, tmp_path: Path) -> None:
    pdf, _ = await token_of(data.resident.client)
    flat = "".join(pdf_text(pdf, tmp_path).split())
    assert "负责人＿＿＿＿＿＿" in flat and "经办人＿＿＿＿＿＿" in flat
    assert "证件类型未登记" in flat and "证件号码未登记" in flat


async def test_the_id_is_masked_unless_the_resident_chooses_full(
        data: DataSet, admin: Member, organizer: Member, community, tmp_path: Path) -> None:
    await data.resident.client.put("/api/me/identity",
                                   json={"id_type": "resident_id", "id_number": RESIDENT_ID})
    masked, _ = await token_of(data.resident.client)
    assert MASKED_ID in pdf_text(masked, tmp_path) and RESIDENT_ID not in pdf_text(masked, tmp_path)
    assert "identity_shown_in_full" not in await _actions(community.id)
    full, _ = await token_of(data.resident.client, full_identity="true")
    assert RESIDENT_ID in pdf_text(full, tmp_path)
    assert (await _actions(community.id, f"person:{data.resident.id}")).count("identity_shown_in_full") == 1
    # Staff print it masked whatever they ask for: the choice is the holder's alone.
    for staff in (admin, organizer):
        response = await staff.client.get(f"/api/people/{data.resident.id}/certificate.pdf",
                                          params={"full_identity": "true"})
        assert response.status_code == 200
        text = pdf_text(response.content, tmp_path)
        assert MASKED_ID in text and RESIDENT_ID not in text


# -- recording the ID ----------------------------------------------------------------------------


async def test_a_resident_records_their_id_and_sees_it_masked(data: DataSet, caplog) -> None:
    client = data.resident.client
    assert (await client.get("/api/me/identity")).json()["id_number"] is None
    caplog.set_level(logging.DEBUG)
    response = await client.put("/api/me/identity", json={
        # Full-width digits and a lower-case x, as a phone keyboard may type them.
        "id_type": "resident_id", "id_number": " １１０１０５１９４９１２３１００２x "})
    assert response.status_code == 200, response.text
    assert response.json() == response.json() | {
        "id_type": "resident_id", "id_type_name": "居民身份证", "id_number": MASKED_ID,
        "volunteer_number": None}
    assert RESIDENT_ID not in response.text
    assert (await client.get("/api/me/identity")).json()["id_number"] == MASKED_ID
    row = await PersonIdentity.select().where(PersonIdentity.person == data.resident.id).first()
    assert row["id_number"] == RESIDENT_ID  # stored as typed, normalised
    assert RESIDENT_ID not in caplog.text and "002X" not in caplog.text  # never logged
    # Empty clears.
    cleared = await client.put("/api/me/identity", json={})
    assert cleared.status_code == 200 and cleared.json()["id_type"] is None


@pytest.mark.parametrize(("body", "reason", "field"), [
    ({"id_type": "resident_id", "id_number": "110105194912310021"}, "invalid_resident_id", "id_number"),
    ({"id_type": "resident_id", "id_number": "11010519491331002X"}, "invalid_resident_id", "id_number"),
    ({"id_type": "resident_id"}, "id_type_and_number", "id_number"),
    ({"id_number": "E12345678"}, "id_type_and_number", "id_type"),
    ({"id_type": "driving_licence", "id_number": "E12345678"}, "invalid_id_type", "id_type"),
    ({"id_type": "passport", "id_number": "E1;DROP"}, "invalid_id_number", "id_number"),
    ({"volunteer_number": "x" * 31}, "invalid_volunteer_number", "volunteer_number"),
])
async def test_bad_ids_are_refused_and_change_nothing(data: DataSet, body: dict, reason: str,
                                                      field: str) -> None:
    client = data.resident.client
    await client.put("/api/me/identity", json={"id_type": "passport", "id_number": "E12345678"})
    response = await client.put("/api/me/identity", json=body)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["reason"] == reason and problem["status"] == 400
    english = await client.put("/api/me/identity", json=body, headers=EN)
    assert english.json()["reason"] == reason and english.json()["detail"].isascii()
    assert (await client.get("/api/me/identity")).json()["id_number"] == "E*******8"


async def test_the_office_records_a_residents_id(data: DataSet, admin: Member, organizer: Member,
                                                 community, ledger: Ledger, enrol: Enrol) -> None:
    path = f"/api/people/{data.resident.id}/identity"
    body = {"id_type": "passport", "id_number": "E12345678", "volunteer_number": "VN-1234"}
    response = await admin.client.put(path, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["id_number"] == "E*******8" and response.json()["volunteer_number"] == "V*****4"
    assert "E12345678" not in (await admin.client.get(path)).text
    assert "identity_recorded" in await _actions(community.id, f"person:{data.resident.id}")
    # Only admins, only of their community; the resident may not record someone else's.
    assert (await organizer.client.put(path, json=body)).status_code == 403
    assert (await organizer.client.get(path)).status_code == 403
    assert (await data.other.client.put("/api/me/identity", json=body)).status_code == 200  # their own
    elsewhere = await communities.get_or_create(ledger, f"别的社区-{community.id}")
    stranger = await enrol("admin", community_id=elsewhere.id)
    assert (await stranger.client.put(path, json=body)).status_code == 404
    assert (await stranger.client.get(path)).status_code == 404


# -- the issuing office ----------------------------------------------------------------------------


async def test_office_settings_for_admins_only(data: DataSet, admin: Member, organizer: Member,
                                               community) -> None:
    assert (await admin.client.get("/api/certificates/office")).json() == {
        "leader": "", "handler": "", "contact": "", "updated_at": None}
    saved = await admin.client.put("/api/certificates/office", json={
        "leader": " 王主任 ", "handler": "陈经办", "contact": "０２８-87654321"})
    assert saved.status_code == 200 and saved.json()["leader"] == "王主任"
    assert saved.json()["contact"] == "028-87654321"
    assert "certificate_office_set" in await _actions(community.id)
    for bad, reason in (({"contact": "call me"}, "invalid_office_contact"),
                        ({"leader": "王" * 21}, "invalid_office_name")):
        response = await admin.client.put("/api/certificates/office", json=bad)
        assert response.status_code == 400 and response.json()["reason"] == reason
    assert (await admin.client.get("/api/certificates/office")).json()["leader"] == "王主任"
    for other in (organizer, data.resident):
        assert (await other.client.put("/api/certificates/office", json={"leader": "x"})).status_code == 403
        assert (await other.client.get("/api/certificates/office")).status_code == 403


# -- corrections --------------------------------------------------------------------------------------


async def test_a_correction_request_life_cycle(data: DataSet, admin: Member, organizer: Member,
                                               community) -> None:
    resident = data.resident.client
    points_before = await balance(data.resident)
    asked = await resident.post("/api/certificates/corrections", json={
        "what": "3月1日的楼道清扫我做了3小时，证明上是2.5小时", "number": "1a2b-3c4d-5e6f-7a8b"})
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert request["status"] == "open" and request["number"] == "1A2B-3C4D-5E6F-7A8B"
    # The office's queue; nobody else's.
    assert (await organizer.client.get("/api/certificates/corrections")).status_code == 403
    assert (await resident.get("/api/certificates/corrections")).status_code == 403
    queue = (await admin.client.get("/api/certificates/corrections")).json()["items"]
    assert [c["id"] for c in queue] == [request["id"]] and queue[0]["person_name"] == "李阿姨"
    decision = f"/api/certificates/corrections/{request['id']}/decision"
    # Only admins decide; a rejection needs its reason.
    assert (await resident.post(decision, json={"accept": True})).status_code == 403
    assert (await organizer.client.post(decision, json={"accept": True})).status_code == 403
    no_reason = await admin.client.post(decision, json={"accept": False, "note": "  "})
    assert no_reason.status_code == 400 and no_reason.json()["reason"] == "invalid_correction_note"
    assert (await admin.client.get("/api/certificates/corrections")).json()["items"][0]["status"] == "open"
    accepted = await admin.client.post(decision, json={"accept": True, "note": "已请组织者更正为3小时"})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    again = await admin.client.post(decision, json={"accept": False, "note": "不对"})
    assert again.status_code == 409 and again.json()["reason"] == "correction_not_open"
    mine = (await resident.get("/api/me/certificate-corrections")).json()["items"]
    assert mine[0]["status"] == "accepted" and mine[0]["note"] == "已请组织者更正为3小时"
    assert (await data.other.client.get("/api/me/certificate-corrections")).json()["items"] == []
    # Audited, and no points moved.
    subject = f"certificate_correction:{request['id']}"
    assert await _actions(community.id, subject) == ["certificate_correction_asked",
                                                     "certificate_correction_accepted"]
    assert await balance(data.resident) == points_before
    # A rejected one carries its reason to the resident.
    second = (await resident.post("/api/certificates/corrections", json={"what": "名字写错了"})).json()
    rejected = await admin.client.post(f"/api/certificates/corrections/{second['id']}/decision",
                                       json={"accept": False, "note": "姓名与登记一致"})
    assert rejected.json()["status"] == "rejected"
    answers = (await resident.get("/api/me/certificate-corrections")).json()["items"]
    assert answers[0]["note"] == "姓名与登记一致"
    assert (await admin.client.get("/api/certificates/corrections", params={"status": "rejected"})
            ).json()["items"][0]["id"] == second["id"]


async def test_bad_correction_requests_are_refused(data: DataSet, admin: Member, community,
                                                   ledger: Ledger, enrol: Enrol) -> None:
    resident = data.resident.client
    for body, reason in (({"what": " "}, "invalid_correction_text"),
                         ({"what": "x" * 501}, "invalid_correction_text"),
                         ({"what": "错了", "number": "not-a-number"}, "invalid_certificate_number")):
        response = await resident.post("/api/certificates/corrections", json=body)
        assert response.status_code == 400 and response.json()["reason"] == reason
        assert (await resident.post("/api/certificates/corrections", json=body, headers=EN)
                ).json()["detail"].isascii()
    assert await CertificateCorrection.count().where(CertificateCorrection.person == data.resident.id) == 0
    for n in range(3):
        made = await resident.post("/api/certificates/corrections", json={"what": f"第{n}处"})
        assert made.status_code == 201
    flood = await resident.post("/api/certificates/corrections", json={"what": "第4处"})
    assert flood.status_code == 409 and flood.json()["reason"] == "too_many_corrections"
    # Another community's admin finds nothing to decide.
    (first, *_) = (await admin.client.get("/api/certificates/corrections")).json()["items"]
    elsewhere = await communities.get_or_create(ledger, f"别的社区-{community.id}")
    stranger = await enrol("admin", community_id=elsewhere.id)
    response = await stranger.client.post(f"/api/certificates/corrections/{first['id']}/decision",
                                          json={"accept": True})
    assert response.status_code == 404
    assert (await stranger.client.get("/api/certificates/corrections")).json()["items"] == []


# -- privacy: the ID in the export, gone on erasure ---------------------------------------------------


async def test_export_has_the_id_in_full_and_erasure_removes_it(data: DataSet, admin: Member) -> None:
    resident = data.resident.client
    await resident.put("/api/me/identity", json={"id_type": "resident_id", "id_number": RESIDENT_ID,
                                                 "volunteer_number": "VN2025000123"})
    await resident.post("/api/certificates/corrections", json={"what": "我的证件号码登记错了"})
    export = (await resident.get("/api/me/export")).json()
    assert export["identity"] == {"id_type": "resident_id", "id_number": RESIDENT_ID,
                                  "volunteer_number": "VN2025000123"}
    assert (await admin.client.post(f"/api/people/{data.resident.id}/erase")).status_code == 200
    assert await PersonIdentity.count().where(PersonIdentity.person == data.resident.id) == 0
    left = await CertificateCorrection.select(CertificateCorrection.what).where(
        CertificateCorrection.person == data.resident.id)
    assert [row["what"] for row in left] == ["（已删除）"]
    assert (await admin.client.get(f"/api/people/{data.resident.id}/identity")).status_code == 404


async def test_requests_sent_at_once_never_pass_the_limit(data: DataSet) -> None:
    import asyncio

    answers = await asyncio.gather(*(
        data.resident.client.post("/api/certificates/corrections", json={"what": f"同时第{n}处"})
        for n in range(6)))
    assert sorted(a.status_code for a in answers) == [201] * 3 + [409] * 3
    assert await CertificateCorrection.count().where(CertificateCorrection.person == data.resident.id) == 3
