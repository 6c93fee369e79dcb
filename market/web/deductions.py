"""The pages of deductions (扣分), suspensions and appeals.

- ``/admin/deductions`` (admins): the rules catalogue (add, archive, restore), finding a resident
  by name, phone or card number as the adjustments page does, and applying a deduction — by a
  rule or by an amount, with a reason and an optional last day of suspension. The outcome says
  what was taken and, when the wallet had less, what could not be taken (no debt is carried).
  The latest deductions are listed with their suspension (lift it here) and appeal.
- ``/admin/appeals`` (admins): the open appeals, oldest first, each with uphold / reject buttons
  and a note; the latest decisions below.
- ``/appeal?entry=<transfer id>`` (residents): one deduction of the statement, its appeal's state,
  and the form to appeal it.

The resident's home page shows an active suspension and the statement an "Appeal" action on
deduction entries (``home_extras``, ``statement_extras``: what ``market.web.pages`` adds to
those pages). Like the other pages, handlers call the services; a refused form is shown again
with the reason in the reader's language and what was typed still in it.
"""

import secrets
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ledger import Ledger, LedgerError
from market.auth.roles import ADMIN, RESIDENT
from market.auth.sessions import Principal
from market.errors import InvalidInput, MarketError, NotFound
from market.people import rules as person_rules
from market.people import service as people
from market.points import appeals, deductions, schemas
from market.points import service as points
from market.points.schemas import DeductionRequest, RuleChange, SuspensionMonths
from market.web import i18n
from market.web.forms import (
    check_csrf,
    form_fields,
    normalise_login,
    page,
    page_member,
    record_id,
    refusal_for,
)

PAGE = {"include_in_schema": False}
PEOPLE_PAGE = 20
RECENT = 20


def _amount(text: str, reason: str = "invalid_deduction_amount") -> Decimal:
    """An amount as typed ("2", "2.50", full-width digits); never a float."""
    typed = unicodedata.normalize("NFKC", text).replace(" ", "")
    try:
        value = Decimal(typed)
    except InvalidOperation:
        raise InvalidInput(reason, field="amount") from None
    if not value.is_finite() or len(typed) > 20:
        raise InvalidInput(reason, field="amount")
    return value


# -- the resident's pages' extras ----------------------------------------------------------------


async def home_extras(me: Principal) -> dict[str, Any]:
    """What the home page shows of suspensions: the one in force, if any."""
    return {"suspension": await deductions.active_suspension(me.community_id, me.id)}


async def statement_extras(me: Principal, entries: list[schemas.EntryView]) -> dict[str, Any]:
    """The appeals of the deduction entries shown (the latest of each), by entry id."""
    ids = [entry.id for entry in entries if entry.kind == deductions.DEDUCTION_KIND]
    return {"appeals": await appeals.latest_by_transfer(me, ids)}


# -- rules and deductions (admins) ------------------------------------------------------------------


async def _deductions_page(
    request: Request, me: Principal, ledger: Ledger, *, status: int = 200, person_id: int | None = None,
    values: dict[str, str] | None = None, problem: str | None = None, bad_field: str | None = None,
    rule_values: dict[str, str] | None = None, rule_problem: str | None = None,
    rule_field: str | None = None,
) -> Template:
    params = request.query_params
    q = (params.get("q") or "").strip()[:50]
    found = None
    if person_id is None and q:
        typed = normalise_login(q)
        found = (await people.list_people(me.community_id, q=typed if typed.isdigit() else q,
                                          limit=PEOPLE_PAGE)).items
        if person_rules.is_card_no(typed) and len(found) == 1 and found[0].card_no == typed:
            person_id = found[0].id
    person = wallet = done = None
    if person_id is not None:
        person = await people.get_person(me.community_id, person_id)
        wallet = await points.wallet_of(ledger, me.community_id, person_id)
        done_id = record_id(params.get("done")) if status == 200 else None
        if done_id is not None:
            try:
                done = await deductions.get_deduction(me.community_id, done_id)
            except NotFound:
                done = None
            if done is not None and done.person_id != person_id:
                done = None
    values = values or {}
    values.setdefault("key", secrets.token_urlsafe(18))  # one per form shown: never deducts twice
    rules = (await deductions.list_rules(me.community_id)).items
    recent = (await deductions.list_deductions(me.community_id, person_id, limit=RECENT)).items
    return page(
        request, "admin/deductions.html", status=status, q=q, found=found, person=person, wallet=wallet,
        done=done, values=values, problem=problem, bad_field=bad_field, rules=rules, recent=recent,
        rule_values=rule_values or {"suspension": "none"}, rule_problem=rule_problem,
        rule_field=rule_field, saved=params.get("saved"),
    )


