"""Sign-in sessions: checking credentials, issuing and revoking tokens, resolving them.

A token is 32 random bytes; only its SHA-256 is stored, so a copy of the
database lets nobody sign in. Each session also has a CSRF token, required
with cookie-authenticated requests that change something.
"""

import hashlib
import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from market.auth.hashing import SecretHasher
from market.auth.limiter import LoginLimiter, TotalFailures
from market.auth.roles import decode_roles
from market.db import fetch
from market.errors import BadCredentials, TooManyAttempts
from market.tables import Person, Session

log = logging.getLogger(__name__)

#: The longest login or secret worth hashing; anything longer cannot match.
MAX_LOGIN_LENGTH = 64
MAX_SECRET_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request, as the auth middleware found them."""

    id: int
    community_id: int
    name: str
    roles: frozenset[str]
    session_id: int
    csrf_token: str
    via: Literal["bearer", "cookie"]
    #: Opened with a one-time code: good only for setting a new PIN (market.auth.access_codes).
    must_set_pin: bool = False
    #: Set when a delegate (代办) acts for this person: the delegate's id (market.people.delegates).
    delegate_id: int | None = None

    def has_role(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    csrf_token: str
    expires_at: datetime
    person_id: int
    name: str
    roles: frozenset[str]
    must_set_pin: bool = False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _keyed(text: str, secret_key: str) -> str:
    # Keyed, so the limiter's store (Redis or the database) holds no phone numbers or addresses.
    return hmac.new(secret_key.encode(), text.encode(), "sha256").hexdigest()


def _limiter_key(login: str, secret_key: str) -> str:
    return _keyed(f"login:{login}", secret_key)


def _where(address: str, ipv4_prefix: int, ipv6_prefix: int) -> str:
    """The network of ``address`` with the prefix of its version; an IPv4 address that a
    dual-stack socket reports as IPv6 (``::ffff:a.b.c.d``) counts as the IPv4 one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = ipv4_prefix if ip.version == 4 else ipv6_prefix
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def source_limiter_key(address: str, secret_key: str) -> str:
    """Where sign-ins come from: an IPv4 address, or the /64 of an IPv6 one (one subscriber
    holds a whole /64, so counting its addresses apart would count nothing)."""
    return _keyed(f"source:{_where(address, 32, 64)}", secret_key)


def network_limiter_key(address: str, secret_key: str) -> str:
    """The network sign-ins come from: the /24 of an IPv4 address, the /48 of an IPv6 one (the
    most one site is usually assigned), where a sprayer finds new addresses cheaply."""
    return _keyed(f"network:{_where(address, 24, 48)}", secret_key)


def person_limiter_key(person_id: int, secret_key: str) -> str:
    """The one lock-out counter of a person: every login that names them (phone, card number),
    the counter's card + PIN and a PIN change count on it together."""
    return _keyed(f"person:{person_id}", secret_key)


async def _candidates(login: str) -> list[dict]:
    """People whom ``login`` may name: by phone (11 digits) or card number (10)."""
    if not login.isascii() or not login.isdigit():
        return []
    columns = (Person.id, Person.community, Person.name, Person.roles,
               Person.password_hash, Person.pin_hash)
    if len(login) == 11:
        # A phone is unique per community, not across them: try each.
        return await Person.select(*columns).where(
            (Person.phone == login) & Person.erased_at.is_null()
        ).order_by(Person.id)
    if len(login) == 10:
        return await Person.select(*columns).where(
            (Person.card_no == login) & Person.erased_at.is_null()
        )
    return []


async def _count_attempt(limiter: LoginLimiter, keys: list[str]) -> None:
    """Count one attempt on every key, before any secret is checked; refuse if one is locked.

    With several keys (a phone of people in two communities) the locks are looked at first, so
    a locked one does not leave a failure counted on the others."""
    if len(keys) > 1:
        waits = [wait for key in keys if (wait := await limiter.retry_after(key)) is not None]
        if waits:
            log.info("sign-in refused: login locked")
            raise TooManyAttempts(max(waits))
    for key in keys:
        if (wait := await limiter.acquire(key)) is not None:
            log.info("sign-in refused: login locked")
            raise TooManyAttempts(wait)


