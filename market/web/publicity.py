"""The 公示 page: ``/public/notice?community=<slug or id>``, the credits waiting before they count.

Anyone may read it (names masked as on the public boards). A signed-in resident of the
community finds an objection form beside each credit whose window is open; an admin of the
community finds, above the list, the credits frozen by objections with who objected and why,
and a form to post or void each. The forms post to ``/public/notice/{id}/objection`` and
``/public/notice/{id}/decision`` (CSRF-checked); a refusal shows the page again with the
message and what was typed. The work is ``market.points.publicity``'s.
"""

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ledger import Ledger
from market.auth.roles import ADMIN, RESIDENT
from market.community import slugs
from market.errors import MarketError, NotFound
from market.points import publicity
from market.web import i18n
from market.web.forms import check_csrf, form_fields, form_refusal, page, page_member, signed_in

PAGE = {"include_in_schema": False}


async def _community(raw: str) -> int:
    """A slug, an id or the name, as every public page reads it; none: the oldest community."""
    return (await slugs.resolve(raw)).id


async def _here(community_id: int) -> str:
    """The notice's address as the product links it: with the community's slug."""
    return f"/public/notice?community={(await slugs.current(community_id)).slug}"


async def _notice_page(
    request: Request, community_id: int, *, status: int = 200, problem: str | None = None,
    problem_id: int | None = None, typed: dict[str, str] | None = None, done: str | None = None,
) -> Template:
    me = signed_in(request)
    mine = me is not None and me.community_id == community_id
    found = await publicity.notices(community_id, limit=publicity.MAX_LIST)
    office = await publicity.office_list(community_id) if mine and me.has_role(ADMIN) else []
    today = publicity.today()
    return page(
        request, "publicity/notice.html", status=status, notices=found, community_id=community_id,
        may_object=mine and me.has_role(RESIDENT), office=[n for n in office if n.state == "frozen"],
        today=today, problem=problem, problem_id=problem_id, typed=typed or {}, done=done,
    )


@get("/public/notice", name="web:public-notice", **PAGE)
async def notice_page(request: Request) -> Template:
    done = request.query_params.get("done", "")[:20]
    return await _notice_page(request, await _community(request.query_params.get("community", "")),
                              done=done if done in ("objected", "posted", "voided") else None)


@post("/public/notice/{notice_id:int}/objection", status_code=303, **PAGE)
async def object_to(request: Request, notice_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, RESIDENT)
    fields = await form_fields(request)
    check_csrf(request, fields)
    reason = fields.get("reason", "")
    try:
        await publicity.object_to(me.community_id, me.id, notice_id, reason)
    except MarketError as error:
        if isinstance(error, NotFound):
            raise
        return await _notice_page(request, me.community_id, status=error.status,
                                  problem=form_refusal(i18n.language_of(request), error).problem,
                                  problem_id=notice_id,
                                  typed={"reason": reason})
    return Redirect(f"{await _here(me.community_id)}&done=objected", status_code=303)


@post("/public/notice/{notice_id:int}/decision", status_code=303, **PAGE)
async def decide(request: Request, notice_id: FromPath[int], ledger: NamedDependency[Ledger]
                 ) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    post_it = fields.get("post") == "1"
    note = fields.get("note", "")
    try:
        await publicity.decide(ledger, me.community_id, me.id, notice_id, post_it, note)
    except MarketError as error:
        if isinstance(error, NotFound):
            raise
        return await _notice_page(request, me.community_id, status=error.status,
                                  problem=form_refusal(i18n.language_of(request), error).problem,
                                  problem_id=notice_id,
                                  typed={"note": note})
    done = "posted" if post_it else "voided"
    return Redirect(f"{await _here(me.community_id)}&done={done}", status_code=303)


#: Wired into the pages' router by ``market.web.site``.
PAGES: list = [notice_page, object_to, decide]
