"""Who holds which role in a community, and changing a person's roles (logged).

Two rules keep a community workable: it always keeps at least one admin
(``last_admin``), and staff roles need a password (``password_required``),
because staff sign in with a password, never with a 6-digit PIN. A resident
becomes staff after enrolment by getting a password with the role (or before,
``set_password``); losing the last staff role also loses the password, so no
way in is left behind that nobody meant to keep. Bulk changes (one role added
to or removed from several people) are all or nothing.
"""

import logging
from datetime import UTC, datetime

from market.audit import record_person_action
from market.auth import credentials
from market.auth.hashing import SecretHasher
from market.auth.roles import ADMIN, ROLES, STAFF_ROLES, decode_roles, encode_roles
from market.db import engine_name, write_transaction
from market.errors import Conflict, InvalidInput, NotFound
from market.people import rules
from market.people.schemas import PersonView, RoleHolder
from market.people.service import get_person
from market.tables import Person, Session

#: The most people one bulk change touches.
MAX_BULK = 100

log = logging.getLogger(__name__)


async def _admin_ids(community_id: int) -> set[int]:
    query = Person.select(Person.id, Person.roles).where(
        (Person.community == community_id)
        & Person.roles.like(f"%{ADMIN}%")
        & Person.erased_at.is_null()
    )
    if engine_name() == "postgres":
        # Two admins demoting each other at once must not both see "one admin left".
        # (SQLite's BEGIN IMMEDIATE already serialises the writers.)
        query = query.lock_rows()
    return {row["id"] for row in await query if ADMIN in decode_roles(row["roles"])}


async def _apply(
    community_id: int, person_id: int, chosen: frozenset[str], *, actor_id: int,
    password_hash: str | None, admins: set[int] | None = None,
) -> bool:
    """Set one person's roles inside the caller's transaction; True when they changed.

    ``admins`` (the community's admins, kept up to date by the caller across a batch) is read
    here when not given."""
    row = await Person.select(Person.roles, Person.password_hash, Person.erased_at).where(
        (Person.community == community_id) & (Person.id == person_id)
    ).first()
    if row is None:
        raise NotFound()
    if row["erased_at"] is not None:
        raise Conflict("person_erased")
    before = decode_roles(row["roles"])
    if chosen & STAFF_ROLES and not (row["password_hash"] or password_hash):
        raise Conflict("password_required", field="roles")
    if ADMIN in before and ADMIN not in chosen:
        current = admins if admins is not None else await _admin_ids(community_id)
        if current <= {person_id}:
            raise Conflict("last_admin", field="roles")
        current.discard(person_id)
    elif ADMIN in chosen and admins is not None:
        admins.add(person_id)
    changes: dict = {}
    if chosen != before:
        changes[Person.roles] = encode_roles(chosen)
    if password_hash:
        changes[Person.password_hash] = password_hash
    elif not chosen & STAFF_ROLES and row["password_hash"]:
        # No staff role left: the password goes too (residents sign in with their PIN).
        changes[Person.password_hash] = None
    if changes:
        await Person.update(changes).where(Person.id == person_id)
    if chosen != before:
        await record_person_action(community_id, actor_id, "roles_changed", person_id)
    if password_hash:
        await record_person_action(community_id, actor_id, "password_set", person_id)
    return chosen != before


async def set_roles(
    community_id: int, person_id: int, roles: list[str], *, actor_id: int,
    password: str | None = None, hasher: SecretHasher | None = None,
) -> PersonView:
    """Set a person's roles; with ``password`` (staff) also their password, in one step."""
    chosen = rules.check_roles(roles)
    password_hash = None
    if password is not None:
        if not chosen & STAFF_ROLES:
            # A password without a staff role would be a way in nobody uses.
            raise InvalidInput("password_without_staff_role", field="password")
        checked = credentials.check_password(password, chosen)
        assert checked is not None and hasher is not None
        password_hash = await hasher.hash(checked)
    async with write_transaction():
        changed = await _apply(community_id, person_id, chosen, actor_id=actor_id,
                               password_hash=password_hash)
    if changed:
        log.info("roles of person %s changed by person %s", person_id, actor_id)
    if password_hash and person_id != actor_id:
        await _end_sessions(person_id)
    return await get_person(community_id, person_id)


