"""Deductions (扣分) and the suspension of redemptions: a community's rules catalogue, points taken
back from a wallet, and the days a resident may not redeem.

**The catalogue.** Village and community rules (村规民约) come as plus/minus pairs: the plus side
is how points are earned, the minus side is listed here (``deduction_rule``: 乱堆乱放 −2), each
with an optional suspension of redemptions that comes with it ("this year and the next", or N
months). A rule in use is archived, never deleted, so the deductions that name it keep its name.

**A deduction** moves points from the person's wallet to the community's issuance account
(ledger kind ``deduction``), in one write unit with its ``deduction`` row, the suspension it
brings (if any) and an audit entry. It is made by an admin or an organizer with an
``Idempotency-Key``: the same key and body answer with the first deduction; another body, 422.

**The wallet never goes below zero, and no debt is carried.** The amount is decided under the
community's ledger chain lock (``ledger.locking``), from the wallet's balance less its held
points read under it: the deduction takes what is available, up to the amount asked, and records
the rest as ``not_taken`` — shown in the answer and on the admin's page, never collected later.
Held points (an open reservation) are not taken: a reservation must not lose its points from
under it. A resident with nothing to take still gets the suspension the rule brings: repeated
serious cases are what suspension is for, not a negative balance. A deduction that took nothing
has no ledger transfer (``transfer_id`` None).

**A suspension** (``redemption_suspension``) runs from the day it is made through ``until``
(China dates, both included) unless lifted (an upheld appeal lifts the one that came with the
deduction). While one is active the counter and reservations refuse with 409
``redemption_suspended`` (``check_not_suspended``), changing nothing; a reservation made before
can still be collected or cancelled (its points were held before). "Today" is
``market.clock.now()`` in China time, the injectable clock.

Amounts are integer hundredths here and in the tables, ``Amount`` strings on the wire.
"""

import calendar
import hashlib
import json
import logging
from datetime import date, datetime, timedelta
from decimal import Decimal

import msgspec

from ledger import Ledger, format_points, locking, single, to_decimal, to_hundredths
from market import audit, clock
from market.auth.sessions import Principal
from market.china_time import CHINA
from market.db import fetch, is_unique_violation
from market.errors import Conflict, InvalidInput, MarketError, NotFound, Unprocessable
from market.messages import Language
from market.people.service import community_of
from market.points import lots
from market.points.schemas import (
    DeductionList,
    DeductionRequest,
    DeductionView,
    RuleChange,
    RuleList,
    RuleView,
    Suspension,
    SuspensionMonths,
    SuspensionState,
    SuspensionView,
)
from market.points.service import account_id, wallet_id
from market.writes import LedgerStep, Steps, write

log = logging.getLogger(__name__)

MAX_RULE_NAME = 50
#: The largest deduction a rule or a request may name, in points.
MAX_DEDUCTION = Decimal(1_000_000)
MAX_SUSPENSION_MONTHS = 60
#: A suspension's end may be named at most this far ahead.
MAX_SUSPENSION_DAYS = 3660
#: Free text of a deduction; with a rule's name (≤ 50) the ledger's memo stays within 200.
MAX_REASON = 140
MAX_RULES = 200
LIST_LIMIT = 100
DEDUCTION_KIND = "deduction"
SUSPENSIONS = ("none", "this_and_next_year", "months")


def today() -> date:
    """Today in China, by the injectable clock."""
    return clock.now().astimezone(CHINA).date()


def now_ms() -> int:
    return lots.to_us(clock.now()) // 1000


def _moment(ms: int | None) -> datetime | None:
    return None if ms is None else lots.from_us(ms * 1000)


class RedemptionSuspended(MarketError):
    """409: the person may not redeem points until the suspension ends or is lifted."""

    status, reason = 409, "redemption_suspended"

    def members(self, language: Language) -> dict:
        return {"until": self.params["until"]}


# -- the catalogue ---------------------------------------------------------------------------


def _rule_view(row: dict) -> RuleView:
    suspension: Suspension = row["suspension"]
    if row["suspension"] == "months":
        suspension = SuspensionMonths(months=row["suspension_months"])
    return RuleView(
        id=row["id"], name=row["name"], amount=format_points(row["amount"]), suspension=suspension,
        archived=bool(row["archived"]), updated_at=_moment(row["updated_ms"]),  # type: ignore[arg-type]
    )


