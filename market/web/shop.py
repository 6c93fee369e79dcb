"""The resident's shop pages: the catalogue with photos, reserving goods, my orders; and the
activities near me.

Handlers call the shop's services (``market.shop.catalogue``, ``.orders``, ``.rules``) and the
activities' (``market.activities.participation``) directly, as ``market.web.pages`` does. A
reservation form carries an Idempotency-Key made when the page was rendered, so a double tap or
a resent form reserves once. A refused reservation is shown again with the reason in the
reader's language and the quantity still typed in. Every order shown is the reader's own, even
when they also keep the shop (the orders service shows shop staff the whole community's).
"""

import secrets
import unicodedata
from datetime import datetime
from decimal import Decimal
from functools import partial
from itertools import groupby
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ledger import Ledger, LedgerError
from market import clock
from market.activities import participation
from market.auth.roles import RESIDENT
from market.auth.sessions import Principal
from market.errors import CsrfRejected, InvalidInput, MarketError, NotFound
from market.points import service as points
from market.points.service import MAX_KEY_LENGTH
from market.shop import basket, catalogue, orders, rules
from market.shop.basket import PERIOD_NAMES, LimitExceeded, PricedLine
from market.shop.rules import WEEKDAY_NAMES
from market.shop.schemas import Line, NewOrder, OrderView, ProductView, ShopRules
from market.web import i18n
from market.web.forms import Form, check_csrf, form_fields, form_refusal, page, page_member
from market.writes import read

PAGE = {"include_in_schema": False}


def _reservation_key() -> str:
    """A fresh Idempotency-Key for one reservation form (URL-safe, so always a valid key)."""
    return "web-" + secrets.token_urlsafe(18)


def _valid_key(text: str) -> bool:
    return 0 < len(text) <= MAX_KEY_LENGTH and all("!" <= c <= "~" for c in text)


# -- what the pages read besides the services ---------------------------------------------------


async def _allowance_left(me: Principal, product: ProductView, at: datetime) -> int | None:
    """How many more of a limited product I may take this period; None when it has no limit.

    The counter's own rule decides (``basket.limits_steps``: redeemed, less refunded, plus
    reserved): asking it for one more than the limit always exceeds the limit, so its
    refusal says exactly what is left.
    """
    if product.limit_per_person is None or product.limit_period is None:
        return None
    probe = PricedLine(
        product_id=product.id, name=product.name, quantity=product.limit_per_person + 1, unit_price=0,
        limit_per_person=product.limit_per_person, limit_period=product.limit_period,
    )
    try:
        await read(basket.limits_steps, me.community_id, me.id, [probe], at)
    except LimitExceeded as refusal:
        return refusal.remaining
    return product.limit_per_person  # pragma: no cover - the probe always exceeds the limit


def _opening(language: str, shop_rules: ShopRules) -> str:
    """When the shop hands out reservations, in words: "开放时间 周一、周三 08:30–17:00"."""
    every_day = len(shop_rules.open_days) == 7
    all_day = shop_rules.opens_at == "00:00" and shop_rules.closes_at == "24:00"
    if every_day and all_day:
        return i18n.translate(language, "Open at all times")
    if every_day:
        days = i18n.translate(language, "every day")
    else:
        names = WEEKDAY_NAMES["en" if language == "en" else "zh"]
        days = ("、" if language == "zh" else ", ").join(names[day] for day in shop_rules.open_days)
    when = days if all_day else f"{days} {shop_rules.opens_at}–{shop_rules.closes_at}"
    return i18n.translate(language, "Open %(when)s") % {"when": when}


# -- the catalogue --------------------------------------------------------------------------------


@get("/shop", name="web:shop", **PAGE)
async def shop(request: Request, ledger: NamedDependency[Ledger]) -> Template | Redirect:
    me = page_member(request, RESIDENT)
    language = i18n.language_of(request)
    products = (await catalogue.list_products(me)).items
    categories = sorted({product.category for product in products if product.category})
    chosen = request.query_params.get("category")
    if chosen not in categories:
        chosen = None  # none chosen, or a stale link: show everything rather than nothing
    shown = products if chosen is None else [p for p in products if p.category == chosen]
    at = clock.now()
    left = {product.id: await _allowance_left(me, product, at) for product in shown}
    # The services order by category then name; uncategorised goods ("") come first, put them last.
    groups = [(name, list(items)) for name, items in groupby(shown, key=lambda p: p.category)]
    groups.sort(key=lambda group: group[0] == "")
    return page(
        request, "shop/catalogue.html", wallet=await points.balance(ledger, me), groups=groups,
        categories=categories, chosen=chosen, left=left, periods=PERIOD_NAMES[language],
        empty=not products,
    )


async def _product_page(
    request: Request, ledger: Ledger, me: Principal, product: ProductView | None, *,
    quantity: str = "1", key: str | None = None, status: int = 200, problem: str | None = None,
    refusal: str | None = None, errors: dict[str, str] | None = None,
) -> Template:
    language = i18n.language_of(request)
    left = None if product is None else await _allowance_left(me, product, clock.now())
    most, total = basket.MAX_QUANTITY, None
    if product is not None:
        most = max(1, min(most, product.stock, left if left is not None else most))
        total = f"{Decimal(product.price) * (_quantity(quantity) or 1):.2f}"
    return page(
        request, "shop/product.html", status=status, product=product, quantity=quantity,
        key=key or _reservation_key(), problem=problem, refusal=refusal, errors=errors or {}, left=left,
        most=most, total=total,
        wallet=await points.balance(ledger, me), periods=PERIOD_NAMES[language],
        deadline_days=orders.DEADLINE.days,
        opening=_opening(language, await rules.rules(me.community_id)),
    )


