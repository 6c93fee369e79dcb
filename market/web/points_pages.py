"""The points rules' pages (issue 15): the admin's policy form, the earning categories'
catalogue, the list of points expiring soon; and the residents' how-to-earn page.

- ``/admin/points/policy``: the whole policy in one form, saved by ``market.points.policy.save``
  (expiry none / calendar year / N months, 公示 working days and the holidays they skip,
  gifting and its monthly cap, caps per day and month). Holidays are kept by their ticked
  boxes and one more can be added by date in the same form, so the page needs no script. The
  form reads text as people type it on a phone (full-width digits, "２０２６/１０/０１") and
  refuses with the domain's reasons (``market.messages``), the field's label in the text, what
  was typed kept. A saved policy governs points earned from then on, which the page says.
- ``/admin/points/categories``: add, change, archive and restore categories
  (``market.points.categories``); each category has its own small form, and a refusal comes
  back beside the form it concerns.
- ``/admin/points/expiring?days=``: who has points expiring within that many days
  (``market.points.service.expiring_list``), with a choice of 7, 30, 90 or 365 days.
- ``/earn``: how to earn, for anyone signed in: ``market.activities.how_to_earn`` in the reader's
  language.

Success redirects (POST-redirect-GET) to the page with ``?saved=…``.
"""

import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from market.activities import how_to_earn as how_to_earn_service
from market.amounts import Amount
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.errors import InvalidInput, MarketError
from market.points import categories, policy
from market.points import service as points
from market.points.policy import GIFTING
from market.points.schemas import CategoryChange, ExpiryMonths, NewCategory, PolicyUpdate, PolicyView
from market.web import i18n
from market.web.forms import check_csrf, form_fields, page, page_member, refusal_for

PAGE = {"include_in_schema": False}
POLICY = "/admin/points/policy"
CATEGORIES = "/admin/points/categories"
EXPIRING = "/admin/points/expiring"
#: The choices of the expiring list's selector; any 1 … 366 works in the address.
EXPIRING_DAYS = (7, 30, 90, 365)
MAX_EXPIRING_DAYS = 366
POLICY_FIELDS = ("expiry", "expiry_months", "publicity_days", "new_holiday", "gifting",
                 "gift_cap_per_month", "cap_per_day", "cap_per_month")
CATEGORY_FIELDS = ("name", "points_per_checkin", "points_per_hour", "description")


def _typed(text: str | None) -> str:
    """As typed on a Chinese keyboard: full-width digits and punctuation as ASCII, trimmed."""
    return unicodedata.normalize("NFKC", text or "").strip()


def _labels(language: i18n.Language) -> dict[str, str]:
    """The forms' field names as their labels say them, for the refusals that name a field."""
    def say(text: str) -> str:
        return i18n.translate(language, text)

    return {
        "expiry": say("Expiry"), "expiry_months": say("Months"),
        "publicity_days": say("公示 working days"), "holidays": say("Holidays"),
        "new_holiday": say("Add a holiday"), "gifting": say("Gifts"),
        "gift_cap_per_month": say("Most a resident may give a month"),
        "cap_per_day": say("Most a person may earn a day"),
        "cap_per_month": say("Most a person may earn a month"),
        "name": say("Category name"), "points_per_checkin": say("Points per participation"),
        "points_per_hour": say("Points per hour"), "description": say("Description"),
    }


def _say(request: Request, error: MarketError) -> str:
    """A refusal in the reader's language, the field it names by its label on the page."""
    return refusal_for(request, error, labels=_labels(i18n.language_of(request)))


# -- the policy --------------------------------------------------------------------------------------


def _shown(view: PolicyView) -> dict[str, Any]:
    """The saved policy as the form shows it."""
    months = view.expiry.months if isinstance(view.expiry, ExpiryMonths) else None
    return {
        "expiry": "months" if months else view.expiry, "expiry_months": str(months or ""),
        "publicity_days": str(view.publicity_days), "new_holiday": "", "gifting": view.gifting,
        "gift_cap_per_month": view.gift_cap_per_month, "cap_per_day": view.cap_per_day or "",
        "cap_per_month": view.cap_per_month or "",
        "holidays": [day.isoformat() for day in view.holidays],
    }