def _amount(value: Decimal, field: str) -> int:
    try:
        hundredths = to_hundredths(value)
    except Exception:  # the ledger's InvalidAmount: more than two decimals, not a number
        raise InvalidInput("invalid_deduction_amount", field=field) from None
    if not 0 < hundredths <= to_hundredths(MAX_DEDUCTION):
        raise InvalidInput("invalid_deduction_amount", field=field)
    return hundredths


def _checked_rule(change: RuleChange) -> tuple[str, int, str, int | None]:
    name = " ".join(change.name.split())
    if not 1 <= len(name) <= MAX_RULE_NAME:
        raise InvalidInput("invalid_rule_name", field="name")
    amount = _amount(change.amount, "amount")
    if isinstance(change.suspension, SuspensionMonths):
        months = change.suspension.months
        if isinstance(months, bool) or not 1 <= months <= MAX_SUSPENSION_MONTHS:
            raise InvalidInput("invalid_suspension", field="suspension")
        return name, amount, "months", months
    if change.suspension not in ("none", "this_and_next_year"):
        raise InvalidInput("invalid_suspension", field="suspension")
    return name, amount, change.suspension, None


_RULE_COLUMNS = "id, name, amount, suspension, suspension_months, archived, updated_ms"


async def list_rules(community_id: int, *, archived: bool | None = None) -> RuleList:
    """The catalogue, by name; ``archived`` True/False for only those, None for all."""
    where = "" if archived is None else " AND archived = {}"
    args = (community_id,) if archived is None else (community_id, int(archived))
    rows = await fetch(f"SELECT {_RULE_COLUMNS} FROM deduction_rule WHERE community = {{}}{where}"
                       " ORDER BY archived, name", *args)
    return RuleList(items=[_rule_view(row) for row in rows])


async def get_rule(community_id: int, rule_id: int) -> RuleView:
    rows = await fetch(f"SELECT {_RULE_COLUMNS} FROM deduction_rule WHERE id = {{}} AND community = {{}}",
                       rule_id, community_id)
    if not rows:
        raise NotFound(field="rule_id")
    return _rule_view(rows[0])


async def create_rule(me: Principal, change: RuleChange) -> RuleView:
    name, amount, suspension, months = _checked_rule(change)
    try:
        rule_id = await write(_create_rule_steps, me, name, amount, suspension, months, change.archived)
    except Exception as error:
        if is_unique_violation(error):
            raise InvalidInput("name_taken", field="name") from None
        raise
    return await get_rule(me.community_id, rule_id)


def _create_rule_steps(
    me: Principal, name: str, amount: int, suspension: str, months: int | None, archived: bool
) -> Steps[int]:
    (count,) = yield ("SELECT COUNT(*) AS n FROM deduction_rule WHERE community = {}", (me.community_id,))
    if count["n"] >= MAX_RULES:
        raise InvalidInput("too_many_rules", field="name", max=MAX_RULES)
    (row,) = yield (
        "INSERT INTO deduction_rule (community, name, amount, suspension, suspension_months, archived,"
        " updated_ms, updated_by) VALUES ({}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
        (me.community_id, name, amount, suspension, months, int(archived), now_ms(), me.id),
    )
    yield audit.entry(me.community_id, me.id, "deduction_rule_created", f"deduction_rule:{row['id']}")
    return row["id"]


async def change_rule(me: Principal, rule_id: int, change: RuleChange) -> RuleView:
    """Replace a rule (archive it with ``archived``); deductions made with it keep their amount."""
    name, amount, suspension, months = _checked_rule(change)
    await get_rule(me.community_id, rule_id)
    try:
        await write(_change_rule_steps, me, rule_id, name, amount, suspension, months, change.archived)
    except Exception as error:
        if is_unique_violation(error):
            raise InvalidInput("name_taken", field="name") from None
        raise
    return await get_rule(me.community_id, rule_id)


def _change_rule_steps(
    me: Principal, rule_id: int, name: str, amount: int, suspension: str, months: int | None,
    archived: bool,
) -> Steps[None]:
    rows = yield (
        "UPDATE deduction_rule SET name = {}, amount = {}, suspension = {}, suspension_months = {},"
        " archived = {}, updated_ms = {}, updated_by = {} WHERE id = {} AND community = {} RETURNING id",
        (name, amount, suspension, months, int(archived), now_ms(), me.id, rule_id, me.community_id),
    )
    if not rows:
        raise NotFound(field="rule_id")
    yield audit.entry(me.community_id, me.id, "deduction_rule_changed", f"deduction_rule:{rule_id}")


