"""The shop keeper's pages: the counter (build the cart, scan the member code, confirm, receipt),
reservations to hand out, the day's reconciliation (the catalogue and stock: ``market.web.catalogue``).

The counter works as a real shop does: the keeper puts the goods in the cart first, then
the resident shows their member code (or printed card and PIN) and the scan confirms the
redemption, so the rotating code is fresh when it is used. The counter's form carries an
Idempotency-Key made when the page was rendered: a double tap, a resent form or a
reload answers with the first redemption (``market.shop.counter.redeem``), never a second.
A refused form comes back with the reason in the reader's language and the cart as it was.

Handlers call the shop's services directly (``market.shop.*``), as ``market.web.pages``
does. Confirming a redemption and handing out a reservation are for shop keepers, as in
the API; admins see and manage everything else here. The camera scanner's endpoint is
``market.web.scanner``.
"""

import re
import secrets
import unicodedata
from decimal import Decimal
from functools import partial
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ledger import Ledger, LedgerError, format_points, to_hundredths
from market import clock
from market.auth.hashing import SecretHasher
from market.auth.limiter import LoginLimiter
from market.auth.roles import ADMIN, SHOPKEEPER
from market.auth.sessions import Principal
from market.cards.service import resolve_member_code
from market.errors import CsrfRejected, InvalidInput, MarketError, NotFound
from market.points import service as points
from market.points.service import MAX_KEY_LENGTH
from market.settings import Settings
from market.shop import basket, catalogue, counter, limits, orders, reconciliation
from market.shop.basket import LimitExceeded, ProductUnavailable
from market.shop.schemas import Line, ProductView, Redeem, RedemptionView, RefundRequest
from market.shop.stock import OutOfStock
from market.web import i18n
from market.web.forms import (
    Form,
    check_csrf,
    form_fields,
    form_refusal,
    page,
    page_member,
    require_role,
)
from market.web.scanner import SCANNER_PAGES

PAGE = {"include_in_schema": False}
#: Refusals about the card's PIN: the PIN field stays on the page.
PIN_REASONS = frozenset({"card_pin_required", "wrong_card_pin", "card_pin_not_set", "too_many_attempts"})
#: Refusals about the code itself: it is cleared, so the next scan fills it afresh.
CODE_REASONS = frozenset({"invalid", "expired", "revoked", "not_shared"})
QUANTITY_FIELD = re.compile(r"q(\d{1,12})")
REFUND_FIELD = re.compile(r"r(\d{1,12})")


def _new_key() -> str:
    """A fresh Idempotency-Key for one sale at the counter (URL-safe, so always a valid key)."""
    return "counter-" + secrets.token_urlsafe(18)


def _valid_key(text: str) -> bool:
    return 0 < len(text) <= MAX_KEY_LENGTH and all("!" <= c <= "~" for c in text)


def typed_number(text: str) -> str:
    """Full-width digits (a Chinese keyboard's) as ASCII, without spaces."""
    return "".join(unicodedata.normalize("NFKC", text).split())


# -- the counter -----------------------------------------------------------------------------


def _cart_lines(products: list[ProductView], quantities: dict[int, str]) -> tuple[list[dict], str]:
    """Each product with what was typed for it; the total of the valid quantities."""
    lines, total = [], 0
    for product in products:
        typed = quantities.get(product.id, "")
        if typed.isdigit() and 0 < int(typed) <= basket.MAX_QUANTITY:
            total += to_hundredths(Decimal(product.price)) * int(typed)
        lines.append({"product": product, "quantity": typed})
    return lines, format_points(total)


async def _counter_page(
    request: Request, me: Principal, *, quantities: dict[int, str] | None = None, code: str = "",
    key: str | None = None, pin_needed: bool = False, problem: str | None = None,
    refusal: str | None = None, errors: dict | None = None, status: int = 200, extra: str | None = None,
) -> Template:
    products = (await catalogue.list_products(me)).items
    lines, total = _cart_lines(products, quantities or {})
    return page(
        request, "shopkeeper/counter.html", status=status, lines=lines, total=total, code=code,
        key=key or _new_key(), pin_needed=pin_needed, problem=problem, refusal=refusal, extra=extra,
        errors=errors or {}, may_redeem=me.has_role(SHOPKEEPER), max_quantity=basket.MAX_QUANTITY,
    )


