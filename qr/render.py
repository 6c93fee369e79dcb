"""QR pictures: text → PNG or SVG (qrcode + Pillow), and PNG/photo → texts (zxing-cpp).

Error correction M, a 4-module quiet zone (what the standard asks for). These
are CPU-bound; async callers run them with ``asyncio.to_thread``.
"""

import io

import qrcode
import qrcode.constants
import qrcode.image.svg
from PIL import Image

QUIET_ZONE = 4
ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M


def _make(text: str, box_size: int) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECTION, box_size=box_size, border=QUIET_ZONE)
    code.add_data(text)
    code.make(fit=True)
    return code


def version_of(text: str) -> int:
    """The QR version (1–40) ``text`` needs at level M; check-in URLs must stay ≤ 5."""
    return _make(text, 1).version


def image(text: str, *, box_size: int = 10) -> Image.Image:
    """The QR as a black-on-white Pillow image, quiet zone included."""
    picture = _make(text, box_size).make_image(fill_color="black", back_color="white")
    return picture.get_image().convert("L")


def png(text: str, *, box_size: int = 10) -> bytes:
    out = io.BytesIO()
    image(text, box_size=box_size).save(out, format="PNG", optimize=True)
    return out.getvalue()


def svg(text: str) -> str:
    """A scalable SVG (one path), for printing at any size."""
    picture = _make(text, 10).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    return picture.to_string(encoding="unicode")


def decode_image(picture: Image.Image) -> list[str]:
    """Texts of every QR code found in a Pillow image (a photo, a camera frame)."""
    import zxingcpp  # imported on use: only scanning on the server needs it

    return [found.text for found in zxingcpp.read_barcodes(picture) if found.valid]


def decode_png(data: bytes) -> list[str]:
    """Texts of every QR code in an image file's bytes (PNG, JPEG, …); [] for none."""
    try:
        picture = Image.open(io.BytesIO(data))
        picture.load()
    except (OSError, ValueError, Image.DecompressionBombError):
        return []
    return decode_image(picture)
