"""Member codes and cards: issuing them, resolving a scanned one to a person, reissuing, PINs.

A member code is a rotating ``Kind.MEMBER_CODE`` token (person, 30-second step);
a card carries a static ``Kind.CARD`` token (person, card_version). Reissuing a
card bumps ``Person.card_version``, so the old printed code is refused at once.

``resolve_member_code`` is what the shop and attendance use. Its refusals:
``invalid`` (400: forged, malformed, another kind, or a person not of this
community — indistinguishable on purpose), ``expired`` (410: a stale rotating
code) and ``revoked`` (410: a reissued card, an erased person, or someone who is
no longer a resident). 410 for both: the code was genuine once and will never
work again, which is what a scanner should tell the resident.

A resident who needs more time (长辈版, issue 16: MIIT's 适老化 rules ask that a time limit under
3 minutes can be extended to at least twice as long) may ask for a longer code: the same kind
and fields, accepted for ``LONG_ROTATION.previous_steps`` more steps (5–5.5 minutes in all,
never longer), signed with a key of its own purpose so that nobody can stretch an ordinary code.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, overload

import msgspec

from market.audit import record_person_action
from market.auth import access_codes, credentials
from market.auth.hashing import SecretHasher
from market.auth.limiter import LoginLimiter
from market.auth.roles import RESIDENT, decode_roles
from market.auth.sessions import person_limiter_key
from market.cards.rules import MAX_CODE_LENGTH, ROTATION
from market.cards.schemas import CardView, MemberCode, ScannedMember
from market.community.membership import SHARED
from market.db import fetch, write_transaction
from market.errors import Conflict, Gone, InvalidInput, NotFound, TooManyAttempts
from market.settings import Settings
from market.signing import long_signer_for, signer_for
from market.tables import Community, Person
from qr import ExpiredToken, InvalidToken, Kind, Rotation, Token, TokenError

log = logging.getLogger(__name__)

#: The longer code's acceptance: its own step and ten more, 300–330 seconds. Fixed, so a client can
#: ask for "longer" but never for how long.
LONG_ROTATION = Rotation(previous_steps=10)


class CounterMember(ScannedMember):
    """As scanned at the shop's counter (``visiting``), with the name of the resident's community
    for a visitor's receipt."""

    community_name: str = ""


@dataclass(frozen=True, slots=True)
class PrintableCard:
    """What goes on a printed card."""

    person_id: int
    name: str
    card_no: str
    community: str
    code: str


def member_code(
    settings: Settings, person_id: int, now: datetime | None = None, *, extended: bool = False
) -> MemberCode:
    """The resident's current code; ``extended``: the longer one (see the module)."""
    now = now or datetime.now(UTC)
    if not extended:
        code = ROTATION.issue(signer_for(settings), Kind.MEMBER_CODE, person_id, now)
        return MemberCode(
            code=code.text, expires_at=code.expires_at, refresh_in=max(1, round(code.refresh_in(now)))
        )
    code = LONG_ROTATION.issue(long_signer_for(settings), Kind.MEMBER_CODE, person_id, now)
    # Replaced one step before it stops being accepted, as the ordinary code is.
    show_for = (code.expires_at - now).total_seconds() - LONG_ROTATION.step_seconds
    return MemberCode(code=code.text, expires_at=code.expires_at, refresh_in=max(1, round(show_for)),
                      extended=True)


def card_code(settings: Settings, person_id: int, card_version: int) -> str:
    return signer_for(settings).sign(Kind.CARD, person_id, card_version)


_PERSON = "SELECT p.id, p.name, p.card_no, p.card_version, p.roles, p.erased_at, p.community"


