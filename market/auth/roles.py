"""The four roles, and how a person's set of roles is stored (sorted, comma-joined text)."""

from collections.abc import Iterable

RESIDENT, ORGANIZER, SHOPKEEPER, ADMIN = "resident", "organizer", "shopkeeper", "admin"
ROLES: frozenset[str] = frozenset({RESIDENT, ORGANIZER, SHOPKEEPER, ADMIN})
#: Roles that act for the community (and so sign in with a password, not a PIN).
STAFF_ROLES: frozenset[str] = frozenset({ORGANIZER, SHOPKEEPER, ADMIN})


def encode_roles(roles: Iterable[str]) -> str:
    return ",".join(sorted(set(roles)))


def decode_roles(text: str) -> frozenset[str]:
    return frozenset(role for role in text.split(",") if role)
