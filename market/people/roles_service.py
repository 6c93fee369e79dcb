"""Who holds which role in a community, and changing a person's roles (logged).

Two rules keep a community workable: it always keeps at least one admin
(``last_admin``), and staff roles need a password (``password_required``),
because staff sign in with a password, never with a 6-digit PIN.
"""

import logging

import msgspec

from market.audit import record_person_action
from market.auth.roles import ADMIN, ROLES, STAFF_ROLES, decode_roles, encode_roles
from market.db import engine_name, write_transaction
from market.errors import Conflict, NotFound
from market.people import rules
from market.people.service import PersonView, get_person
from market.tables import Person

log = logging.getLogger(__name__)


class RoleHolder(msgspec.Struct):
    id: int
    name: str


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


async def set_roles(
    community_id: int, person_id: int, roles: list[str], *, actor_id: int
) -> PersonView:
    chosen = rules.check_roles(roles)
    async with write_transaction():
        row = await Person.select(Person.roles, Person.password_hash, Person.erased_at).where(
            (Person.community == community_id) & (Person.id == person_id)
        ).first()
        if row is None:
            raise NotFound()
        if row["erased_at"] is not None:
            raise Conflict("person_erased")
        before = decode_roles(row["roles"])
        if chosen & STAFF_ROLES and not row["password_hash"]:
            raise Conflict("password_required", field="roles")
        if ADMIN in before and ADMIN not in chosen:
            admins = await _admin_ids(community_id)
            if admins <= {person_id}:
                raise Conflict("last_admin", field="roles")
        if chosen != before:
            await Person.update({Person.roles: encode_roles(chosen)}).where(Person.id == person_id)
            await record_person_action(community_id, actor_id, "roles_changed", person_id)
    if chosen != before:
        log.info("roles of person %s changed by person %s", person_id, actor_id)
    return await get_person(community_id, person_id)


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
