"""What the member codes' and cards' API takes and answers: one's rotating code, a card, a scanned
code's resident, a PIN to set or change. The rules that check the values are
``market.cards.rules`` (a code's rotation and length) and ``market.auth.credentials`` (a PIN).
"""

from datetime import datetime
from typing import Annotated

import msgspec

from market.auth.credentials import PIN
from market.cards.rules import MAX_CODE_LENGTH, ROTATION
from market.constraints import matching, text

# -- views -------------------------------------------------------------------------------------


class MemberCode(msgspec.Struct):
    code: str
    expires_at: datetime
    """The moment the code stops being accepted."""
    refresh_in: int
    """Seconds until a fresh code should be shown (the next 30-second step; for a longer code,
    its last step, so the one on the screen is always still accepted)."""
    step_seconds: int = ROTATION.step_seconds
    extended: bool = False
    """A longer code (``?extended=true``): accepted for 5 minutes instead of 30–60 seconds."""


class CardView(msgspec.Struct):
    person_id: int
    name: str
    card_no: str
    card_version: int
    picture: str
    """Where the printable card is: ``/api/people/{id}/card.png``."""


class ScannedMember(msgspec.Struct):
    person_id: int
    name: str
    card_no: str
    via_card: bool
    """A printed card (static code): the shop must also ask for the PIN."""
    #: The resident's own community: another one only for a visitor at a shop (通存通兑).
    community_id: int | None = None


# -- requests ----------------------------------------------------------------------------------


class ChangePinRequest(msgspec.Struct):
    new_pin: Annotated[str, matching(PIN)]
    """6 digits, not trivially guessable (not all one digit, not a run, not the phone's last six)."""
    current_pin: str | None = None
    """Required when a PIN is already set, except in the session a one-time code opened."""


class SetPinRequest(msgspec.Struct):
    pin: Annotated[str, matching(PIN)]


class ScanRequest(msgspec.Struct):
    member_code: Annotated[str, text(MAX_CODE_LENGTH)]
    """A rotating member code from a phone, or the code of a printed card."""