@get("/admin/deductions", name="web:admin-deductions", **PAGE)
async def deductions_page(request: Request, ledger: NamedDependency[Ledger]) -> Template:
    me = page_member(request, ADMIN)
    person_id = record_id(request.query_params.get("person"))
    return await _deductions_page(request, me, ledger, person_id=person_id)


def _suspension_of(values: dict[str, str]) -> Any:
    kind = values.get("suspension", "none")
    if kind == "months":
        months = unicodedata.normalize("NFKC", values.get("months", "")).strip()
        if not months.isdigit() or len(months) > 3:
            raise InvalidInput("invalid_suspension", field="suspension")
        return SuspensionMonths(months=int(months))
    if kind not in ("none", "this_and_next_year"):
        raise InvalidInput("invalid_suspension", field="suspension")
    return kind


@post("/admin/deductions/rules", status_code=303, **PAGE)
async def add_rule(request: Request, ledger: NamedDependency[Ledger]) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    values = {key: fields.get(key, "").strip() for key in ("name", "amount", "suspension", "months")}
    try:
        await deductions.create_rule(me, RuleChange(
            name=values["name"], amount=_amount(values["amount"]), suspension=_suspension_of(values),
        ))
    except MarketError as error:
        return await _deductions_page(request, me, ledger, status=error.status, rule_values=values,
                                      rule_problem=refusal_for(request, error), rule_field=error.field)
    return Redirect("/admin/deductions?saved=rule#rules", status_code=303)


@post("/admin/deductions/rules/{rule_id:int}/archive", status_code=303, **PAGE)
async def archive_rule(request: Request, rule_id: FromPath[int]) -> Redirect:
    """Archive a rule, or restore it (``archived`` = 0)."""
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    rule = await deductions.get_rule(me.community_id, rule_id)
    await deductions.change_rule(me, rule_id, RuleChange(
        name=rule.name, amount=Decimal(rule.amount), suspension=rule.suspension,
        archived=fields.get("archived") != "0",
    ))
    return Redirect("/admin/deductions?saved=rule#rules", status_code=303)


@post("/admin/deductions", status_code=303, **PAGE)
async def apply_deduction(request: Request, ledger: NamedDependency[Ledger]) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    person_id = record_id(fields.get("person_id"))
    if person_id is None:
        raise NotFound()
    values = {key: fields.get(key, "").strip() for key in ("rule_id", "amount", "reason", "until", "key")}
    try:
        rule_id = record_id(values["rule_id"]) if values["rule_id"] else None
        amount = _amount(values["amount"]) if values["amount"] and rule_id is None else None
        until = None
        if values["until"]:
            try:
                until = date.fromisoformat(values["until"])
            except ValueError:
                raise InvalidInput("invalid_suspend_until", field="until") from None
        key = points.check_idempotency_key(values["key"])
        made, _ = await deductions.deduct(ledger, me, DeductionRequest(
            person_id=person_id, rule_id=rule_id, amount=amount, reason=values["reason"], suspend_until=until,
        ), key)
    except (MarketError, LedgerError) as error:
        if isinstance(error, NotFound) and error.field == "person_id":
            raise
        problem, bad_field = refusal_for(request, error), getattr(error, "field", None)
        if error.reason in ("id_conflict", "invalid_idempotency_key", "idempotency_key_required"):
            problem = i18n.translate(i18n.language_of(request), "This form was already used for "
                                     "another deduction. Check it and submit again.")
            values.pop("key")
        if bad_field == "suspend_until":
            bad_field = "until"
        status = error.status if isinstance(error, MarketError) else 409
        return await _deductions_page(request, me, ledger, status=status, person_id=person_id, values=values,
                                      problem=problem, bad_field=bad_field)
    return Redirect(f"/admin/deductions?person={person_id}&done={made.id}", status_code=303)