def _stored_secret(candidate: dict, by_card: bool) -> str | None:
    """The one hash a login is checked against: residents' PIN, staff's password.

    A phone signs staff in with their password (a resident without one uses the
    PIN); a member card goes with the PIN. One hash per candidate keeps the
    work of a guess, and what a guess can match, as small as possible.
    """
    first, second = ("pin_hash", "password_hash") if by_card else ("password_hash", "pin_hash")
    return candidate[first] or candidate[second]


@dataclass
class Attempt:
    """A sign-in attempt admitted by the limits: whom its login names, and the counters to
    forgive once it succeeds."""

    candidates: list[dict]
    keys: list[str]
    origins: list[tuple[str, LoginLimiter, str]]
    fits: bool


async def admit(
    login: str, secret: str, *, limiter: LoginLimiter, secret_key: str, source: str | None = None,
    source_limiter: LoginLimiter | None = None, network_limiter: LoginLimiter | None = None,
    total_failures: TotalFailures | None = None,
) -> Attempt:
    """Count an attempt against every limit before any secret is checked; ``TooManyAttempts``
    when one is reached. Shared by the password/PIN sign-in and the one-time code's."""
    # The installation's failures of this minute first: while they are over the limit every
    # sign-in waits for the next minute, and nothing is counted on anyone.
    if total_failures and (wait := await total_failures.retry_after()) is not None:
        log.warning("sign-in refused: too many failed sign-ins in total this minute")
        raise TooManyAttempts(wait)
    fits = len(login) <= MAX_LOGIN_LENGTH and 0 < len(secret) <= MAX_SECRET_LENGTH
    candidates = await _candidates(login) if fits else []
    # Failures count per person, whichever login named them; a login naming nobody has a
    # counter of its own, so that guessing looks the same whether the login exists or not.
    keys = [person_limiter_key(c["id"], secret_key) for c in candidates] or [_limiter_key(login, secret_key)]
    # And per source and per network, whoever they name: spraying one PIN over many logins is
    # slowed there. A locked source or network is refused before anything is counted on the
    # people it names.
    origins: list[tuple[str, LoginLimiter, str]] = []
    if source and source_limiter:
        origins.append(("source", source_limiter, source_limiter_key(source, secret_key)))
    if source and network_limiter:
        origins.append(("network", network_limiter, network_limiter_key(source, secret_key)))
    for what, origin_limiter, key in origins:
        if (wait := await origin_limiter.retry_after(key)) is not None:
            log.info("sign-in refused: %s locked", what)
            raise TooManyAttempts(wait)
    await _count_attempt(limiter, keys)
    for what, origin_limiter, key in origins:
        if (wait := await origin_limiter.acquire(key)) is not None:
            log.info("sign-in refused: %s locked", what)
            raise TooManyAttempts(wait)
    return Attempt(candidates=candidates, keys=keys, origins=origins, fits=fits)


async def forgive(attempt: Attempt, limiter: LoginLimiter) -> None:
    """A success: the person's counters start again, and so do the source's and network's."""
    for key in attempt.keys:
        await limiter.reset(key)
    # A success forgives the source's and the network's failures: an office's residents sign in
    # among their typos. A sprayer with one account of their own gains 19 guesses per success,
    # each still counted on the person it names and in the total, which no success resets.
    for _, origin_limiter, key in attempt.origins:
        await origin_limiter.reset(key)


async def open_session(person: dict, lifetime: timedelta, *, must_set_pin: bool = False) -> SignedIn:
    """A new session of ``person`` (a row with id, name and roles)."""
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session = Session(
        token_hash=token_hash(token), person=person["id"], csrf_token=csrf_token,
        created_at=now, expires_at=now + lifetime, must_set_pin=must_set_pin,
    )
    await session.save()
    log.info("person %s signed in", person["id"])
    return SignedIn(
        token=token, csrf_token=csrf_token, expires_at=session.expires_at,
        person_id=person["id"], name=person["name"], roles=decode_roles(person["roles"]),
        must_set_pin=must_set_pin,
    )


