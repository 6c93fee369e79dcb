"""Moving house (搬家) on the office's pages: A's admin asks from the person's page, B's admin approves
or refuses on /admin/moves; refused forms come back with the reason and what was chosen or typed,
in Chinese by default and in English when chosen."""

import re
import secrets

import pytest
from litestar import Litestar

from ledger import Ledger
from market.community import service as communities
from market.community.service import CommunityView
from market.db import fetch
from market.subdistricts import service as subdistricts
from tests.market import records
from tests.market.support import Enrol, Member, adjust
from tests.web.support import browser, csrf_of, sign_in
from tests.web.test_admin import staff_sign_in

TEXTS = {
    "zh": {"form": "迁出到本街道其他社区", "choose": "请选择居民要迁往的社区",
           "phone": "迁入社区已有人用这个手机号登记",
           "incoming": "迁入本社区", "approve": "批准迁入", "reason": "请填写原因", "approved": "已批准",
           "refused": "已拒绝这项迁入申请", "history": "迁自"},
    "en": {"form": "Move to another community of the subdistrict",
           "choose": "Choose the community the resident",
           "phone": "Someone in the new community is registered with this phone number",
           "incoming": "Moving in", "approve": "Approve the move", "reason": "Give a reason",
           "approved": "Approved:", "refused": "The move was refused.", "history": "迁自"},
}


@pytest.fixture
async def b(ledger: Ledger, community: CommunityView) -> CommunityView:
    other = await communities.get_or_create(ledger, f"新家社区-{secrets.token_hex(4)}")
    await subdistricts.create(f"搬家街道-{secrets.token_hex(4)}", [community.id, other.id])
    return other


def _option(html: str, community_id: int) -> str | None:
    found = re.search(rf'<option value="{community_id}"( selected)?>', html)
    return None if found is None else found.group(0)


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_the_office_moves_a_resident_through_the_pages(
    app: Litestar, ledger: Ledger, b: CommunityView, enrol: Enrol, admin: Member, language: str
) -> None:
    text = TEXTS[language]
    resident = await enrol("resident", name="王阿姨")
    assert (await adjust(admin, resident.id, "40")).status_code == 201
    admin_b = await enrol("admin", community_id=b.id)
    async with browser(app, language) as client:
        await staff_sign_in(client, admin)
        person = await client.get(f"/admin/people/{resident.id}")
        assert person.status_code == 200 and text["form"] in person.text
        assert _option(person.text, b.id) == f'<option value="{b.id}">'
        form = {"csrf": csrf_of(person.text)}
        to_b = {**form, "to_community": str(b.id)}
        ask = f"/admin/people/{resident.id}/move"

        # Nothing chosen: the form again, saying so; nothing asked.
        empty = await client.post(f"/admin/people/{resident.id}/move", data={**form, "to_community": ""})
        assert empty.status_code == 400 and text["choose"] in empty.text and 'role="alert"' in empty.text
        forged = await client.post(f"/admin/people/{resident.id}/move",
                                   data={"csrf": "x" * 30, "to_community": str(b.id)})
        assert forged.status_code == 403
        # Someone in B has her phone: refused, with B still chosen.
        twin = await records.person(b.id, phone=resident.phone)
        taken = await client.post(ask, data=to_b)
        assert taken.status_code == 409 and text["phone"] in taken.text
        assert _option(taken.text, b.id) == f'<option value="{b.id}" selected>'
        assert await fetch("SELECT id FROM house_move WHERE person = {}", resident.id) == []
        await fetch("UPDATE person SET phone = {} WHERE id = {}", "19900000000", twin)

        asked = await client.post(ask, data=to_b)
        assert asked.status_code == 303
        assert asked.headers["location"].startswith("/admin/moves?done=requested")
        listed = await client.get("/admin/moves?done=requested")
        assert listed.status_code == 200 and "王阿姨" in listed.text
        assert re.search(r'action="/admin/moves/\d+/cancel"[^>]*\s+data-confirm=', listed.text)
        again = await client.get(f"/admin/people/{resident.id}")
        assert 'id="move-pending"' in again.text

    async with browser(app, language) as client:
        await staff_sign_in(client, admin_b)
        page = await client.get("/admin/moves")
        assert text["incoming"] in page.text and text["approve"] in page.text
        (move_id,) = re.findall(r'action="/admin/moves/(\d+)/approve"', page.text)
        assert re.search(rf'action="/admin/moves/{move_id}/approve"[^>]*\s+data-confirm=', page.text)
        csrf = csrf_of(page.text)
        long_reason = "不" * 201
        bad = await client.post(f"/admin/moves/{move_id}/refuse", data={"csrf": csrf, "reason": long_reason})
        assert bad.status_code == 400 and text["reason"] in bad.text
        assert f'value="{long_reason}"' in bad.text  # what was typed, to shorten
        approved = await client.post(f"/admin/moves/{move_id}/approve", data={"csrf": csrf})
        assert approved.status_code == 303
        done = await client.get(approved.headers["location"])
        assert text["approved"] in done.text
        mine = await client.get(f"/admin/people/{resident.id}")
        assert mine.status_code == 200 and text["history"] in mine.text
        again = await client.post(f"/admin/moves/{move_id}/refuse", data={"csrf": csrf, "reason": "晚了"})
        assert again.status_code == 409 and 'role="alert"' in again.text
    (row,) = await fetch("SELECT community FROM person WHERE id = {}", resident.id)
    assert row["community"] == b.id
    assert (await resident.client.get("/api/me/balance")).json()["balance"] == "40.00"