@get("/counter", name="web:counter", **PAGE)
async def counter_form(request: Request) -> Template | Redirect:
    me = page_member(request, SHOPKEEPER, ADMIN)
    return await _counter_page(request, me)


def _quantities(fields: dict[str, str]) -> dict[int, str]:
    found = {}
    for name, value in fields.items():
        if match := QUANTITY_FIELD.fullmatch(name):
            found[int(match.group(1))] = typed_number(value)[:4]
    return found


async def _shortfall(
    ledger: Ledger, me: Principal, code: str, settings: Settings, language: str
) -> str | None:
    """For "not enough points": what the resident has, so the keeper can take something out."""
    try:
        member = await resolve_member_code(me.community_id, code, settings=settings, visiting=True)
    except MarketError:
        return None
    # A visitor's points are in their own community's ledger (通存通兑).
    wallet = await points.wallet_of(ledger, member.community_id or me.community_id, member.person_id)
    return i18n.translate(language, "The resident has %(points)s points to spend.") % {
        "points": wallet.available
    }


@post("/counter", status_code=200, **PAGE)
async def counter_confirm(
    request: Request,
    ledger: NamedDependency[Ledger],
    settings: NamedDependency[Settings],
    hasher: NamedDependency[SecretHasher],
    limiter: NamedDependency[LoginLimiter],
) -> Template | Redirect:
    me = page_member(request, SHOPKEEPER, ADMIN)
    require_role(me, SHOPKEEPER)
    language = i18n.language_of(request)
    fields = await form_fields(request)
    quantities = _quantities(fields)
    code = "".join(fields.get("member_code", "").split())
    pin = typed_number(fields.get("pin", ""))
    key = fields.get("key", "")

    form = Form(request, partial(_counter_page, request, me, quantities=quantities, code=code,
                                 key=key if _valid_key(key) else None, pin_needed=bool(pin)))

    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)

    errors: dict[Any, str] = {}
    items = []
    for product_id, typed in quantities.items():
        if typed in ("", "0"):
            continue
        if not typed.isdigit() or not 1 <= int(typed) <= basket.MAX_QUANTITY:
            errors[product_id] = i18n.error_text(language, "invalid_quantity", limit=basket.MAX_QUANTITY)
            continue
        items.append(Line(product_id=product_id, quantity=int(typed)))
    if not items and not errors:
        errors["cart"] = i18n.error_text(language, "empty_basket")
    if not code:
        errors["member_code"] = i18n.translate(language, "Scan or type the resident's member code.")
    if errors:
        return await form.invalid(errors, refusal="form")
    if not _valid_key(key):
        # Only a tampered form lacks its key; a new one is on the page that comes back.
        return await form.refused(InvalidInput("idempotency_key_required"))
    try:
        view, _ = await counter.redeem(
            ledger, me, Redeem(member_code=code, items=items, pin=pin or None), key,
            settings=settings, hasher=hasher, limiter=limiter,
        )
    except (MarketError, LedgerError) as error:
        shown = form_refusal(language, error)
        reason = shown.reason
        # The cart's lines are the form's fields too: a refusal about a product goes beside it.
        beside: Any = None
        if isinstance(error, OutOfStock | ProductUnavailable):
            beside = error.product_id
        elif isinstance(error, LimitExceeded):
            beside = error.line.product_id
        elif reason in PIN_REASONS or reason in CODE_REASONS:
            beside = "pin" if reason in PIN_REASONS else "member_code"
        # What changes on the way back: a spent or wrong code is scanned again, a PIN asked for,
        # and (id_conflict: this page's key already made a sale with another cart) a new key lets
        # the keeper go on deliberately.
        changed: dict[str, Any] = {}
        if reason in CODE_REASONS:
            changed["code"] = ""
        if reason in PIN_REASONS:
            changed["pin_needed"] = True
        if reason == "id_conflict":
            changed["key"] = None
        if reason == "insufficient_points":
            changed["extra"] = await _shortfall(ledger, me, code, settings, language)
        return await form.again(shown.status, shown.problem,
                                {beside: shown.problem} if beside is not None else {},
                                refusal=reason, **changed)
    return Redirect(f"/counter/receipts/{view.id}", status_code=303)


