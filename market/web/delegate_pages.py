"""The delegate's (代办) pages, and the office's page of who may act for a resident.

A delegate acts for an elder on pages of their own, under ``/for/<elder's id>``: the address
and the heading say for whom, so nobody mistakes the elder's points for their own. There the
delegate sees the elder's points and history, shows the elder's member code at the counter
(the longer 5-minute code: handing a phone across a counter takes time) and reserves goods for
the elder, or cancels such a reservation. Nothing there gives points away. Everything goes
through the same services as the elder's own pages, with the elder as the principal and the
delegate remembered (``market.people.delegates``). The office links and ends delegates on
``/admin/people/<id>/delegates``.
"""

import secrets

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

import qr
from ledger import Ledger, LedgerError
from market.auth.roles import ADMIN, RESIDENT
from market.auth.sessions import Principal
from market.cards import service as cards
from market.errors import CsrfRejected, MarketError, NotFound
from market.people import delegates
from market.points import service as points
from market.settings import Settings
from market.shop import catalogue, orders
from market.shop.basket import MAX_QUANTITY
from market.shop.schemas import Line, NewOrder
from market.web import i18n
from market.web.forms import check_csrf, form_fields, form_refusal, page, page_member

PAGE = {"include_in_schema": False}
#: How many of the elder's latest entries the page lists.
RECENT = 10


async def _elder(request: Request, elder_id: int) -> tuple[Principal, Principal]:
    """(the delegate, the elder as principal); the friendly 403 page for anyone else."""
    me = page_member(request, RESIDENT)
    return me, await delegates.acting_principal(me, elder_id)


def _whole(text: str, most: int) -> int | None:
    """A whole number 1 … ``most`` typed in a form, or None."""
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        return None
    return int(text) if 1 <= int(text) <= most else None


def _key() -> str:
    return "web-for-" + secrets.token_urlsafe(18)


@get("/for/{elder_id:int}", name="web:for", **PAGE)
async def for_elder(
    request: Request, elder_id: FromPath[int], ledger: NamedDependency[Ledger],
    settings: NamedDependency[Settings],
) -> Template | Redirect:
    _, elder = await _elder(request, elder_id)
    code = cards.member_code(settings, elder.id, extended=True)
    await delegates.record_code_shown(elder)
    pending = [o for o in (await orders.list_orders(elder, "reserved")).items if o.person_id == elder.id]
    return page(
        request, "delegate/for.html", for_whom=elder, wallet=await points.balance(ledger, elder),
        entries=(await points.entries(ledger, elder, RECENT, None)).items, code=code,
        code_svg=qr.svg(code.code), pending=pending,
        reserved=request.query_params.get("reserved"), cancelled=request.query_params.get("cancelled"),
    )


async def _shop_page(request: Request, ledger: Ledger, elder: Principal, *, status: int = 200,
                     problem: str | None = None) -> Template:
    products = [p for p in (await catalogue.list_products(elder)).items if p.active and p.stock > 0]
    return page(request, "delegate/shop.html", status=status, for_whom=elder, products=products,
                wallet=await points.balance(ledger, elder), key=_key(), problem=problem,
                most=MAX_QUANTITY)


@get("/for/{elder_id:int}/shop", name="web:for:shop", **PAGE)
async def shop_for_elder(
    request: Request, elder_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    _, elder = await _elder(request, elder_id)
    return await _shop_page(request, ledger, elder)


@post("/for/{elder_id:int}/orders", status_code=200, **PAGE)
async def reserve_for_elder(
    request: Request, elder_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    """Reserve for the elder; the form's key makes a double tap reserve once."""
    _, elder = await _elder(request, elder_id)
    language = i18n.language_of(request)
    fields = await form_fields(request)
    product, quantity = fields.get("product_id", ""), fields.get("quantity", "").strip()
    key = fields.get("key", "")
    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await _shop_page(request, ledger, elder, status=403,
                                problem=form_refusal(language, error).problem)
    product_id, count = _whole(product, 2**31 - 1), _whole(quantity, MAX_QUANTITY)
    if product_id is None or count is None:
        return await _shop_page(request, ledger, elder, status=400, problem=i18n.error_text(
            language, "invalid_quantity", limit=MAX_QUANTITY))
    if not key.startswith("web-for-") or len(key) > 64:
        return await _shop_page(request, ledger, elder, status=400, problem=i18n.translate(
            language, "The form was out of date. Check the quantity and press Reserve again."))
    try:
        order, _ = await orders.reserve(ledger, elder, NewOrder(items=[Line(product_id, count)]), key)
    except (MarketError, LedgerError) as error:
        refused = form_refusal(language, error)
        return await _shop_page(request, ledger, elder, status=refused.status, problem=refused.problem)
    return Redirect(f"/for/{elder.id}?reserved={order.id}", status_code=303)


@post("/for/{elder_id:int}/orders/{order_id:int}/cancel", status_code=200, **PAGE)
async def cancel_for_elder(
    request: Request, elder_id: FromPath[int], order_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    _, elder = await _elder(request, elder_id)
    fields = await form_fields(request)
    check_csrf(request, fields)
    order = await orders.get(elder, order_id)
    if order.person_id != elder.id:
        raise NotFound()
    await orders.cancel(ledger, elder, order_id)
    return Redirect(f"/for/{elder.id}?cancelled={order_id}", status_code=303)


# -- the office -----------------------------------------------------------------------------------


async def _office_page(request: Request, me: Principal, person_id: int, *, status: int = 200,
                       login: str = "", problem: str | None = None) -> Template:
    return page(request, "admin/delegates.html", status=status,
                person=await delegates.office_heading(me.community_id, person_id),
                links=(await delegates.of_elder(me.community_id, person_id)).items, login=login,
                problem=problem)


@get("/admin/people/{person_id:int}/delegates", name="web:admin:delegates", **PAGE)
async def office_delegates(request: Request, person_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ADMIN)
    return await _office_page(request, me, person_id)


@post("/admin/people/{person_id:int}/delegates", status_code=200, **PAGE)
async def office_link(request: Request, person_id: FromPath[int]) -> Template | Redirect:
    """Link the resident named by phone or card number as a delegate of this one."""
    me = page_member(request, ADMIN)
    language = i18n.language_of(request)
    fields = await form_fields(request)
    login = "".join(fields.get("login", "").split())[:20]
    try:
        check_csrf(request, fields)
        found = await delegates.named_by_login(me.community_id, login)
        if found is None:
            return await _office_page(request, me, person_id, status=404, login=login, problem=i18n.translate(
                language, "Nobody here has that phone number or card number."))
        await delegates.link(me, person_id, found)
    except MarketError as error:
        return await _office_page(request, me, person_id, status=error.status, login=login,
                                  problem=form_refusal(language, error).problem)
    return Redirect(f"/admin/people/{person_id}/delegates", status_code=303)


@post("/admin/people/{person_id:int}/delegates/{link_id:int}/end", status_code=200, **PAGE)
async def office_end(
    request: Request, person_id: FromPath[int], link_id: FromPath[int]
) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    await delegates.end(me, person_id, link_id)
    return Redirect(f"/admin/people/{person_id}/delegates", status_code=303)


PAGES = [for_elder, shop_for_elder, reserve_for_elder, cancel_for_elder, office_delegates, office_link,
         office_end]