async def test_a_refusal_and_the_resident_statement(
    app: Litestar, b: CommunityView, enrol: Enrol, admin: Member
) -> None:
    resident = await enrol("resident", name="李大爷")
    assert (await adjust(admin, resident.id, "12.5", reason="楼道清扫")).status_code == 201
    admin_b = await enrol("admin", community_id=b.id)
    move = await admin.client.post("/api/moves", json={"person_id": resident.id, "to_community": b.id})
    assert move.status_code == 201, move.text
    async with browser(app) as client:
        await staff_sign_in(client, admin_b)
        csrf = csrf_of((await client.get("/admin/moves")).text)
        refused = await client.post(f"/admin/moves/{move.json()['id']}/refuse",
                                    data={"csrf": csrf, "reason": "未在本社区购房"})
        assert refused.status_code == 303
        page = await client.get(refused.headers["location"])
        assert TEXTS["zh"]["refused"] in page.text and "未在本社区购房" in page.text
        unknown = await client.post(f"/admin/moves/{move.json()['id']}/teleport", data={"csrf": csrf})
        assert unknown.status_code == 404
    # Asked again and approved: her statement page shows the move and her points from A.
    again = await admin.client.post("/api/moves", json={"person_id": resident.id, "to_community": b.id})
    assert (await admin_b.client.post(f"/api/moves/{again.json()['id']}/approve")).status_code == 200
    async with browser(app, "en") as client:
        await sign_in(client, resident)
        statement = await client.get("/statement")
    assert statement.status_code == 200
    assert "Moving house" in statement.text and "楼道清扫" in statement.text
    assert f"迁往 {b.name}" in statement.text and "迁自 " in statement.text
    # The entries from A are checked on A's transparency page.
    (community_a,) = await fetch("SELECT from_community FROM house_move WHERE id = {}", again.json()["id"])
    assert f"/transparency?community={community_a['from_community']}&amp;transfer=" in statement.text


async def test_a_community_of_no_subdistrict_offers_no_move(
    app: Litestar, enrol: Enrol, admin: Member
) -> None:
    resident = await enrol("resident")
    async with browser(app) as client:
        await staff_sign_in(client, admin)
        person = await client.get(f"/admin/people/{resident.id}")
        assert person.status_code == 200 and TEXTS["zh"]["form"] not in person.text
        alone = await client.get(f"/admin/people/{resident.id}/move")
        assert alone.status_code == 200 and 'id="move-none"' in alone.text
        moves = await client.get("/admin/moves")
        assert moves.status_code == 200 and 'id="incoming"' in moves.text
