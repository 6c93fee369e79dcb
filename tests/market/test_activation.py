"""One-time codes over the API: the office issues them for residents without a PIN (imported) or
who forgot it; a resident signs in once with one and must set a PIN before anything else.

Also the staff side of access: a resident given a password and a staff role after enrolment,
a staff password reset, and one role added to or removed from several people at once.
"""

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from litestar import Litestar

from market.audit import person_subject
from market.auth import access_codes
from market.tables import AccessCode, AuditEntry
from tests.market import records
from tests.market.support import PASSWORD, Enrol, Member, client_for, random_phone


async def imported_resident(community_id: int, name: str = "赵奶奶") -> dict:
    """A resident as the roster import makes them: no PIN, no password."""
    person = await records.saved_person(community=community_id, name=name, phone=random_phone(),
                                        roles="resident")
    return {"id": person.id, "phone": person.phone, "card_no": person.card_no, "name": name}


async def issue(admin: Member, *ids: int) -> httpx.Response:
    return await admin.client.post("/api/people/access-codes", json={"person_ids": list(ids)})


async def code_sign_in(app: Litestar, login: str, code: str, **headers: str) -> httpx.Response:
    async with client_for(app) as client:
        return await client.post("/api/session/code", json={"login": login, "code": code},
                                 headers=headers)


def bearer(app: Litestar, token: str) -> httpx.AsyncClient:
    client = client_for(app)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


