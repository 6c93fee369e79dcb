"""One-time access codes: how a resident without a PIN (imported from the roster) or with a
forgotten one gets in.

The office prints a sealed slip per household (``market.cards.slips``) carrying, for each chosen
resident, an 8-digit code. The resident signs in once with card number (or phone) and the code;
that session is good for nothing but setting a new 6-digit PIN (``Session.must_set_pin``, enforced
by ``market.auth.middleware``). A code is random (``secrets``), kept only as an Argon2id hash,
used once, expires after ``LIFETIME``, and a new slip voids the person's previous code. Sign-ins
with a code are counted by the same limits as any sign-in (``market.auth.sessions.admit``). Codes
are never logged, and the audit log records that a slip was printed, never what it said.

Why a slip and not a code on the member card: the card is shown at every counter visit and
lasts for years, so a code printed on it would be read by everyone who handles it and be stale
after 30 days; a sealed slip is opened once, at home, by the resident.
"""

import asyncio
import logging
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from market.audit import record_person_action
from market.auth import credentials, sessions
from market.auth.hashing import SecretHasher
from market.auth.limiter import LoginLimiter, TotalFailures
from market.auth.roles import RESIDENT, decode_roles
from market.db import write_transaction
from market.errors import Conflict, Gone, InvalidInput, MarketError, NotFound
from market.tables import AccessCode, Person, Session

log = logging.getLogger(__name__)

CODE_DIGITS = 8
LIFETIME = timedelta(days=30)
#: The most residents one batch of slips is printed for (each code is one slow hash).
MAX_BATCH = 100
ACTIVATE, RESET = "activate", "reset"


class BadAccessCode(MarketError):
    """401: the login and code do not match a code issued (the same whatever was wrong)."""

    status, reason = 401, "bad_access_code"


class PinChangeRequired(MarketError):
    """403: this session was opened with a one-time code; set a new PIN first."""

    status, reason = 403, "pin_change_required"


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """One resident's line on a slip: the code in clear, this once."""

    person_id: int
    name: str
    card_no: str
    household_id: int | None
    code: str
    purpose: str
    expires_at: datetime


def new_code() -> str:
    """Eight random digits: typed on a phone's number pad by elders, unguessable behind the
    per-person lock-out (one in 10⁸ per try)."""
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def normalise_code(text: str) -> str:
    """As typed from the slip: full-width digits become ASCII; spaces and dashes go."""
    return "".join(unicodedata.normalize("NFKC", text).split()).replace("-", "")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def issue(
    community_id: int, person_ids: list[int], *, actor_id: int, hasher: SecretHasher,
    now: datetime | None = None, lifetime: timedelta = LIFETIME,
) -> list[IssuedCode]:
    """New codes for residents of the community (voiding their earlier ones), audited.

    All or nothing: one person who is not a resident of the community refuses the batch.
    Returned in household order, so each household's residents share one slip."""
    ids = list(dict.fromkeys(person_ids))
    if not ids:
        raise InvalidInput("nobody_selected", field="people")
    if len(ids) > MAX_BATCH:
        raise InvalidInput("too_many_selected", field="people", max=MAX_BATCH)
    rows = await Person.select(
        Person.id, Person.name, Person.card_no, Person.household, Person.roles, Person.erased_at,
        Person.pin_hash,
    ).where((Person.community == community_id) & Person.id.is_in(ids))
    found = {row["id"]: row for row in rows}
    for person_id in ids:
        row = found.get(person_id)
        if row is None:
            raise NotFound()
        if row["erased_at"] is not None:
            raise Conflict("person_erased", field="people")
        if RESIDENT not in decode_roles(row["roles"]):
            # Staff sign in with a password: a 6-digit PIN must not become their way in.
            raise Conflict("not_resident", field="people", name=row["name"])
    codes = {person_id: new_code() for person_id in ids}
    # Hashed before the transaction: slow on purpose, and no writer should wait on it.
    hashes = dict(zip(ids, await asyncio.gather(*(hasher.hash(codes[i]) for i in ids)), strict=True))
    now = now or datetime.now(UTC)
    expires = now + lifetime
    purposes = {i: RESET if found[i]["pin_hash"] else ACTIVATE for i in ids}
    async with write_transaction():
        await AccessCode.update({AccessCode.voided_at: now}).where(
            AccessCode.person.is_in(ids) & AccessCode.used_at.is_null() & AccessCode.voided_at.is_null()
        )
        await AccessCode.insert(*(
            AccessCode(community=community_id, person=i, code_hash=hashes[i], purpose=purposes[i],
                       issued_by=actor_id, issued_at=now, expires_at=expires)
            for i in ids
        ))
        for i in ids:
            action = "pin_reset_code_issued" if purposes[i] == RESET else "access_code_issued"
            await record_person_action(community_id, actor_id, action, i, at=now)
    log.info("%s one-time codes issued by person %s", len(ids), actor_id)
    issued = [
        IssuedCode(person_id=i, name=found[i]["name"], card_no=found[i]["card_no"],
                   household_id=found[i]["household"], code=codes[i], purpose=purposes[i],
                   expires_at=expires)
        for i in ids
    ]
    return sorted(issued, key=lambda c: (c.household_id is None, c.household_id or 0, c.person_id))


