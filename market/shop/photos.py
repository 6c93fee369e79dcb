"""Product photos: read an upload within its size limit, check it is a real picture, re-encode it.

Nothing a user uploads is stored or served as it came: a picture that Pillow
can open and ``verify()`` as JPEG, PNG, WebP or GIF, of at most
``MAX_PIXELS`` (JPEG) or ``MAX_PIXELS_DECODED_WHOLE`` (the others; a small file can declare a
huge canvas: a decompression bomb),
is turned upright by its EXIF orientation and re-encoded as a JPEG of at most
``MAX_SIDE`` pixels a side plus a ``THUMB_SIDE`` thumbnail. The re-encoding
drops every EXIF field, such as where a phone took the picture. Anything else
is 400 ``invalid_photo``; a file over ``MAX_BYTES`` is 413 ``photo_too_large``,
refused from its Content-Length or as soon as the stream passes the limit.

Decoding is CPU work: ``process`` runs in a worker thread, a few at a time.
"""

import io
from dataclasses import dataclass

from litestar import Request
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException
from PIL import Image, ImageOps

from market import clock
from market.db import fetch, write_transaction
from market.errors import InvalidInput, MarketError, NotFound, PayloadTooLarge
from market.offload import OffLoop

MAX_BYTES = 5 * 1024 * 1024
#: Room for the multipart envelope (boundaries, headers) around a file of MAX_BYTES.
ENVELOPE = 64 * 1024
#: 40 megapixels: more than any phone camera. A JPEG is decoded at a reduced scale (``draft``),
#: so even this costs little memory.
MAX_PIXELS = 40_000_000
#: Other formats are decoded whole, 4 bytes a pixel, and copied by the conversions: a 40 MP PNG
#: took 208–436 MB at its peak (RGB … palette). 16 MP bounds a picture to ≈ 175 MB (measured in
#: tests/market/test_product_photos.py), far above any screenshot or saved picture of goods.
MAX_PIXELS_DECODED_WHOLE = 16_000_000
MAX_SIDE = 1024
THUMB_SIDE = 256
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
#: Decoded pictures are large: at most this many are worked on at once (per event loop).
CONCURRENT = 2
_decoding = OffLoop(CONCURRENT)


@dataclass(frozen=True)
class Photo:
    image: bytes
    """JPEG, at most MAX_SIDE pixels a side."""
    thumb: bytes
    """JPEG, at most THUMB_SIDE pixels a side."""


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge("photo_too_large", max_mb=MAX_BYTES // (1024 * 1024))


def _too_many_pixels(limit: int = MAX_PIXELS) -> InvalidInput:
    return InvalidInput("photo_too_many_pixels", field="file", max_megapixels=limit // 1_000_000)


async def read_upload(request: Request) -> bytes:
    """The bytes of the multipart field ``file``, refusing more than ``MAX_BYTES`` early.

    The route sets ``request_max_body_size`` to MAX_BYTES + ENVELOPE, so
    Litestar stops reading the stream there; its 413 becomes ours here.
    """
    announced = request.content_length
    if announced is not None and announced > MAX_BYTES + ENVELOPE:
        raise _too_large()
    try:
        form = await request.form()
    except HTTPException as error:
        if error.status_code == 413:
            raise _too_large() from None
        raise
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInput("photo_required", field="file")
    try:
        content = await upload.read(MAX_BYTES + 1)
    finally:
        await upload.close()
    if len(content) > MAX_BYTES:
        raise _too_large()
    if not content:
        raise InvalidInput("photo_required", field="file")
    return content


def _open(content: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(content), formats=FORMATS)
    # Checked before anything is decoded; Pillow's own bomb check starts far higher.
    limit = MAX_PIXELS if picture.format == "JPEG" else MAX_PIXELS_DECODED_WHOLE
    if picture.width * picture.height > limit:
        picture.close()
        raise _too_many_pixels(limit)
    return picture


def _flatten(picture: Image.Image) -> Image.Image:
    """RGB, with any transparency put on white (JPEG has no alpha; black would hide dark goods)."""
    if picture.mode in ("RGBA", "LA", "PA") or (
        picture.mode == "P" and "transparency" in picture.info
    ):
        rgba = picture.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return picture.convert("RGB")


def _jpeg(picture: Image.Image, side: int, quality: int) -> bytes:
    copy = picture.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    copy.save(out, format="JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()


def process(content: bytes) -> Photo:
    """Check and re-encode an uploaded picture (CPU-bound: call it in a thread).

    Raises ``InvalidInput`` with ``invalid_photo`` or ``photo_too_many_pixels``.
    """
    try:
        # verify() reads the whole file for structural damage (e.g. PNG checksums) without
        # decoding it; afterwards the image cannot be used, so it is opened again to decode.
        with _open(content) as probe:
            probe.verify()
        with _open(content) as picture:
            picture.seek(0)  # the first frame of an animation
            if picture.format == "JPEG":
                # Decode at a reduced scale when the result will be smaller anyway: faster, less memory.
                picture.draft("RGB", (MAX_SIDE, MAX_SIDE))
            picture.load()  # a truncated file fails here (Pillow's LOAD_TRUNCATED_IMAGES is off)
            if picture.mode not in ("1", "P"):  # (palette pictures resize by nearest neighbour)
                # Shrunk in place before anything is copied: the turn, the flattening and the
                # encoders each copy the picture, and at full size a 40 MP PNG cost 512 MB.
                picture.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
            upright = ImageOps.exif_transpose(picture)
            flat = _flatten(upright)
            return Photo(image=_jpeg(flat, MAX_SIDE, 85), thumb=_jpeg(flat, THUMB_SIDE, 80))
    except MarketError:
        raise
    except Image.DecompressionBombError:
        raise _too_many_pixels() from None
    except Exception:
        # Broken files make Pillow raise anything from OSError to SyntaxError and struct.error.
        raise InvalidInput("invalid_photo", field="file") from None


async def process_off_loop(content: bytes) -> Photo:
    return await _decoding.run(process, content)


async def store(community_id: int, product_id: int, photo: Photo) -> None:
    """Replace the product's photo; 404 if the product is not the community's."""
    async with write_transaction():
        marked = await fetch(
            "UPDATE product SET has_photo = {} WHERE id = {} AND community = {} RETURNING id",
            True, product_id, community_id,
        )
        if not marked:
            raise NotFound()
        await fetch(
            "INSERT INTO product_photo (product, image, thumb, updated_at) VALUES ({}, {}, {}, {})"
            " ON CONFLICT (product) DO UPDATE SET image = excluded.image, thumb = excluded.thumb,"
            " updated_at = excluded.updated_at",
            product_id, photo.image, photo.thumb, clock.now(),
        )


async def picture(community_id: int, product_id: int, which: str, *, include_inactive: bool) -> bytes:
    """The stored JPEG (``which``: "image" or "thumb"); 404 if none or not visible."""
    column = {"image": "ph.image", "thumb": "ph.thumb"}[which]
    sql = (
        f"SELECT {column} AS jpeg FROM product_photo ph JOIN product p ON p.id = ph.product"
        " WHERE ph.product = {} AND p.community = {}"
    )
    args: list[object] = [product_id, community_id]
    if not include_inactive:
        sql += " AND p.active = {}"
        args.append(True)
    rows = await fetch(sql, *args)
    if not rows:
        raise NotFound()
    return bytes(rows[0]["jpeg"])
