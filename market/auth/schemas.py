"""What the sessions' API takes and answers: a sign-in (with a password or PIN, or with an office
slip's one-time code) and the session it opens. The rules that check the values are
``market.auth.sessions`` and ``market.auth.access_codes``, at sign-in rather than in these shapes:
a login or secret too long fails as a wrong one does."""

from datetime import datetime

import msgspec


class SignInRequest(msgspec.Struct):
    login: str
    """A phone number (11 digits) or a member card number (10 digits)."""
    secret: str
    """The password (staff) or 6-digit PIN (residents)."""


class CodeSignInRequest(msgspec.Struct):
    login: str
    """The member card number (10 digits) or phone number (11 digits)."""
    code: str
    """The 8-digit one-time code printed on the office's slip (spaces and dashes ignored)."""


class SessionPerson(msgspec.Struct):
    id: int
    name: str
    roles: list[str]


class SessionBody(msgspec.Struct):
    token: str
    csrf_token: str
    expires_at: datetime
    person: SessionPerson
    must_set_pin: bool = False
    """True after a one-time code: until ``PUT /api/me/pin`` sets a PIN, every other call is
    refused with 403 ``pin_change_required``."""

