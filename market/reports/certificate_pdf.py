"""The certificate as an A4 PDF with Chinese text (reportlab), its QR drawn as vector squares.

Chinese needs a CJK TrueType font: the one ``market.cards.picture.cjk_font_path`` finds
(``MARKET_CJK_FONT``, WenQuanYi Zen Hei, …; a .ttc is opened at its first face). Unlike the
member card, a certificate without its Chinese text is worthless, so without such a font —
or with one reportlab cannot embed (CFF-outline OpenType such as Noto Sans CJK) — rendering
refuses with ``NoChineseFont`` instead of printing boxes.

CPU-bound: call ``render_pdf`` through ``asyncio.to_thread``.
"""

import hashlib
import io
import logging
from functools import lru_cache
from xml.sax.saxutils import escape

import qrcode
import qrcode.constants
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import registerFontFamily
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from market.cards.picture import cjk_font_path
from market.errors import MarketError
from market.reports.certificate_records import CATEGORY_NAMES, Certificate

log = logging.getLogger(__name__)

ACCENT = colors.HexColor("#b71c1c")  # the member card's red
QR_SIDE = 38 * mm  # 0.7 mm a module at version 10: well above what phone cameras need


class NoChineseFont(MarketError):
    """503: the server has no font that can print the certificate's Chinese text."""

    status, reason = 503, "certificate_font_missing"


@lru_cache(maxsize=4)
def _registered(path: str) -> str:
    """The reportlab name of the font at ``path``, registered once per process."""
    name = "MarketCJK-" + hashlib.sha256(path.encode()).hexdigest()[:8]
    try:
        font = TTFont(name, path, subfontIndex=0) if path.lower().endswith(".ttc") else TTFont(name, path)
    except (TTFError, OSError) as error:
        log.error("the CJK font %s cannot be embedded in a PDF: %s", path, error)
        raise NoChineseFont() from None
    if font.face.charToGlyph.get(ord("证")) is None:  # a font that cannot draw Chinese prints boxes
        raise NoChineseFont()
    pdfmetrics.registerFont(font)
    # One face for bold too: <b> in a paragraph needs a bold member of the family.
    registerFontFamily(name, normal=name, bold=name, italic=name, boldItalic=name)
    return name


def chinese_font(font_path: str | None = "auto") -> str:
    path = cjk_font_path() if font_path == "auto" else font_path
    if not path:
        raise NoChineseFont()
    return _registered(path)


class QrCode(Flowable):
    """A QR code as filled squares: sharp at any zoom or printer resolution."""

    def __init__(self, text: str, side: float) -> None:
        super().__init__()
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
        code.add_data(text)
        code.make(fit=True)
        self.version = code.version
        self.matrix = code.get_matrix()
        self.width = self.height = side

    def draw(self) -> None:
        canvas = self.canv
        size = len(self.matrix)
        module = self.width / size
        canvas.setFillColor(colors.white)
        canvas.rect(0, 0, self.width, self.height, stroke=0, fill=1)
        canvas.setFillColor(colors.black)
        for row, cells in enumerate(self.matrix):
            y = self.height - (row + 1) * module
            column = 0
            while column < size:
                if not cells[column]:
                    column += 1
                    continue
                run = column
                while run < size and cells[run]:
                    run += 1
                # A hair of overlap so no white seams show between neighbouring squares.
                canvas.rect(column * module, y - 0.01, (run - column) * module + 0.01, module + 0.02,
                            stroke=0, fill=1)
                column = run


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, fontSize=11, leading=17, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=24, leading=32, alignment=TA_CENTER,
                                textColor=ACCENT, spaceAfter=2 * mm),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=10, alignment=TA_CENTER,
                                   textColor=colors.grey, spaceAfter=6 * mm),
        "body": ParagraphStyle("body", parent=base, fontSize=13, leading=22, firstLineIndent=26),
        "cell": base,
        "number": ParagraphStyle("number", parent=base, alignment=TA_RIGHT),
        "small": ParagraphStyle("small", parent=base, fontSize=9, leading=13, textColor=colors.grey),
        "sign": ParagraphStyle("sign", parent=base, fontSize=13, leading=22, alignment=TA_RIGHT),
    }