# -- receipts and refunds ----------------------------------------------------------------------


def _remaining(view: RedemptionView, refunds: list[counter.RefundRecord]) -> dict[int, int]:
    back: dict[int, int] = {}
    for refund in refunds:
        for item in refund.items:
            back[item.product_id] = back.get(item.product_id, 0) + item.quantity
    return {item.product_id: item.quantity - back.get(item.product_id, 0) for item in view.items}


async def _receipt_page(
    request: Request, me: Principal, redemption_id: int, *, status: int = 200,
    refund_quantities: dict[int, str] | None = None, reason: str = "", problem: str | None = None,
    errors: dict | None = None, refusal: str | None = None,
) -> Template:
    view = await counter.get(me, redemption_id)
    refunds = await counter.refunds_of(me, redemption_id)
    remaining = _remaining(view, refunds)
    # Nothing goes back unless the keeper says so: a prefilled whole receipt refunded the oil too
    # when only a box of soap came back (issue 16).
    typed = refund_quantities if refund_quantities is not None else {
        product_id: "0" for product_id in remaining
    }
    refunded_now = request.query_params.get("refunded")
    done = next((r for r in refunds if str(r.id) == refunded_now), None)
    return page(
        request, "shopkeeper/receipt.html", status=status, receipt=view, refunds=refunds,
        remaining=remaining, typed=typed, reason=reason, problem=problem, errors=errors or {},
        refusal=refusal, done=done, anything_left=any(remaining.values()),
    )


@get("/counter/receipts/{redemption_id:int}", name="web:receipt", **PAGE)
async def receipt(request: Request, redemption_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, SHOPKEEPER, ADMIN)
    return await _receipt_page(request, me, redemption_id)


