"""The streaming .xlsx writer: what openpyxl reads back is exactly what was written."""

import io
import warnings
import zipfile
from decimal import Decimal

import openpyxl
from hypothesis import given, settings
from hypothesis import strategies as st

from market.reports import xlsx


def _write(title: str, header: list[str], pages: list[list[list[object]]]) -> bytes:
    book = xlsx.Workbook(title, header)
    return book.start() + b"".join(book.add(page) for page in pages) + book.finish()


def _read(data: bytes) -> tuple[str, list[list[object]], bool]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # openpyxl warns of a malformed part
        book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    return sheet.title, rows, bool(sheet.cell(1, 1).font.b)


def test_cells_come_back_as_written() -> None:
    data = _write("积分流水", ["序号", "姓名", "积分", "备注"], [
        [[1, "张三明", Decimal("12.50"), "志愿服务 <a> & \"b\""]],
        [[2, "李四", Decimal("-0.01"), None], [3, "=1+1", Decimal("1000000.00"), "  两端空格  "],
         [4, "a\r\nb", 0, "_x000D_ 不是回车"]],
    ])
    title, rows, bold = _read(data)
    assert title == "积分流水" and bold
    assert rows == [
        ["序号", "姓名", "积分", "备注"],
        [1, "张三明", 12.5, "志愿服务 <a> & \"b\""],
        [2, "李四", -0.01, None],
        [3, "=1+1", 1000000, "  两端空格  "],  # inline text, never a formula
        [4, "a\r\nb", 0, "_x000D_ 不是回车"],
    ]
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert "<v>12.50</v>" in sheet and "<v>-0.01</v>" in sheet  # the exact decimal, not a float
    assert 'state="frozen"' in sheet


def test_control_characters_are_dropped_and_titles_made_valid() -> None:
    title, rows, _ = _read(_write("台账: 2025/04 [全部]*?" + "长" * 40, ["a"], [[["x\x00y\x0bz\tw"]]]))
    assert title == ("台账_ 2025_04 _全部___" + "长" * 40)[:31]
    assert rows == [["a"], ["xyz\tw"]]


def test_columns_are_lettered_like_excel() -> None:
    assert [xlsx.column_letters(n) for n in (0, 25, 26, 51, 52, 701, 702)] == [
        "A", "Z", "AA", "AZ", "BA", "ZZ", "AAA"]


texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30) | st.sampled_from(
    ["\r", "a\r\nb", "_x000D_", "_x005F_x0041_", "&amp;", "]]>"])
cells = st.one_of(st.none(), st.integers(-10**12, 10**12), texts,
                  st.decimals(-10**9, 10**9, places=2, allow_nan=False, allow_infinity=False))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10**6), cells, cells).map(list), max_size=20), st.integers(1, 5))
def test_any_rows_in_any_pages_read_back(rows: list[list[object]], page: int) -> None:
    """Rows as the exports make them: a number first (an id), then anything."""
    pages = [rows[i:i + page] for i in range(0, len(rows), page)]
    _, read, _ = _read(_write("表", ["a", "b", "c"], pages))

    def expected(value: object) -> object:
        if isinstance(value, str):
            return xlsx._NOT_XML.sub("", value)
        if isinstance(value, Decimal):
            return float(value) if value != value.to_integral() else int(value)
        return value

    def padded(row: list[object]) -> list[object]:
        return (row + [None] * 3)[:3]

    assert [padded(r) for r in read[1:]] == [[expected(v) for v in row] for row in rows]
