"""What a valid person looks like: name, phone, roles; card numbers; masking. (Passwords and
PINs: ``market.auth.credentials``.)

Pure functions, no database: each raises ``InvalidInput`` with its own reason
and the field it is about.
"""

import re
import secrets
from collections.abc import Iterable

from market.auth.roles import ROLES
from market.errors import InvalidInput

# [0-9], not \d: \d also matches Arabic-Indic and full-width digits.
PHONE = re.compile(r"1[3-9][0-9]{9}")
MAX_NAME = 50


def clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME or not name.isprintable():
        raise InvalidInput("invalid_name", field="name")
    return name


def check_phone(phone: str) -> str:
    if not PHONE.fullmatch(phone):
        raise InvalidInput("invalid_phone", field="phone")
    return phone


def check_roles(roles: Iterable[str], allowed: frozenset[str] = ROLES) -> frozenset[str]:
    chosen = frozenset(roles)
    if not chosen or not chosen <= allowed:
        raise InvalidInput("invalid_roles", field="roles")
    return chosen


def mask_name(name: str) -> str:
    """张三明 → 张*明, 张三 → 张*, 欧阳小明 → 欧**明: the first and last character kept (public
    boards, 公示, a certificate's check, a gift's receipt)."""
    name = name.strip()
    if len(name) <= 1:
        return "*" if name else ""
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str) -> str:
    """138****0000: enough to recognise one's own number, not enough to call it."""
    if len(phone) < 7:
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"


def _luhn_digit(digits: str) -> str:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def new_card_no() -> str:
    """Ten digits: nine random (first not 0), then a Luhn check digit.

    Random, so holding one card tells nothing about the next; the check digit
    catches a mistyped digit or swapped neighbours at the shop counter.
    """
    body = str(secrets.randbelow(9) + 1) + "".join(str(secrets.randbelow(10)) for _ in range(8))
    return body + _luhn_digit(body)


def is_card_no(text: str) -> bool:
    return len(text) == 10 and text.isascii() and text.isdigit() and _luhn_digit(text[:9]) == text[9]
