"""Member codes: the resident's rotating code, and resolving scanned codes and cards to a person."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar

import qr
from market.cards import service
from market.community import service as communities
from market.community.service import CommunityView
from market.tables import Person
from tests.market.support import Enrol, Member

CODE = re.compile(r"[A-Z2-7]{36,39}")


async def resolve(staff: Member, code: str, **headers: str):
    return await staff.client.post(
        "/api/member-codes/resolve", json={"member_code": code}, headers=headers
    )


async def test_a_resident_gets_a_rotating_code(
    resident: Member, shopkeeper: Member, community: CommunityView
) -> None:
    resident_community = community.id
    before = datetime.now(UTC)
    response = await resident.client.get("/api/me/code")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert CODE.fullmatch(body["code"])
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(seconds=30) < expires_at <= before + timedelta(seconds=61)
    assert 1 <= body["refresh_in"] <= 30
    assert body["step_seconds"] == 30

    scanned = await resolve(shopkeeper, body["code"])
    assert scanned.status_code == 200, scanned.text
    assert scanned.json() == {
        "person_id": resident.id, "name": resident.name, "card_no": resident.card_no,
        "via_card": False, "community_id": resident_community,
    }
    # It can be scanned any number of times until it expires.
    assert (await resolve(shopkeeper, body["code"])).status_code == 200


async def test_the_code_as_a_picture(resident: Member, organizer: Member) -> None:
    response = await resident.client.get("/api/me/code.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "no-store"
    (text,) = qr.decode_png(response.content)
    assert CODE.fullmatch(text)
    assert (await resolve(organizer, text)).json()["person_id"] == resident.id


async def test_only_residents_have_a_member_code(admin: Member, anon) -> None:
    assert (await admin.client.get("/api/me/code")).status_code == 403
    assert (await anon.get("/api/me/code")).status_code == 401
    assert (await anon.get("/api/me/code.png")).status_code == 401


async def test_only_staff_resolve_codes(resident: Member, enrol: Enrol, anon) -> None:
    code = (await resident.client.get("/api/me/code")).json()["code"]
    other = await enrol("resident")
    assert (await resolve(other, code)).status_code == 403
    response = await anon.post("/api/member-codes/resolve", json={"member_code": code})
    assert response.status_code == 401


async def test_the_previous_step_is_accepted_older_is_expired(
    app: Litestar, resident: Member, shopkeeper: Member
) -> None:
    settings = app.state.settings
    now = datetime.now(UTC)
    previous = service.member_code(settings, resident.id, now - timedelta(seconds=30))
    assert (await resolve(shopkeeper, previous.code)).status_code == 200
    stale = service.member_code(settings, resident.id, now - timedelta(seconds=61))
    response = await resolve(shopkeeper, stale.code)
    assert response.status_code == 410
    assert response.json()["reason"] == "expired"
    assert "过期" in response.json()["detail"]
    english = await resolve(shopkeeper, stale.code, **{"Accept-Language": "en"})
    assert "expired" in english.json()["detail"]


async def test_expiry_through_the_service_clock(
    app: Litestar, resident: Member, community: communities.CommunityView
) -> None:
    settings = app.state.settings
    issued = datetime(2026, 11, 23, 9, 0, 10, tzinfo=UTC)
    code = service.member_code(settings, resident.id, issued).code
    for later in (0, 19, 20, 49):
        found = await service.resolve_member_code(
            community.id, code, settings=settings, now=issued + timedelta(seconds=later)
        )
        assert found.person_id == resident.id
    with pytest.raises(Exception) as refused:
        await service.resolve_member_code(
            community.id, code, settings=settings, now=issued + timedelta(seconds=50)
        )
    assert getattr(refused.value, "reason", None) == "expired"


async def test_forged_and_mangled_codes_are_invalid(resident: Member, shopkeeper: Member) -> None:
    code = (await resident.client.get("/api/me/code")).json()["code"]
    flipped = code[:10] + ("A" if code[10] != "A" else "B") + code[11:]
    for bad in (flipped, code[:-1], code + "A", "", "HELLO", "1234567890", "x" * 300, "中文"):
        response = await resolve(shopkeeper, bad)
        assert response.status_code == 400, bad
        assert response.json()["reason"] == "invalid"
        assert response.json()["field"] == "member_code"
    # What a scanner or a hand adds (spaces, lower case) is forgiven: it is the same code.
    spaced = " ".join(code[i : i + 4] for i in range(0, len(code), 4)).lower()
    assert (await resolve(shopkeeper, spaced)).status_code == 200


async def test_an_activity_code_is_not_a_member_code(
    app: Litestar, resident: Member, shopkeeper: Member
) -> None:
    signer = service.signer_for(app.state.settings)
    rotating = qr.Rotation().issue(signer, qr.Kind.ACTIVITY_ROTATING, resident.id).text
    poster = signer.sign(qr.Kind.POSTER, resident.id, 1)
    for text in (rotating, poster):
        response = await resolve(shopkeeper, text)
        assert response.status_code == 400
        assert response.json()["reason"] == "invalid"


async def test_another_communitys_code_looks_forged(
    app: Litestar, enrol: Enrol, shopkeeper: Member
) -> None:
    other = await communities.get_or_create(app.state.ledger, "别的社区-member-code")
    stranger = await enrol("resident", community_id=other.id)
    code = (await stranger.client.get("/api/me/code")).json()["code"]
    forged = code[:-2] + ("AA" if not code.endswith("AA") else "BB")
    theirs, fake = await resolve(shopkeeper, code), await resolve(shopkeeper, forged)
    assert theirs.status_code == fake.status_code == 400
    assert theirs.json() == fake.json()


async def test_erased_people_and_former_residents_are_revoked(
    enrol: Enrol, admin: Member, shopkeeper: Member
) -> None:
    erased = await enrol("resident")
    code = (await erased.client.get("/api/me/code")).json()["code"]
    await Person.update({Person.erased_at: datetime.now(UTC)}).where(Person.id == erased.id)
    response = await resolve(shopkeeper, code)
    assert response.status_code == 410
    assert response.json()["reason"] == "revoked"

    former = await enrol("resident")
    code = (await former.client.get("/api/me/code")).json()["code"]
    await Person.update({Person.roles: "organizer"}).where(Person.id == former.id)
    assert (await resolve(shopkeeper, code)).json()["reason"] == "revoked"