@get("/shop/{product_id:int}", name="web:shop:product", **PAGE)
async def product(
    request: Request, product_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    me = page_member(request, RESIDENT)
    return await _product_page(request, ledger, me, await catalogue.get(me, product_id))


async def _reserve_form(request: Request, ledger: Ledger, me: Principal, product_id: int,
                        **shown: Any) -> Template:
    """The product's page again after a refused reservation, as the product is now."""
    try:
        product = await catalogue.get(me, product_id)
    except NotFound:
        product = None  # taken off sale meanwhile: the page says so, with a way back
    return await _product_page(request, ledger, me, product, **shown)


def _quantity(text: str) -> int | None:
    """The typed quantity as a whole number 1–99, or None; full-width digits are fine."""
    cleaned = unicodedata.normalize("NFKC", text).strip()
    if not cleaned.isascii() or not cleaned.isdigit():
        return None
    number = int(cleaned)
    return number if 1 <= number <= basket.MAX_QUANTITY else None


@post("/shop/{product_id:int}", status_code=200, **PAGE)
async def reserve(
    request: Request, product_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    """Reserve the product: points held, goods set aside; then to my orders with it highlighted."""
    me = page_member(request, RESIDENT)
    language = i18n.language_of(request)
    fields = await form_fields(request)
    typed = fields.get("quantity", "").strip()
    key = fields.get("key", "")

    form = Form(request, partial(_reserve_form, request, ledger, me, product_id, quantity=typed,
                                 key=key if _valid_key(key) else None), fields=("quantity",))

    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    quantity = _quantity(typed)
    if quantity is None:
        return await form.refused(
            InvalidInput("invalid_quantity", field="quantity", limit=basket.MAX_QUANTITY))
    if not _valid_key(key):
        # Only a tampered or truncated form gets here; a fresh key makes the next press count.
        return await form.again(400, i18n.translate(
            language, "The form was out of date. Check the quantity and press Reserve again."))
    try:
        order, _ = await orders.reserve(ledger, me, NewOrder(items=[Line(product_id, quantity)]), key)
    except (MarketError, LedgerError) as error:
        if error.reason == "id_conflict":
            # This form already reserved something else (the back button, then another quantity).
            return await form.again(
                422, i18n.translate(language, "This form was already used for a reservation (see My "
                                              "reservations). To reserve again, press Reserve."),
                key=None,
            )
        return await form.refused(error)
    # A repeat of the same form lands here too, on the order the first press made.
    return Redirect(f"/orders?new={order.id}#order-{order.id}", status_code=303)


# -- my orders ----------------------------------------------------------------------------------


async def _my_order(me: Principal, order_id: int) -> OrderView:
    """One of my own orders; anyone else's is 404, even for a resident who also keeps the shop."""
    order = await orders.get(me, order_id)
    if order.person_id != me.id:
        raise NotFound()
    return order


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isascii() and text.isdigit() and len(text) < 12 else None


@get("/orders", name="web:shop:orders", **PAGE)
async def my_orders(request: Request, ledger: NamedDependency[Ledger]) -> Template | Redirect:
    me = page_member(request, RESIDENT)
    language = i18n.language_of(request)
    mine = [order for order in (await orders.list_orders(me)).items if order.person_id == me.id]
    pending = sorted((o for o in mine if o.status == "reserved"), key=lambda o: o.expires_at)
    return page(
        request, "shop/orders.html", pending=pending, past=[o for o in mine if o.status != "reserved"],
        new=_number(request.query_params.get("new")),
        cancelled=_number(request.query_params.get("cancelled")),
        wallet=await points.balance(ledger, me),
        opening=_opening(language, await rules.rules(me.community_id)), now=clock.now(),
    )


@get("/orders/{order_id:int}/cancel", name="web:shop:cancel-order", **PAGE)
async def cancel_form(request: Request, order_id: FromPath[int]) -> Template | Redirect:
    """The confirmation step: what comes back if I cancel, and a big "yes" and "no"."""
    me = page_member(request, RESIDENT)
    order = await _my_order(me, order_id)
    if order.status != "reserved":
        return Redirect("/orders", status_code=303)
    return page(request, "shop/cancel.html", order=order, problem=None)


@post("/orders/{order_id:int}/cancel", status_code=200, **PAGE)
async def cancel(
    request: Request, order_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    me = page_member(request, RESIDENT)
    language = i18n.language_of(request)
    order = await _my_order(me, order_id)
    fields = await form_fields(request)
    try:
        check_csrf(request, fields)
        await orders.cancel(ledger, me, order_id)
    except (MarketError, LedgerError) as error:
        shown = form_refusal(language, error)
        return page(request, "shop/cancel.html", status=shown.status, order=order, problem=shown.problem)
    return Redirect(f"/orders?cancelled={order_id}", status_code=303)


# -- activities near me ---------------------------------------------------------------------------


@get("/activities", name="web:shop:activities", **PAGE)
async def activities_near_me(request: Request) -> Template | Redirect:
    """Ongoing and coming activities of my community that I may join, and the ones I joined
    (``market.activities.participation.near_me``)."""
    me = page_member(request, RESIDENT)
    near = await participation.near_me(me)
    return page(
        request, "shop/activities.html", ongoing=near.ongoing, coming=near.coming, stays=near.stays,
        counts=near.counts, joined=near.joined,
    )


PAGES = [shop, product, reserve, my_orders, cancel_form, cancel, activities_near_me]
