"""Enrolling people and finding them, always inside one community.

Every query here is scoped by community id, so a person of another community
is simply not found. Phones leave this module masked.
"""

import logging
from dataclasses import dataclass

from piccolo.columns.combination import WhereRaw

from ledger import Ledger
from market.auth import credentials
from market.auth.hashing import SecretHasher
from market.auth.roles import ROLES, decode_roles, encode_roles
from market.community.structure import household_of_community
from market.db import engine_name, is_unique_violation
from market.errors import Conflict, NotFound
from market.paging import parse_cursor
from market.people import rules
from market.people.schemas import PeoplePage, PersonView
from market.tables import Person

log = logging.getLogger(__name__)

MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class NewPerson:
    name: str
    phone: str
    roles: list[str]
    password: str | None = None
    pin: str | None = None
    household_id: int | None = None


_VIEW_COLUMNS = (
    Person.id, Person.name, Person.phone, Person.roles, Person.card_no, Person.household,
)


def _view(row: dict) -> PersonView:
    return PersonView(
        id=row["id"], name=row["name"], phone=rules.mask_phone(row["phone"]),
        roles=sorted(decode_roles(row["roles"])), card_no=row["card_no"],
        household_id=row.get("household"),
    )


async def _phone_taken(community_id: int, phone: str) -> bool:
    return await Person.exists().where(
        (Person.community == community_id) & (Person.phone == phone)
    )


async def create_person(
    community_id: int, new: NewPerson, *, hasher: SecretHasher, ledger: Ledger,
    allowed_roles: frozenset[str] = ROLES,
) -> PersonView:
    """Validate, store and open the person's wallet. Refusals change nothing.
    ``allowed_roles``: the community's roles; the office's too for ``market subdistrict admin``."""
    name = rules.clean_name(new.name)
    phone = rules.check_phone(new.phone)
    roles = rules.check_roles(new.roles, allowed_roles)
    password = credentials.check_password(new.password, roles)
    pin = credentials.check_pin(new.pin, roles, phone)
    if new.household_id is not None:
        await household_of_community(community_id, new.household_id)
    # Checked before hashing (which is slow on purpose); the unique index below
    # still decides when two enrolments race.
    if await _phone_taken(community_id, phone):
        raise Conflict("phone_taken", field="phone")
    password_hash = await hasher.hash(password) if password else None
    pin_hash = await hasher.hash(pin) if pin else None

    for _attempt in range(5):
        person = Person(
            community=community_id, name=name, phone=phone, password_hash=password_hash,
            pin_hash=pin_hash, roles=encode_roles(roles), card_no=rules.new_card_no(),
            household=new.household_id,
        )
        try:
            await person.save()
            break
        except Exception as error:
            if not is_unique_violation(error):
                raise
            if await _phone_taken(community_id, phone):
                raise Conflict("phone_taken", field="phone") from None
            # Otherwise the random card number collided: draw another.
    else:
        raise RuntimeError("could not draw an unused card number")

    # After the person's row is committed: the ledger writes through its own
    # connection, and on SQLite must not wait on a transaction we hold.
    # open_account is get-or-create, so points code can repair a missing wallet.
    await ledger.open_account(community_id, "wallet", owner=str(person.id))
    log.info("person %s enrolled in community %s", person.id, community_id)
    return _view({
        "id": person.id, "name": name, "phone": phone, "roles": person.roles,
        "card_no": person.card_no, "household": new.household_id,
    })


async def get_person(community_id: int, person_id: int) -> PersonView:
    row = await Person.select(*_VIEW_COLUMNS).where(
        (Person.community == community_id) & (Person.id == person_id)
    ).first()
    if row is None:
        raise NotFound()
    return _view(row)


async def secrets_set(community_id: int, person_id: int) -> tuple[bool, bool]:
    """Whether the person has a PIN and whether they have a password (never the secrets)."""
    row = await Person.select(Person.pin_hash, Person.password_hash).where(
        (Person.community == community_id) & (Person.id == person_id)).first()
    return (bool(row and row["pin_hash"]), bool(row and row["password_hash"]))


async def list_people(
    community_id: int, q: str | None = None, limit: int = 20, cursor: str | None = None
) -> PeoplePage:
    """A page of the community's people in enrolment order, optionally searched.

    ``q`` of digits matches phone or card number; other text matches names.
    """
    after = parse_cursor(cursor)
    limit = max(1, min(limit, MAX_PAGE))
    where = Person.community == community_id
    if after is not None:
        where &= Person.id > after
    # The text is looked for as it is: "%" and "_" are characters like any other, not LIKE's
    # wildcards (Piccolo has no ESCAPE clause), so the search is instr/strpos, not LIKE.
    text = (q or "").strip()[:50]
    contains = "instr({}, {}) > 0" if engine_name() == "sqlite" else "strpos({}, {}) > 0"
    if text.isascii() and text.isdigit():
        where &= WhereRaw(contains.format("phone", "{}"), text) | WhereRaw("substr(card_no, 1, {}) = {}",
                                                                          len(text), text)
    elif text:
        # lower() on both sides: SQLite's folds ASCII only, as its LIKE did.
        where &= WhereRaw(contains.format("lower(name)", "lower({})"), text)
    rows = await Person.select(*_VIEW_COLUMNS).where(where).order_by(Person.id).limit(limit + 1)
    items = [_view(row) for row in rows[:limit]]
    next_cursor = str(items[-1].id) if len(rows) > limit else None
    return PeoplePage(items=items, next_cursor=next_cursor)


async def community_of(person_id: int) -> int | None:
    row = await Person.select(Person.community).where(Person.id == person_id).first()
    return None if row is None else row["community"]
