"""A household's doorplate (数字门牌) as an A6 PDF: the community, the address, the QR, the hotline.

A6 (105 × 148 mm) fits a door and prints four to an A4 sheet. The QR is drawn as vector squares
60 mm wide (about 2 mm a module for a link of version 4–5): a phone reads it from an arm's
length in a dim stairwell. Chinese text uses the certificates' font choice (an installed CJK
TrueType font embedded, else the standard CID font every PDF reader supplies), so a fresh
machine prints plates too. CPU-bound: call ``render_pdf`` through ``asyncio.to_thread``.
"""

import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A6
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from market.community.doorplates import Plate
from market.printing import ACCENT, QrCode, chinese_font

QR_SIDE = 60 * mm


def _fitted(canvas: Canvas, text: str, font: str, size: float, width: float) -> float:
    """The largest size up to ``size`` at which ``text`` fits ``width``."""
    while size > 8 and canvas.stringWidth(text, font, size) > width:
        size -= 1
    return size


def render_pdf(plate: Plate, *, font_path: str | None = "auto") -> bytes:
    font = chinese_font(font_path)
    out = io.BytesIO()
    width, height = A6
    canvas = Canvas(out, pagesize=A6, pageCompression=1)
    canvas.setTitle(f"{plate.community} {plate.address} 数字门牌")
    # The band: the community's name, white on the member card's red.
    canvas.setFillColor(ACCENT)
    canvas.rect(0, height - 24 * mm, width, 24 * mm, stroke=0, fill=1)
    canvas.setFillColor(colors.white)
    size = _fitted(canvas, plate.community, font, 18, width - 12 * mm)
    canvas.setFont(font, size)
    canvas.drawCentredString(width / 2, height - 12 * mm, plate.community)
    canvas.setFont(font, 10)
    canvas.drawCentredString(width / 2, height - 19 * mm, "数字门牌")
    # The address, large: what a visitor and the grid worker read first.
    canvas.setFillColor(colors.black)
    size = _fitted(canvas, plate.address, font, 22, width - 12 * mm)
    canvas.setFont(font, size)
    canvas.drawCentredString(width / 2, height - 36 * mm, plate.address)
    code = QrCode(plate.url, QR_SIDE)
    code.drawOn(canvas, (width - QR_SIDE) / 2, height - 40 * mm - QR_SIDE)
    canvas.setFont(font, 10)
    canvas.drawCentredString(width / 2, height - 46 * mm - QR_SIDE, "本户居民扫码：查看积分和家庭成员")
    canvas.setFillColor(colors.grey)
    canvas.setFont(font, 8)
    canvas.drawCentredString(width / 2, height - 51 * mm - QR_SIDE, "其他人扫码：社区公开信息与民声热线")
    if plate.hotline:
        canvas.setFillColor(ACCENT)
        canvas.setFont(font, 13)
        canvas.drawCentredString(width / 2, 10 * mm, f"民声热线　{plate.hotline}")
    canvas.showPage()
    canvas.save()
    return out.getvalue()
