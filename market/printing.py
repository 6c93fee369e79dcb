"""What every printed PDF of the market shares (the certificate, the doorplate): the Chinese font
to embed, the member card's red, and QR codes drawn as vector squares.

The font: the installed CJK font when there is a usable one (embedded), else Adobe's built-in
Simplified Chinese CID font, whose glyphs come from the reader — so a PDF prints on a machine
with no Chinese font at all.
"""

import hashlib
import logging
from functools import lru_cache

import qrcode
import qrcode.constants
from reportlab.lib import colors
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.pdfmetrics import registerFontFamily
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import Flowable

from market.cards.picture import cjk_font_path

log = logging.getLogger(__name__)

ACCENT = colors.HexColor("#b71c1c")  # the member card's red
#: Adobe's standard Simplified Chinese CID font: metrics in reportlab, glyphs from the reader.
BUILT_IN_FONT = "STSong-Light"


@lru_cache(maxsize=1)
def _built_in() -> str:
    pdfmetrics.registerFont(UnicodeCIDFont(BUILT_IN_FONT))
    registerFontFamily(BUILT_IN_FONT, normal=BUILT_IN_FONT, bold=BUILT_IN_FONT, italic=BUILT_IN_FONT,
                       boldItalic=BUILT_IN_FONT)
    return BUILT_IN_FONT


@lru_cache(maxsize=4)
def _registered(path: str) -> str | None:
    """The reportlab name of the font at ``path``, registered once per process; None when it
    cannot be embedded or cannot draw Chinese."""
    name = "MarketCJK-" + hashlib.sha256(path.encode()).hexdigest()[:8]
    try:
        font = TTFont(name, path, subfontIndex=0) if path.lower().endswith(".ttc") else TTFont(name, path)
    except (TTFError, OSError) as error:
        log.warning("the CJK font %s cannot be embedded in a PDF (%s): using %s", path, error,
                    BUILT_IN_FONT)
        return None
    if font.face.charToGlyph.get(ord("证")) is None:  # a font that cannot draw Chinese prints boxes
        log.warning("the font %s has no Chinese glyphs: using %s", path, BUILT_IN_FONT)
        return None
    pdfmetrics.registerFont(font)
    # One face for bold too: <b> in a paragraph needs a bold member of the family.
    registerFontFamily(name, normal=name, bold=name, italic=name, boldItalic=name)
    return name


def chinese_font(font_path: str | None = "auto") -> str:
    """The installed CJK font when there is a usable one (embedded), else the built-in CID font.

    ``font_path`` "auto" looks the font up; None means "no system font"."""
    path = cjk_font_path() if font_path == "auto" else font_path
    return (_registered(path) if path else None) or _built_in()


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