def suspension_end(kind: str, months: int | None, start: date) -> date | None:
    """The last day of a rule's suspension that starts on ``start`` (None: no suspension).

    "this_and_next_year": 31 December of the next year. N months: the day before the same day N
    months later (or that month's last day): 3 months from 15 March is through 14 June."""
    if kind == "this_and_next_year":
        return date(start.year + 1, 12, 31)
    if kind == "months" and months:
        index = start.month - 1 + months
        year, month = start.year + index // 12, index % 12 + 1
        return date(year, month, min(start.day, calendar.monthrange(year, month)[1])) - timedelta(days=1)
    return None


# -- suspensions -------------------------------------------------------------------------------


def _suspension_view(row: dict, on: date) -> SuspensionView:
    starts, until = date.fromisoformat(row["starts_on"]), date.fromisoformat(row["until_on"])
    return SuspensionView(
        id=row["id"], person_id=row["person"], starts_on=starts, until=until, reason=row["reason"],
        active=row["lifted_ms"] is None and starts <= on <= until, lifted_at=_moment(row["lifted_ms"]),
        deduction_id=row.get("deduction"),
    )


_SUSPENSION_COLUMNS = (
    "id, person, starts_on, until_on, reason, lifted_ms,"
    " (SELECT d.id FROM deduction d WHERE d.suspension = redemption_suspension.id) AS deduction"
)


async def active_suspension(community_id: int, person_id: int) -> SuspensionView | None:
    """The person's suspension in force today, the one that lasts longest; None: may redeem."""
    return await _active_in((community_id,), person_id)


async def _active_in(community_ids: tuple[int, ...], person_id: int) -> SuspensionView | None:
    """As ``active_suspension``, by any of ``community_ids``: one read for all of them."""
    on = today()
    places = ", ".join("{}" for _ in community_ids)
    rows = await fetch(
        f"SELECT {_SUSPENSION_COLUMNS} FROM redemption_suspension WHERE community IN ({places})"
        " AND person = {} AND lifted_ms IS NULL AND starts_on <= {} AND until_on >= {}"
        " ORDER BY until_on DESC, id LIMIT 1",
        *community_ids, person_id, on.isoformat(), on.isoformat(),
    )
    return _suspension_view(rows[0], on) if rows else None


async def check_not_suspended(community_id: int, person_id: int, *, visiting: int | None = None) -> None:
    """Refuse (409 ``redemption_suspended``) a redemption or reservation of a suspended person;
    ``visiting``: a visitor's own community (通存通兑), whose suspension refuses it too."""
    communities = (community_id,) if visiting in (None, community_id) else (community_id, visiting)
    found = await _active_in(communities, person_id)
    if found is not None:
        raise RedemptionSuspended(until=found.until.isoformat(), why=found.reason)


async def suspension_state(me: Principal) -> SuspensionState:
    found = await active_suspension(me.community_id, me.id)
    return SuspensionState(suspended=found is not None, suspension=found)


async def lift(me: Principal, suspension_id: int) -> SuspensionView:
    """The office lifts a suspension by hand (audited); one already lifted: 409."""
    rows = await fetch(f"SELECT {_SUSPENSION_COLUMNS} FROM redemption_suspension"
                       " WHERE id = {} AND community = {}", suspension_id, me.community_id)
    if not rows:
        raise NotFound(field="suspension_id")
    if rows[0]["lifted_ms"] is not None:
        raise Conflict("suspension_lifted")
    await write(_lift_steps, me, suspension_id, rows[0]["person"])
    rows = await fetch(f"SELECT {_SUSPENSION_COLUMNS} FROM redemption_suspension WHERE id = {{}}",
                       suspension_id)
    return _suspension_view(rows[0], today())


def _lift_steps(me: Principal, suspension_id: int, person_id: int) -> Steps[None]:
    rows = yield ("UPDATE redemption_suspension SET lifted_ms = {}, lifted_by = {}"
                  " WHERE id = {} AND lifted_ms IS NULL RETURNING id", (now_ms(), me.id, suspension_id))
    if not rows:  # lifted by someone else since it was read
        raise Conflict("suspension_lifted")
    yield audit.entry(me.community_id, me.id, "suspension_lifted", audit.person_subject(person_id))


# -- deductions --------------------------------------------------------------------------------


_DEDUCTION_SELECT = (
    "SELECT d.id, d.person, p.name AS person_name, d.rule, d.amount, d.taken, d.not_taken,"
    " d.balance_after, d.reason, d.transfer_id, d.actor, d.created_ms, d.suspension,"
    " s.starts_on, s.until_on, s.reason AS suspension_reason, s.lifted_ms,"
    " (SELECT a.status FROM deduction_appeal a WHERE a.deduction = d.id ORDER BY a.id DESC LIMIT 1)"
    " AS appeal_status"
    " FROM deduction d JOIN person p ON p.id = d.person"
    " LEFT JOIN redemption_suspension s ON s.id = d.suspension"
)


