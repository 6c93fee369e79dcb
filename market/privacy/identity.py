"""A person's ID document and national volunteer number (证件类型、证件号码、全国志愿者编号).

民政部令第67号 asks a volunteer service certificate to name the volunteer by an ID document or
the national volunteer number. Either may be recorded by the office (admins) for a resident of
its community, or by the person for themself; both are optional.

This is sensitive personal data (PIPL art. 28), so:

- it lives in its own table (``person_identity``), never in ``person``;
- every view shows it masked (``110***********1234``); the full number leaves the server only
  on the person's own certificate when they choose so for that download (audited), and in
  their own data export;
- it is never logged (the log lines here name the person's id only);
- erasure deletes the row (``market.privacy.service.erase``).

A resident ID (居民身份证) is checked by its GB 11643 check digit, so a mistyped digit is caught.
The document types and the masking are ``market.privacy.rules``; the shapes
``market.privacy.schemas``.
"""

import logging
import unicodedata
from datetime import datetime

from market import audit, clock
from market.db import is_unique_violation, write_transaction
from market.errors import InvalidInput, NotFound
from market.privacy.rules import ID_TYPES
from market.privacy.schemas import Identity, IdentityChange, IdentityView
from market.tables import Person, PersonIdentity

log = logging.getLogger(__name__)

MAX_NUMBER = 30
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
IDENTITY_SHOWN_IN_FULL, IDENTITY_RECORDED = "identity_shown_in_full", "identity_recorded"


def _typed(text: str | None) -> str:
    """Full-width digits and letters as typed on a phone keyboard, spaces gone, upper case."""
    return "".join(unicodedata.normalize("NFKC", text or "").split()).upper()


def resident_id_valid(number: str) -> bool:
    """An 18-character resident ID with the right GB 11643 check digit and a plausible birthday."""
    if len(number) != 18 or not number[:17].isascii() or not number[:17].isdigit():
        return False
    try:
        datetime.strptime(number[6:14], "%Y%m%d")
    except ValueError:
        return False
    total = sum(int(digit) * weight for digit, weight in zip(number[:17], _WEIGHTS, strict=True))
    return _CHECK[total % 11] == number[17]


def _checked(change: IdentityChange) -> Identity:
    id_type = (change.id_type or "").strip() or None
    number = _typed(change.id_number) or None
    volunteer = _typed(change.volunteer_number) or None
    if id_type is not None and id_type not in ID_TYPES:
        raise InvalidInput("invalid_id_type", field="id_type")
    if (id_type is None) != (number is None):
        # A number without its type (or a type without a number) identifies nobody.
        raise InvalidInput("id_type_and_number", field="id_number" if id_type else "id_type")
    if number is not None:
        plain = number.replace("-", "")
        if id_type == "resident_id":
            if not resident_id_valid(number):
                raise InvalidInput("invalid_resident_id", field="id_number")
        elif not (5 <= len(number) <= MAX_NUMBER and number.isascii() and plain.isalnum()):
            raise InvalidInput("invalid_id_number", field="id_number", max=MAX_NUMBER)
    if volunteer is not None and not (
            4 <= len(volunteer) <= MAX_NUMBER and volunteer.isascii()
            and volunteer.replace("-", "").isalnum()):
        raise InvalidInput("invalid_volunteer_number", field="volunteer_number", max=MAX_NUMBER)
    return Identity(id_type=id_type, id_number=number, volunteer_number=volunteer)


async def _person_of(community_id: int, person_id: int) -> None:
    found = await Person.select(Person.id).where(
        (Person.community == community_id) & (Person.id == person_id) & Person.erased_at.is_null()
    ).first()
    if found is None:
        raise NotFound(field="person_id")


async def identity_of(community_id: int, person_id: int) -> Identity:
    """In full; an empty ``Identity`` when nothing is recorded. Callers show it ``masked()``."""
    row = await PersonIdentity.select().where(
        (PersonIdentity.community == community_id) & (PersonIdentity.person == person_id)
    ).first()
    if row is None:
        return Identity()
    return Identity(id_type=row["id_type"], id_number=row["id_number"],
                    volunteer_number=row["volunteer_number"])


async def view(community_id: int, person_id: int) -> IdentityView:
    """Masked, for any page or API answer; NotFound for a person not of the community."""
    await _person_of(community_id, person_id)
    row = await PersonIdentity.select(PersonIdentity.updated_at).where(
        PersonIdentity.person == person_id).first()
    found = (await identity_of(community_id, person_id)).masked()
    found.updated_at = row["updated_at"] if row else None
    return found


async def record(community_id: int, actor_id: int, person_id: int, change: IdentityChange) -> IdentityView:
    """Record (or clear) the person's ID and volunteer number; audited when the office does it."""
    found = _checked(change)
    await _person_of(community_id, person_id)
    now = clock.now()
    values = {PersonIdentity.id_type: found.id_type, PersonIdentity.id_number: found.id_number,
              PersonIdentity.volunteer_number: found.volunteer_number,
              PersonIdentity.updated_at: now, PersonIdentity.updated_by: actor_id}
    for attempt in (1, 2):
        try:
            async with write_transaction():
                exists = await PersonIdentity.exists().where(PersonIdentity.person == person_id)
                if exists:
                    await PersonIdentity.update(values).where(PersonIdentity.person == person_id)
                else:
                    await PersonIdentity.insert(PersonIdentity(
                        community=community_id, person=person_id, id_type=found.id_type,
                        id_number=found.id_number, volunteer_number=found.volunteer_number,
                        updated_at=now, updated_by=actor_id,
                    ))
                await audit.record_person_action(community_id, actor_id, IDENTITY_RECORDED, person_id, at=now)
            break
        except Exception as error:
            # Two first records at once: the second finds the row on its next attempt.
            if attempt == 2 or not is_unique_violation(error):
                raise
    log.info("person %s: identity recorded by %s", person_id, actor_id)
    return await view(community_id, person_id)


async def erase(person_id: int) -> None:
    """Delete the person's row (inside ``market.privacy.service.erase``'s transaction)."""
    await PersonIdentity.delete().where(PersonIdentity.person == person_id)
