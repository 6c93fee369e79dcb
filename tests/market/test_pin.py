"""PINs: residents change their own (knowing the current one); admins set or reset them (logged)."""

import pytest
from litestar import Litestar

from market.community import service as communities
from market.tables import AuditEntry
from tests.market.support import Enrol, Member, client_for


async def signs_in(app: Litestar, login: str, secret: str) -> bool:
    async with client_for(app) as client:
        response = await client.post("/api/session", json={"login": login, "secret": secret})
        return response.status_code == 200


NEW_PIN = "864209"


async def test_a_resident_changes_their_pin(app: Litestar, resident: Member) -> None:
    response = await resident.client.put(
        "/api/me/pin", json={"current_pin": resident.pin, "new_pin": NEW_PIN}
    )
    assert response.status_code == 204, response.text
    assert await signs_in(app, resident.card_no, NEW_PIN)
    assert not await signs_in(app, resident.phone, resident.pin)


async def test_the_current_pin_is_needed(app: Litestar, resident: Member) -> None:
    missing = await resident.client.put("/api/me/pin", json={"new_pin": NEW_PIN})
    assert missing.status_code == 400
    assert missing.json()["reason"] == "current_pin_required"
    assert missing.json()["field"] == "current_pin"
    wrong = await resident.client.put(
        "/api/me/pin", json={"current_pin": "975318", "new_pin": NEW_PIN}
    )
    assert wrong.status_code == 400
    assert wrong.json()["reason"] == "wrong_pin"
    assert await signs_in(app, resident.card_no, resident.pin)
    assert not await signs_in(app, resident.card_no, NEW_PIN)


async def test_guessing_the_current_pin_is_locked_out(resident: Member) -> None:
    statuses = []
    for guess in range(8):
        response = await resident.client.put(
            "/api/me/pin", json={"current_pin": f"9{guess}8{guess}7{guess}", "new_pin": NEW_PIN}
        )
        statuses.append(response.status_code)
    assert statuses[:5] == [400] * 5
    assert statuses[5:] == [429] * 3
    # Locked even with the right PIN, until the lock-out passes.
    right = await resident.client.put(
        "/api/me/pin", json={"current_pin": resident.pin, "new_pin": NEW_PIN}
    )
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) > 0


def trivial_pins(phone: str) -> list[tuple[str, str]]:
    return [
        ("000000", "weak_pin"), ("123456", "weak_pin"), ("654321", "weak_pin"),
        ("345678", "weak_pin"), ("888888", "weak_pin"), (phone[-6:], "weak_pin"),
        ("12345", "invalid_pin"), ("1234567", "invalid_pin"), ("abcdef", "invalid_pin"),
        ("１２３４５６", "invalid_pin"),
    ]


async def test_trivial_pins_are_refused(app: Litestar, resident: Member) -> None:
    for pin, reason in trivial_pins(resident.phone):
        response = await resident.client.put(
            "/api/me/pin", json={"current_pin": resident.pin, "new_pin": pin}
        )
        assert response.status_code == 400, pin
        assert response.json()["reason"] == reason, pin
        assert response.json()["field"] == "new_pin"
    assert await signs_in(app, resident.card_no, resident.pin)


async def test_staff_have_no_pin(organizer: Member) -> None:
    response = await organizer.client.put("/api/me/pin", json={"new_pin": NEW_PIN})
    assert response.status_code == 403


async def test_an_admin_resets_a_forgotten_pin(
    app: Litestar, admin: Member, resident: Member, community: communities.CommunityView
) -> None:
    response = await admin.client.post(f"/api/people/{resident.id}/pin", json={"pin": NEW_PIN})
    assert response.status_code == 204, response.text
    assert await signs_in(app, resident.card_no, NEW_PIN)
    assert not await signs_in(app, resident.card_no, resident.pin)
    entries = await AuditEntry.select(AuditEntry.actor, AuditEntry.community).where(
        (AuditEntry.action == "pin_set") & (AuditEntry.subject == f"person:{resident.id}")
    )
    assert entries == [{"actor": admin.id, "community": community.id}]


async def test_admin_pin_rules(admin: Member, resident: Member, organizer: Member) -> None:
    for pin, reason in trivial_pins(resident.phone):
        response = await admin.client.post(f"/api/people/{resident.id}/pin", json={"pin": pin})
        assert response.status_code == 400, pin
        assert response.json()["reason"] == reason
        assert response.json()["field"] == "pin"
    staff = await admin.client.post(f"/api/people/{organizer.id}/pin", json={"pin": NEW_PIN})
    assert staff.status_code == 409
    assert staff.json()["reason"] == "not_resident"


@pytest.mark.parametrize("who", ["resident", "organizer", "shopkeeper"])
async def test_only_admins_set_others_pins(enrol: Enrol, resident: Member, who: str) -> None:
    member = await enrol(who)
    response = await member.client.post(f"/api/people/{resident.id}/pin", json={"pin": NEW_PIN})
    assert response.status_code == 403


async def test_admins_cannot_reach_another_communitys_people(
    app: Litestar, admin: Member, enrol: Enrol
) -> None:
    other = await communities.get_or_create(app.state.ledger, "别的社区-pin")
    stranger = await enrol("resident", community_id=other.id)
    response = await admin.client.post(f"/api/people/{stranger.id}/pin", json={"pin": NEW_PIN})
    assert response.status_code == 404
    assert await signs_in(app, stranger.card_no, stranger.pin)