async def set_password(
    community_id: int, person_id: int, password: str, *, actor_id: int, hasher: SecretHasher,
) -> None:
    """An admin sets (or resets) a staff member's password; their sessions end; logged."""
    row = await Person.select(Person.roles, Person.erased_at).where(
        (Person.community == community_id) & (Person.id == person_id)
    ).first()
    if row is None:
        raise NotFound()
    if row["erased_at"] is not None:
        raise Conflict("person_erased")
    roles = decode_roles(row["roles"])
    if not roles & STAFF_ROLES:
        raise Conflict("password_without_staff_role", field="password")
    checked = credentials.check_password(password, roles)
    assert checked is not None
    new_hash = await hasher.hash(checked)
    async with write_transaction():
        await Person.update({Person.password_hash: new_hash}).where(Person.id == person_id)
        await record_person_action(community_id, actor_id, "password_set", person_id)
    if person_id != actor_id:
        await _end_sessions(person_id)
    log.info("password of person %s set by person %s", person_id, actor_id)


async def _end_sessions(person_id: int) -> None:
    # A new password ends the old sessions: whoever knew the old one is out.
    await Session.update({Session.revoked_at: datetime.now(UTC)}).where(
        (Session.person == person_id) & Session.revoked_at.is_null()
    )


async def change_roles_of_many(
    community_id: int, person_ids: list[int], *, add: str | None = None, remove: str | None = None,
    actor_id: int,
) -> list[PersonView]:
    """Add one role to, or remove one from, several people: all of them or none (the first
    refusal names the person it is about in ``name``)."""
    ids = list(dict.fromkeys(person_ids))
    if not ids:
        raise InvalidInput("nobody_selected", field="people")
    if len(ids) > MAX_BULK:
        raise InvalidInput("too_many_selected", field="people", max=MAX_BULK)
    if (add is None) == (remove is None) or (add or remove) not in ROLES:
        raise InvalidInput("role_change_invalid", field="role")
    changed = 0
    async with write_transaction():
        rows = await Person.select(Person.id, Person.name, Person.roles).where(
            (Person.community == community_id) & Person.id.is_in(ids)
        )
        found = {row["id"]: row for row in rows}
        admins = await _admin_ids(community_id) if remove == ADMIN else None
        for person_id in ids:
            row = found.get(person_id)
            if row is None:
                raise NotFound()
            before = decode_roles(row["roles"])
            chosen = before | {add} if add else before - {remove}
            if not chosen:
                raise Conflict("no_role_left", field="roles", name=row["name"])
            try:
                changed += await _apply(community_id, person_id, frozenset(chosen), actor_id=actor_id,
                                        password_hash=None, admins=admins)
            except Conflict as error:
                error.params.setdefault("name", row["name"])
                raise
    log.info("roles of %s people changed by person %s", changed, actor_id)
    return [await get_person(community_id, person_id) for person_id in ids]


async def role_holders(community_id: int) -> dict[str, list[RoleHolder]]:
    """Every role (even one nobody holds) → the people holding it, in enrolment order."""
    rows = await Person.select(Person.id, Person.name, Person.roles).where(
        (Person.community == community_id) & Person.erased_at.is_null()
    ).order_by(Person.id)
    holders: dict[str, list[RoleHolder]] = {role: [] for role in sorted(ROLES)}
    for row in rows:
        for role in decode_roles(row["roles"]) & ROLES:
            holders[role].append(RoleHolder(id=row["id"], name=row["name"]))
    return holders
