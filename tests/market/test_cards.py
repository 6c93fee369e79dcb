"""Printed member cards: the picture, the static code in it, and reissue revoking the old one."""

import io

from litestar import Litestar
from PIL import Image

import qr
from market.cards import picture, service
from market.community import service as communities
from market.tables import AuditEntry, Person
from tests.market.support import Enrol, Member


async def card_code(client, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "no-store"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (1011, 638)  # 85.6 × 54 mm at 300 dpi
    assert round(image.info["dpi"][0]) == 300
    (text,) = qr.decode_png(response.content)
    return text


async def resolve(staff: Member, code: str):
    return await staff.client.post("/api/member-codes/resolve", json={"member_code": code})


async def audit(action: str, person_id: int) -> list[dict]:
    return await AuditEntry.select(AuditEntry.actor, AuditEntry.community).where(
        (AuditEntry.action == action) & (AuditEntry.subject == f"person:{person_id}")
    )


async def test_admin_prints_a_card_that_scans_as_the_resident(
    admin: Member, resident: Member, shopkeeper: Member, community: communities.CommunityView
) -> None:
    code = await card_code(admin.client, f"/api/people/{resident.id}/card.png")
    assert len(code) <= 34
    scanned = await resolve(shopkeeper, code)
    assert scanned.status_code == 200, scanned.text
    assert scanned.json() == {
        "person_id": resident.id, "name": resident.name, "card_no": resident.card_no,
        "via_card": True, "community_id": community.id,
    }
    # The resident can print the same card themselves.
    assert await card_code(resident.client, "/api/me/card.png") == code


async def test_reissue_revokes_the_old_card_at_once(
    admin: Member, resident: Member, shopkeeper: Member, community: communities.CommunityView
) -> None:
    old = await card_code(admin.client, f"/api/people/{resident.id}/card.png")
    response = await admin.client.post(f"/api/people/{resident.id}/card/reissue")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "person_id": resident.id, "name": resident.name, "card_no": resident.card_no,
        "card_version": 2, "picture": f"/api/people/{resident.id}/card.png",
    }
    refused = await resolve(shopkeeper, old)
    assert refused.status_code == 410
    assert refused.json()["reason"] == "revoked"

    new = await card_code(admin.client, f"/api/people/{resident.id}/card.png")
    assert new != old
    assert (await resolve(shopkeeper, new)).json()["via_card"] is True
    assert await audit("card_reissued", resident.id) == [
        {"actor": admin.id, "community": community.id}
    ]
    # A second reissue revokes the second card too.
    await admin.client.post(f"/api/people/{resident.id}/card/reissue")
    assert (await resolve(shopkeeper, new)).json()["reason"] == "revoked"


async def test_cards_of_another_community_are_not_found(
    app: Litestar, admin: Member, enrol: Enrol
) -> None:
    other = await communities.get_or_create(app.state.ledger, "别的社区-cards")
    stranger = await enrol("resident", community_id=other.id)
    assert (await admin.client.get(f"/api/people/{stranger.id}/card.png")).status_code == 404
    reissue = await admin.client.post(f"/api/people/{stranger.id}/card/reissue")
    assert reissue.status_code == 404
    row = await Person.select(Person.card_version).where(Person.id == stranger.id).first()
    assert row["card_version"] == 1
    assert await audit("card_reissued", stranger.id) == []


async def test_only_admins_print_and_reissue_others_cards(
    resident: Member, organizer: Member, enrol: Enrol
) -> None:
    other = await enrol("resident")
    for member in (resident, organizer):
        assert (await member.client.get(f"/api/people/{other.id}/card.png")).status_code == 403
        response = await member.client.post(f"/api/people/{other.id}/card/reissue")
        assert response.status_code == 403
    assert (await organizer.client.get("/api/me/card.png")).status_code == 403


async def test_staff_without_the_resident_role_have_no_card(admin: Member, organizer: Member) -> None:
    response = await admin.client.get(f"/api/people/{organizer.id}/card.png")
    assert response.status_code == 409
    assert response.json()["reason"] == "not_resident"


async def test_a_card_is_printable_without_a_chinese_font(app: Litestar) -> None:
    card = service.PrintableCard(
        person_id=7, name="王大爷", card_no="1234567897", community="幸福里社区",
        code=service.card_code(app.state.settings, 7, 1),
    )
    for font in (None, "auto"):
        data = picture.render_card(card, font_path=font)
        assert qr.decode_png(data) == [card.code]
