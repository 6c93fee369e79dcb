"""Personal data on request: an admin's logged unmasking, a person's own export, erasure.

Everything is scoped by the caller's community, so another community's person
is not found. Erasure removes what identifies a person and keeps what the books
need: the person's row (pseudonymous), wallet and every ledger entry stay, so
balances and the hash chain are untouched.
"""

import logging

from ledger import Ledger, format_points, to_hundredths
from market import clock
from market.audit import person_subject, record_person_action
from market.auth.roles import decode_roles
from market.auth.sessions import revoke_all
from market.community.membership import wallet_communities
from market.db import fetch, write_transaction
from market.errors import Conflict, NotFound
from market.points import appeals
from market.points.deductions import list_deductions
from market.points.lots import from_us
from market.privacy import identity as identities
from market.privacy.schemas import (
    AccessExport,
    EntryExport,
    Erased,
    HelpRequestExport,
    HouseholdExport,
    MyData,
    PhoneView,
    ProfileExport,
    SessionExport,
    TeamExport,
)
from market.tables import AuditEntry, Community, GridWorker, Household, Person, Session, TeamMember

log = logging.getLogger(__name__)

ERASED_NAME = "已注销"
#: The most deductions or appeals an export lists (a person has a handful).
EXPORT_LIMIT = 10_000
#: What free text by or about an erased person reads afterwards.
ERASED_TEXT = "（已删除）"
PHONE_UNMASKED, PERSON_ERASED = "phone_unmasked", "person_erased"


def erased_phone(person_id: int) -> str:
    """What an erased person's phone column holds: unique (the per-community index
    wants that), 11 characters, and no phone number (it starts with a letter)."""
    return f"X{person_id:010d}"[-11:]


async def _person(community_id: int, person_id: int) -> dict:
    row = await Person.select().where(
        (Person.community == community_id) & (Person.id == person_id)
    ).first()
    if row is None:
        raise NotFound()
    return row


async def unmask_phone(community_id: int, actor_id: int, person_id: int) -> PhoneView:
    """The full phone number, for an admin who asked for it explicitly; audited."""
    row = await _person(community_id, person_id)
    if row["erased_at"] is not None:
        raise NotFound()
    await record_person_action(community_id, actor_id, PHONE_UNMASKED, person_id)
    log.info("admin %s unmasked the phone of person %s", actor_id, person_id)
    return PhoneView(id=person_id, phone=row["phone"])


async def erase(community_id: int, actor_id: int, person_id: int) -> Erased:
    """Erase a person's personal data; their points history stays. Idempotent."""
    if person_id == actor_id:
        # An admin erasing themselves could leave a community without one.
        raise Conflict("cannot_erase_self")
    now = clock.now()
    async with write_transaction():
        row = await _person(community_id, person_id)
        if row["erased_at"] is not None:
            return Erased(id=person_id, name=row["name"], erased_at=row["erased_at"])
        await Person.update({
            Person.name: ERASED_NAME,
            Person.phone: erased_phone(person_id),
            Person.password_hash: None,
            Person.pin_hash: None,
            Person.household: None,
            Person.card_version: Person.card_version + 1,
            Person.erased_at: now,
        }).where(Person.id == person_id)
        await TeamMember.delete().where(TeamMember.person == person_id)
        await GridWorker.delete().where(GridWorker.person == person_id)
        await identities.erase(person_id)
        # Their certificate correction requests are free text about them (issue 16).
        await fetch("UPDATE certificate_correction SET what = {} WHERE person = {}", ERASED_TEXT, person_id)
        # Free text by or about them in the points rules (issue 15): appeals and objections they
        # wrote, the reasons of their deductions and suspensions. The records stay (the ledger
        # and the office's decisions point at them); the ledger's memos are append-only.
        for table in ("deduction_appeal", "points_objection", "deduction", "redemption_suspension"):
            await fetch(f"UPDATE {table} SET reason = {{}} WHERE person = {{}}", ERASED_TEXT, person_id)
        # Their 民声 requests' text and photos describe their home and needs (issue 18); the
        # requests stay (a volunteer's credit points at one), their words and pictures do not.
        await fetch("DELETE FROM help_photo WHERE request IN"
                    " (SELECT id FROM help_request WHERE requester = {})", person_id)
        await fetch("UPDATE help_request SET body = {}, note = NULL, has_photo = {} WHERE requester = {}",
                    ERASED_TEXT, False, person_id)
        await revoke_all(person_id)
        await record_person_action(community_id, actor_id, PERSON_ERASED, person_id, at=now)
    log.info("admin %s erased person %s", actor_id, person_id)
    return Erased(id=person_id, name=ERASED_NAME, erased_at=now)


