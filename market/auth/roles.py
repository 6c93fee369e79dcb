"""The roles, and how a person's set of roles is stored (sorted, comma-joined text).

Four roles act inside one community and are given by its admins. ``subdistrict_admin`` belongs
to the 街道 office over several communities (``market.subdistricts``): it is given only by whoever
runs the installation (``market subdistrict admin``), and sees across the communities of its
subdistrict without acting inside any of them."""

from collections.abc import Iterable

RESIDENT, ORGANIZER, SHOPKEEPER, ADMIN = "resident", "organizer", "shopkeeper", "admin"
ROLES: frozenset[str] = frozenset({RESIDENT, ORGANIZER, SHOPKEEPER, ADMIN})
SUBDISTRICT_ADMIN = "subdistrict_admin"
#: Roles that act for the community or the office (and so sign in with a password, not a PIN).
STAFF_ROLES: frozenset[str] = frozenset({ORGANIZER, SHOPKEEPER, ADMIN, SUBDISTRICT_ADMIN})


def encode_roles(roles: Iterable[str]) -> str:
    return ",".join(sorted(set(roles)))


def decode_roles(text: str) -> frozenset[str]:
    return frozenset(role for role in text.split(",") if role)
