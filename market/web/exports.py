"""The exports page (``/exports``): a plain form offering the exports the reader may take; with
an export chosen it checks the period and sends the browser on to the file's API address."""

from urllib.parse import urlencode

from litestar import Request, get
from litestar.response import Redirect, Template

from market.auth.sessions import Principal
from market.errors import Forbidden, InvalidInput
from market.reports.export_queries import EXPORTS, Export
from market.reports.exports import FORMATS, MAX_DAYS, period_of, today
from market.web import i18n
from market.web.forms import page, page_member, refusal_for


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
                     problem=refusal_for(request, error))
    query_string = urlencode({"from": period.first.isoformat(), "to": period.last.isoformat(),
                              "lang": language})
    return Redirect(f"/api/exports/{export.name}.{fmt}?{query_string}", status_code=303)


#: Its pages, wired into the pages' router by ``market.web.site``.
PAGES: list = [exports_page]
