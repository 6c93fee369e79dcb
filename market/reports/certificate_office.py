"""Who issues a community's certificates, and residents' requests to correct them.

- **The issuing office** (民政部令第67号: 出具单位、负责人、经办人、联系方式): one row per community
  with the 负责人 (person in charge), the 经办人 (the clerk who handles certificates) and the
  office's contact phone. Admins set it; every certificate prints it. Unset parts print blank
  lines to be filled by hand, never a made-up name.
- **Corrections** (更正申请): a resident says what is wrong with a certificate or their record
  (free text, at most ``MAX_TEXT`` characters, optionally the certificate's number). The office
  (admins) sees the open requests oldest first and decides each once: accepted (an optional
  note) or rejected (a reason is required: the resident reads why). A request and each decision
  are audited (``market.audit``). Deciding moves no points and changes no hours: hours are
  corrected the existing ways (the organizer's hours page, an adjustment), which the pages say.
  At most ``MAX_OPEN`` open requests per person, so the queue cannot be flooded.
"""

import logging
import re
import unicodedata

from market import audit, clock
from market.auth.sessions import Principal
from market.db import engine_name, fetch, is_unique_violation, write_transaction
from market.errors import Conflict, InvalidInput, NotFound
from market.reports.schemas import (
    CorrectionDecision,
    CorrectionList,
    CorrectionView,
    NewCorrection,
    OfficeChange,
    OfficeView,
)
from market.tables import CertificateCorrection, CertificateOffice

log = logging.getLogger(__name__)

MAX_TEXT = 500
MAX_NAME = 20
MAX_OPEN = 3
LIST_LIMIT = 100
STATUSES = ("open", "accepted", "rejected")
_PHONE = re.compile(r"[0-9][0-9-]{4,18}[0-9]")
_NUMBER = re.compile(r"[0-9A-F]{4}(-[0-9A-F]{4}){3}")


# -- the issuing office ---------------------------------------------------------------------------


def _name(value: str, field: str) -> str:
    text = " ".join(unicodedata.normalize("NFKC", value).split())
    if len(text) > MAX_NAME or any(unicodedata.category(c).startswith("C") for c in text):
        raise InvalidInput("invalid_office_name", field=field, max=MAX_NAME)
    return text


def _contact(value: str) -> str:
    text = "".join(unicodedata.normalize("NFKC", value).split())
    if text and not _PHONE.fullmatch(text):
        raise InvalidInput("invalid_office_contact", field="contact")
    return text


async def office_of(community_id: int) -> OfficeView:
    row = await CertificateOffice.select().where(CertificateOffice.community == community_id).first()
    if row is None:
        return OfficeView(leader="", handler="", contact="")
    return OfficeView(leader=row["leader"], handler=row["handler"], contact=row["contact"],
                      updated_at=row["updated_at"])


async def set_office(me: Principal, change: OfficeChange) -> OfficeView:
    """Set who issues the community's certificates (an admin); audited."""
    leader, handler = _name(change.leader, "leader"), _name(change.handler, "handler")
    contact = _contact(change.contact)
    now = clock.now()
    for attempt in (1, 2):
        try:
            async with write_transaction():
                if await CertificateOffice.exists().where(CertificateOffice.community == me.community_id):
                    await CertificateOffice.update({
                        CertificateOffice.leader: leader, CertificateOffice.handler: handler,
                        CertificateOffice.contact: contact, CertificateOffice.updated_at: now,
                        CertificateOffice.updated_by: me.id,
                    }).where(CertificateOffice.community == me.community_id)
                else:
                    await CertificateOffice.insert(CertificateOffice(
                        community=me.community_id, leader=leader, handler=handler, contact=contact,
                        updated_at=now, updated_by=me.id))
                await fetch(*_audit(audit.entry(me.community_id, me.id, "certificate_office_set",
                                                f"community:{me.community_id}")))
            break
        except Exception as error:
            if attempt == 2 or not is_unique_violation(error):
                raise
    return await office_of(me.community_id)


def _audit(statement: tuple[str, tuple]) -> tuple:
    sql, args = statement
    return (sql, *args)


# -- corrections ----------------------------------------------------------------------------------


_SELECT = (
    "SELECT r.id, r.person, p.name AS person_name, r.number, r.what, r.status, r.created_at,"
    " r.decided_at, r.note FROM certificate_correction r JOIN person p ON p.id = r.person"
)


def _view(row: dict) -> CorrectionView:
    return CorrectionView(
        id=row["id"], person_id=row["person"], person_name=row["person_name"], number=row["number"],
        what=row["what"], status=row["status"], created_at=row["created_at"],
        decided_at=row["decided_at"], note=row["note"],
    )


