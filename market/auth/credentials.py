"""What a password and a PIN must be: the sign-in secrets' rules, with their reasons.

Pure functions, no database: each raises ``InvalidInput`` with its own reason and the field it is
about. Staff sign in with a password, residents with a six-digit PIN that is not all one digit,
not a run (123456, 654321) and not the end of their phone number. Here, in ``market.auth``, so
that setting a PIN with a one-time code (``access_codes``) and enrolling a person
(``market.people``) read one rule.
"""

import itertools
import re

from market.auth.roles import RESIDENT, STAFF_ROLES
from market.errors import InvalidInput

# [0-9], not \d: \d also matches Arabic-Indic and full-width digits.
PIN = re.compile(r"[0-9]{6}")
MIN_PASSWORD, MAX_PASSWORD = 8, 128


def check_password(password: str | None, roles: frozenset[str]) -> str | None:
    if password is None:
        if roles & STAFF_ROLES:
            raise InvalidInput("password_required", field="password")
        return None
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("password_too_short", field="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput("password_too_long", field="password")
    return password


def _is_run(digits: str) -> bool:
    """123456, 234567… and 654321, 543210…: the PINs people pick first."""
    steps = {int(b) - int(a) for a, b in itertools.pairwise(digits)}
    return steps in ({1}, {-1})


def check_pin(pin: str | None, roles: frozenset[str], phone: str) -> str | None:
    if pin is None:
        if RESIDENT in roles:
            raise InvalidInput("pin_required", field="pin")
        return None
    if not PIN.fullmatch(pin):
        raise InvalidInput("invalid_pin", field="pin")
    if len(set(pin)) == 1 or _is_run(pin) or pin == phone[-6:]:
        raise InvalidInput("weak_pin", field="pin")
    return pin
