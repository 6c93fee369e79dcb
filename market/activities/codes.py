"""An activity's check-in codes: the rotating one on the organizer's screen (30 s), the fixed
poster code, and reading a scanned one back (which activity, which kind, still valid?).

A poster code (``Kind.POSTER``: activity, version 1) never rotates; it is accepted only inside
the same scan window as the rotating code. It is a bearer token (a photo of the poster,
forwarded, works anywhere), so a check-in by it is always "pending": the organizer, who saw who
came, approves it before anything is credited. The rotating code and the organizer's scan of a
member code credit at once.
"""

from dataclasses import dataclass
from datetime import datetime

from market import clock
from market.activities.records import activity, managed_row
from market.activities.schemas import ActivityCode, ActivityPoster
from market.auth.sessions import Principal
from market.cards.rules import ROTATION
from market.errors import Gone, InvalidInput
from market.settings import Settings
from market.signing import signer_for
from qr import ExpiredToken, Kind, Signer, TokenError

#: The path of the check-in URL; uppercase so the whole URL after an uppercase
#: base can stay in QR alphanumeric mode.
CHECKIN_PATH = "/C/"
MAX_TOKEN_TEXT = 500
#: The poster code's version: raising it would refuse every poster printed before (410 ``revoked``).
POSTER_VERSION = 1


async def code(
    me: Principal, activity_id: int, settings: Settings, request_base: str
) -> ActivityCode:
    """The rotating check-in code for the organizer's screen, and when to fetch the next."""
    row = await managed_row(me, activity_id)
    at = clock.now()
    issued = ROTATION.issue(signer_for(settings), Kind.ACTIVITY_ROTATING, row["id"], at)
    base = (settings.base_url or request_base).rstrip("/")
    return ActivityCode(
        token=issued.text, url=f"{base}{CHECKIN_PATH}{issued.text}",
        expires_at=issued.expires_at, refresh_in=max(1, round(issued.refresh_in(at))),
    )


async def poster(
    me: Principal, activity_id: int, settings: Settings, request_base: str
) -> ActivityPoster:
    """The printable poster code: fixed, valid only inside the activity's scan window."""
    row = await managed_row(me, activity_id)
    token = signer_for(settings).sign(Kind.POSTER, row["id"], POSTER_VERSION)
    base = (settings.base_url or request_base).rstrip("/")
    return ActivityPoster(token=token, url=f"{base}{CHECKIN_PATH}{token}")


@dataclass(frozen=True, slots=True)
class ScannedCode:
    activity_id: int
    #: The printed poster's fixed code: its check-ins wait for the organizer's approval.
    poster: bool


def checkin_activity(signer: Signer, text: object, at: datetime) -> int:
    """The activity id a scanned check-in token (or the whole URL) stands for."""
    return scanned_code(signer, text, at).activity_id


def scanned_code(signer: Signer, text: object, at: datetime) -> ScannedCode:
    """The activity a scanned check-in token (or the whole URL) stands for, and its kind.

    400 ``invalid`` for anything forged, malformed or of another kind; 410
    ``expired`` for a genuine code older than the previous 30-second step."""
    if not isinstance(text, str) or len(text) > MAX_TOKEN_TEXT:
        raise InvalidInput("invalid", field="token")
    cleaned = "".join(text.split()).split("?")[0].split("#")[0].rstrip("/")
    cleaned = cleaned.rsplit("/", 1)[-1].upper()
    try:
        token = signer.open(cleaned)
    except TokenError:
        raise InvalidInput("invalid", field="token") from None
    if token.kind == Kind.POSTER:
        activity_id, version = token.fields
        if version != POSTER_VERSION:
            raise Gone("revoked", field="token")
        return ScannedCode(activity_id, poster=True)
    if token.kind != Kind.ACTIVITY_ROTATING:
        raise InvalidInput("invalid", field="token")
    activity_id, step = token.fields
    try:
        ROTATION.check_step(step, at)
    except ExpiredToken:
        raise Gone("expired", field="token") from None
    except TokenError:
        raise InvalidInput("invalid", field="token") from None
    return ScannedCode(activity_id, poster=False)


async def genuine_activity(signer: Signer, text: str, community_id: int) -> int | None:
    """For the scan log: the activity of a genuine but refused (stale) code of this community."""
    try:
        token = signer.open(text.rsplit("/", 1)[-1].strip().upper())
    except TokenError:
        return None
    found = await activity(community_id, token.fields[0])
    return None if found is None else found["id"]
