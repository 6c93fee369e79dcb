"""The office's pages for moving house (搬家): asking to move a resident from the person's page,
and ``/admin/moves``, where the moves out of the community can be cancelled and those into it
approved or refused with a reason. Everything goes through ``market.subdistricts.moves``; a
refused form is shown again with the reason and what was chosen or typed still in it."""

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ledger import Ledger, LedgerError
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.errors import MarketError
from market.people import service as people
from market.subdistricts import moves
from market.subdistricts.schemas import NewMove, Refusal
from market.web import i18n
from market.web.forms import check_csrf, form_fields, form_refusal, page, page_member

PAGE = {"include_in_schema": False}


def _whole(text: str) -> int | None:
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        return None
    value = int(text)
    return value if 1 <= value <= 2**31 - 1 else None


async def _ask_page(request: Request, me: Principal, person_id: int, *, status: int = 200,
                    problem: str | None = None, chosen: str = "") -> Template:
    person = await people.get_person(me.community_id, person_id)
    return page(request, "admin/moves_new.html", status=status, person=person,
                move=await moves.panel(me.community_id, person_id), move_problem=problem, move_chosen=chosen)


@get("/admin/people/{person_id:int}/move", name="web:admin:move", **PAGE)
async def ask_form(request: Request, person_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ADMIN)
    return await _ask_page(request, me, person_id)


@post("/admin/people/{person_id:int}/move", status_code=200, **PAGE)
async def ask(request: Request, person_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    chosen = fields.get("to_community", "").strip()[:12]
    try:
        check_csrf(request, fields)
        to_community = _whole(chosen)
        if to_community is None:
            return await _ask_page(request, me, person_id, status=400, chosen=chosen, problem=i18n.translate(
                i18n.language_of(request), "Choose the community the resident moves to."))
        made = await moves.request(me, NewMove(person_id=person_id, to_community=to_community))
    except MarketError as error:
        refused = form_refusal(i18n.language_of(request), error)
        status, text = refused.status, refused.problem
        return await _ask_page(request, me, person_id, status=status, problem=text, chosen=chosen)
    return Redirect(f"/admin/moves?done=requested#move-{made.id}", status_code=303)


async def _list_page(request: Request, me: Principal, *, status: int = 200, problem: str | None = None,
                     failed: int | None = None, reason: str = "") -> Template:
    found = (await moves.list_moves(me)).items
    return page(
        request, "admin/moves.html", status=status,
        incoming=[m for m in found if m.direction == "in"],
        outgoing=[m for m in found if m.direction == "out"],
        done=request.query_params.get("done"), problem=problem, failed=failed, reason=reason,
    )


@get("/admin/moves", name="web:admin:moves", **PAGE)
async def move_list(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    return await _list_page(request, me)


@post("/admin/moves/{move_id:int}/{action:str}", status_code=200, **PAGE)
async def decide(
    request: Request, move_id: FromPath[int], action: FromPath[str], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    """Approve or refuse a move into the community, or cancel one out of it."""
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    reason = fields.get("reason", "")
    try:
        check_csrf(request, fields)
        if action == "approve":
            await moves.approve(ledger, me, move_id)
        elif action == "refuse":
            await moves.refuse(me, move_id, Refusal(reason=reason))
        elif action == "cancel":
            await moves.cancel(me, move_id)
        else:
            return await _list_page(request, me, status=404, problem=i18n.error_text(
                i18n.language_of(request), "not_found"))
    except (MarketError, LedgerError) as error:
        refused = form_refusal(i18n.language_of(request), error)
        status, text = refused.status, refused.problem
        return await _list_page(request, me, status=status, problem=text, failed=move_id, reason=reason)
    return Redirect(f"/admin/moves?done={action}#move-{move_id}", status_code=303)


PAGES = [ask_form, ask, move_list, decide]
