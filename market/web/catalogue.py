"""The shop's catalogue pages: the products (list, new, edit, photo) and their stock (in, out,
adjustments, the movements). Split from ``market.web.shopkeeper`` (the counter, receipts,
reservations, reconciliation), whose helpers these pages share. A refused form comes back with
the reason under its field and what was typed still in it. Admins and shop keepers alike.
"""

from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from market.auth.roles import ADMIN, SHOPKEEPER
from market.auth.sessions import Principal
from market.errors import CsrfRejected, InvalidInput, MarketError, NotFound
from market.shop import catalogue, limits, photos, stock
from market.shop.basket import PERIOD_NAMES
from market.shop.schemas import NewProduct, ProductChanges, StockChange
from market.web import i18n
from market.web.forms import (
    PHOTO,
    Form,
    check_csrf,
    form_fields,
    form_refusal,
    page,
    page_member,
    photo_form,
)
from market.web.shopkeeper import PAGE, typed_number

#: Stock movements per page of a product's record.
MOVEMENTS_PAGE = 20
#: The stock form's choices: (kind of the stock record, sign of the quantity).
STOCK_CHOICES = {
    "donation": ("donation", 1),
    "purchase": ("purchase", 1),
    "adjust_out": ("adjustment", -1),
    "adjust_in": ("adjustment", 1),
}


# -- the catalogue -----------------------------------------------------------------------------


@get("/counter/products", name="web:counter-products", **PAGE)
async def product_list(request: Request) -> Template | Redirect:
    me = page_member(request, SHOPKEEPER, ADMIN)
    products = (await catalogue.list_products(me, include_inactive=True)).items
    return page(request, "shopkeeper/products.html", products=products, periods=_periods(request))


def _periods(request: Request) -> dict[str, str]:
    return PERIOD_NAMES[i18n.language_of(request)]


def _product_values(fields: dict[str, str]) -> dict[str, str]:
    """What the product form shows: what was typed, as typed."""
    names = ("name", "category", "price", "stock", "limit_per_person", "limit_period")
    values = {name: " ".join(fields.get(name, "").split()) for name in names}
    values["active"] = "1" if fields.get("active") else ""
    return values


def _product_input(language: str, values: dict[str, str], *, new: bool) -> tuple[dict, dict[str, str]]:
    """The service's fields parsed from the form; (values, errors by field).

    Every field is checked on its own, by the catalogue's own rules, so one round shows every
    mistake (a price of −3 and a stock of −10 together); the service still decides on saving."""
    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {"name": values["name"], "category": values["category"],
                              "active": bool(values["active"])}

    def check(field: str, rule: Any, *args: Any) -> None:
        try:
            rule(*args)
        except MarketError as error:
            errors.setdefault(error.field or field, form_refusal(language, error).problem)

    check("name", catalogue._text, values["name"], "name", "invalid_product_name", 1, limits.MAX_NAME)
    check("category", catalogue._text, values["category"], "category", "invalid_product_category", 0,
          catalogue.MAX_CATEGORY)
    try:
        price = Decimal(typed_number(values["price"]))
        if not price.is_finite():
            raise InvalidOperation
        parsed["price"] = price
        check("price", catalogue._price, price)
    except InvalidOperation:
        errors["price"] = i18n.error_text(language, "invalid_price", max_price=catalogue.MAX_PRICE)
    if new:
        typed_stock = typed_number(values["stock"]) or "0"
        if typed_stock.isdigit() and int(typed_stock) <= stock.MAX_STOCK:
            parsed["stock"] = int(typed_stock)
        else:
            errors["stock"] = i18n.error_text(language, "invalid_stock", max_stock=stock.MAX_STOCK)
    limit, period = typed_number(values["limit_per_person"]), values["limit_period"]
    if not limit and not period:
        parsed["limit_per_person"] = parsed["limit_period"] = None
    elif limit.isdigit() and period in limits.PERIODS and 1 <= int(limit) <= catalogue.MAX_LIMIT:
        parsed["limit_per_person"], parsed["limit_period"] = int(limit), period
    else:
        errors["limit_per_person"] = i18n.error_text(
            language, "invalid_limit", max_limit=catalogue.MAX_LIMIT
        )
    return parsed, errors


@get("/counter/products/new", name="web:product-new", **PAGE)
async def product_new_form(request: Request) -> Template | Redirect:
    page_member(request, SHOPKEEPER, ADMIN)
    values = _product_values({"active": "1"})
    return page(request, "shopkeeper/product_new.html", values=values, errors={}, problem=None,
                periods=_periods(request))


@post("/counter/products/new", status_code=200, request_max_body_size=photos.MAX_BYTES + photos.ENVELOPE,
      **PAGE)