@post("/counter/receipts/{redemption_id:int}/refund", status_code=200, **PAGE)
async def refund(
    request: Request, redemption_id: FromPath[int], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    """Two steps: "review" shows what goes back and asks to confirm; "confirm" refunds."""
    me = page_member(request, SHOPKEEPER, ADMIN)
    language = i18n.language_of(request)
    fields = await form_fields(request)
    quantities = {
        int(m.group(1)): typed_number(value)[:4]
        for name, value in fields.items() if (m := REFUND_FIELD.fullmatch(name))
    }
    reason = " ".join(fields.get("reason", "").split())

    form = Form(request, partial(_receipt_page, request, me, redemption_id, refund_quantities=quantities,
                                 reason=reason), fields=("reason",))

    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    view = await counter.get(me, redemption_id)
    refunds = await counter.refunds_of(me, redemption_id)
    remaining = _remaining(view, refunds)
    errors: dict[Any, str] = {}
    items = []
    for item in view.items:
        typed = quantities.get(item.product_id, "")
        if typed in ("", "0"):
            continue
        left = remaining.get(item.product_id, 0)
        if not typed.isdigit() or int(typed) > left:
            errors[item.product_id] = i18n.error_text(language, "refund_too_much", remaining=left)
            continue
        items.append((item, int(typed)))
    if not items and not errors:
        errors["items"] = i18n.translate(language, "Choose what comes back: at least one item.")
    if not 1 <= len(reason) <= limits.MAX_REASON:
        errors["reason"] = i18n.error_text(language, "invalid_reason")
    if errors:
        return await form.invalid(errors)
    if fields.get("step") != "confirm":
        total = sum(to_hundredths(Decimal(item.unit_price)) * quantity for item, quantity in items)
        return page(
            request, "shopkeeper/refund_confirm.html", receipt=view, items=items,
            total=format_points(total), reason=reason, seen=len(refunds),
        )
    if fields.get("seen") != str(len(refunds)):
        # The form was sent again (a reload, a second tap) or another refund came between:
        # refunding what the keeper saw once must not happen twice.
        return await form.again(409, i18n.translate(
            language, "This receipt has changed since you checked the refund (another refund was "
            "made). Check what is left and try again."))
    try:
        # The key names the state the keeper confirmed: two taps arriving at the same instant
        # (both past the check above) make one refund, as a resent API request would.
        done = await counter.refund(ledger, me, redemption_id, RefundRequest(
            reason=reason, items=[Line(product_id=item.product_id, quantity=q) for item, q in items],
        ), key=f"refund-page-{redemption_id}-{len(refunds)}")
    except (MarketError, LedgerError) as error:
        return await form.refused(error)
    return Redirect(f"/counter/receipts/{redemption_id}?refunded={done.id}", status_code=303)


# -- reservations to hand out --------------------------------------------------------------------


async def _orders_page(request: Request, me: Principal, *, status: int = 200,
                       problem: str | None = None) -> Template:
    pending = (await orders.list_orders(me, "reserved")).items
    pending.sort(key=lambda order: order.created_at)
    holders = await orders.holders(me, [order.person_id for order in pending])
    return page(
        request, "shopkeeper/orders.html", status=status, orders=pending, holders=holders,
        problem=problem, now=clock.now(), may_fulfil=me.has_role(SHOPKEEPER),
        cancelled=request.query_params.get("cancelled"),
    )


@get("/counter/orders", name="web:counter-orders", **PAGE)
async def order_list(request: Request) -> Template | Redirect:
    me = page_member(request, SHOPKEEPER, ADMIN)
    return await _orders_page(request, me)


@post("/counter/orders/{order_id:int}/{action:str}", status_code=200, **PAGE)
async def order_action(
    request: Request, order_id: FromPath[int], action: FromPath[str], ledger: NamedDependency[Ledger]
) -> Template | Redirect:
    me = page_member(request, SHOPKEEPER, ADMIN)
    if action not in ("fulfil", "cancel"):
        raise NotFound()
    language = i18n.language_of(request)
    fields = await form_fields(request)
    try:
        check_csrf(request, fields)
        if action == "fulfil":
            require_role(me, SHOPKEEPER)
            done = await orders.fulfil(ledger, me, order_id)
            return Redirect(f"/counter/receipts/{done.redemption_id}", status_code=303)
        await orders.cancel(ledger, me, order_id)
    except (MarketError, LedgerError) as error:
        shown = form_refusal(language, error)
        return await _orders_page(request, me, status=shown.status, problem=shown.problem)
    return Redirect(f"/counter/orders?cancelled={order_id}", status_code=303)


# -- the day's reconciliation ---------------------------------------------------------------------


@get("/counter/reconciliation", name="web:reconciliation", **PAGE)
async def reconciliation_page(request: Request) -> Template | Redirect:
    me = page_member(request, SHOPKEEPER, ADMIN)
    language = i18n.language_of(request)
    typed_date = request.query_params.get("date", "")[:20]
    typed_keeper = request.query_params.get("keeper", "")[:20]
    problem = None
    try:
        day = reconciliation.parse_day(typed_date)
    except InvalidInput as error:
        problem = form_refusal(language, error).problem
        day = reconciliation.parse_day(None)
    admin = me.has_role(ADMIN)
    keeper_id: int | None = None
    if admin:
        keeper_id = int(typed_keeper) if typed_keeper.isdigit() else None
    try:
        report = await reconciliation.reconcile_day(me, day, keeper_id, language)
    except MarketError as error:
        problem = form_refusal(language, error).problem
        keeper_id = None
        report = await reconciliation.reconcile_day(me, day, None if admin else me.id, language)
    return page(
        request, "shopkeeper/reconciliation.html", status=400 if problem else 200, report=report,
        day=day.isoformat(), typed_date=typed_date or day.isoformat(), problem=problem, admin=admin,
        keepers=await reconciliation.keepers(me), keeper_id=keeper_id,
    )


PAGES: list = [
    counter_form, counter_confirm, receipt, refund, order_list, order_action, reconciliation_page,
    *SCANNER_PAGES,
]
