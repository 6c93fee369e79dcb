"""Personal data: masked phones everywhere, audited unmasking, one's own export, erasure."""

import re
import secrets

import httpx
import pytest
from litestar import Litestar

from ledger import Ledger
from market.community import service as communities
from market.privacy.service import ERASED_NAME
from market.tables import AuditEntry, Household, Person, Session, TeamMember
from tests.market import records
from tests.market.support import Enrol, Member, adjust, good_pin, random_phone

#: A mainland mobile number not embedded in a longer run of digits.
# Eleven digits standing alone: not a run inside a hex hash or signature ("…b2e14117788646a…"),
# which a checkpoint's hashes produce now and then and which would fail this test at random.
PHONE_PATTERN = re.compile(r"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])")
HEX_HASH = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
#: The two answers that show a full phone on purpose: an admin's unmask, one's own export.
SHOWS_FULL_PHONE = (re.compile(r"/api/people/\d+/phone$"), re.compile(r"/api/me/export$"))


class Recorder:
    """Keeps every response an httpx client receives."""

    def __init__(self) -> None:
        self.responses: list[httpx.Response] = []

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        self.responses.append(response)


async def test_no_response_shows_a_full_phone(
    app: Litestar, enrol: Enrol, anon: httpx.AsyncClient
) -> None:
    recorder = Recorder()
    admin = await enrol("admin")
    resident = await enrol("resident")
    for member in (admin, resident):
        member.client.event_hooks["response"].append(recorder)
    anon.event_hooks["response"].append(recorder)

    created = await admin.client.post("/api/people", json={
        "name": "赵奶奶", "phone": (phone := random_phone()), "roles": ["resident"],
        "pin": good_pin(phone),
    })
    assert created.status_code == 201
    new_id = created.json()["id"]
    assert (await adjust(admin, resident.id, "8", reason="扫雪")).status_code == 201
    await admin.client.get("/api/people")
    await admin.client.get("/api/people", params={"q": phone})
    await admin.client.get("/api/people", params={"q": phone[3:]})
    await admin.client.get(f"/api/people/{new_id}")
    await admin.client.get(f"/api/people/{new_id}/phone")  # shows it, on purpose
    await anon.post("/api/session", json={"login": phone, "secret": "wrong-secret"})
    await anon.post("/api/session", json={"login": resident.phone, "secret": resident.pin})
    await resident.client.get("/api/me/export")  # shows the resident's own, on purpose
    await admin.client.post(f"/api/people/{new_id}/erase")
    # Every GET route without parameters, for both, so routes added later are scanned too.
    document = (await anon.get("/schema/openapi.json")).json()
    for path, operations in document["paths"].items():
        if path.startswith("/api") and "get" in operations and "{" not in path:
            for member in (admin, resident):
                await member.client.get(path)

    phones = {admin.phone, resident.phone, phone}
    scanned = 0
    for response in recorder.responses:
        if any(p.search(response.url.path) for p in SHOWS_FULL_PHONE):
            continue
        if "json" not in response.headers.get("content-type", ""):
            continue
        scanned += 1
        # A SHA-256 in hex (a ledger head) holds a run of eleven digits now and then: not a phone.
        text = HEX_HASH.sub("", response.text)
        assert not PHONE_PATTERN.search(text), (response.url, text)
        assert not any(p in text for p in phones), response.url
    assert scanned >= 15
    me = (await resident.client.get("/api/me")).json()
    assert me["phone"] == f"{resident.phone[:3]}****{resident.phone[-4:]}"


async def test_an_admin_unmasks_a_phone_and_it_is_audited(admin: Member, resident: Member) -> None:
    response = await admin.client.get(f"/api/people/{resident.id}/phone")
    assert response.status_code == 200
    assert response.json() == {"id": resident.id, "phone": resident.phone}
    assert response.headers["cache-control"] == "no-store"
    rows = await AuditEntry.select().where(AuditEntry.subject == f"person:{resident.id}")
    assert len(rows) == 1
    assert rows[0]["action"] == "phone_unmasked"
    assert rows[0]["actor"] == admin.id
    # The resident can see that it happened.
    export = (await resident.client.get("/api/me/export")).json()
    assert [entry["action"] for entry in export["access_log"]] == ["phone_unmasked"]