async def _household(household_id: int | None) -> HouseholdExport | None:
    if household_id is None:
        return None
    row = await Household.select(
        Household.id, Household.unit, Household.room, Household.building.name,
        Household.building.compound.name, Household.grid.name,
    ).where(Household.id == household_id).first()
    if row is None:
        return None
    return HouseholdExport(
        id=row["id"], compound=row["building.compound.name"], building=row["building.name"],
        unit=row["unit"], room=row["room"], grid=row["grid.name"],
    )


async def _entries(ledger: Ledger, account_id: int) -> list[EntryExport]:
    """Every entry of the wallet, newest first, however many pages."""
    found: list[EntryExport] = []
    before: int | None = None
    while True:
        page, before = await ledger.entries(account_id, limit=200, before=before)
        found.extend(
            EntryExport(
                id=entry.transfer_id, at=entry.at,
                amount=format_points(to_hundredths(entry.amount)),
                balance_after=format_points(to_hundredths(entry.balance_after)),
                kind=entry.kind, memo=entry.memo,
            )
            for entry in page
        )
        if before is None:
            return found


async def _help_requests(community_id: int, person_id: int) -> list[HelpRequestExport]:
    rows = await fetch(
        "SELECT id, requester, category, body, state, posted_us, done_us, hours, points"
        " FROM help_request WHERE community = {} AND (requester = {} OR volunteer = {}) ORDER BY id LIMIT {}",
        community_id, person_id, person_id, EXPORT_LIMIT)
    return [
        HelpRequestExport(
            id=row["id"], role="requester" if row["requester"] == person_id else "volunteer",
            category=row["category"], body=row["body"], state=row["state"],
            posted_at=from_us(row["posted_us"]),
            done_at=None if row["done_us"] is None else from_us(row["done_us"]),
            hours=format_points(int(row["hours"])), points=format_points(int(row["points"])),
        )
        for row in rows
    ]


async def export(ledger: Ledger, community_id: int, person_id: int) -> MyData:
    """Everything the market holds about the person, for the person (PIPL art. 45)."""
    row = await _person(community_id, person_id)
    community = await Community.select(Community.name).where(Community.id == community_id).first()
    teams = await TeamMember.select(
        TeamMember.team.id, TeamMember.team.name, TeamMember.is_leader, TeamMember.joined_at,
    ).where(TeamMember.person == person_id).order_by(TeamMember.id)
    sessions = await Session.select(
        Session.created_at, Session.expires_at, Session.revoked_at,
    ).where(Session.person == person_id).order_by(Session.id)
    audit = await AuditEntry.select(AuditEntry.action, AuditEntry.at).where(
        (AuditEntry.community == community_id) & (AuditEntry.subject == person_subject(person_id))
    ).order_by(AuditEntry.id)

    zero = format_points(0)
    balance, held, entries = zero, zero, []
    account = await ledger.find_account(community_id, "wallet", owner=str(person_id))
    if account is not None:
        found = await ledger.balance(account.id)
        balance = format_points(to_hundredths(found.balance))
        held = format_points(to_hundredths(found.held))
    # Every wallet the person had: one per community they lived in (搬家), newest entry first.
    for wallet_community in await wallet_communities(person_id, community_id):
        if (wallet := await ledger.find_account(wallet_community, "wallet", owner=str(person_id))):
            entries += await _entries(ledger, wallet.id)
    entries.sort(key=lambda entry: entry.at, reverse=True)
    log.info("person %s exported their data", person_id)
    return MyData(
        exported_at=clock.now(),
        profile=ProfileExport(
            id=row["id"], name=row["name"], phone=row["phone"],
            roles=sorted(decode_roles(row["roles"])), card_no=row["card_no"],
            community=community["name"] if community else "", created_at=row["created_at"],
        ),
        household=await _household(row["household"]),
        teams=[
            TeamExport(id=t["team.id"], name=t["team.name"], is_leader=t["is_leader"],
                       joined_at=t["joined_at"])
            for t in teams
        ],
        balance=balance, held=held, entries=entries,
        sessions=[SessionExport(**s) for s in sessions],
        access_log=[AccessExport(**a) for a in audit],
        deductions=(await list_deductions(community_id, person_id, limit=EXPORT_LIMIT)).items,
        appeals=(await appeals.of_person(community_id, person_id, limit=EXPORT_LIMIT)).items,
        identity=await identities.identity_of(community_id, person_id),
        help_requests=await _help_requests(community_id, person_id),
    )
