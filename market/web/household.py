"""The resident's household page (我的家庭): the household's members (names masked) and their
points, the total, and the form to give points to a member — or, when the community's policy
is "community", to any resident by their member card number.

Handlers call ``market.points.gifts`` directly, as the other pages call their services. The
form carries an Idempotency-Key made when the page was rendered, so a double tap or a resent
form gives once. A refused gift is shown again with the reason in the reader's language and
what was chosen and typed still in the form.
"""

import secrets
import unicodedata
from decimal import Decimal, InvalidOperation
from functools import partial
from urllib.parse import quote

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from ledger import Ledger, LedgerError
from market.amounts import Amount
from market.auth.roles import RESIDENT
from market.auth.sessions import Principal
from market.errors import CsrfRejected, InvalidInput, MarketError, NotFound
from market.points import gifts, schemas
from market.points.gifts import GiftNotAllowed
from market.points.schemas import GiftRequest
from market.points.service import MAX_KEY_LENGTH
from market.settings import Settings
from market.web import i18n
from market.web.forms import Form, check_csrf, form_fields, form_refusal, page, page_member

PAGE = {"include_in_schema": False}


def _gift_key() -> str:
    """A fresh Idempotency-Key for one gift form (URL-safe, so always a valid key)."""
    return "web-" + secrets.token_urlsafe(18)


def _valid_key(text: str) -> bool:
    return 0 < len(text) <= MAX_KEY_LENGTH and all("!" <= c <= "~" for c in text)


def _amount(text: str) -> Amount | None:
    """An amount as typed ("5", "2.5", full-width digits); None when it is not a number."""
    typed = unicodedata.normalize("NFKC", text).replace(" ", "")
    if not typed or len(typed) > 20:
        return None
    try:
        value = Decimal(typed)
    except InvalidOperation:
        return None
    return Amount(typed) if value.is_finite() else None


async def _page(
    request: Request, me: Principal, *, status: int = 200, values: dict[str, str] | None = None,
    problem: str | None = None, refusal: str | None = None, errors: dict[str, str] | None = None,
    key: str | None = None, done: schemas.GiftView | None = None,
) -> Template:
    view = await gifts.household(me)
    others = [member for member in view.members if not member.me]
    return page(
        request, "household.html", status=status, household=view, others=others,
        values=values or {"to": "", "card": "", "amount": ""}, problem=problem, refusal=refusal,
        # The text is said once, at the top; the field it is about is marked.
        bad_field=next(iter(errors or {}), None), key=key or _gift_key(), done=done,
    )


@get("/household", name="web:household", **PAGE)
async def household(request: Request) -> Template | Redirect:
    me = page_member(request, RESIDENT)
    shown = request.query_params.get("gift")
    done = await gifts.my_gift(me, shown[:200]) if shown else None
    return await _page(request, me, done=done)


@post("/household/gift", status_code=200, **PAGE)
async def give(
    request: Request, ledger: NamedDependency[Ledger], settings: NamedDependency[Settings]
) -> Template | Redirect:
    """Give points; then back to the page with the gift confirmed (a redirect: a reload gives
    nothing twice)."""
    me = page_member(request, RESIDENT)
    language = i18n.language_of(request)
    fields = await form_fields(request)
    values = {name: fields.get(name, "").strip() for name in ("to", "card", "amount")}
    key = fields.get("key", "")

    form = Form(request, partial(_page, request, me, values=values, key=key if _valid_key(key) else None),
                fields=values)

    try:
        check_csrf(request, fields)
    except CsrfRejected as error:
        return await form.refused(error)
    policy = await gifts.household(me)
    receiver: int | None = None
    if values["card"] and policy.gifting == "community":
        try:
            receiver = await gifts.receiver_by_card(me.community_id, values["card"], settings=settings)
        except NotFound:
            text = i18n.error_text(language, "gift_receiver_not_found")
            return await form.again(404, text, {"card": text}, refusal="gift_receiver_not_found")
    elif values["to"].isascii() and values["to"].isdigit() and len(values["to"]) < 11:
        receiver = int(values["to"])
    if receiver is None:
        text = i18n.translate(language, "Choose who to give the points to.")
        has_others = any(not member.me for member in policy.members)
        return await form.again(400, text, {"to" if has_others else "card": text})
    amount = _amount(values["amount"])
    if amount is None:
        return await form.refused(InvalidInput("invalid_amount", field="amount"))
    if not _valid_key(key):
        # Only a tampered or truncated form gets here; a fresh key makes the next press count.
        return await form.again(400, i18n.translate(
            language, "The form was out of date. Check it and press Give again."), key=None)
    try:
        made = await gifts.give(ledger, me, GiftRequest(to_person_id=receiver, amount=amount), key)
    except (MarketError, LedgerError) as error:
        if error.reason == "id_conflict":
            # This form already gave (the back button, then another amount or person).
            return await form.again(422, i18n.translate(
                language, "This form was already used for a gift. To give again, press Give."),
                refusal="id_conflict", key=None)
        shown = form_refusal(language, error)
        # Which rule refused the gift (only my household, or gifting off) is said in its own words.
        text = error.text(language) if isinstance(error, GiftNotAllowed) else shown.problem  # type: ignore[arg-type]
        field = "amount" if shown.reason in ("gift_cap_exceeded", "insufficient_points", "invalid_amount") \
            else "card" if values["card"] else "to"
        return await form.again(shown.status, text, {field: text}, refusal=shown.reason)
    return Redirect(f"/household?gift={quote(made.id, safe='')}", status_code=303)


PAGES = [household, give]