def _deduction_view(row: dict, on: date) -> DeductionView:
    suspension = None
    if row["suspension"] is not None:
        suspension = _suspension_view({
            "id": row["suspension"], "person": row["person"], "starts_on": row["starts_on"],
            "until_on": row["until_on"], "reason": row["suspension_reason"], "lifted_ms": row["lifted_ms"],
            "deduction": row["id"],
        }, on)
    return DeductionView(
        id=row["id"], person_id=row["person"], person_name=row["person_name"], rule_id=row["rule"],
        amount=format_points(row["amount"]), taken=format_points(row["taken"]),
        not_taken=format_points(row["not_taken"]), balance_after=format_points(row["balance_after"]),
        reason=row["reason"], transfer_id=row["transfer_id"], by=row["actor"],
        at=_moment(row["created_ms"]), suspension=suspension,  # type: ignore[arg-type]
        appeal_status=row["appeal_status"],
    )


async def get_deduction(community_id: int, deduction_id: int) -> DeductionView:
    rows = await fetch(f"{_DEDUCTION_SELECT} WHERE d.id = {{}} AND d.community = {{}}",
                       deduction_id, community_id)
    if not rows:
        raise NotFound(field="deduction_id")
    return _deduction_view(rows[0], today())


async def deduction_of(
    community_id: int, person_id: int, *, transfer_id: str | None = None, deduction_id: int | None = None,
) -> DeductionView:
    """The person's deduction with this statement entry (``transfer_id``) or id; anyone else's: 404."""
    by_entry = transfer_id is not None
    where, value = ("d.transfer_id = {}", transfer_id) if by_entry else ("d.id = {}", deduction_id)
    rows = await fetch(f"{_DEDUCTION_SELECT} WHERE {where} AND d.community = {{}} AND d.person = {{}}",
                       value, community_id, person_id)
    if not rows:
        raise NotFound(field="transfer_id" if transfer_id is not None else "deduction_id")
    return _deduction_view(rows[0], today())


async def list_deductions(community_id: int, person_id: int | None = None,
                          limit: int = LIST_LIMIT) -> DeductionList:
    """The community's deductions, newest first (or one person's)."""
    where, args = "d.community = {}", [community_id]
    if person_id is not None:
        where, args = where + " AND d.person = {}", [*args, person_id]
    rows = await fetch(f"{_DEDUCTION_SELECT} WHERE {where} ORDER BY d.id DESC LIMIT {{}}", *args, limit)
    on = today()
    return DeductionList(items=[_deduction_view(row, on) for row in rows])


def transfer_id_of(deduction_id: int) -> str:
    """The ledger transfer of a deduction that took points."""
    return f"deduction-{deduction_id}"


