"""Compact signed tokens: a kind byte, unsigned integer fields, and a 128-bit HMAC-SHA256 tag.

Wire format (before encoding)::

    kind (1 byte) | field₁ … fieldₙ (unsigned LEB128 varints) | tag (16 bytes)

``tag = HMAC-SHA256(key, kind | fields)[:16]``. The bytes are written as
uppercase RFC 4648 base32 without padding, so a token (and an upper-case URL
around it) stays in QR alphanumeric mode. Decoding is strict: only the
canonical spelling of the bytes is accepted (no lowercase, no stray padding
bits, no overlong varints, no trailing bytes), so a token has exactly one valid
text and any mutation of it is a different — and unsigned — text.

Each kind has a fixed number of fields (``FIELD_COUNTS``). Kinds are part of
the signed bytes, so a token made for one kind never verifies as another.

Keys: ``Signer(keys=[newest, *older])`` signs with the first key and verifies
with any of them (each is tried; there are only ever a few). No key id is put
in the token: it would cost a byte and tell an attacker which key to aim at.
"""

import base64
import binascii
import enum
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

TAG_BYTES = 16
"""HMAC-SHA256 truncated to 128 bits: forging one takes ~2¹²⁸ online guesses."""

KEY_PURPOSE = "qr-v1"
MAX_FIELD = 2**63 - 1
_MAX_VARINT_BYTES = 10
_B32_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


class Kind(enum.IntEnum):
    """What a token stands for. Values are written into tokens: never renumber them."""

    MEMBER_CODE = 1
    """A resident's rotating code on their phone: (person_id, time step)."""
    CARD = 2
    """A printed member card: (person_id, card_version); revoked when the version moves on."""
    ACTIVITY_ROTATING = 3
    """An activity's check-in code on the organizer's screen: (activity_id, time step)."""
    POSTER = 4
    """An activity's printed poster code: (activity_id, poster_version)."""
    DOORPLATE = 5
    """A household's printed doorplate (数字门牌): (household_id, plate_version)."""


#: How many integer fields each kind carries.
FIELD_COUNTS: dict[Kind, int] = {
    Kind.MEMBER_CODE: 2,
    Kind.CARD: 2,
    Kind.ACTIVITY_ROTATING: 2,
    Kind.POSTER: 2,
    Kind.DOORPLATE: 2,
}


class TokenError(Exception):
    """A token was refused; ``reason`` is machine-readable ("invalid", "expired")."""

    reason = "invalid"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.reason)


class InvalidToken(TokenError):
    """Forged, malformed, truncated, signed with an unknown key, or of another kind."""

    reason = "invalid"


class ExpiredToken(TokenError):
    """Genuine, but its time step is too old to be accepted."""

    reason = "expired"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    fields: tuple[int, ...]


def derive_key(secret: str | bytes, purpose: str = KEY_PURPOSE) -> bytes:
    """A key for one purpose from the application's secret: HMAC-SHA256(secret, purpose).

    The app secret also signs other things (sign-in limiter keys, …); deriving
    per purpose means a value signed for one of them is worthless for another.
    """
    raw = secret.encode() if isinstance(secret, str) else secret
    if not raw:
        raise ValueError("the secret must not be empty")
    return hmac.new(raw, purpose.encode(), hashlib.sha256).digest()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varints(data: bytes, count: int) -> tuple[int, ...]:
    """Exactly ``count`` canonical varints filling ``data``, or InvalidToken."""
    fields: list[int] = []
    position = 0
    for _ in range(count):
        value = shift = 0
        for length in range(1, _MAX_VARINT_BYTES + 1):
            if position >= len(data):
                raise InvalidToken("truncated field")
            byte = data[position]
            position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                if byte == 0 and length > 1:
                    raise InvalidToken("overlong field")
                break
        else:
            raise InvalidToken("field too long")
        if value > MAX_FIELD:
            raise InvalidToken("field out of range")
        fields.append(value)
    if position != len(data):
        raise InvalidToken("trailing bytes")
    return tuple(fields)


def _encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def _decode(text: str) -> bytes:
    if not text or not set(text) <= _B32_ALPHABET or len(text) % 8 in (1, 3, 6):
        raise InvalidToken("not base32")
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise InvalidToken("not base32") from None
    # Unused low bits of the last character must be zero: one text per token.
    if _encode(raw) != text:
        raise InvalidToken("not canonical")
    return raw


class Signer:
    """Signs and verifies tokens with HMAC keys; the first key signs, all keys verify."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a Signer needs at least one key")
        for key in keys:
            if not isinstance(key, bytes) or len(key) < 16:
                raise ValueError("keys must be bytes of at least 16 bytes (use derive_key)")
        self._keys = tuple(keys)

    @classmethod
    def from_secrets(cls, secrets: Sequence[str | bytes], purpose: str = KEY_PURPOSE) -> "Signer":
        """``Signer.from_secrets([current, *previous])``: derive each key for ``purpose``."""
        return cls([derive_key(secret, purpose) for secret in secrets])

    @staticmethod
    def _tag(key: bytes, body: bytes) -> bytes:
        return hmac.new(key, body, hashlib.sha256).digest()[:TAG_BYTES]

    def sign(self, kind: Kind, *fields: int) -> str:
        kind = Kind(kind)
        if len(fields) != FIELD_COUNTS[kind]:
            raise ValueError(f"{kind.name} takes {FIELD_COUNTS[kind]} fields, not {len(fields)}")
        for value in fields:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FIELD:
                raise ValueError(f"fields are integers in 0…2⁶³-1, not {value!r}")
        body = bytes([kind]) + b"".join(_varint(value) for value in fields)
        return _encode(body + self._tag(self._keys[0], body))

    def open(self, text: str) -> Token:
        """The token ``text`` stands for, whatever its kind; InvalidToken unless genuine."""
        if not isinstance(text, str) or len(text) > 200:
            raise InvalidToken("too long")
        raw = _decode(text)
        if len(raw) < 1 + TAG_BYTES + 1:
            raise InvalidToken("too short")
        body, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        # Every key is tried, even after a match, so timing says nothing about which key signed.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(self._tag(key, body), tag)
        if not matched:
            raise InvalidToken("bad signature")
        # The structure is parsed only after the tag checks out: a forger learns nothing from errors.
        try:
            kind = Kind(body[0])
        except ValueError:
            raise InvalidToken("unknown kind") from None
        return Token(kind, _read_varints(body[1:], FIELD_COUNTS[kind]))

    def verify(self, text: str, kind: Kind) -> tuple[int, ...]:
        """The fields of a genuine token of ``kind``; InvalidToken for anything else."""
        token = self.open(text)
        if token.kind != kind:
            raise InvalidToken("wrong kind")
        return token.fields