async def product_create(request: Request) -> Template | Redirect:
    me = page_member(request, SHOPKEEPER, ADMIN)
    language = i18n.language_of(request)
    fields, photo, photo_problem = await photo_form(request, language)
    values = _product_values(fields) if fields else _product_values({"active": "1"})

    form = Form(request, partial(page, request, "shopkeeper/product_new.html", values=values,
                                 periods=_periods(request)), fields=(*values, "photo"), aliases=PHOTO)

    if photo_problem:
        return await form.again(413, photo_problem, {"photo": photo_problem})
    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    parsed, errors = _product_input(language, values, new=True)
    if errors:
        return await form.invalid(errors)
    processed = None
    try:
        # The photo is checked before the product is made: a bad photo leaves nothing behind.
        if photo is not None:
            processed = await photos.process_off_loop(photo)
        made = await catalogue.create(me, NewProduct(**parsed))
        if processed is not None:
            await photos.store(me.community_id, made.id, processed)
    except MarketError as error:
        return await form.refused(error)
    return Redirect(f"/counter/products/{made.id}?saved=created", status_code=303)


async def _product_page(
    request: Request, me: Principal, product_id: int, *, status: int = 200,
    values: dict[str, str] | None = None, stock_values: dict[str, str] | None = None,
    problem: str | None = None, errors: dict | None = None, form: str | None = None,
    refusal: str | None = None,
) -> Template:
    product = await catalogue.get(me, product_id)
    cursor = request.query_params.get("cursor") or None
    if cursor is not None and not cursor.isdigit():
        cursor = None
    record = await catalogue.stock_record(me, product_id, MOVEMENTS_PAGE, cursor)
    if values is None:
        values = {
            "name": product.name, "category": product.category, "price": product.price,
            "limit_per_person": str(product.limit_per_person or ""),
            "limit_period": product.limit_period or "", "active": "1" if product.active else "",
        }
    return page(
        request, "shopkeeper/product.html", status=status, product=product, values=values,
        stock_values=stock_values or {"choice": "donation", "quantity": "", "donor": "", "reason": ""},
        movements=record.items, next_cursor=record.next_cursor, first_page=cursor is None,
        problem=problem, refusal=refusal, errors=errors or {}, form=form,
        saved=request.query_params.get("saved"), periods=_periods(request),
    )


@get("/counter/products/{product_id:int}", name="web:product", **PAGE)
async def product_page(request: Request, product_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, SHOPKEEPER, ADMIN)
    return await _product_page(request, me, product_id)


@post("/counter/products/{product_id:int}", status_code=200, **PAGE)
async def product_edit(request: Request, product_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, SHOPKEEPER, ADMIN)
    language = i18n.language_of(request)
    fields = await form_fields(request)
    values = _product_values(fields)

    form = Form(request, partial(_product_page, request, me, product_id, values=values, form="edit"),
                fields=values)

    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    parsed, errors = _product_input(language, values, new=False)
    if errors:
        return await form.invalid(errors)
    try:
        await catalogue.update(me, product_id, ProductChanges(**parsed))
    except MarketError as error:
        return await form.refused(error)
    return Redirect(f"/counter/products/{product_id}?saved=details", status_code=303)


@post("/counter/products/{product_id:int}/photo", status_code=200,
      request_max_body_size=photos.MAX_BYTES + photos.ENVELOPE, **PAGE)
async def product_photo(request: Request, product_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, SHOPKEEPER, ADMIN)
    language = i18n.language_of(request)
    fields, photo, problem = await photo_form(request, language)

    form = Form(request, partial(_product_page, request, me, product_id, form="photo"),
                fields=("photo",), aliases=PHOTO)

    if problem:
        return await form.again(413, problem, {"photo": problem})
    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    if photo is None:
        return await form.refused(InvalidInput("photo_required", field="photo"))
    if not await catalogue.visible(me, product_id):
        raise NotFound()
    try:
        processed = await photos.process_off_loop(photo)
        await photos.store(me.community_id, product_id, processed)
    except MarketError as error:
        return await form.refused(error)
    return Redirect(f"/counter/products/{product_id}?saved=photo", status_code=303)


@post("/counter/products/{product_id:int}/stock", status_code=200, **PAGE)
async def product_stock(request: Request, product_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, SHOPKEEPER, ADMIN)
    language = i18n.language_of(request)
    fields = await form_fields(request)
    stock_values = {
        "choice": fields.get("choice", ""), "quantity": typed_number(fields.get("quantity", ""))[:8],
        "donor": " ".join(fields.get("donor", "").split()),
        "reason": " ".join(fields.get("reason", "").split()),
    }

    form = Form(request, partial(_product_page, request, me, product_id, stock_values=stock_values,
                                 form="stock"), fields=("kind", "delta", "reason", "donor"))

    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    choice = STOCK_CHOICES.get(stock_values["choice"])
    quantity = stock_values["quantity"]
    errors = {}
    if choice is None:
        errors["kind"] = i18n.error_text(language, "invalid_stock_kind")
    if not quantity.isdigit() or int(quantity) == 0:
        errors["delta"] = i18n.error_text(language, "invalid_stock_delta", max_stock=1_000_000)
    if errors or choice is None:
        return await form.invalid(errors)
    kind, sign = choice
    try:
        await catalogue.add_stock(me, product_id, StockChange(
            delta=sign * int(quantity), kind=kind, reason=stock_values["reason"] or None,
            donor=(stock_values["donor"] or None) if kind == "donation" else None,
        ))
    except MarketError as error:
        return await form.refused(error)
    return Redirect(f"/counter/products/{product_id}?saved=stock", status_code=303)


PAGES: list = [
    product_list, product_new_form, product_create, product_page, product_edit, product_photo,
    product_stock,
]
