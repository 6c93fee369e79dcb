"""What a volunteer service certificate says, how it is signed, and how its QR token is checked.

A certificate is not stored. Its content — the person, the community, the moment of issue,
the period asked for, every counted stay (activity, date, hours) and the total — is computed
from the attendance records, canonicalised as sorted-key JSON and hashed (SHA-256). The
community's Ed25519 key (``market.reports.keys``) signs a short header (community, person,
moment of issue, period) together with that hash. The QR's token carries the header, the hash
and the signature (113 bytes, 181 characters of base32):

- a forged token, or one with any byte altered, fails the signature: **invalid**;
- a genuine token is checked by recomputing the content *as of the moment of issue* from
  today's records: the same hash proves the certificate genuine and unchanged (**valid**);
  a different one means the records behind it were changed since (an organizer corrected
  hours, an activity was cancelled, a stay was approved later, the name was erased): the page
  says the certificate **no longer matches**, and never shows the changed figures as certified.

"As of the moment of issue" means stays that ended (checked out; for stays closed for review,
their check-in) at or before it, so later check-outs never spoil an earlier certificate.
Hours are integer hundredths of an hour in the database and exact strings ("2.50") here.
"""

import base64
import binascii
import hashlib
import json
import struct
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from cryptography.exceptions import InvalidSignature

from ledger import format_points
from market import clock
from market.china_time import CHINA
from market.db import fetch
from market.errors import Conflict, InvalidInput, NotFound
from market.people import rules as people_rules
from market.reports.keys import public_key, public_key_hex, signing_key
from market.settings import Settings

VERSION = 1
#: Domain separation: this key also signs transparency checkpoints.
SIGNED_PREFIX = b"points-market certificate v1\n"
#: version, community id, person id, issued (Unix seconds), period from, period to (days since
#: 1970-01-01, plus one; 0 means open-ended).
_HEADER = struct.Struct(">BIIIHH")
_DIGEST = 32
_SIGNATURE = 64
TOKEN_BYTES = _HEADER.size + _DIGEST + _SIGNATURE
_EPOCH = date(1970, 1, 1)

CATEGORY_NAMES = {
    "volunteer_service": "志愿服务",
    "collective_labour": "集体劳动",
    "self_governance": "社区自治",
}
#: The only category whose hours are 志愿服务时长 (民政部令第67号); every other category's hours are
#: participation (参与时长), listed by category (issue 16: labour and self-governance are not
#: volunteer service).
VOLUNTEER_SERVICE = "volunteer_service"


def mask_name(name: str) -> str:
    """As the boards mask a name (``market.people.rules.mask_name``), except that a certificate's
    check never shows an empty name: an erased person's is "*"."""
    return people_rules.mask_name(name) or "*"


@dataclass(frozen=True)
class Period:
    """Activities starting from ``start`` to ``end`` (both days included, Beijing time)."""

    start: date | None = None
    end: date | None = None

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> "Period":
        """From ``YYYY-MM-DD`` texts (empty: open-ended); a bad date or an inverted range is refused."""
        found = cls(_day(start, "from"), _day(end, "to"))
        if found.start and found.end and found.start > found.end:
            raise InvalidInput("certificate_bad_period", field="to")
        return found

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """[since, before) as UTC instants."""
        since = datetime.combine(self.start, datetime.min.time(), CHINA) if self.start else None
        before = (datetime.combine(self.end + timedelta(days=1), datetime.min.time(), CHINA)
                  if self.end else None)
        return since, before


def _day(text: str | None, field: str) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        found = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("invalid_date", field=field) from None
    # The token keeps days in 16 bits; nobody served before 2000 or after 2100 here.
    if not date(2000, 1, 1) <= found <= date(2100, 12, 31) or len(text) != 10:
        raise InvalidInput("invalid_date", field=field)
    return found


def _pack_day(day: date | None) -> int:
    return 0 if day is None else (day - _EPOCH).days + 1


def _unpack_day(number: int) -> date | None:
    return None if number == 0 else _EPOCH + timedelta(days=number - 1)


