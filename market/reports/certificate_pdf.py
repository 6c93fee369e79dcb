"""The certificate as an A4 PDF with Chinese text (reportlab), its QR drawn as vector squares.

The layout follows 民政部令第67号《志愿服务记录与证明出具办法》 in four parts: 一、志愿者信息
(name, ID type and number — masked unless the resident chose to show it in full — and the
national volunteer number), 二、服务情况 (志愿服务时长 of ``volunteer_service`` activities only,
参与时长 of every other category listed apart, and each activity), 三、出具单位 (organisation,
负责人, 经办人, contact phone) and 四、证明信息 (number, date, notes) with an empty circle where
the office presses its seal.

Chinese text needs no system font: when ``market.cards.picture.cjk_font_path`` finds a CJK
TrueType font (``MARKET_CJK_FONT``, WenQuanYi Zen Hei, …; a .ttc is opened at its first face)
it is embedded, so the PDF looks the same everywhere; otherwise — a fresh machine, or a font
reportlab cannot embed (CFF-outline OpenType such as Noto Sans CJK) — the text is set in
Adobe's standard CID font STSong-Light (UniGB-UCS2-H), which reportlab ships the metrics of and
every PDF reader (Acrobat, pdf.js, PDFium, poppler) supplies a Song face for. The text stays
real text either way (searchable, copyable, read by ``pdftotext``). The font's choice and the
QR's squares are shared with the doorplate (``market.printing``).

CPU-bound: call ``render_pdf`` through ``asyncio.to_thread``.
"""

import io
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
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

from market.printing import ACCENT, QrCode, chinese_font
from market.privacy.rules import mask_number
from market.privacy.schemas import Identity
from market.reports.certificate_records import CATEGORY_NAMES, Certificate
from market.reports.schemas import OfficeView

QR_SIDE = 38 * mm  # 0.7 mm a module at version 10: well above what phone cameras need
SEAL_SIDE = 42 * mm  # an official round seal is 42 mm across (GA 241)


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, fontSize=11, leading=17, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=24, leading=30, alignment=TA_CENTER,
                                textColor=ACCENT, spaceAfter=1 * mm),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=10, alignment=TA_CENTER,
                                   textColor=colors.grey, spaceAfter=4 * mm),
        "body": ParagraphStyle("body", parent=base, fontSize=12, leading=20, firstLineIndent=24),
        "cell": base,
        "number": ParagraphStyle("number", parent=base, alignment=TA_RIGHT),
        "small": ParagraphStyle("small", parent=base, fontSize=9, leading=13, textColor=colors.grey),
        "sign": ParagraphStyle("sign", parent=base, fontSize=12, leading=20, alignment=TA_RIGHT),
        "heading": ParagraphStyle("heading", parent=base, fontSize=13, leading=20, textColor=ACCENT,
                                  spaceBefore=1 * mm, spaceAfter=2 * mm),
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


class Seal(Flowable):
    """The place for the office's round seal: a thin dashed circle with 盖章处 in it."""

    def __init__(self, font: str, side: float = SEAL_SIDE) -> None:
        super().__init__()
        self.font = font
        self.width = self.height = side

    def draw(self) -> None:
        canvas = self.canv
        radius = self.width / 2
        canvas.saveState()
        canvas.setStrokeColor(colors.HexColor("#bbbbbb"))
        canvas.setDash(2, 2)
        canvas.setLineWidth(0.6)
        canvas.circle(radius, radius, radius - 1, stroke=1, fill=0)
        canvas.setFillColor(colors.HexColor("#999999"))
        canvas.setFont(self.font, 10)
        canvas.drawCentredString(radius, radius - 3, "（盖章处）")
        canvas.restoreState()


def _identity_rows(certificate: Certificate, identity: Identity, show_full_id: bool) -> list[tuple[str, str]]:
    """Part one's rows: the name in full (it is the holder's certificate); the ID masked unless
    the holder chose to show it; the volunteer number masked likewise; 未登记 when not recorded."""
    number = identity.id_number if show_full_id else mask_number(identity.id_number)
    volunteer = identity.volunteer_number if show_full_id else mask_number(identity.volunteer_number)
    return [
        ("姓　　名", certificate.name),
        ("证件类型", identity.id_type_name or "未登记"),
        ("证件号码", number or "未登记"),
        ("全国志愿者编号", volunteer or "未登记"),
    ]