def _request_hash(data: DeductionRequest) -> str:
    canonical = json.dumps([
        data.person_id, data.rule_id, None if data.amount is None else str(to_hundredths(data.amount)),
        " ".join(data.reason.split()), None if data.suspend_until is None else data.suspend_until.isoformat(),
    ], ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _earlier(me: Principal, key: str, request_hash: str) -> int | None:
    rows = await fetch("SELECT id, request_hash FROM deduction WHERE actor = {} AND key = {}", me.id, key)
    if not rows:
        return None
    if rows[0]["request_hash"] != request_hash:
        raise Unprocessable("id_conflict", field="Idempotency-Key")
    return rows[0]["id"]


class _Plan(msgspec.Struct, frozen=True):
    """What a deduction will do once the wallet is read under the chain lock."""

    person_id: int
    rule_id: int | None
    amount: int
    memo: str
    until: date | None
    key: str
    request_hash: str


async def deduct(
    ledger: Ledger, me: Principal, data: DeductionRequest, key: str
) -> tuple[DeductionView, bool]:
    """Take points from a person's wallet (see the module); (the deduction, whether it is new)."""
    if (data.rule_id is None) == (data.amount is None):
        raise InvalidInput("rule_or_amount", field="rule_id")
    reason = " ".join(data.reason.split())
    if len(reason) > MAX_REASON:
        raise InvalidInput("invalid_deduction_reason", field="reason", max=MAX_REASON)
    if data.amount is not None:
        _amount(data.amount, "amount")  # before hashing it: the hash reads it by the ledger's rule
    request_hash = _request_hash(data)
    if (found := await _earlier(me, key, request_hash)) is not None:
        return await get_deduction(me.community_id, found), False
    if await community_of(data.person_id) != me.community_id:
        raise NotFound(field="person_id")
    on = today()
    if data.rule_id is not None:
        rule_rows = await fetch(
            "SELECT name, amount, suspension, suspension_months, archived FROM deduction_rule"
            " WHERE id = {} AND community = {}", data.rule_id, me.community_id,
        )
        if not rule_rows:
            raise NotFound(field="rule_id")
        rule = rule_rows[0]
        if rule["archived"]:
            raise Conflict("archived", field="rule_id")
        amount, memo = int(rule["amount"]), rule["name"] + (f"：{reason}" if reason else "")
        until = suspension_end(rule["suspension"], rule["suspension_months"], on)
    else:
        if not reason:
            raise InvalidInput("invalid_deduction_reason", field="reason", max=MAX_REASON)
        amount, memo, until = _amount(data.amount, "amount"), reason, None  # type: ignore[arg-type]
    if data.suspend_until is not None:
        if not on <= data.suspend_until <= on + timedelta(days=MAX_SUSPENSION_DAYS):
            raise InvalidInput("invalid_suspend_until", field="suspend_until")
        until = data.suspend_until
    plan = _Plan(person_id=data.person_id, rule_id=data.rule_id, amount=amount, memo=memo, until=until,
                 key=key, request_hash=request_hash)
    # Opened before the write unit: opening an account is the ledger's own write.
    wallet = await wallet_id(ledger, me.community_id, data.person_id)
    issuance = await account_id(ledger, me.community_id, "issuance")
    try:
        deduction_id = await write(_deduct_steps, ledger, me, plan, wallet, issuance, on)
    except Exception as error:
        if not is_unique_violation(error):
            raise
        # The same key raced itself: the other request made the deduction.
        if (found := await _earlier(me, key, request_hash)) is None:
            raise
        return await get_deduction(me.community_id, found), False
    view = await get_deduction(me.community_id, deduction_id)
    log.info("deduction %s by %s of person %s: %s taken, %s not", view.id, me.id, data.person_id,
             view.taken, view.not_taken)
    return view, True


def _deduct_steps(
    ledger: Ledger, me: Principal, plan: _Plan, wallet: int, issuance: int, on: date,
) -> Steps[int]:
    # The chain first: no redemption, reservation or other deduction of this community can come
    # between reading the wallet and the transfer decided from it.
    yield LedgerStep(ledger, [locking(me.community_id)], each=True)
    (account,) = yield ("SELECT balance, held FROM ledger_accounts WHERE id = {}", (wallet,))
    balance, held = int(account["balance"]), int(account["held"])
    take = max(0, min(plan.amount, balance - held))
    at_ms = now_ms()
    suspension_id = None
    if plan.until is not None:
        (row,) = yield (
            "INSERT INTO redemption_suspension (community, person, starts_on, until_on, reason,"
            " created_by, created_ms) VALUES ({}, {}, {}, {}, {}, {}, {}) RETURNING id",
            (me.community_id, plan.person_id, on.isoformat(), plan.until.isoformat(), plan.memo, me.id,
             at_ms),
        )
        suspension_id = row["id"]
    (row,) = yield (
        "INSERT INTO deduction (community, person, actor, key, request_hash, rule, amount, taken,"
        " not_taken, balance_after, reason, transfer_id, suspension, created_ms) VALUES"
        " ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
        (me.community_id, plan.person_id, me.id, plan.key, plan.request_hash, plan.rule_id, plan.amount,
         take, plan.amount - take, balance - take, plan.memo, None, suspension_id, at_ms),
    )
    yield audit.entry(me.community_id, me.id, "deduction", f"deduction:{row['id']}")
    if suspension_id is not None:
        yield audit.entry(me.community_id, me.id, "suspension", audit.person_subject(plan.person_id))
    if take:
        # Named by the deduction (short, as the statement shows it; the key is the row's).
        transfer_id = transfer_id_of(row["id"])
        yield ("UPDATE deduction SET transfer_id = {} WHERE id = {}", (transfer_id, row["id"]))
        yield LedgerStep(ledger, [single(
            transfer_id, wallet, issuance, to_decimal(take), DEDUCTION_KIND, memo=plan.memo,
            reference=f"deduction:{row['id']}", ledger=me.community_id,
        )])
    return row["id"]