def _policy_page(request: Request, values: dict[str, Any], *, status: int = 200,
                 problem: str | None = None, bad_field: str | None = None) -> Template:
    return page(request, "admin/points_policy.html", status=status, values=values, problem=problem,
                bad_field=bad_field, saved=request.query_params.get("saved"), gifting=GIFTING)


@get(POLICY, name="web:admin-points-policy", **PAGE)
async def policy_page(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    return _policy_page(request, _shown(await policy.policy(me.community_id)))


def _whole(text: str, reason: str, field_name: str, low: int, high: int) -> int:
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise InvalidInput(reason, field=field_name)
    return int(text)


def _points(text: str, field_name: str) -> Amount | None:
    """Points as typed ("", "20", "12.5"); empty: None."""
    if not text:
        return None
    try:
        value = Amount(text)
    except (InvalidOperation, ValueError):
        raise InvalidInput("invalid_cap_text", field=field_name) from None
    if not value.is_finite() or len(text) > 20 or value != value.quantize(Decimal("0.01")):
        raise InvalidInput("invalid_cap_text", field=field_name)
    return value


def _day(text: str, field_name: str) -> date:
    """A date as typed: 2026-10-01, 2026/10/01 or 2026.10.01."""
    try:
        return date.fromisoformat("-".join(part.zfill(2) for part in
                                           text.replace("/", "-").replace(".", "-").split("-")))
    except ValueError:
        raise InvalidInput("invalid_holiday", field=field_name) from None


def policy_from_form(values: dict[str, Any]) -> PolicyUpdate:
    """The form's text as the policy service takes it; the first thing it cannot read raises."""
    expiry_kind = values["expiry"]
    expiry: Any
    if expiry_kind == "months":
        expiry = ExpiryMonths(months=_whole(values["expiry_months"], "invalid_expiry_months",
                                            "expiry_months", 1, policy.MAX_EXPIRY_MONTHS))
    elif expiry_kind in ("none", "calendar_year"):
        expiry = expiry_kind
    else:
        raise InvalidInput("invalid_expiry", field="expiry")
    publicity = _whole(values["publicity_days"] or "0", "invalid_publicity_days", "publicity_days",
                       0, policy.MAX_PUBLICITY_DAYS)
    holidays = [_day(day, "holidays") for day in values["holidays"]]
    if values["new_holiday"]:
        holidays.append(_day(values["new_holiday"], "new_holiday"))
    if values["gifting"] not in GIFTING:
        raise InvalidInput("invalid_input", field="gifting")
    return PolicyUpdate(
        expiry=expiry, publicity_days=publicity, gifting=values["gifting"],
        gift_cap_per_month=_points(values["gift_cap_per_month"], "gift_cap_per_month") or Amount(0),
        cap_per_day=_points(values["cap_per_day"], "cap_per_day"),
        cap_per_month=_points(values["cap_per_month"], "cap_per_month"), holidays=holidays,
    )


@post(POLICY, status_code=303, **PAGE)
async def save_policy(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    form = await request.form()
    values: dict[str, Any] = {name: _typed(fields.get(name)) for name in POLICY_FIELDS}
    values["holidays"] = [_typed(str(day)) for day in form.getall("holidays", [])][:policy.MAX_HOLIDAYS + 1]
    try:
        await policy.save(me.community_id, me.id, policy_from_form(values))
    except MarketError as error:
        return _policy_page(request, values, status=error.status, problem=_say(request, error),
                            bad_field=error.field)
    return Redirect(f"{POLICY}?saved=1", status_code=303)


# -- the earning categories ---------------------------------------------------------------------------


@dataclass
class _Refused:
    """A category form sent back: which one ("new" or the category's id), what was typed, why."""

    form: str
    values: dict[str, str]
    problem: str
    bad_field: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


async def _categories_page(request: Request, me: Principal, *, status: int = 200,
                           refused: _Refused | None = None) -> Template:
    return page(request, "admin/points_categories.html", status=status,
                found=await categories.list_categories(me.community_id), refused=refused,
                saved=request.query_params.get("saved"))


@get(CATEGORIES, name="web:admin-points-categories", **PAGE)
async def categories_page(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    return await _categories_page(request, me)


def _rate(text: str, field_name: str) -> Amount | None:
    if not text:
        return None
    try:
        value = Amount(text)
    except (InvalidOperation, ValueError):
        raise InvalidInput("invalid_category_rate", field=field_name) from None
    if not value.is_finite():
        raise InvalidInput("invalid_category_rate", field=field_name)
    return value


async def _category_form(request: Request) -> dict[str, str]:
    fields = await form_fields(request)
    check_csrf(request, fields)
    values = {name: _typed(fields.get(name)) if name != "description" else fields.get(name, "").strip()
              for name in CATEGORY_FIELDS}
    values["action"] = fields.get("action", "save")
    return values


@post(CATEGORIES, status_code=303, **PAGE)
async def add_category(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    values = await _category_form(request)
    try:
        made = await categories.create(me, NewCategory(
            name=values["name"],
            points_per_checkin=_rate(values["points_per_checkin"], "points_per_checkin") or Amount(0),
            points_per_hour=_rate(values["points_per_hour"], "points_per_hour") or Amount(0),
            description=values["description"],
        ))
    except MarketError as error:
        return await _categories_page(request, me, status=error.status, refused=_Refused(
            "new", values, _say(request, error), error.field))
    return Redirect(f"{CATEGORIES}?saved={made.id}#category-{made.id}", status_code=303)


@post(f"{CATEGORIES}/{{category_id:int}}", status_code=303, **PAGE)
async def change_category(request: Request, category_id: FromPath[int]) -> Template | Redirect:
    """Save a category's fields, or archive or restore it (``action``)."""
    me = page_member(request, ADMIN)
    values = await _category_form(request)
    try:
        if values["action"] in ("archive", "restore"):
            change = CategoryChange(archived=values["action"] == "archive")
        else:
            change = CategoryChange(
                name=values["name"],
                points_per_checkin=_rate(values["points_per_checkin"], "points_per_checkin")
                or Amount(0),
                points_per_hour=_rate(values["points_per_hour"], "points_per_hour") or Amount(0),
                description=values["description"],
            )
        await categories.update(me, category_id, change)
    except MarketError as error:
        if error.status == 404:
            raise
        return await _categories_page(request, me, status=error.status, refused=_Refused(
            str(category_id), values, _say(request, error), error.field))
    return Redirect(f"{CATEGORIES}?saved={category_id}#category-{category_id}", status_code=303)


# -- points expiring soon ------------------------------------------------------------------------------


@get(EXPIRING, name="web:admin-points-expiring", **PAGE)
async def expiring_page(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    typed = _typed(request.query_params.get("days")) or "30"
    days = _whole(typed, "invalid_input", "days", 1, MAX_EXPIRING_DAYS)
    found = await points.expiring_list(me.community_id, days)
    choices = sorted({*EXPIRING_DAYS, days})
    return page(request, "admin/points_expiring.html", found=found, days=days, choices=choices)


# -- how to earn ----------------------------------------------------------------------------------------


@get("/earn", name="web:earn", **PAGE)
async def how_to_earn(request: Request) -> Template | Redirect:
    me = page_member(request)
    language = i18n.language_of(request)
    return page(request, "earn.html", earn=await how_to_earn_service.how_to_earn(me, language))


PAGES = [policy_page, save_policy, categories_page, add_category, change_category, expiring_page,
         how_to_earn]