async def test_nobody_unmasks_another_communitys_phone(
    admin: Member, enrol: Enrol, ledger: Ledger
) -> None:
    other = await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(4)}")
    stranger = await records.person(other.id)
    response = await admin.client.get(f"/api/people/{stranger}/phone")
    assert response.status_code == 404
    assert not await AuditEntry.exists().where(AuditEntry.subject == f"person:{stranger}")


async def test_a_resident_downloads_their_own_data(
    admin: Member, resident: Member, community: communities.CommunityView
) -> None:
    household = await records.household(community.id)
    await Person.update({Person.household: household}).where(Person.id == resident.id)
    team = await records.team(community.id)
    await TeamMember(team=team, person=resident.id, is_leader=True).save()
    for amount in ("10", "2.50", "-1"):
        assert (await adjust(admin, resident.id, amount)).status_code == 201

    response = await resident.client.get("/api/me/export")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["cache-control"] == "no-store"
    data = response.json()
    profile = data["profile"]
    assert profile["id"] == resident.id
    assert profile["phone"] == resident.phone  # their own, in full
    assert profile["card_no"] == resident.card_no
    assert profile["community"] == community.name
    assert data["household"]["id"] == household
    assert data["teams"][0]["id"] == team and data["teams"][0]["is_leader"] is True
    assert data["balance"] == "11.50"
    assert [entry["amount"] for entry in data["entries"]] == ["-1.00", "2.50", "10.00"]
    assert len(data["sessions"]) >= 1
    assert all(set(s) == {"created_at", "expires_at", "revoked_at"} for s in data["sessions"])
    assert resident.token not in response.text
    # Only one's own: an admin's export is the admin's.
    assert (await admin.client.get("/api/me/export")).json()["profile"]["id"] == admin.id


async def test_erasure_removes_personal_data_and_keeps_the_books(
    app: Litestar, admin: Member, resident: Member, anon: httpx.AsyncClient, ledger: Ledger,
    community: communities.CommunityView,
) -> None:
    household = await records.household(community.id)
    await Person.update({Person.household: household}).where(Person.id == resident.id)
    await TeamMember(team=await records.team(community.id), person=resident.id).save()
    for amount in ("20", "-5"):
        assert (await adjust(admin, resident.id, amount)).status_code == 201
    entries_before = (await resident.client.get("/api/me/entries")).json()["items"]
    before = await Person.select().where(Person.id == resident.id).first()

    response = await admin.client.post(f"/api/people/{resident.id}/erase")
    assert response.status_code == 200, response.text
    assert response.json()["name"] == ERASED_NAME

    after = await Person.select().where(Person.id == resident.id).first()
    assert after["name"] == ERASED_NAME
    assert not PHONE_PATTERN.search(after["phone"]) and resident.phone not in after["phone"]
    assert after["password_hash"] is None and after["pin_hash"] is None
    assert after["household"] is None
    assert after["card_version"] == before["card_version"] + 1
    assert after["erased_at"] is not None
    assert not await TeamMember.exists().where(TeamMember.person == resident.id)
    assert await Household.exists().where(Household.id == household)  # the address stays
    # Signed out everywhere, and no way back in.
    assert not await Session.exists().where(
        (Session.person == resident.id) & Session.revoked_at.is_null()
    )
    assert (await resident.client.get("/api/me")).status_code == 401
    for login in (resident.phone, resident.card_no):
        refused = await anon.post("/api/session", json={"login": login, "secret": resident.pin})
        assert refused.status_code == 401
    # The books are untouched: entries, balance, hash chain.
    wallet = await ledger.find_account(community.id, "wallet", owner=str(resident.id))
    assert wallet is not None
    entries, _ = await ledger.entries(wallet.id, limit=100)
    assert [e.transfer_id for e in entries] == [e["id"] for e in entries_before]
    assert str((await ledger.balance(wallet.id)).balance) == "15.00"
    report = await ledger.verify(community.id)
    assert report.ok, report.problem
    # Audited; the admin's views show the erased person without a phone.
    audit = await AuditEntry.select().where(
        (AuditEntry.subject == f"person:{resident.id}") & (AuditEntry.action == "person_erased")
    )
    assert len(audit) == 1 and audit[0]["actor"] == admin.id
    shown = (await admin.client.get(f"/api/people/{resident.id}")).json()
    assert shown["name"] == ERASED_NAME and resident.phone[-4:] not in shown["phone"]
    found = (await admin.client.get("/api/people", params={"q": resident.phone})).json()
    assert found["items"] == []
    assert (await admin.client.get(f"/api/people/{resident.id}/phone")).status_code == 404
    # Erasing again changes nothing; the phone may be registered anew.
    again = await admin.client.post(f"/api/people/{resident.id}/erase")
    assert again.status_code == 200 and again.json() == response.json()
    assert await AuditEntry.count().where(AuditEntry.action == "person_erased") >= 1
    reused = await admin.client.post("/api/people", json={
        "name": "新住户", "phone": resident.phone, "roles": ["resident"],
        "pin": good_pin(resident.phone),
    })
    assert reused.status_code == 201, reused.text