def _pairs(rows: list[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    """(label, value) rows two to a row: [(a, 1), (b, 2), (c, 3)] → [(a, 1, b, 2), (c, 3, "", "")]."""
    padded = rows + [("", "")] * (len(rows) % 2)
    return [(*padded[i], *padded[i + 1]) for i in range(0, len(padded), 2)]


def _blank(text: str) -> str:
    """An unset part of the office: a line to fill by hand, never a made-up name."""
    return escape(text) if text else "＿＿＿＿＿＿"


def render_pdf(certificate: Certificate, url: str, *, identity: Identity | None = None,
               office: OfficeView | None = None, show_full_id: bool = False,
               font_path: str | None = "auto") -> bytes:
    """The certificate as PDF bytes; ``url`` is what its QR code opens (the verification page).

    ``identity`` is the holder's ID (masked unless ``show_full_id``), ``office`` who issues it."""
    identity = identity or Identity()
    office = office or OfficeView(leader="", handler="", contact="")
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

    grid = TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#888888")),
        ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f3e5e5")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ])

    def facts(rows: list[tuple[str, ...]]) -> Table:
        """Label and value cells, one pair a row or two (two keep a short certificate on one page)."""
        widths = [32 * mm, 138 * mm] if len(rows[0]) == 2 else [32 * mm, 53 * mm, 32 * mm, 53 * mm]
        table = Table([[Paragraph(text, style["cell"]) for text in row] for row in rows], colWidths=widths)
        table.setStyle(grid)
        if len(rows[0]) == 4:
            table.setStyle(TableStyle([("BACKGROUND", (2, 0), (2, -1), colors.HexColor("#f3e5e5")),
                                       ("BACKGROUND", (1, 0), (1, -1), colors.white)]))
        return table

    name, community = escape(certificate.name), escape(certificate.community)
    participation = certificate.participation
    categories = "、".join(
        f"{CATEGORY_NAMES.get(category, escape(category))} {hours} 小时" for category, hours in participation)
    story = [
        Paragraph("志愿服务记录证明", style["title"]),
        Paragraph("Volunteer Service Record Certificate", style["subtitle"]),
        Paragraph(
            f"兹证明 <b>{name}</b> {_period_text(certificate)}在{community}参加志愿服务，"
            f"累计志愿服务时长 <b>{certificate.volunteer_hours}</b> 小时"
            + (f"；另参加社区集体活动，参与时长 {certificate.participation_hours} 小时"
               if participation else "")
            + "。特此证明。", style["body"],
        ),
        Spacer(1, 3 * mm),
        Paragraph("一、志愿者信息", style["heading"]),
        facts(_pairs([(label, escape(value))
                      for label, value in _identity_rows(certificate, identity, show_full_id)])),
        Spacer(1, 3 * mm),
        Paragraph("二、服务情况", style["heading"]),
        facts([
            ("志愿服务时长", f"<b>{certificate.volunteer_hours}</b> 小时（仅计志愿服务类活动，"
                           f"共记录各类活动 {len(certificate.lines)} 次）"),
            ("参与时长", f"{certificate.participation_hours} 小时"
             + (f"（{categories}）" if categories else "")),
        ]),
        Spacer(1, 3 * mm),
    ]
    rows = [[Paragraph(text, style["cell"]) for text in ("序号", "日期", "活动（服务内容）", "类别")]
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
    story += [table, Spacer(1, 3 * mm)]
    story.append(KeepTogether([
        Paragraph("三、出具单位", style["heading"]),
        facts(_pairs([
            ("出具单位", community),
            ("联系电话", _blank(office.contact)),
            ("负 责 人", _blank(office.leader)),
            ("经 办 人", _blank(office.handler)),
        ])),
    ]))
    story.append(Spacer(1, 3 * mm))

    details = [
        Paragraph(f"证明编号：{certificate.number}", style["cell"]),
        Paragraph(f"出具日期：{_chinese_date(certificate.issued_on)}", style["cell"]),
        Paragraph("备　　注：志愿服务时长仅计志愿服务类活动，其他活动计为参与时长；"
                  "记录有误可在“我的志愿服务记录证明”页面申请更正。", style["cell"]),
        Spacer(1, 1 * mm),
        Paragraph("本证明由社区电子签名（Ed25519），扫描二维码可核验真伪及内容是否被更改。", style["small"]),
    ]
    code = [QrCode(url, QR_SIDE), Paragraph("扫码核验", ParagraphStyle("c", parent=style["small"],
                                                                   alignment=TA_CENTER))]
    seal = [Paragraph("（盖章）", ParagraphStyle("seal", parent=style["small"], alignment=TA_CENTER)),
            Seal(font)]
    block = Table([[code, details, seal]],
                  colWidths=[QR_SIDE + 4 * mm, 170 * mm - QR_SIDE - SEAL_SIDE - 10 * mm, SEAL_SIDE + 6 * mm])
    block.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (0, 0), 0)]))
    story.append(KeepTogether([Paragraph("四、证明信息", style["heading"]), block]))
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()