@dataclass(frozen=True)
class Line:
    activity_id: int
    title: str
    category: str
    day: date
    hours: str
    #: ``hours`` in integer hundredths, for sums (not part of the signed content).
    hundredths: int = 0


@dataclass(frozen=True)
class Certificate:
    """The content of one certificate, and its signed token once issued."""

    community_id: int
    community: str
    person_id: int
    name: str
    issued_at: datetime
    period: Period
    lines: tuple[Line, ...]
    total_hours: str
    token: str = ""

    def content(self) -> dict:
        """What is hashed and signed: plain JSON values only (no floats)."""
        return {
            "v": VERSION,
            "community": {"id": self.community_id, "name": self.community},
            "person": {"id": self.person_id, "name": self.name},
            "issued_at": self.issued_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "period": {
                "from": self.period.start.isoformat() if self.period.start else None,
                "to": self.period.end.isoformat() if self.period.end else None,
            },
            "activities": [
                {"id": line.activity_id, "title": line.title, "category": line.category,
                 "date": line.day.isoformat(), "hours": line.hours}
                for line in self.lines
            ],
            "total_hours": self.total_hours,
        }

    def digest(self) -> bytes:
        return hashlib.sha256(canonical(self.content())).digest()

    @property
    def number(self) -> str:
        """The certificate's number, printed on it: the start of its content hash."""
        return number_of(self.digest())

    @property
    def issued_on(self) -> date:
        return self.issued_at.astimezone(CHINA).date()

    @property
    def volunteer_hours(self) -> str:
        """志愿服务时长: the hours of ``volunteer_service`` activities only."""
        return format_points(sum(line.hundredths for line in self.lines
                                 if line.category == VOLUNTEER_SERVICE))

    @property
    def participation(self) -> list[tuple[str, str]]:
        """参与时长: every other category's hours, as (category, hours), in the catalogue's order
        then by name; categories without hours are left out."""
        sums: dict[str, int] = {}
        for line in self.lines:
            if line.category != VOLUNTEER_SERVICE:
                sums[line.category] = sums.get(line.category, 0) + line.hundredths
        order = list(CATEGORY_NAMES)
        ranked = sorted(sums, key=lambda c: (order.index(c) if c in order else len(order), c))
        return [(category, format_points(sums[category])) for category in ranked]

    @property
    def participation_hours(self) -> str:
        """The sum of ``participation``."""
        return format_points(sum(line.hundredths for line in self.lines
                                 if line.category != VOLUNTEER_SERVICE))


def canonical(content: dict) -> bytes:
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def number_of(digest: bytes) -> str:
    text = digest[:8].hex().upper()
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


async def compute(community_id: int, person_id: int, issued_at: datetime, period: Period,
                  *, former: bool = False) -> Certificate:
    """The certificate's content from today's records, as of ``issued_at``.

    The person must be of the community (else NotFound: nobody sees another community); with
    ``former`` (checking a certificate the community issued), also one who moved away since.
    A person's service is theirs wherever it was done: a resident who moved house (搬家,
    ``market.subdistricts.moves``) keeps the stays of the community they left, as their service
    hours do (``market.points.hours``)."""
    moved_away = (" OR EXISTS (SELECT 1 FROM house_move m WHERE m.person = p.id"
                  " AND m.from_community = c.id AND m.state = 'done')") if former else ""
    people = await fetch(
        "SELECT p.name AS name, c.name AS community FROM person p JOIN community c ON c.id = {}"
        f" WHERE p.id = {{}} AND (p.community = c.id{moved_away})", community_id, person_id,
    )
    if not people:
        raise NotFound(field="person_id")
    sql = (
        "SELECT a.id AS id, a.title AS title, a.category AS category, a.starts_at AS starts_at,"
        " s.hours AS hours"
        " FROM activity_stay s JOIN activity a ON a.id = s.activity"
        " WHERE s.person = {} AND s.status = 'out'"
        " AND (s.approval IS NULL OR s.approval = 'approved')"
        " AND COALESCE(s.out_at, s.in_at) <= {}"
    )
    args: list[object] = [person_id, issued_at]
    since, before = period.bounds()
    if since is not None:
        sql += " AND a.starts_at >= {}"
        args.append(since)
    if before is not None:
        sql += " AND a.starts_at < {}"
        args.append(before)
    rows = await fetch(sql + " ORDER BY a.starts_at, a.id", *args)
    total = 0
    lines = []
    for row in rows:
        hours = int(row["hours"] or 0)
        total += hours
        lines.append(Line(
            activity_id=row["id"], title=row["title"], category=row["category"],
            day=row["starts_at"].astimezone(CHINA).date(), hours=format_points(hours), hundredths=hours,
        ))
    return Certificate(
        community_id=community_id, community=people[0]["community"], person_id=person_id,
        name=people[0]["name"], issued_at=issued_at, period=period, lines=tuple(lines),
        total_hours=format_points(total),
    )


