"""The camera scanner's server half: ``POST /scan/decode`` reads the QR code in one picture.

``frontend/static/scanner.js`` uses the browser's own ``BarcodeDetector`` where it can
read QR codes; elsewhere (Chromium on Linux, Firefox, WeChat's browser) it posts camera
frames, or a photo taken with the phone's camera app, here. The body is the picture
itself (JPEG, PNG or WebP, at most ``MAX_BYTES``) with the page's CSRF token in the
``X-CSRF-Token`` header. The answer is always JSON, never the HTML error page:

- 200 ``{"text": "...", "found": true}`` — the first QR code read;
- 200 ``{"text": null, "found": false, "reason": "no_code", "message": ...}`` — a
  picture without a readable code (the normal case for most camera frames, so not an
  error a browser would log);
- 4xx ``{"text": null, "found": false, "reason": ..., "message": ...}`` — not signed in,
  not staff, CSRF, too large, not a picture, too many pictures at once.

Only staff scan (organizers at activities, shop keepers and admins at the counter). The
code read is a credential for a short while: it is never logged. Decoding is CPU work;
it runs in a worker thread, a few at a time, and each person may send a few pictures a
second (a scanner sends two).
"""

import asyncio
import io
import time
import weakref
from collections import deque
from typing import Any

import anyio
import anyio.to_thread
from litestar import Request, Response, post
from litestar.exceptions import HTTPException
from PIL import Image

from market.auth.roles import ADMIN, ORGANIZER, SHOPKEEPER
from market.errors import CsrfRejected
from market.web import i18n
from market.web.forms import check_csrf, signed_in

#: A camera frame is 50–200 KB; the script shrinks photos to well under this before sending.
MAX_BYTES = 2 * 1024 * 1024
#: A picture of more pixels than this is refused before it is decoded (a small file can
#: declare a huge canvas).
MAX_PIXELS = 24_000_000
#: Decoded at most this large a side: a code filling a phone photo is still many pixels a module.
DECODE_SIDE = 1600
FORMATS = ("JPEG", "PNG", "WEBP")
#: Pictures per person in ``WINDOW`` seconds: a scanner sends two a second, with room for a
#: photo or a second tab, but no more.
PER_PERSON = 40
WINDOW = 10.0
#: Pictures decoded at once per event loop.
CONCURRENT = 2
SCANNING_ROLES = (ORGANIZER, SHOPKEEPER, ADMIN)
CSRF_HEADER = "X-CSRF-Token"

_limiters: weakref.WeakKeyDictionary[Any, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()
_recent: dict[int, deque[float]] = {}


class Unreadable(Exception):
    """The body is not a picture Pillow accepts (or one of too many pixels)."""


def _answer(status: int, reason: str, message: str) -> Response[dict]:
    return Response(
        {"text": None, "found": False, "reason": reason, "message": message},
        status_code=status, headers={"Cache-Control": "no-store"},
    )


def _too_often(person_id: int, now: float) -> bool:
    """A sliding window per person, in this process (each worker keeps its own)."""
    times = _recent.setdefault(person_id, deque())
    while times and times[0] <= now - WINDOW:
        times.popleft()
    if len(times) >= PER_PERSON:
        return True
    times.append(now)
    if len(_recent) > 10_000:  # forget idle people now and then
        for key in [k for k, v in _recent.items() if not v or v[-1] <= now - WINDOW]:
            _recent.pop(key, None)
    return False


def _open(content: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(content), formats=FORMATS)
    if picture.width * picture.height > MAX_PIXELS:
        picture.close()
        raise Unreadable()
    return picture


def read_code(content: bytes) -> str | None:
    """The text of the first QR code in the picture, or None; ``Unreadable`` for a non-picture.

    CPU-bound: run it in a worker thread."""
    import zxingcpp  # imported on use, as in qr.render

    try:
        # verify() checks the file's structure without decoding it; then it is opened again.
        with _open(content) as probe:
            probe.verify()
        with _open(content) as picture:
            if picture.format == "JPEG":
                picture.draft("L", (DECODE_SIDE, DECODE_SIDE))
            picture.load()
            grey = picture.convert("L")
    except Unreadable:
        raise
    except Exception:
        # Broken files make Pillow raise anything from OSError to SyntaxError.
        raise Unreadable() from None
    if max(grey.size) > DECODE_SIDE:
        grey.thumbnail((DECODE_SIDE, DECODE_SIDE))
    found = zxingcpp.read_barcodes(grey, formats=zxingcpp.BarcodeFormat.QRCode)
    texts = [code.text for code in found if code.valid and code.text]
    return texts[0] if texts else None


async def _decode_off_loop(content: bytes) -> str | None:
    # A CapacityLimiter belongs to one event loop (tests run one per test).
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(CONCURRENT)
    return await anyio.to_thread.run_sync(read_code, content, limiter=limiter)


@post("/scan/decode", name="web:scan-decode", include_in_schema=False, status_code=200,
      request_max_body_size=MAX_BYTES)
async def decode(request: Request) -> Response[dict]:
    """Read the QR code in a camera frame or photo (staff only; CSRF in ``X-CSRF-Token``)."""
    language = i18n.language_of(request)
    me = signed_in(request)
    if me is None:
        return _answer(401, "not_signed_in", i18n.error_text(language, "not_signed_in"))
    try:
        if me.via != "bearer":
            check_csrf(request, {"csrf": request.headers.get(CSRF_HEADER, "")})
    except CsrfRejected:
        return _answer(403, "csrf", i18n.error_text(language, "csrf"))
    if not me.has_role(*SCANNING_ROLES):
        return _answer(403, "forbidden", i18n.error_text(language, "forbidden"))
    too_large = i18n.translate(language, "The picture is too large (at most 2 MB).")
    announced = request.content_length
    if announced is not None and announced > MAX_BYTES:
        return _answer(413, "too_large", too_large)
    if _too_often(me.id, time.monotonic()):
        return _answer(429, "too_many_pictures",
                       i18n.translate(language, "Too many pictures at once; wait a moment."))
    try:
        content = await request.body()
    except HTTPException as error:
        if error.status_code == 413:
            return _answer(413, "too_large", too_large)
        raise
    if len(content) > MAX_BYTES:
        return _answer(413, "too_large", too_large)
    try:
        if not content:
            raise Unreadable()
        text = await _decode_off_loop(content)
    except Unreadable:
        return _answer(400, "not_a_picture",
                       i18n.translate(language, "That is not a picture the scanner can read."))
    if text is None:
        return _answer(200, "no_code", i18n.translate(
            language, "No code found. Hold the code steady in the middle of the picture."))
    # The text is a member code or a check-in token: a credential, so it is never logged.
    return Response({"text": text, "found": True}, headers={"Cache-Control": "no-store"})


SCANNER_PAGES = [decode]
