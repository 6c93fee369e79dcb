"""The leaderboards' pages (红榜): ``/boards`` for the community's own people and
``/public/boards?community=<slug or id>`` for anyone, as ``market.reports.leaderboards`` ranks
them."""

from litestar import Request, get
from litestar.response import Redirect, Template

from market.auth.sessions import Principal
from market.community import slugs
from market.errors import MarketError
from market.reports.board_period import parse_period
from market.reports.leaderboards import leaderboards
from market.reports.schemas import Leaderboards
from market.web import i18n
from market.web.forms import form_refusal, page, page_member

PAGE = {"include_in_schema": False}


def _board_page(request: Request, board: Leaderboards | None, *, public: bool, problem: str | None,
                typed: dict[str, str], status: int = 200) -> Template:
    language = i18n.language_of(request)
    nav = None
    if board is not None:
        current = parse_period(board.period.kind, board.period.at)
        nav = {"previous": current.previous().key, "next": current.next().key}
    return page(request, "reports/boards/leaderboards.html", status=status, board=board, public=public,
                problem=problem, typed=typed, nav=nav, language=language)


async def _board_request(request: Request, community_id: int, me: Principal | None, public: bool,
                         slug: str = "") -> Template:
    typed = {"period": request.query_params.get("period", "month")[:10],
             "at": request.query_params.get("at", "")[:10],
             "community": slug or str(community_id)}
    try:
        chosen = parse_period(typed["period"], typed["at"] or None)
    except MarketError as error:
        problem = form_refusal(i18n.language_of(request), error).problem
        return _board_page(request, None, public=public, problem=problem, typed=typed, status=400)
    found = await leaderboards(community_id, chosen, public=public, me=me,
                               language=i18n.language_of(request))
    typed["period"], typed["at"] = chosen.kind, chosen.key
    return _board_page(request, found, public=public, problem=None, typed=typed)


@get("/boards", name="web:boards", **PAGE)
async def boards_page(request: Request) -> Template | Redirect:
    me = page_member(request)
    return await _board_request(request, me.community_id, me, public=False)


@get("/public/boards", name="web:public-boards", **PAGE)
async def public_boards_page(request: Request) -> Template:
    # A slug, an id or the name (``market.community.slugs.resolve``); none: the oldest community.
    found = await slugs.resolve(request.query_params.get("community"))
    return await _board_request(request, found.id, None, public=True, slug=found.slug)


#: Its pages, wired into the pages' router by ``market.web.site``.
PAGES: list = [boards_page, public_boards_page]
