"""A streaming writer of one-sheet .xlsx workbooks for the exports: each page of rows goes out as
zipped bytes as soon as it is written, so a million rows start downloading at once and memory
holds one page.

An .xlsx is a zip of a few XML parts (ECMA-376, SpreadsheetML); only the worksheet grows with
the rows. The parts that say what the workbook is are written first, the worksheet last, deflated
through ``zipfile`` onto a sink that hands the bytes on (``zipfile`` writes to a stream it cannot
seek with a data descriptor after each part). Cells: text as inline strings (no shared-string
table to keep in memory; a carriage return as ``&#13;``, which an XML reader would otherwise
turn into a line feed), ``int`` and ``Decimal`` as numbers spelt exactly as ``str()`` spells
them, ``None`` as an empty cell. The header row is bold and frozen.
"""

import re
import zipfile
from collections.abc import Iterable
from decimal import Decimal
from xml.sax.saxutils import escape

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Characters XML 1.0 cannot hold (C0 controls but tab, newline and carriage return).
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

_CONTENT_TYPES = (
    _HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml"'
    ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml"'
    ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml"'
    ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
_PACKAGE_RELS = (
    _HEAD + f'<Relationships xmlns="{_PACKAGE_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK_RELS = (
    _HEAD + f'<Relationships xmlns="{_PACKAGE_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
#: Style 0: plain; style 1: bold (the header).
_STYLES = (
    _HEAD + f'<styleSheet xmlns="{_MAIN}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def column_letters(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def sheet_title(title: str) -> str:
    """A worksheet name Excel accepts: at most 31 characters, none of : \\ / ? * [ ]."""
    return re.sub(r"[:\\/?*\[\]]", "_", title)[:31] or "Sheet1"


class _Sink:
    """A write-only file for ``zipfile``: collects what it is given until taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _cell(ref: str, value: object, style: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: True is an int
        return f'<c r="{ref}"{style} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | Decimal):
        return f'<c r="{ref}"{style}><v>{value}</v></c>'
    text = escape(_NOT_XML.sub("", str(value)), {"\r": "&#13;"})
    return f'<c r="{ref}"{style} t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _row(number: int, columns: list[str], values: Iterable[object], style: str = "") -> str:
    cells = "".join(_cell(f"{column}{number}", value, style) for column, value in zip(columns, values,
                                                                                      strict=False))
    return f'<row r="{number}">{cells}</row>'


class Workbook:
    """One sheet written as it comes: ``start()``, ``add(rows)`` for every page, ``finish()``;
    each returns the next bytes of the file."""

    def __init__(self, title: str, header: list[str]) -> None:
        self._title, self._header = title, header
        self._columns = [column_letters(n) for n in range(max(len(header), 1))]
        self._sink = _Sink()
        self._book = zipfile.ZipFile(self._sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        self._sheet = None
        self._number = 0

    def start(self) -> bytes:
        book = self._book
        book.writestr("[Content_Types].xml", _CONTENT_TYPES)
        book.writestr("_rels/.rels", _PACKAGE_RELS)
        book.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        book.writestr("xl/styles.xml", _STYLES)
        name = escape(sheet_title(self._title), {'"': "&quot;"})
        book.writestr("xl/workbook.xml", _HEAD + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
                      f'<sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>')
        self._sheet = book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True)
        self._number = 1
        self._sheet.write((
            _HEAD + f'<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}"><sheetViews><sheetView workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView>'
            "</sheetViews><sheetData>" + _row(1, self._columns, self._header, ' s="1"')
        ).encode())
        return self._sink.take()

    def add(self, rows: Iterable[Iterable[object]]) -> bytes:
        lines = []
        for values in rows:
            self._number += 1
            lines.append(_row(self._number, self._columns, values))
        self._sheet.write("".join(lines).encode())
        return self._sink.take()

    def finish(self) -> bytes:
        self._sheet.write(b"</sheetData></worksheet>")
        self._sheet.close()
        self._book.close()
        return self._sink.take()
