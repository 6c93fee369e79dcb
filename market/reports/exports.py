"""Exports for the community's books (台账): ledger, attendance, redemptions, stock movements and
residents' hours as .xlsx and CSV with Chinese headers (English with ``Accept-Language: en`` or
``?lang=en``), for a period of Beijing dates, streamed.

``GET /api/exports/{kind}.{csv|xlsx}?from=YYYY-MM-DD&to=YYYY-MM-DD`` (both days included; by
default the current month up to today; at most 366 days). Who may take which export is declared
in ``export_queries.EXPORTS``: the ledger and residents' hours admins only; attendance admins and
organizers (an organizer only their own activities'); redemptions and stock movements admins and
shop keepers. The page ``/exports`` offers the same with a plain form.

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
from typing import Annotated
from urllib.parse import quote, urlencode

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Redirect, Stream, Template

from market.auth.guards import requires_role
from market.auth.sessions import Principal
from market.constraints import DAY
from market.errors import Forbidden, InvalidInput
from market.messages import Language, preferred_language
from market.reports import xlsx
from market.reports.export_queries import CHINA, EXPORTS, Export, Period, Row
from market.web import i18n
from market.web.forms import page, page_member

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


# -- the API ------------------------------------------------------------------------------------


def _handler(export: Export, fmt: str):
    async def download(
        request: Request,
        me: NamedDependency[Principal],
        start: Annotated[str | None, QueryParameter(name="from", max_length=20, schema_extra=DAY,
                                                description="First Beijing day, YYYY-MM-DD")] = None,
        end: Annotated[str | None, QueryParameter(name="to", max_length=20, schema_extra=DAY,
                                              description="Last Beijing day (included)")] = None,
        lang: Annotated[str | None, QueryParameter(name="lang", max_length=5,
                                               description="zh (default) or en headers")] = None,
    ) -> Stream:
        period = period_of(start, end)
        return stream(export, me, period, fmt, language_for(request, lang))

    download.__name__ = f"export_{export.name}_{fmt}"
    return get(
        f"/exports/{export.name}.{fmt}", guards=[requires_role(*export.roles)], tags=["reports"],
        summary=f"Export: {export.title[1]} ({fmt}, {export.title[0]})",
        name=f"api:export-{export.name}-{fmt}", media_type=MEDIA_TYPES[fmt],
    )(download)


#: Its /api route handlers, wired into the /api router by ``market.app``.
API: list = [_handler(export, fmt) for export in EXPORTS.values() for fmt in FORMATS]


# -- the page -----------------------------------------------------------------------------------


def _choices(me: Principal) -> list[Export]:
    return [export for export in EXPORTS.values() if me.has_role(*export.roles)]


def _form(request: Request, me: Principal, *, status: int = 200, values: dict[str, str] | None = None,
          problem: str | None = None, bad_field: str | None = None) -> Template:
    choices = _choices(me)
    language = i18n.language_of(request)
    last = today()
    values = {"kind": choices[0].name, "format": "xlsx", "from": last.replace(day=1).isoformat(),
              "to": last.isoformat()} | (values or {})
    return page(
        request, "reports/exports/index.html", status=status, choices=choices, values=values,
        problem=problem, bad_field=bad_field, language=language, max_days=MAX_DAYS,
    )


@get("/exports", name="web:exports", include_in_schema=False)
async def exports_page(request: Request) -> Template | Redirect:
    """The form; with ``kind`` chosen it checks the period and sends the browser to the file."""
    me = page_member(request)
    choices = _choices(me)
    if not choices:
        raise Forbidden()  # no export for this person: the friendly 403 page
    query = request.query_params
    if "kind" not in query:
        return _form(request, me)
    values = {key: str(query.get(key, ""))[:20] for key in ("kind", "format", "from", "to")}
    export = EXPORTS.get(values["kind"])
    language = i18n.language_of(request)
    if export is None or export not in choices:
        return _form(request, me, status=400, values=values, bad_field="kind",
                     problem=i18n.error_text(language, "unknown_export"))
    fmt = values["format"] if values["format"] in FORMATS else "xlsx"
    try:
        period = period_of(values["from"], values["to"])
    except InvalidInput as error:
        return _form(request, me, status=400, values=values, bad_field=error.field,
                     problem=i18n.error_text(language, error.reason, field=error.field or "",
                                             **error.params))
    query_string = urlencode({"from": period.first.isoformat(), "to": period.last.isoformat(),
                              "lang": language})
    return Redirect(f"/api/exports/{export.name}.{fmt}?{query_string}", status_code=303)


#: Its pages, wired into the pages' router by ``market.web.site``.
PAGES: list = [exports_page]