async def test_an_imported_resident_gets_in_with_a_code_and_must_set_a_pin(
    app: Litestar, admin: Member, community, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    person = await imported_resident(community.id)
    issued = await issue(admin, person["id"])
    assert issued.status_code == 200, issued.text
    assert issued.headers["cache-control"] == "no-store"
    [line] = issued.json()
    code = line["code"]
    assert len(code) == 8 and code.isdigit() and line["purpose"] == "activate"
    assert line["card_no"] == person["card_no"]
    # Kept only as an Argon2id hash, never in the log or the audit.
    [row] = await AccessCode.select().where(AccessCode.person == person["id"])
    assert row["code_hash"].startswith("$argon2id$") and code not in row["code_hash"]
    audit = await AuditEntry.select(AuditEntry.action).where(
        AuditEntry.subject == person_subject(person["id"]))
    assert [a["action"] for a in audit] == ["access_code_issued"]

    # Spaces as printed on the slip ("1234 5678") are fine.
    signed = await code_sign_in(app, person["card_no"], f"{code[:4]} {code[4:]}")
    assert signed.status_code == 200, signed.text
    assert signed.json()["must_set_pin"] is True
    async with bearer(app, signed.json()["token"]) as client:
        # Nothing else before the PIN: a problem with its reason, in Chinese and in English.
        me = await client.get("/api/me")
        assert me.status_code == 403 and me.json()["reason"] == "pin_change_required"
        assert "数字密码" in me.json()["detail"]
        english = await client.get("/api/me/code", headers={"Accept-Language": "en"})
        assert english.status_code == 403 and "Set a new 6-digit PIN" in english.json()["detail"]
        weak = await client.put("/api/me/pin", json={"new_pin": "111111"})
        assert weak.status_code == 400 and weak.json()["reason"] == "weak_pin"
        # No current PIN asked for: the code proved who this is.
        done = await client.put("/api/me/pin", json={"new_pin": "730418"})
        assert done.status_code == 204, done.text
        assert (await client.get("/api/me")).status_code == 200
    assert code not in caplog.text and "730418" not in caplog.text
    # The PIN works; the code does not, a second time.
    async with client_for(app) as client:
        pin = await client.post("/api/session", json={"login": person["card_no"], "secret": "730418"})
        assert pin.status_code == 200 and pin.json()["must_set_pin"] is False
    again = await code_sign_in(app, person["card_no"], code)
    assert again.status_code == 410 and again.json()["reason"] == "access_code_used"


async def test_wrong_expired_and_replaced_codes_are_refused(
    app: Litestar, admin: Member, community
) -> None:
    person = await imported_resident(community.id)
    first = (await issue(admin, person["id"])).json()[0]["code"]
    wrong = "00000000" if first != "00000000" else "11111111"
    refused = await code_sign_in(app, person["card_no"], wrong)
    assert refused.status_code == 401 and refused.json()["reason"] == "bad_access_code"
    english = await code_sign_in(app, person["card_no"], wrong, **{"Accept-Language": "en"})
    assert "one-time code" in english.json()["detail"]
    # A new slip voids the old one: only the newest code is checked (one hash per sign-in).
    second = (await issue(admin, person["id"])).json()[0]["code"]
    replaced = await code_sign_in(app, person["phone"], first)
    assert replaced.status_code == 401 and replaced.json()["reason"] == "bad_access_code"
    # Thirty days later the code has expired.
    await AccessCode.update({AccessCode.expires_at: datetime.now(UTC) - timedelta(seconds=1)}).where(
        (AccessCode.person == person["id"]) & AccessCode.voided_at.is_null())
    expired = await code_sign_in(app, person["card_no"], second)
    assert expired.status_code == 410 and expired.json()["reason"] == "access_code_expired"
    # None of these left a session behind, nor used the code.
    live = await AccessCode.select().where(
        (AccessCode.person == person["id"]) & AccessCode.voided_at.is_null())
    assert [r["used_at"] for r in live] == [None]


async def test_codes_are_rate_limited_like_sign_in(app: Litestar, admin: Member, community) -> None:
    person = await imported_resident(community.id)
    code = (await issue(admin, person["id"])).json()[0]["code"]
    wrong = str((int(code) + 1) % 10**8).zfill(8)
    statuses = [(await code_sign_in(app, person["card_no"], wrong)).status_code for _ in range(12)]
    assert 429 in statuses and statuses[0] == 401
    # Locked: even the right code waits now.
    locked = await code_sign_in(app, person["card_no"], code)
    assert locked.status_code == 429 and locked.json()["reason"] == "too_many_attempts"
    assert "retry-after" in locked.headers
    # An office reissue does not unlock the lock-out either (a guesser cannot ask for one).
    [row] = await AccessCode.select(AccessCode.used_at).where(AccessCode.person == person["id"])
    assert row["used_at"] is None


async def test_a_forgotten_pin_is_reset_with_a_code(
    app: Litestar, admin: Member, resident: Member
) -> None:
    issued = await issue(admin, resident.id)
    [line] = issued.json()
    assert line["purpose"] == "reset"
    audit = await AuditEntry.select(AuditEntry.action).where(
        AuditEntry.subject == person_subject(resident.id))
    assert "pin_reset_code_issued" in [a["action"] for a in audit]
    signed = await code_sign_in(app, resident.card_no, line["code"])
    assert signed.status_code == 200
    async with bearer(app, signed.json()["token"]) as client:
        assert (await client.get("/api/me/code")).json()["reason"] == "pin_change_required"
        assert (await client.put("/api/me/pin", json={"new_pin": "730418"})).status_code == 204
    # The resident's other sessions (someone else's phone?) ended; the old PIN is replaced.
    assert (await resident.client.get("/api/me")).status_code == 401
    async with client_for(app) as client:
        old = await client.post("/api/session", json={"login": resident.phone, "secret": resident.pin})
        assert old.status_code == 401


async def test_only_admins_issue_codes_and_only_for_their_residents(
    app: Litestar, admin: Member, organizer: Member, enrol: Enrol, community, ledger
) -> None:
    person = await imported_resident(community.id)
    assert (await issue(organizer, person["id"])).status_code == 403
    # Staff sign in with a password: no code for them.
    refused = await issue(admin, person["id"], organizer.id)
    assert refused.status_code == 409 and refused.json()["reason"] == "not_resident"
    assert await AccessCode.count().where(AccessCode.person == person["id"]) == 0
    from market.community import service as communities
    other = await communities.get_or_create(ledger, f"别的社区-{person['id']}")
    stranger = await imported_resident(other.id)
    assert (await issue(admin, stranger["id"])).status_code == 404
    empty = await admin.client.post("/api/people/access-codes", json={"person_ids": []})
    assert empty.status_code == 400 and empty.json()["reason"] == "nobody_selected"
    many = await admin.client.post("/api/people/access-codes", json={"person_ids": list(range(1, 102))})
    assert many.status_code == 400 and many.json()["reason"] == "too_many_selected"


async def test_the_office_setting_a_pin_voids_the_slip(
    app: Litestar, admin: Member, community
) -> None:
    person = await imported_resident(community.id)
    code = (await issue(admin, person["id"])).json()[0]["code"]
    set_pin = await admin.client.post(f"/api/people/{person['id']}/pin", json={"pin": "730418"})
    assert set_pin.status_code == 204
    refused = await code_sign_in(app, person["card_no"], code)
    assert refused.status_code == 410 and refused.json()["reason"] == "access_code_voided"


async def test_the_same_code_twice_at_once_opens_one_session(
    app: Litestar, admin: Member, community
) -> None:
    import asyncio
    person = await imported_resident(community.id)
    code = (await issue(admin, person["id"])).json()[0]["code"]
    both = await asyncio.gather(code_sign_in(app, person["card_no"], code),
                                code_sign_in(app, person["card_no"], code))
    assert sorted(r.status_code for r in both) == [200, 410]


# -- staff passwords and roles ------------------------------------------------------------------


async def test_a_resident_is_given_a_password_and_a_staff_role(
    app: Litestar, admin: Member, resident: Member
) -> None:
    short = await admin.client.put(f"/api/people/{resident.id}/roles",
                                   json={"roles": ["resident", "organizer"], "password": "short"})
    assert short.status_code == 400
    lone = await admin.client.put(f"/api/people/{resident.id}/roles",
                                  json={"roles": ["resident"], "password": PASSWORD})
    assert lone.status_code == 400 and lone.json()["reason"] == "password_without_staff_role"
    made = await admin.client.put(f"/api/people/{resident.id}/roles",
                                  json={"roles": ["resident", "organizer"], "password": PASSWORD})
    assert made.status_code == 200, made.text
    assert made.json()["roles"] == ["organizer", "resident"]
    async with client_for(app) as client:
        staff = await client.post("/api/session", json={"login": resident.phone, "secret": PASSWORD})
        assert staff.status_code == 200 and "organizer" in staff.json()["person"]["roles"]
        # The card and PIN still work for the shop.
        card = await client.post("/api/session", json={"login": resident.card_no, "secret": resident.pin})
        assert card.status_code == 200
    audit = await AuditEntry.select(AuditEntry.action).where(
        AuditEntry.subject == person_subject(resident.id))
    assert {"roles_changed", "password_set"} <= {a["action"] for a in audit}
    # Taking the staff role away takes the password too: the phone signs in with the PIN again.
    back = await admin.client.put(f"/api/people/{resident.id}/roles", json={"roles": ["resident"]})
    assert back.status_code == 200
    async with client_for(app) as client:
        gone = await client.post("/api/session", json={"login": resident.phone, "secret": PASSWORD})
        assert gone.status_code == 401
        pin = await client.post("/api/session", json={"login": resident.phone, "secret": resident.pin})
        assert pin.status_code == 200


async def test_a_staff_password_is_reset(app: Litestar, admin: Member, organizer: Member,
                                         resident: Member) -> None:
    reset = await admin.client.put(f"/api/people/{organizer.id}/password",
                                   json={"password": "a brand new password"})
    assert reset.status_code == 204
    assert (await organizer.client.get("/api/me")).status_code == 401  # its sessions ended
    async with client_for(app) as client:
        signed = await client.post("/api/session",
                                   json={"login": organizer.phone, "secret": "a brand new password"})
        assert signed.status_code == 200
    refused = await admin.client.put(f"/api/people/{resident.id}/password",
                                     json={"password": "a brand new password"})
    assert refused.status_code == 409 and refused.json()["reason"] == "password_without_staff_role"
    assert (await organizer.client.put(f"/api/people/{admin.id}/password",
                                       json={"password": "a brand new password"})).status_code in (401, 403)


async def test_one_role_is_added_to_and_removed_from_several_people(
    admin: Member, enrol: Enrol
) -> None:
    first, second = await enrol("resident", "organizer"), await enrol("organizer")
    added = await admin.client.post("/api/people/roles", json={
        "person_ids": [first.id, second.id], "add": "shopkeeper"})
    assert added.status_code == 200, added.text
    assert [p["roles"] for p in added.json()] == [
        ["organizer", "resident", "shopkeeper"], ["organizer", "shopkeeper"]]
    # Someone's only role cannot go: nobody changes (all or nothing), and the refusal names them.
    only = await admin.client.post("/api/people/roles", json={
        "person_ids": [first.id, second.id], "remove": "organizer"})
    assert only.status_code == 200  # both keep another role
    lone = await enrol("organizer", name="孤角色")
    refused = await admin.client.post("/api/people/roles", json={
        "person_ids": [first.id, lone.id], "remove": "shopkeeper"})
    assert refused.status_code == 200  # lone had no shopkeeper role: unchanged
    assert [p["roles"] for p in refused.json()] == [["resident"], ["organizer"]]
    refused = await admin.client.post("/api/people/roles", json={
        "person_ids": [first.id, lone.id], "remove": "organizer"})
    assert refused.status_code == 409 and refused.json()["reason"] == "no_role_left"
    assert "孤角色" in refused.json()["detail"]
    assert (await admin.client.get(f"/api/people/{lone.id}")).json()["roles"] == ["organizer"]
    # The last admin stays, even in a batch that removes the role from every admin.
    other_admin = await enrol("admin", "organizer")
    assert (await admin.client.put(f"/api/people/{admin.id}/roles",
                                   json={"roles": ["admin", "organizer"]})).status_code == 200
    last = await admin.client.post("/api/people/roles", json={
        "person_ids": [admin.id, other_admin.id], "remove": "admin"})
    assert last.status_code == 409 and last.json()["reason"] == "last_admin"
    assert (await admin.client.get(f"/api/people/{other_admin.id}")).json()["roles"] == ["admin", "organizer"]
    assert (await admin.client.get(f"/api/people/{admin.id}")).json()["roles"] == ["admin", "organizer"]
    bad = await admin.client.post("/api/people/roles", json={
        "person_ids": [first.id], "add": "admin", "remove": "resident"})
    assert bad.status_code == 400 and bad.json()["reason"] == "role_change_invalid"
    assert (await first.client.post("/api/people/roles", json={
        "person_ids": [first.id], "add": "admin"})).status_code == 403


async def test_codes_are_random(app: Litestar) -> None:
    codes = {access_codes.new_code() for _ in range(200)}
    assert len(codes) > 195 and all(len(c) == 8 and c.isdigit() for c in codes)