async def void_live(person_id: int, now: datetime | None = None) -> None:
    """Void a person's unused code (the office set the PIN itself): inside the caller's
    transaction when there is one."""
    await AccessCode.update({AccessCode.voided_at: now or datetime.now(UTC)}).where(
        (AccessCode.person == person_id) & AccessCode.used_at.is_null() & AccessCode.voided_at.is_null()
    )


async def live_code_of(person_id: int) -> dict | None:
    """The person's unused, unvoided code (its dates, never its hash), if any."""
    return await AccessCode.select(
        AccessCode.id, AccessCode.purpose, AccessCode.issued_at, AccessCode.expires_at,
    ).where(
        (AccessCode.person == person_id) & AccessCode.used_at.is_null() & AccessCode.voided_at.is_null()
    ).first()


async def sign_in_with_code(
    login: str, code: str, *, hasher: SecretHasher, limiter: LoginLimiter, secret_key: str,
    lifetime: timedelta, source: str | None = None, source_limiter: LoginLimiter | None = None,
    network_limiter: LoginLimiter | None = None, total_failures: TotalFailures | None = None,
    now: datetime | None = None,
) -> sessions.SignedIn:
    """Card number (or phone) + one-time code → a session that must set a PIN first.

    Each person named is checked against their latest code only (one hash each, as a password
    sign-in checks one). A match that was used, voided or has expired is refused with its own
    reason (only someone holding the code learns it); anything else is ``bad_access_code``."""
    login = login.strip()
    code = normalise_code(code)
    attempt = await sessions.admit(
        login, code, limiter=limiter, secret_key=secret_key, source=source,
        source_limiter=source_limiter, network_limiter=network_limiter, total_failures=total_failures,
    )
    matched: tuple[dict, dict] | None = None
    if attempt.fits:
        if not attempt.candidates:
            await hasher.verify_nobody(code)
        for candidate in attempt.candidates:
            latest = await AccessCode.select().where(
                AccessCode.person == candidate["id"]
            ).order_by(AccessCode.id, ascending=False).first()
            if latest is None:
                await hasher.verify_nobody(code)
            elif await hasher.verify(latest["code_hash"], code):
                matched = (candidate, latest)
                break
    if matched is None:
        log.info("sign-in with a one-time code refused")
        if total_failures:
            await total_failures.record_failure()
        raise BadAccessCode()
    person, row = matched
    now = now or datetime.now(UTC)
    if row["voided_at"] is not None or RESIDENT not in decode_roles(person["roles"]):
        raise Gone("access_code_voided", field="code")
    if row["used_at"] is not None:
        raise Gone("access_code_used", field="code")
    if _aware(row["expires_at"]) <= now:
        raise Gone("access_code_expired", field="code")
    # Compare-and-set: the same code sent twice at once opens one session, not two.
    used = await AccessCode.update({AccessCode.used_at: now}).where(
        (AccessCode.id == row["id"]) & AccessCode.used_at.is_null() & AccessCode.voided_at.is_null()
    ).returning(AccessCode.id)
    if not used:
        raise Gone("access_code_used", field="code")
    await sessions.forgive(attempt, limiter)
    log.info("person %s used a one-time code", person["id"])
    return await sessions.open_session(person, lifetime, must_set_pin=True)


async def set_first_pin(
    person_id: int, community_id: int, session_id: int, new_pin: str, *, hasher: SecretHasher,
    limiter: LoginLimiter, secret_key: str,
) -> None:
    """The forced step after a one-time code: the new PIN replaces any old one (forgotten),
    this session becomes an ordinary one, and every other session of the person ends."""
    row = await Person.select(Person.phone).where(Person.id == person_id).first()
    if row is None:
        raise NotFound()
    try:
        pin = credentials.check_pin(new_pin, frozenset({RESIDENT}), row["phone"])
    except InvalidInput as error:
        error.field = "new_pin"
        raise
    assert pin is not None
    new_hash = await hasher.hash(pin)
    now = datetime.now(UTC)
    async with write_transaction():
        await Person.update({Person.pin_hash: new_hash}).where(Person.id == person_id)
        await Session.update({Session.must_set_pin: False}).where(Session.id == session_id)
        await Session.update({Session.revoked_at: now}).where(
            (Session.person == person_id) & (Session.id != session_id) & Session.revoked_at.is_null()
        )
        await record_person_action(community_id, person_id, "pin_set_after_code", person_id, at=now)
    # Holding the office's code proves more than a guess: earlier failed guesses are forgiven.
    await limiter.reset(sessions.person_limiter_key(person_id, secret_key))
    log.info("person %s set a PIN after a one-time code", person_id)
