"""What the people's API takes and answers: a person (phone masked), a page of them, a new
person, PIN slips' codes, roles and passwords, delegates (代办), a roster import's summary. The
rules that check the values are ``market.people.rules`` and ``market.auth.credentials``; the
services use these shapes."""

from datetime import datetime
from typing import Annotated

import msgspec

from market.auth import credentials
from market.auth.roles import ROLES
from market.constraints import matching, password_text, roles_of, text
from market.people import rules


class PersonView(msgspec.Struct):
    id: int
    name: str
    phone: str
    """Masked: 138****0000."""
    roles: list[str]
    card_no: str
    household_id: int | None = None


class PeoplePage(msgspec.Struct):
    items: list[PersonView]
    next_cursor: str | None


class NewPersonRequest(msgspec.Struct):
    name: Annotated[str, text(rules.MAX_NAME)]
    phone: Annotated[str, matching(rules.PHONE)]
    roles: Annotated[list[str], roles_of(ROLES)]
    password: Annotated[str | None, password_text(credentials.MIN_PASSWORD, credentials.MAX_PASSWORD)] = None
    """Required for organizers, shopkeepers and admins; at least 8 characters."""
    pin: Annotated[str | None, matching(credentials.PIN)] = None
    """Required for residents: 6 digits, not trivially guessable."""
    household_id: int | None = None
    """The household (户) the resident belongs to, of the admin's community."""


class AccessCodesRequest(msgspec.Struct):
    person_ids: list[int]
    """Up to 100 residents of the admin's community; each one's earlier code stops working."""


class IssuedCodeView(msgspec.Struct):
    person_id: int
    name: str
    card_no: str
    household_id: int | None
    code: str
    """8 digits, shown this once: only its hash is kept. Print it on a sealed slip."""
    purpose: str
    """``activate`` (no PIN yet) or ``reset`` (a forgotten PIN)."""
    expires_at: datetime


class RoleHolder(msgspec.Struct):
    id: int
    name: str


class RolesRequest(msgspec.Struct):
    roles: Annotated[list[str], roles_of(ROLES)]
    """The person's complete new set: any of resident, organizer, shopkeeper, admin."""
    password: Annotated[str | None, password_text(credentials.MIN_PASSWORD, credentials.MAX_PASSWORD)] = None
    """A staff password, for a person who has none yet (a resident becoming staff), or a new one.
    Losing the last staff role also removes the password."""


class PasswordRequest(msgspec.Struct):
    password: Annotated[str, password_text(credentials.MIN_PASSWORD, credentials.MAX_PASSWORD)]
    """At least 8 characters; the person's sessions end."""


class BulkRolesRequest(msgspec.Struct):
    person_ids: list[int]
    """Up to 100 people of the admin's community."""
    add: str | None = None
    """The role to add to each (exactly one of ``add`` and ``remove``)."""
    remove: str | None = None
    """The role to take from each; refused for everyone if it is someone's only role, or would
    leave the community without an admin."""


class DelegateView(msgspec.Struct):
    id: int
    elder_id: int
    elder_name: str
    delegate_id: int
    delegate_name: str
    linked_at: datetime
    ended_at: datetime | None = None


class DelegateList(msgspec.Struct):
    items: list[DelegateView]


class NewDelegate(msgspec.Struct, forbid_unknown_fields=True):
    delegate_id: int


class ImportSummary(msgspec.Struct):
    rows: int
    created: int
    updated: int
    unchanged: int
    dry_run: bool = False
    new_compounds: int = 0
    new_buildings: int = 0
    new_grids: int = 0
    new_households: int = 0
    new_teams: int = 0