async def _person(community_id: int, person_id: int, *, visiting: bool = False) -> dict | None:
    """The person, if of the community (``visiting``: or of one sharing its points with it).
    Every scan at the counter and at an activity reads this: hand-written SQL (market.db.fetch),
    one read of the person whichever community they belong to — at the counter with their
    community's name and whether it shares with this one (``community.membership.SHARED``)."""
    if not visiting:
        rows = await fetch(f"{_PERSON} FROM person p WHERE p.id = {{}}", person_id)
        return rows[0] if rows and rows[0]["community"] == community_id else None
    rows = await fetch(
        f"{_PERSON}, h.name AS community_name, {SHARED} AS shared"
        " FROM person p JOIN community h ON h.id = p.community WHERE p.id = {}",
        community_id, person_id,
    )
    if not rows:
        return None
    row = rows[0]
    if row["community"] == community_id:
        return row
    return _visitor(row)


def _visitor(row: dict) -> dict | None:
    """A person of another community at this shop's counter: their row when their community shares
    its points with the shop's (None: a community outside the shop's subdistrict); 409
    ``not_shared`` when the subdistrict has not turned 通存通兑 on."""
    if row["shared"] is None:
        return None
    if not row["shared"]:
        raise Conflict("not_shared", field="member_code")
    return row


def _normalise(text: str) -> str:
    # Scanners and hand typing add spaces or lower-case letters; the codec itself is strict.
    return "".join(text.split()).upper()


def _open(settings: Settings, text: str) -> tuple[Token, Rotation]:
    """A genuine token and the rotation its steps are read by; InvalidToken for anything else."""
    try:
        return signer_for(settings).open(text), ROTATION
    except InvalidToken:
        # Only a member code is ever signed with the longer codes' key.
        token = long_signer_for(settings).open(text)
        if token.kind != Kind.MEMBER_CODE:
            raise InvalidToken("wrong kind") from None
        return token, LONG_ROTATION


@overload
async def resolve_member_code(
    community_id: int, text: str, *, settings: Settings, now: datetime | None = None,
    visiting: Literal[True],
) -> CounterMember: ...


@overload
async def resolve_member_code(
    community_id: int, text: str, *, settings: Settings, now: datetime | None = None,
    visiting: bool = False,
) -> ScannedMember: ...


async def resolve_member_code(
    community_id: int, text: str, *, settings: Settings, now: datetime | None = None,
    visiting: bool = False,
) -> ScannedMember:
    """The resident a scanned member code or card belongs to, in this community.

    ``visiting`` (the shop's counter): also a resident of another community of the same
    subdistrict, when that subdistrict has turned 通存通兑 on; 409 ``not_shared`` when it has not.
    The answer is then a ``CounterMember``, with their community's name.
    A resident of a community outside the subdistrict stays ``invalid``, as a forged code."""
    if not isinstance(text, str) or len(text) > MAX_CODE_LENGTH:
        raise InvalidInput("invalid", field="member_code")
    try:
        token, rotation = _open(settings, _normalise(text))
        if token.kind not in (Kind.MEMBER_CODE, Kind.CARD):
            raise InvalidInput("invalid", field="member_code")
    except TokenError:
        raise InvalidInput("invalid", field="member_code") from None
    person_id, second = token.fields
    row = await _person(community_id, person_id, visiting=visiting)
    if row is None:
        # Another community's genuine code reads exactly like a forged one.
        raise InvalidInput("invalid", field="member_code")
    if row["erased_at"] is not None or RESIDENT not in decode_roles(row["roles"]):
        raise Gone("revoked", field="member_code")
    via_card = token.kind == Kind.CARD
    if via_card:
        if second != row["card_version"]:
            raise Gone("revoked", field="member_code")
    else:
        try:
            rotation.check_step(second, now)
        except ExpiredToken:
            raise Gone("expired", field="member_code") from None
        except TokenError:
            raise InvalidInput("invalid", field="member_code") from None
    if visiting:
        return CounterMember(
            person_id=row["id"], name=row["name"], card_no=row["card_no"], via_card=via_card,
            community_id=row["community"], community_name=row["community_name"],
        )
    return ScannedMember(
        person_id=row["id"], name=row["name"], card_no=row["card_no"], via_card=via_card,
        community_id=row["community"],
    )


