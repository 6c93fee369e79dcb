"""The exports' API (台账): ``GET /api/exports/{kind}.{csv|xlsx}?from=YYYY-MM-DD&to=YYYY-MM-DD``,
one route per export and format, guarded by the roles ``export_queries.EXPORTS`` declares;
the period and the file are ``market.reports.exports``'."""

from typing import Annotated

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Stream

from market.auth.guards import requires_role
from market.auth.sessions import Principal
from market.constraints import DAY
from market.reports.export_queries import EXPORTS, Export
from market.reports.exports import FORMATS, MEDIA_TYPES, language_for, period_of, stream


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