async def test_an_admin_cannot_erase_themselves_or_strangers(
    admin: Member, ledger: Ledger
) -> None:
    own = await admin.client.post(f"/api/people/{admin.id}/erase")
    assert own.status_code == 409 and own.json()["reason"] == "cannot_erase_self"
    other = await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(4)}")
    stranger = await records.person(other.id)
    response = await admin.client.post(f"/api/people/{stranger}/erase")
    assert response.status_code == 404
    row = await Person.select(Person.erased_at, Person.name).where(Person.id == stranger).first()
    assert row["erased_at"] is None and row["name"] != ERASED_NAME


@pytest.mark.parametrize("role", ["resident", "organizer", "shopkeeper"])
async def test_only_admins_erase_or_unmask(enrol: Enrol, resident: Member, role: str) -> None:
    member = await enrol(role)
    assert (await member.client.post(f"/api/people/{resident.id}/erase")).status_code == 403
    assert (await member.client.get(f"/api/people/{resident.id}/phone")).status_code == 403
    assert (await resident.client.get("/api/me")).status_code == 200


async def test_erasing_clears_what_the_points_rules_wrote_by_or_about_them(
    admin: Member, resident: Member,
) -> None:
    """Appeals, deductions and suspensions keep their records (the ledger points at them), not
    the words: an appeal's reason and a deduction's are free text about a person."""
    from market.db import fetch
    from tests.market.support import adjust

    assert (await adjust(admin, resident.id, "5")).status_code == 201
    deducted = await admin.client.post(
        "/api/deductions",
        json={"person_id": resident.id, "amount": "2", "reason": "3号楼楼道堆放杂物",
              "suspend_until": "2030-12-31"},
        headers={"Idempotency-Key": "erase-1"},
    )
    assert deducted.status_code == 201, deducted.text
    appeal = await resident.client.post(
        "/api/appeals", json={"transfer_id": deducted.json()["transfer_id"], "reason": "我住院了不在家"})
    assert appeal.status_code == 201, appeal.text
    # Theirs to see in their export first.
    mine = (await resident.client.get("/api/me/export")).json()
    assert [d["reason"] for d in mine["deductions"]] == ["3号楼楼道堆放杂物"]
    assert [(a["reason"], a["status"]) for a in mine["appeals"]] == [("我住院了不在家", "open")]
    assert (await admin.client.post(f"/api/people/{resident.id}/erase")).status_code == 200
    for table in ("deduction", "deduction_appeal", "redemption_suspension"):
        rows = await fetch(f"SELECT reason FROM {table} WHERE person = {{}}", resident.id)
        assert rows and {row["reason"] for row in rows} == {"（已删除）"}, table