def _text(value: str, reason: str, field: str, *, required: bool = True) -> str:
    text = " ".join(value.split())
    if len(text) > MAX_TEXT or (required and not text) or any(
            unicodedata.category(c) == "Cc" for c in text):
        raise InvalidInput(reason, field=field, max=MAX_TEXT)
    return text


async def get_correction(community_id: int, correction_id: int) -> CorrectionView:
    rows = await fetch(f"{_SELECT} WHERE r.id = {{}} AND r.community = {{}}", correction_id, community_id)
    if not rows:
        raise NotFound(field="correction_id")
    return _view(rows[0])


async def list_corrections(community_id: int, status: str | None = "open") -> CorrectionList:
    """The office's queue: open requests oldest first; with ``status`` None, the latest of all."""
    if status is not None and status not in STATUSES:
        raise InvalidInput("invalid_correction_status", field="status")
    if status is None:
        rows = await fetch(f"{_SELECT} WHERE r.community = {{}} ORDER BY r.id DESC LIMIT {{}}",
                           community_id, LIST_LIMIT)
    else:
        order = "r.id" if status == "open" else "r.decided_at DESC, r.id DESC"
        rows = await fetch(f"{_SELECT} WHERE r.community = {{}} AND r.status = {{}} ORDER BY {order}"
                           " LIMIT {}", community_id, status, LIST_LIMIT)
    return CorrectionList(items=[_view(row) for row in rows])


async def of_person(community_id: int, person_id: int, limit: int = LIST_LIMIT) -> CorrectionList:
    """A person's requests, newest first (theirs to see, and in their data export)."""
    rows = await fetch(f"{_SELECT} WHERE r.community = {{}} AND r.person = {{}} ORDER BY r.id DESC"
                       " LIMIT {}", community_id, person_id, limit)
    return CorrectionList(items=[_view(row) for row in rows])


async def ask(me: Principal, data: NewCorrection) -> CorrectionView:
    """A resident asks for a correction of their own certificate or record."""
    what = _text(data.what, "invalid_correction_text", "what")
    number = "".join(unicodedata.normalize("NFKC", data.number).split()).upper()
    if number and not _NUMBER.fullmatch(number):
        raise InvalidInput("invalid_certificate_number", field="number")
    async with write_transaction():
        # Counted inside the write, the person's row locked first on PostgreSQL (SQLite's write
        # transaction already admits one writer): two requests at once cannot both pass the limit.
        if engine_name() == "postgres":
            await fetch("SELECT id FROM person WHERE id = {} FOR UPDATE", me.id)
        (row,) = await fetch("SELECT COUNT(*) AS n FROM certificate_correction WHERE person = {}"
                             " AND status = 'open'", me.id)
        if int(row["n"]) >= MAX_OPEN:
            raise Conflict("too_many_corrections", max=MAX_OPEN)
        now = clock.now()
        made = await CertificateCorrection.insert(CertificateCorrection(
            community=me.community_id, person=me.id, number=number, what=what, status="open",
            created_at=now))
        correction_id = made[0]["id"]
        await fetch(*_audit(audit.entry(me.community_id, me.id, "certificate_correction_asked",
                                        f"certificate_correction:{correction_id}")))
    log.info("certificate correction %s asked by person %s", correction_id, me.id)
    return await get_correction(me.community_id, correction_id)


async def decide(me: Principal, correction_id: int, decision: CorrectionDecision) -> CorrectionView:
    """The office's decision on an open request, once (409 ``correction_not_open`` after)."""
    note = _text(decision.note, "invalid_correction_note", "note", required=not decision.accept)
    status = "accepted" if decision.accept else "rejected"
    async with write_transaction():
        found = await get_correction(me.community_id, correction_id)
        if found.status != "open":
            raise Conflict("correction_not_open", status=found.status)
        # Guarded by the status: of two decisions sent at once, the second changes nothing.
        changed = await fetch(
            "UPDATE certificate_correction SET status = {}, decided_at = {}, decided_by = {}, note = {}"
            " WHERE id = {} AND status = 'open' RETURNING id",
            status, clock.now(), me.id, note or None, correction_id,
        )
        if not changed:
            raise Conflict("correction_not_open")
        await fetch(*_audit(audit.entry(me.community_id, me.id, f"certificate_correction_{status}",
                                        f"certificate_correction:{correction_id}")))
    log.info("certificate correction %s %s by %s", correction_id, status, me.id)
    return await get_correction(me.community_id, correction_id)