@post("/admin/suspensions/{suspension_id:int}/lift", status_code=303, **PAGE)
async def lift_suspension(request: Request, suspension_id: FromPath[int]) -> Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    try:
        lifted = await deductions.lift(me, suspension_id)
    except MarketError as error:
        if error.reason != "suspension_lifted":
            raise
        return Redirect("/admin/deductions", status_code=303)
    return Redirect(f"/admin/deductions?person={lifted.person_id}", status_code=303)


# -- appeals: the office's queue ---------------------------------------------------------------------


async def _appeals_page(request: Request, me: Principal, *, status: int = 200, problem: str | None = None,
                        problem_for: int | None = None, notes: dict[int, str] | None = None) -> Template:
    return page(
        request, "admin/appeals.html", status=status,
        open_appeals=(await appeals.list_appeals(me.community_id, "open")).items,
        decided=[a for a in (await appeals.list_appeals(me.community_id, None)).items
                 if a.status != "open"][:RECENT],
        problem=problem, problem_for=problem_for, notes=notes or {},
        done=request.query_params.get("done"),
    )


@get("/admin/appeals", name="web:admin-appeals", **PAGE)
async def appeals_page(request: Request) -> Template:
    me = page_member(request, ADMIN)
    return await _appeals_page(request, me)


@post("/admin/appeals/{appeal_id:int}/decision", status_code=303, **PAGE)
async def decide_appeal(request: Request, appeal_id: FromPath[int],
                        ledger: NamedDependency[Ledger]) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    note = fields.get("note", "").strip()
    try:
        decided = await appeals.decide(ledger, me, appeal_id, schemas.Decision(
            uphold=fields.get("uphold") == "1", note=note))
    except (MarketError, LedgerError) as error:
        if isinstance(error, NotFound):
            raise
        status = error.status if isinstance(error, MarketError) else 409
        return await _appeals_page(request, me, status=status, problem=refusal_for(request, error),
                                   problem_for=appeal_id, notes={appeal_id: note})
    return Redirect(f"/admin/appeals?done={decided.status}", status_code=303)


# -- appeals: the resident's page ---------------------------------------------------------------------


async def _deduction_named(me: Principal, entry: str, deduction: str) -> schemas.DeductionView:
    """The resident's deduction a page names: by its statement entry, or (one that took nothing
    and so has no entry) by its id."""
    if entry and len(entry) <= 200:
        return await deductions.deduction_of(me.community_id, me.id, transfer_id=entry)
    if (deduction_id := record_id(deduction)) is not None:
        return await deductions.deduction_of(me.community_id, me.id, deduction_id=deduction_id)
    raise NotFound()


async def _appeal_page(request: Request, me: Principal, entry: str, deduction_text: str = "", *,
                       status: int = 200, reason: str = "", problem: str | None = None) -> Template:
    deduction = await _deduction_named(me, entry, deduction_text)
    found = await appeals.latest_of(me, deduction.id)
    return page(request, "appeal.html", status=status, deduction=deduction, appeal=found,
                reason=reason, problem=problem, sent=request.query_params.get("sent"))


@get("/appeal", name="web:appeal", **PAGE)
async def appeal_page(request: Request) -> Template:
    me = page_member(request, RESIDENT)
    params = request.query_params
    return await _appeal_page(request, me, params.get("entry") or "", params.get("deduction") or "")


@post("/appeal", status_code=303, **PAGE)
async def send_appeal(request: Request) -> Template | Redirect:
    me = page_member(request, RESIDENT)
    fields = await form_fields(request)
    check_csrf(request, fields)
    reason = fields.get("reason", "").strip()
    deduction = await _deduction_named(me, fields.get("entry", ""), fields.get("deduction", ""))
    try:
        await appeals.appeal(me, schemas.NewAppeal(reason=reason, deduction_id=deduction.id))
    except MarketError as error:
        if isinstance(error, NotFound):
            raise
        return await _appeal_page(request, me, "", str(deduction.id), status=error.status, reason=reason,
                                  problem=refusal_for(request, error))
    return Redirect(f"/appeal?deduction={deduction.id}&sent=1", status_code=303)


PAGES = [
    deductions_page, add_rule, archive_rule, apply_deduction, lift_suspension, appeals_page, decide_appeal,
    appeal_page, send_appeal,
]
