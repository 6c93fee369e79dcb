"""Signed QR tokens, rotating codes, rendering and decoding. Knows nothing of the web or a database.

Public API
----------
Tokens (``qr.tokens``)
    ``Kind`` — MEMBER_CODE, CARD, ACTIVITY_ROTATING, POSTER, DOORPLATE; each carries two unsigned
    ints (``FIELD_COUNTS``): (person, step), (person, card_version), (activity, step),
    (activity, poster_version), (household, plate_version).
    ``derive_key(secret, purpose="qr-v1") -> bytes`` — HMAC(secret, purpose).
    ``Signer(keys=[newest, *older])`` / ``Signer.from_secrets([...])``:
    ``sign(kind, *fields) -> str``, ``verify(text, kind) -> tuple[int, ...]``,
    ``open(text) -> Token``.
    Errors: ``TokenError`` (``.reason``) ⊃ ``InvalidToken`` ("invalid"), ``ExpiredToken``
    ("expired"). Revocation (cards, posters) is the caller's: compare the version field.

Rotating codes (``qr.rotating``)
    ``Rotation(step_seconds=30, previous_steps=1, future_steps=1)``:
    ``issue(signer, kind, subject_id, now) -> RotatingCode(text, step, expires_at, refresh_at)``,
    ``check(signer, text, kind, now) -> subject_id`` (ExpiredToken when older than the previous step),
    ``check_step(step, now)`` for a token already opened with ``Signer.open``.

Pictures (``qr.render``)
    ``png(text) -> bytes``, ``svg(text) -> str``, ``image(text) -> PIL.Image``,
    ``version_of(text) -> int`` (at level M), ``decode_png(bytes) -> list[str]``,
    ``decode_image(PIL.Image) -> list[str]`` (zxing-cpp). CPU-bound: use ``asyncio.to_thread``.

Sizes: a member code is 36–39 characters and a card code 31–34 for person ids below 2²¹
(a varint grows a byte at 2⁷, 2¹⁴, 2²¹); both fit QR version 3 at level M.
"""

from qr.render import decode_image, decode_png, image, png, svg, version_of
from qr.rotating import STEP_SECONDS, RotatingCode, Rotation
from qr.tokens import (
    FIELD_COUNTS,
    KEY_PURPOSE,
    ExpiredToken,
    InvalidToken,
    Kind,
    Signer,
    Token,
    TokenError,
    derive_key,
)

__all__ = [
    "FIELD_COUNTS",
    "KEY_PURPOSE",
    "STEP_SECONDS",
    "ExpiredToken",
    "InvalidToken",
    "Kind",
    "RotatingCode",
    "Rotation",
    "Signer",
    "Token",
    "TokenError",
    "decode_image",
    "decode_png",
    "derive_key",
    "image",
    "png",
    "svg",
    "version_of",
]