async def sign_in(
    login: str, secret: str, *, hasher: SecretHasher, limiter: LoginLimiter,
    secret_key: str, lifetime: timedelta, source: str | None = None,
    source_limiter: LoginLimiter | None = None, network_limiter: LoginLimiter | None = None,
    total_failures: TotalFailures | None = None,
) -> SignedIn:
    """Check a login (phone or card number) and secret (password or PIN); open a session.

    The same ``BadCredentials`` whatever was wrong, after about the same time.
    The attempt is counted before any secret is checked, so a locked login
    (``TooManyAttempts``) costs no hashing, however many guesses arrive at once.
    Failures count per person, per source address and network, and in total
    (the policy: ``market.auth.limiter``).
    """
    login = login.strip()
    attempt = await admit(
        login, secret, limiter=limiter, secret_key=secret_key, source=source,
        source_limiter=source_limiter, network_limiter=network_limiter, total_failures=total_failures,
    )
    person: dict | None = None
    matched_hash = ""
    if attempt.fits:
        if not attempt.candidates:
            await hasher.verify_nobody(secret)
        for candidate in attempt.candidates:
            stored = _stored_secret(candidate, by_card=len(login) == 10)
            if stored is None:
                await hasher.verify_nobody(secret)
            elif await hasher.verify(stored, secret):
                person, matched_hash = candidate, stored
                break
    if person is None:
        log.info("sign-in refused")
        if total_failures:
            await total_failures.record_failure()
        raise BadCredentials()

    await forgive(attempt, limiter)
    if hasher.needs_rehash(matched_hash):
        await _rehash(person, matched_hash, secret, hasher)
    return await open_session(person, lifetime)


async def _rehash(person: dict, old_hash: str, secret: str, hasher: SecretHasher) -> None:
    column = Person.password_hash if person["password_hash"] == old_hash else Person.pin_hash
    await Person.update({column: await hasher.hash(secret)}).where(
        (Person.id == person["id"]) & (column == old_hash)
    )


async def resolve(token: str, via: Literal["bearer", "cookie"]) -> Principal | None:
    """The signed-in person a token belongs to, or None if it is unknown, expired or revoked."""
    if not token or len(token) > 100:
        return None
    # Every request runs this: hand-written SQL (see market.db.fetch).
    rows = await fetch(
        "SELECT s.id, s.csrf_token, s.must_set_pin, p.id AS person, p.community, p.name, p.roles"
        " FROM person_session s JOIN person p ON p.id = s.person"
        " WHERE s.token_hash = {} AND s.revoked_at IS NULL AND s.expires_at > {}"
        " AND p.erased_at IS NULL",
        token_hash(token), datetime.now(UTC),
    )
    row = rows[0] if rows else None
    if row is None:
        return None
    return Principal(
        id=row["person"], community_id=row["community"], name=row["name"],
        roles=decode_roles(row["roles"]), session_id=row["id"],
        csrf_token=row["csrf_token"], via=via, must_set_pin=bool(row["must_set_pin"]),
    )


async def revoke_all(person_id: int) -> None:
    """End every session of a person (erasure, or a password or PIN change)."""
    await Session.update({Session.revoked_at: datetime.now(UTC)}).where(
        (Session.person == person_id) & Session.revoked_at.is_null()
    )


async def revoke_token(token: str) -> None:
    """End the session a token belongs to, if any."""
    if token and len(token) <= 100:
        await Session.update({Session.revoked_at: datetime.now(UTC)}).where(
            (Session.token_hash == token_hash(token)) & Session.revoked_at.is_null()
        )


async def revoke(session_id: int) -> None:
    await Session.update({Session.revoked_at: datetime.now(UTC)}).where(
        (Session.id == session_id) & Session.revoked_at.is_null()
    )