def _header(community_id: int, person_id: int, issued_at: datetime, period: Period) -> bytes:
    return _HEADER.pack(VERSION, community_id, person_id, int(issued_at.timestamp()),
                        _pack_day(period.start), _pack_day(period.end))


async def issue(settings: Settings, community_id: int, person_id: int, period: Period,
                now: datetime | None = None) -> Certificate:
    """A signed certificate of the person's service as of now (whole seconds, as the token keeps)."""
    issued_at = (now or clock.now()).astimezone(UTC).replace(microsecond=0)
    found = await compute(community_id, person_id, issued_at, period)
    if not found.lines:
        raise Conflict("certificate_no_service")
    header = _header(community_id, person_id, issued_at, period)
    digest = found.digest()
    signature = signing_key(settings, community_id).sign(SIGNED_PREFIX + header + digest)
    token = base64.b32encode(header + digest + signature).decode().rstrip("=")
    return replace(found, token=token)


def verification_url(settings: Settings, request_base: str, token: str) -> str:
    return f"{(settings.base_url or request_base).rstrip('/')}/verify/{token}"


@dataclass(frozen=True)
class Check:
    """The answer for a token: "valid", "changed" or "invalid", and what may be shown."""

    status: str
    reason: str
    certificate: Certificate | None = None
    public_key: str | None = None
    number: str | None = None


def _decode(token: str) -> bytes | None:
    text = "".join(token.split()).upper()
    if len(text) != (TOKEN_BYTES * 8 + 4) // 5:
        return None
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return None
    # Base32 has spare bits in its last character: a token must be the one canonical spelling.
    if base64.b32encode(raw).decode().rstrip("=") != text:
        return None
    return raw if len(raw) == TOKEN_BYTES else None


async def check(settings: Settings, token: str) -> Check:
    """Is this token a certificate we signed, and do the records still say what it said?"""
    raw = _decode(token)
    if raw is None:
        return Check("invalid", "malformed")
    header, digest, signature = (raw[: _HEADER.size], raw[_HEADER.size : -_SIGNATURE],
                                 raw[-_SIGNATURE:])
    version, community_id, person_id, seconds, start, end = _HEADER.unpack(header)
    if version != VERSION or community_id == 0:
        return Check("invalid", "malformed")
    try:
        public_key(settings, community_id).verify(signature, SIGNED_PREFIX + header + digest)
    except InvalidSignature:
        return Check("invalid", "bad_signature")
    issued_at = datetime.fromtimestamp(seconds, UTC)
    key = public_key_hex(settings, community_id)
    try:
        period = Period(_unpack_day(start), _unpack_day(end))
        now = await compute(community_id, person_id, issued_at, period, former=True)
    except NotFound:
        return Check("changed", "records_missing", public_key=key, number=number_of(digest))
    if now.digest() != digest:
        return Check("changed", "records_changed", certificate=now, public_key=key,
                     number=number_of(digest))
    return Check("valid", "ok", certificate=now, public_key=key, number=number_of(digest))
