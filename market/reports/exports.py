"""Exports for the community's books (台账): ledger, attendance, redemptions, stock movements and
residents' hours as .xlsx and CSV with Chinese headers (English with ``Accept-Language: en`` or
``?lang=en``), for a period of Beijing dates, streamed.

``GET /api/exports/{kind}.{csv|xlsx}?from=YYYY-MM-DD&to=YYYY-MM-DD`` (both days included; by
default the current month up to today; at most 366 days). Who may take which export is declared
in ``export_queries.EXPORTS``: the ledger and residents' hours admins only; attendance admins and
organizers (an organizer only their own activities'); redemptions and stock movements admins and
shop keepers. The API is ``export_controllers``; the page ``/exports`` (``market.web.exports``)
offers the same with a plain form.

Memory stays bounded whatever the number of rows: the rows come in keyset pages
(``export_queries``); CSV is encoded and sent page by page; the .xlsx too, each page written as
SpreadsheetML and deflated into the zip as it comes (``market.reports.xlsx``), in a worker
thread. Everything that can be refused (period, role) is checked before the first byte
is sent, because a streamed response cannot turn into an error page half-way.
"""

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from urllib.parse import quote

from litestar import Request
from litestar.response import Stream

from market.auth.sessions import Principal
from market.china_time import CHINA
from market.errors import InvalidInput
from market.messages import Language, preferred_language
from market.reports import xlsx
from market.reports.export_queries import Export, Period, Row

FORMATS = ("xlsx", "csv")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: The longest period one export covers: a year, leap day included.
MAX_DAYS = 366
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Text Excel would run as a formula (CSV injection); such cells get a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# -- the period ---------------------------------------------------------------------------------


def today() -> date:
    return datetime.now(CHINA).date()


def _day(text: str | None, field: str) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    if not _DATE.fullmatch(text):
        raise InvalidInput("invalid_period_date", field=field)
    try:
        found = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("invalid_period_date", field=field) from None
    # The first and last days of the calendar have no whole Beijing day in UTC.
    if not date(1, 1, 2) <= found <= date(9999, 12, 30):
        raise InvalidInput("invalid_period_date", field=field)
    return found


def period_of(start: str | None, end: str | None) -> Period:
    """The Beijing days ``start`` … ``end`` (both included) as a UTC interval [start, end).

    Without ``end``: today; without ``start``: the first day of ``end``'s month."""
    last = _day(end, "to") or today()
    first = _day(start, "from") or last.replace(day=1)
    if first > last:
        raise InvalidInput("period_reversed", field="from")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput("period_too_long", field="to", days=MAX_DAYS)
    begin = datetime.combine(first, time(0), CHINA)
    finish = datetime.combine(last + timedelta(days=1), time(0), CHINA)
    return Period(first=first, last=last, start=begin, end=finish)


# -- writing ------------------------------------------------------------------------------------


def _safe_text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str):
        return _safe_text(value)
    return value  # int and Decimal: str() is exact ("12.50")


def _xlsx_cell(value: object) -> object:
    if isinstance(value, str):
        # An inline string is never a formula, but a sheet saved again as CSV would make one.
        return _safe_text(value)
    return value  # Decimal is written as a number exactly as str() spells it


async def csv_stream(header: list[str], pages: AsyncIterator[list[Row]]) -> AsyncIterator[bytes]:
    """UTF-8 with a BOM (so Excel reads the Chinese right), CRLF lines, one chunk per page."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield b"\xef\xbb\xbf" + buffer.getvalue().encode()
    async for rows in pages:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([csv_cell(value) for value in row] for row in rows)
        yield buffer.getvalue().encode()


async def xlsx_stream(
    title: str, header: list[str], pages: AsyncIterator[list[Row]]
) -> AsyncIterator[bytes]:
    book = xlsx.Workbook(title, header)
    yield book.start()
    async for rows in pages:
        # Building a page's XML and deflating it is CPU: in a thread, so other requests go on.
        yield await asyncio.to_thread(book.add, [[_xlsx_cell(value) for value in row] for row in rows])
    yield book.finish()


def filename(export: Export, period: Period, fmt: str, language: Language) -> tuple[str, str]:
    """(ASCII fallback, the name in the reader's language)."""
    days = f"{period.first.isoformat()}_{period.last.isoformat()}"
    title = export.title[1] if language == "en" else export.title[0]
    return f"{export.name}_{days}.{fmt}", f"{title}_{days}.{fmt}"


def content_disposition(ascii_name: str, name: str) -> str:
    """RFC 6266 with RFC 5987's ``filename*`` for the Chinese name; old clients take ``filename``."""
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def language_for(request: Request, lang: str | None) -> Language:
    if lang in ("zh", "en"):
        return lang  # type: ignore[return-value]
    return preferred_language(request.headers.get("accept-language"))


def stream(export: Export, me: Principal, period: Period, fmt: str, language: Language) -> Stream:
    header = export.header(language)
    pages = export.rows(me, period, language)
    title = export.title[1] if language == "en" else export.title[0]
    body = csv_stream(header, pages) if fmt == "csv" else xlsx_stream(title, header, pages)
    ascii_name, name = filename(export, period, fmt, language)
    return Stream(body, media_type=MEDIA_TYPES[fmt], headers={
        "Content-Disposition": content_disposition(ascii_name, name),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    })