def _card_view(row: dict) -> CardView:
    return CardView(
        person_id=row["id"], name=row["name"], card_no=row["card_no"],
        card_version=row["card_version"], picture=f"/api/people/{row['id']}/card.png",
    )


async def _card_holder(community_id: int, person_id: int) -> dict:
    """The person whose card this is: a resident of the community, not erased."""
    row = await _person(community_id, person_id)
    if row is None:
        raise NotFound()
    if row["erased_at"] is not None:
        raise Conflict("person_erased")
    if RESIDENT not in decode_roles(row["roles"]):
        raise Conflict("not_resident")
    return row


async def printable_card(community_id: int, person_id: int, *, settings: Settings) -> PrintableCard:
    """What to print on ``person_id``'s current card; 404 outside the community."""
    row = await _card_holder(community_id, person_id)
    community = await Community.select(Community.name).where(Community.id == community_id).first()
    return PrintableCard(
        person_id=row["id"], name=row["name"], card_no=row["card_no"],
        community=community["name"] if community else "",
        code=card_code(settings, row["id"], row["card_version"]),
    )


class CardPage(msgspec.Struct):
    items: list[CardView]
    next_cursor: str | None


MAX_SHEET = 100


async def card_holders(
    community_id: int, *, building_id: int | None = None, grid_id: int | None = None,
    limit: int = 40, after: int | None = None, person_ids: list[int] | None = None,
) -> CardPage:
    """The residents whose cards to print, in enrolment order, a page at a time: all of the
    community's, those living in one building or one grid (through their household), or those
    chosen on the people list (``person_ids``; the staff among them have no card)."""
    limit = max(1, min(limit, MAX_SHEET))
    # "resident" is no substring of another role's name, so LIKE picks exactly the residents.
    where = (
        (Person.community == community_id) & Person.erased_at.is_null()
        & Person.roles.like(f"%{RESIDENT}%")
    )
    if building_id is not None:
        where &= Person.household._.building == building_id
    if grid_id is not None:
        where &= Person.household._.grid == grid_id
    if person_ids is not None:
        where &= Person.id.is_in(person_ids or [0])
    if after is not None:
        where &= Person.id > after
    rows = await Person.select(
        Person.id, Person.name, Person.card_no, Person.card_version
    ).where(where).order_by(Person.id).limit(limit + 1)
    items = [_card_view(row) for row in rows[:limit]]
    return CardPage(items=items, next_cursor=str(items[-1].person_id) if len(rows) > limit else None)


async def reissue_card(community_id: int, person_id: int, *, actor_id: int) -> CardView:
    """Bump the card version (the old card stops working at once) and log who did it."""
    async with write_transaction():
        await _card_holder(community_id, person_id)
        await Person.update({Person.card_version: Person.card_version + 1}).where(
            Person.id == person_id
        )
        await record_person_action(community_id, actor_id, "card_reissued", person_id)
        row = await _person(community_id, person_id)
    assert row is not None
    log.info("card of person %s reissued (version %s)", person_id, row["card_version"])
    return _card_view(row)


# -- PINs -----------------------------------------------------------------------------------


def _check_new_pin(pin: str, phone: str, field: str) -> str:
    try:
        checked = credentials.check_pin(pin, frozenset({RESIDENT}), phone)
    except InvalidInput as error:
        error.field = field
        raise
    assert checked is not None
    return checked