def _chinese_date(day) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _period_text(certificate: Certificate) -> str:
    period = certificate.period
    if period.start and period.end:
        return f"{_chinese_date(period.start)}至{_chinese_date(period.end)}期间"
    if period.start:
        return f"自{_chinese_date(period.start)}起至{_chinese_date(certificate.issued_on)}"
    if period.end:
        return f"截至{_chinese_date(period.end)}"
    return f"截至{_chinese_date(certificate.issued_on)}"


def render_pdf(certificate: Certificate, url: str, *, font_path: str | None = "auto") -> bytes:
    """The certificate as PDF bytes; ``url`` is what its QR code opens (the verification page)."""
    font = chinese_font(font_path)
    style = _styles(font)
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
        bottomMargin=20 * mm, title="志愿服务记录证明", author=certificate.community,
        subject=f"证书编号 {certificate.number}", creator="积分超市",
    )

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(font, 9)
        canvas.setFillColor(colors.grey)
        canvas.drawString(20 * mm, 10 * mm, f"证书编号 {certificate.number}　{certificate.community}")
        canvas.drawRightString(A4[0] - 20 * mm, 10 * mm, f"第 {doc.page} 页")
        canvas.restoreState()

    name, community = escape(certificate.name), escape(certificate.community)
    story = [
        Paragraph("志愿服务记录证明", style["title"]),
        Paragraph("Volunteer Service Record Certificate", style["subtitle"]),
        Paragraph(
            f"兹证明 <b>{name}</b> {_period_text(certificate)}在{community}参加社区志愿服务及公益活动"
            f" {len(certificate.lines)} 次，累计服务时长 <b>{certificate.total_hours}</b> 小时。"
            "具体记录如下：", style["body"],
        ),
        Spacer(1, 5 * mm),
    ]
    rows = [[Paragraph(text, style["cell"]) for text in ("序号", "日期", "活动", "类别")]
            + [Paragraph("时长（小时）", style["number"])]]
    for index, line in enumerate(certificate.lines, start=1):
        rows.append([
            Paragraph(str(index), style["cell"]),
            Paragraph(line.day.isoformat(), style["cell"]),
            Paragraph(escape(line.title), style["cell"]),
            Paragraph(CATEGORY_NAMES.get(line.category, escape(line.category)), style["cell"]),
            Paragraph(line.hours, style["number"]),
        ])
    rows.append([Paragraph("合计", style["cell"]), "", "", "",
                 Paragraph(certificate.total_hours, style["number"])])
    table = LongTable(rows, colWidths=[14 * mm, 26 * mm, 80 * mm, 22 * mm, 28 * mm], repeatRows=1)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#888888")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f3e5e5")),
        ("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f5f5f5")),
        ("SPAN", (0, -1), (3, -1)),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))
    story += [table, Spacer(1, 10 * mm)]

    sign = [
        Paragraph(f"开具单位：{community}", style["sign"]),
        Paragraph(f"开具日期：{_chinese_date(certificate.issued_on)}", style["sign"]),
        Spacer(1, 3 * mm),
        Paragraph("本证明由社区电子签名（Ed25519），扫描右侧二维码可核验真伪及内容是否被更改。",
                  style["small"]),
        Paragraph(f"证书编号：{certificate.number}", style["small"]),
    ]
    code = QrCode(url, QR_SIDE)
    block = Table(
        [[sign, [code, Paragraph("扫码核验", ParagraphStyle("c", parent=style["small"],
                                                              alignment=TA_CENTER))]]],
        colWidths=[170 * mm - QR_SIDE - 6 * mm, QR_SIDE + 6 * mm],
    )
    block.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                               ("LEFTPADDING", (1, 0), (1, 0), 6 * mm)]))
    story.append(KeepTogether([block]))
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()
