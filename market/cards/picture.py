"""The printable member card: an ID-1 card (85.6 × 54 mm) at 300 dpi, as PNG.

Chinese text needs a CJK font. One is looked for on the machine (WenQuanYi
Zen Hei, Noto Sans CJK, Droid Sans Fallback — e.g. Debian's fonts-wqy-zenhei or
fonts-noto-cjk; ``MARKET_CJK_FONT`` names another). Without one the card is
still printed, in Pillow's built-in font: Chinese text is left out and the
labels are in English, so the name never comes out as boxes.

Drawing is CPU-bound: call ``render_card`` through ``asyncio.to_thread``.
"""

import io
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

import qr
from market.cards.service import PrintableCard

DPI = 300
WIDTH, HEIGHT = round(85.6 / 25.4 * DPI), round(54 / 25.4 * DPI)  # 1011 × 638 px
MARGIN = 40
ACCENT = (183, 28, 28)  # the red of community notice boards

_KNOWN_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)


@lru_cache(maxsize=1)
def cjk_font_path() -> str | None:
    """A font file that can draw Chinese, or None."""
    configured = os.environ.get("MARKET_CJK_FONT", "").strip()
    for candidate in (configured, *_KNOWN_FONTS):
        if candidate and Path(candidate).is_file():
            return candidate
    if fc_list := shutil.which("fc-list"):
        try:
            found = subprocess.run(
                [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=5, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        for line in sorted(found.splitlines()):
            path = line.split(":")[0].strip()
            if path and Path(path).is_file():
                return path
    return None


def _font(size: int, font_path: str | None) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if font_path:
        return ImageFont.truetype(font_path, size)
    return ImageFont.load_default(size=size)


def _readable(text: str, has_cjk: bool) -> str:
    """The text, or what is left of it that the fallback font can draw."""
    return text if has_cjk else "".join(char for char in text if char.isascii()).strip()


def _grouped(card_no: str) -> str:
    return " ".join(card_no[i : i + 4] for i in range(0, len(card_no), 4))


def _fitting(draw: ImageDraw.ImageDraw, text: str, width: int, size: int, path: str | None):
    """The largest font, from ``size`` down, in which ``text`` fits ``width`` pixels."""
    while size > 16 and draw.textlength(text, font=_font(size, path)) > width:
        size -= 2
    return _font(size, path)


def render_card(card: PrintableCard, *, font_path: str | None = "auto") -> bytes:
    """The card as PNG bytes, 1011 × 638 px, tagged 300 dpi."""
    path = cjk_font_path() if font_path == "auto" else font_path
    has_cjk = path is not None
    picture = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(picture)

    # Header band: the community and what the card is.
    band = 120
    draw.rectangle((0, 0, WIDTH, band), fill=ACCENT)
    title = "积分超市 · 会员卡" if has_cjk else "Points Market - Member Card"
    draw.text((MARGIN, 22), title, font=_font(44, path), fill="white")
    community = _readable(card.community, has_cjk)
    if community:
        font = _fitting(draw, community, WIDTH - 2 * MARGIN, 28, path)
        draw.text((MARGIN, 76), community, font=font, fill="white")

    # The QR on the right, square, on white with its quiet zone.
    # Whole pixels per module: a scaled, blurred module edge is what old scanners misread.
    room = HEIGHT - band - 2 * 24
    modules = qr.image(card.code, box_size=1)
    scale = room // modules.width
    side = modules.width * scale
    code = modules.resize((side, side), Image.Resampling.NEAREST)
    qr_left = WIDTH - side - 24
    picture.paste(code, (qr_left, band + 24 + (room - side) // 2))

    # Name and card number on the left.
    text_width = qr_left - MARGIN - 16
    name = _readable(card.name, has_cjk) or f"#{card.person_id}"
    label_font = _font(26, path)
    draw.text((MARGIN, band + 40), "姓名" if has_cjk else "Name", font=label_font, fill="#666666")
    draw.text((MARGIN, band + 76), name, font=_fitting(draw, name, text_width, 72, path), fill="black")
    draw.text((MARGIN, band + 200), "卡号" if has_cjk else "Card No.", font=label_font, fill="#666666")
    draw.text((MARGIN, band + 236), _grouped(card.card_no), font=_font(52, path), fill="black")
    note = "凭卡和数字密码兑换积分商品" if has_cjk else "Show this card and your PIN at the shop"
    draw.text((MARGIN, HEIGHT - 70), note, font=_font(24, path), fill="#444444")

    # A thin cut line, so the card can be cut out of an A4 sheet.
    draw.rectangle((0, 0, WIDTH - 1, HEIGHT - 1), outline="#BBBBBB", width=2)
    out = io.BytesIO()
    picture.save(out, format="PNG", dpi=(DPI, DPI), optimize=True)
    return out.getvalue()