async def change_my_pin(
    person_id: int, current_pin: str | None, new_pin: str, *,
    hasher: SecretHasher, limiter: LoginLimiter, secret_key: str,
) -> None:
    """A resident changes their own PIN; the current one is needed if one is set.

    Wrong current PINs count towards a lock-out, as at sign-in: a borrowed,
    signed-in phone must not become a way to guess the PIN of the printed card.
    """
    row = await Person.select(Person.pin_hash, Person.phone).where(Person.id == person_id).first()
    if row is None:
        raise NotFound()
    pin = _check_new_pin(new_pin, row["phone"], "new_pin")
    if row["pin_hash"]:
        if not current_pin:
            raise InvalidInput("current_pin_required", field="current_pin")
        await _verify_pin(person_id, row["pin_hash"], current_pin, "wrong_pin", "current_pin",
                          hasher=hasher, limiter=limiter, secret_key=secret_key)
    new_hash = await hasher.hash(pin)
    # Compare-and-set: two changes racing cannot both pass the same current PIN.
    updated = await Person.update({Person.pin_hash: new_hash}, force=True).where(
        (Person.id == person_id)
        & (Person.pin_hash == row["pin_hash"] if row["pin_hash"] else Person.pin_hash.is_null())
    ).returning(Person.id)
    if not updated:
        raise Conflict("conflict")
    log.info("person %s changed their PIN", person_id)


async def check_counter_pin(
    person_id: int, pin: str | None, *, hasher: SecretHasher, limiter: LoginLimiter, secret_key: str,
) -> None:
    """A printed card at the shop counter: its holder's PIN, with the same lock-out as a
    PIN change (wrong guesses here and there count together)."""
    if not pin:
        raise InvalidInput("card_pin_required", field="pin")
    row = await Person.select(Person.pin_hash).where(Person.id == person_id).first()
    if row is None or not row["pin_hash"]:
        raise Conflict("card_pin_not_set", field="pin")
    await _verify_pin(person_id, row["pin_hash"], pin, "wrong_card_pin", "pin",
                      hasher=hasher, limiter=limiter, secret_key=secret_key)


async def _verify_pin(
    person_id: int, pin_hash: str, pin: str, reason: str, field: str, *,
    hasher: SecretHasher, limiter: LoginLimiter, secret_key: str,
) -> None:
    """The one check of a PIN outside sign-in, counted towards one lock-out per person:
    locked out → 429 before any hashing; wrong → ``reason`` (400) and a failure recorded."""
    key = person_limiter_key(person_id, secret_key)
    wait = await limiter.retry_after(key)
    if wait is not None:
        raise TooManyAttempts(wait)
    if len(pin) > 128 or not await hasher.verify(pin_hash, pin):
        await limiter.record_failure(key)
        raise InvalidInput(reason, field=field)
    await limiter.reset(key)


async def set_pin(
    community_id: int, person_id: int, pin: str, *, actor_id: int, hasher: SecretHasher,
    limiter: LoginLimiter, secret_key: str,
) -> None:
    """An admin sets or resets a resident's PIN (forgotten, or guessed at by someone else); logged.

    It also lifts the person's lock-out: the office, which has seen the resident, is the way
    back in that a guesser does not have."""
    row = await Person.select(Person.phone, Person.roles, Person.erased_at).where(
        (Person.community == community_id) & (Person.id == person_id)
    ).first()
    if row is None:
        raise NotFound()
    if row["erased_at"] is not None:
        raise Conflict("person_erased")
    if RESIDENT not in decode_roles(row["roles"]):
        # A staff account signs in with its password; a 6-digit PIN would weaken it.
        raise Conflict("not_resident")
    checked = _check_new_pin(pin, row["phone"], "pin")
    new_hash = await hasher.hash(checked)
    async with write_transaction():
        await Person.update({Person.pin_hash: new_hash}).where(
            (Person.id == person_id) & (Person.community == community_id)
        )
        # The office set the PIN itself: a slip it printed earlier must not open a door too.
        await access_codes.void_live(person_id)
        await record_person_action(community_id, actor_id, "pin_set", person_id)
    await limiter.reset(person_limiter_key(person_id, secret_key))
    log.info("PIN of person %s set by person %s", person_id, actor_id)
