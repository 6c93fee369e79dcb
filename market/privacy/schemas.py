"""What the privacy API takes and answers: a person's ID document and volunteer number (masked,
or in full on their own certificate and export), an unmasked phone, an erasure, and a person's
own data export. The rules are ``market.privacy.rules`` (document types, masking) and
``market.privacy.identity`` (the numbers); the services use these shapes."""

from datetime import datetime

import msgspec

from market.points.schemas import AppealView, DeductionView
from market.privacy.rules import ID_TYPES, mask_number

# -- identity (证件、全国志愿者编号) -----------------------------------------------------------


class IdentityChange(msgspec.Struct, forbid_unknown_fields=True):
    """What to record; an empty or missing value clears that part."""

    id_type: str | None = None
    id_number: str | None = None
    volunteer_number: str | None = None


class IdentityView(msgspec.Struct):
    """What is recorded, masked: the numbers' first and last characters only."""

    id_type: str | None
    id_type_name: str | None
    id_number: str | None
    volunteer_number: str | None
    updated_at: datetime | None = None


class Identity(msgspec.Struct):
    """In full: for the person's own certificate and data export only."""

    id_type: str | None = None
    id_number: str | None = None
    volunteer_number: str | None = None

    @property
    def id_type_name(self) -> str | None:
        return ID_TYPES.get(self.id_type) if self.id_type else None

    def masked(self) -> IdentityView:
        return IdentityView(id_type=self.id_type, id_type_name=self.id_type_name,
                            id_number=mask_number(self.id_number),
                            volunteer_number=mask_number(self.volunteer_number))


# -- an admin's unmasking and erasure ------------------------------------------------------------


class PhoneView(msgspec.Struct):
    id: int
    phone: str


class Erased(msgspec.Struct):
    id: int
    name: str
    erased_at: datetime


# -- a person's own data (PIPL art. 45) ----------------------------------------------------------


class HouseholdExport(msgspec.Struct):
    id: int
    compound: str
    building: str
    unit: str
    room: str
    grid: str | None


class TeamExport(msgspec.Struct):
    id: int
    name: str
    is_leader: bool
    joined_at: datetime


class ProfileExport(msgspec.Struct):
    id: int
    name: str
    phone: str
    """In full: it is the person's own."""
    roles: list[str]
    card_no: str
    community: str
    created_at: datetime


class EntryExport(msgspec.Struct):
    id: str
    at: datetime
    amount: str
    balance_after: str
    kind: str
    memo: str


class SessionExport(msgspec.Struct):
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class AccessExport(msgspec.Struct):
    """Who looked at or changed the person's data (an unmasked phone, say)."""

    action: str
    at: datetime


class HelpRequestExport(msgspec.Struct):
    """A 民声 request they asked for or did (``market.help_requests``)."""

    id: int
    role: str
    """"requester" or "volunteer"."""
    category: str
    body: str
    state: str
    posted_at: datetime
    done_at: datetime | None
    hours: str
    points: str


class MyData(msgspec.Struct):
    exported_at: datetime
    profile: ProfileExport
    household: HouseholdExport | None
    teams: list[TeamExport]
    balance: str
    held: str
    entries: list[EntryExport]
    sessions: list[SessionExport]
    access_log: list[AccessExport]
    deductions: list[DeductionView] = []
    """Points deducted from them, with the reasons the office gave (``market.points.deductions``)."""
    appeals: list[AppealView] = []
    """Their appeals and the office's decisions."""
    identity: Identity | None = None
    """Their ID document and national volunteer number, in full (``market.privacy.identity``)."""
    help_requests: list[HelpRequestExport] = []
    """民声 requests they asked for or did, with their text."""
