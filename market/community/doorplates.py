"""Doorplates (数字门牌): a printed plate on each household's door whose QR opens the household.

The plate's code is a signed token (``qr.Kind.DOORPLATE``: household, plate version) inside a
link, ``<base>/d/<token>``, so any phone camera or WeChat opens it. Who scans decides what they
see (``market.web.doorplate_pages``): a member of the household signed in gets the household's
page (points, members, gifts); anyone else gets the community's public page with its 民声
hotline. The token carries no personal data and no address: the address is printed beside it.

Reissuing a plate moves its version on (and audits who did it), so the old plate's code is
refused at once (410 ``plate_revoked``), as a reissued member card's is. An archived household's
plate is refused the same way. The hotline is the community office's number, public by nature;
the office sets it (``set_hotline``) and every plate and landing page shows it.
"""

import logging
import re
import unicodedata
from dataclasses import dataclass

from market.audit import entry
from market.db import fetch
from market.errors import Conflict, Gone, InvalidInput, NotFound
from market.settings import Settings
from market.signing import signer_for
from market.writes import Steps, write
from qr import Kind, TokenError

log = logging.getLogger(__name__)

#: A hotline as offices write it: digits, with spaces, dashes or brackets between them.
_HOTLINE = re.compile(r"^\+?\(?[0-9][0-9 ()\-]{3,18}[0-9]$")
MAX_HOTLINE = 20
#: Longer than any doorplate token (about 34 characters).
MAX_TOKEN = 64


@dataclass(frozen=True, slots=True)
class Plate:
    """What a household's plate shows: the community, the address, the hotline and the link."""

    household_id: int
    community: str
    building: str
    unit: str
    room: str
    hotline: str | None
    url: str
    version: int

    @property
    def address(self) -> str:
        return _address(self.building, self.unit, self.room)


@dataclass(frozen=True, slots=True)
class Scanned:
    """A genuine, current plate as scanned: its household and what anyone may read of it."""

    household_id: int
    community_id: int
    community: str
    slug: str | None
    address: str
    hotline: str | None


def _address(building: str, unit: str, room: str) -> str:
    """As the plate prints it: 3号楼2单元301."""
    return f"{building}{unit}{room}"


_PLATE_SQL = (
    "SELECT h.id, h.unit, h.room, h.plate_version, h.archived_at, h.community,"
    " b.name AS building, c.name AS community_name, c.slug, c.hotline"
    " FROM household h JOIN building b ON b.id = h.building JOIN community c ON c.id = h.community"
    " WHERE h.id = {}"
)


def plate_url(settings: Settings, request_base: str, household_id: int, version: int) -> str:
    token = signer_for(settings).sign(Kind.DOORPLATE, household_id, version)
    return f"{(settings.base_url or request_base).rstrip('/')}/d/{token}"


async def _row(community_id: int, household_id: int) -> dict:
    rows = await fetch(_PLATE_SQL, household_id)
    if not rows or rows[0]["community"] != community_id:
        raise NotFound(field="household_id")
    return rows[0]


async def plate(community_id: int, household_id: int, *, settings: Settings, request_base: str) -> Plate:
    """The household's current plate; 404 outside the community, 409 when it is archived."""
    row = await _row(community_id, household_id)
    if row["archived_at"] is not None:
        raise Conflict("archived", field="household_id")
    return Plate(
        household_id=row["id"], community=row["community_name"], building=row["building"],
        unit=row["unit"], room=row["room"], hotline=row["hotline"], version=row["plate_version"],
        url=plate_url(settings, request_base, row["id"], row["plate_version"]),
    )


def _reissue_steps(community_id: int, household_id: int, actor_id: int) -> Steps[int]:
    rows = yield (
        "UPDATE household SET plate_version = plate_version + 1"
        " WHERE id = {} AND community = {} AND archived_at IS NULL RETURNING plate_version",
        (household_id, community_id),
    )
    if not rows:
        raise NotFound(field="household_id")
    yield entry(community_id, actor_id, "doorplate_reissued", f"household:{household_id}")
    return rows[0]["plate_version"]


async def reissue(community_id: int, household_id: int, *, actor_id: int) -> int:
    """A new plate for the household: the old one's code is refused from now on. Its new version."""
    version = await write(_reissue_steps, community_id, household_id, actor_id)
    log.info("doorplate of household %s reissued (version %s)", household_id, version)
    return version


async def scanned(settings: Settings, token: str) -> Scanned:
    """The household a scanned plate belongs to: 400 ``invalid`` for anything but a genuine plate,
    410 ``plate_revoked`` for a plate reissued since (or of an archived household)."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN:
        raise InvalidInput("invalid", field="token")
    try:
        household_id, version = signer_for(settings).verify(token, Kind.DOORPLATE)
    except TokenError:
        raise InvalidInput("invalid", field="token") from None
    rows = await fetch(_PLATE_SQL, household_id)
    if not rows:
        raise InvalidInput("invalid", field="token")
    row = rows[0]
    if row["plate_version"] != version or row["archived_at"] is not None:
        raise Gone("plate_revoked", field="token")
    return Scanned(
        household_id=row["id"], community_id=row["community"], community=row["community_name"],
        slug=row["slug"], address=_address(row["building"], row["unit"], row["room"]), hotline=row["hotline"],
    )


def clean_hotline(text: str) -> str | None:
    """A hotline as typed (full-width digits too); "" clears it. 400 ``invalid_hotline`` otherwise."""
    typed = " ".join(unicodedata.normalize("NFKC", text or "").split())
    if not typed:
        return None
    if len(typed) > MAX_HOTLINE or not _HOTLINE.match(typed):
        raise InvalidInput("invalid_hotline", field="hotline")
    return typed


def _hotline_steps(community_id: int, hotline: str | None, actor_id: int) -> Steps[None]:
    yield ("UPDATE community SET hotline = {} WHERE id = {}", (hotline, community_id))
    yield entry(community_id, actor_id, "hotline_set", f"community:{community_id}")


async def set_hotline(community_id: int, text: str, *, actor_id: int) -> str | None:
    """Set (or clear, with "") the community's 民声 hotline; audited. The hotline as stored."""
    hotline = clean_hotline(text)
    await write(_hotline_steps, community_id, hotline, actor_id)
    return hotline


async def hotline(community_id: int) -> str | None:
    rows = await fetch("SELECT hotline FROM community WHERE id = {}", community_id)
    return rows[0]["hotline"] if rows else None


async def lives_here(household_id: int, person_id: int) -> bool:
    """Whether the person is a member of the household (the plate then opens their household)."""
    return bool(await fetch("SELECT 1 AS x FROM person WHERE id = {} AND household = {}", person_id,
                            household_id))
