"""A day at the counter, reconciled: redemptions, refunds, points by product, stock moves, the ledger.

The day is a calendar day in Asia/Shanghai. For one shop keeper it holds the
redemptions they made, the refunds they made (of any day's redemption) and the
stock movements they caused; for the whole community (an admin's view) all of
them. The ledger check takes every redemption and refund of the day and looks
up its transfer: it must exist, move the same amount, and go from the
resident's wallet to the community's shop account (a refund the other way).
Over the whole community it also looks for transfers between a wallet and the
shop made that day that no redemption or refund accounts for. Any mismatch is
listed in ``problems``; ``agrees`` is true only without any.
"""

from datetime import UTC, date, datetime, time, timedelta

import msgspec

from ledger import format_points
from market import clock
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.china_time import CHINA
from market.db import fetch
from market.errors import Forbidden, InvalidInput, NotFound
from market.messages import Language, message
from market.shop.schemas import LedgerCheck, LedgerProblem, ProductDay, Reconciliation, StockDay, Totals


class Keeper(msgspec.Struct):
    id: int
    name: str


def parse_day(text: str | None, now: datetime | None = None) -> date:
    """ "YYYY-MM-DD" (Beijing); today in Beijing when absent; 400 ``invalid_date`` otherwise."""
    if text is None or not text.strip():
        return (now or clock.now()).astimezone(CHINA).date()
    try:
        if len(text.strip()) != 10:
            raise ValueError(text)
        day = date.fromisoformat(text.strip())
        day_bounds(day)  # 0001-01-01 and 9999-12-31 have no Beijing day in UTC
        return day
    except (ValueError, OverflowError):
        raise InvalidInput("invalid_date", field="date") from None


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of the Beijing day, in UTC."""
    start = datetime.combine(day, time(0), CHINA)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


async def _keeper_scope(me: Principal, keeper_id: int | None) -> int | None:
    """Whose counter: a shop keeper (not an admin) only their own; an admin anyone's, or all."""
    if ADMIN not in me.roles:
        if keeper_id is not None and keeper_id != me.id:
            raise Forbidden(field="keeper_id")
        return me.id
    if keeper_id is not None:
        found = await fetch(
            "SELECT id FROM person WHERE id = {} AND community = {}", keeper_id, me.community_id
        )
        if not found:
            raise NotFound(field="keeper_id")
    return keeper_id


async def keepers(me: Principal) -> list[Keeper]:
    """Whose counter an admin may look at: the community's shop keepers and admins, and
    anyone else who has served at the counter. A shop keeper sees only themself."""
    if ADMIN not in me.roles:
        return [Keeper(id=me.id, name=me.name)]
    rows = await fetch(
        "SELECT id, name, roles FROM person WHERE community = {} AND (roles LIKE {} OR roles LIKE {}"
        " OR id IN (SELECT keeper FROM redemption WHERE community = {})) ORDER BY name, id LIMIT 500",
        me.community_id, "%shopkeeper%", "%admin%", me.community_id,
    )
    return [Keeper(id=row["id"], name=row["name"]) for row in rows]


def _scoped(sql: str, args: list[object], column: str, keeper_id: int | None) -> tuple[str, list[object]]:
    if keeper_id is None:
        return sql, args
    return f"{sql} AND {column} = {{}}", [*args, keeper_id]


async def reconcile_day(
    me: Principal, day: date, keeper_id: int | None = None, language: Language = "zh"
) -> Reconciliation:
    keeper = await _keeper_scope(me, keeper_id)
    community = me.community_id
    start, end = day_bounds(day)

    sql, args = _scoped(
        "SELECT r.id, r.person, r.home_community, r.total, r.transfer_id, t.amount, t.phase,"
        " d.kind AS debit_kind, d.owner AS debit_owner, d.ledger AS debit_ledger,"
        " c.kind AS credit_kind, c.owner AS credit_owner, c.ledger AS credit_ledger"
        " FROM redemption r LEFT JOIN ledger_transfers t ON t.id = r.transfer_id"
        " LEFT JOIN ledger_accounts d ON d.id = t.debit LEFT JOIN ledger_accounts c ON c.id = t.credit"
        " WHERE r.community = {} AND r.created_at >= {} AND r.created_at < {}",
        [community, start, end], "r.keeper", keeper,
    )
    redemptions = await fetch(sql + " ORDER BY r.id", *args)
    sql, args = _scoped(
        "SELECT f.id, r.person, f.home_community, f.total, f.transfer_id, t.amount, t.phase,"
        " d.kind AS debit_kind, d.owner AS debit_owner, d.ledger AS debit_ledger,"
        " c.kind AS credit_kind, c.owner AS credit_owner, c.ledger AS credit_ledger"
        " FROM refund f JOIN redemption r ON r.id = f.redemption"
        " LEFT JOIN ledger_transfers t ON t.id = f.transfer_id"
        " LEFT JOIN ledger_accounts d ON d.id = t.debit LEFT JOIN ledger_accounts c ON c.id = t.credit"
        " WHERE f.community = {} AND f.created_at >= {} AND f.created_at < {}",
        [community, start, end], "f.keeper", keeper,
    )
    refunds = await fetch(sql + " ORDER BY f.id", *args)

    problems: list[LedgerProblem] = []
    redeemed_in_ledger = _check(redemptions, "redemption", community, problems, language)
    refunded_in_ledger = _check(refunds, "refund", community, problems, language)
    if keeper is None:
        problems += await _unaccounted(community, start, end, language)

    return Reconciliation(
        date=day, keeper_id=keeper,
        redemptions=_totals(redemptions),
        refunds=_totals(refunds),
        by_product=await _by_product(community, start, end, keeper),
        stock_movements=await _stock(community, start, end, keeper),
        ledger=LedgerCheck(
            agrees=not problems, redemption_transfers_points=format_points(redeemed_in_ledger),
            refund_transfers_points=format_points(refunded_in_ledger), problems=problems,
        ),
    )


def _check(
    rows: list[dict], what: str, community: int, problems: list[LedgerProblem], language: Language
) -> int:
    """Check each row's transfer; the sum of the amounts found in the ledger."""
    total = 0
    for row in rows:
        found: list[tuple[str, str | None, str | None]] = []
        if row["amount"] is None:
            found.append(("transfer_missing", None, None))
        else:
            total += int(row["amount"])
            if row["phase"] not in ("single", "post"):
                found.append(("transfer_not_posted", "single/post", row["phase"]))
            if int(row["amount"]) != row["total"]:
                found.append(("transfer_amount_differs", format_points(row["total"]),
                              format_points(int(row["amount"]))))
            # A visitor's points (通存通兑) crossed through the clearing account for their community.
            wallet = ("wallet", str(row["person"]), community) if row["home_community"] is None else (
                "clearing", str(row["home_community"]), community)
            shop = ("shop", "", community)
            debit = (row["debit_kind"], row["debit_owner"], row["debit_ledger"])
            credit = (row["credit_kind"], row["credit_owner"], row["credit_ledger"])
            expected = (wallet, shop) if what == "redemption" else (shop, wallet)
            if (debit, credit) != expected:
                found.append(("transfer_accounts_differ", _accounts(*expected), _accounts(debit, credit)))
        ids = {"redemption_id": row["id"]} if what == "redemption" else {"refund_id": row["id"]}
        for kind, wanted, got in found:
            problems.append(LedgerProblem(
                problem=kind, transfer_id=row["transfer_id"], expected=wanted, found=got,
                detail=message(kind, language, what=what_name(what, language), id=row["id"],
                               transfer_id=row["transfer_id"], expected=wanted, found=got),
                **ids,
            ))
    return total


def what_name(what: str, language: Language) -> str:
    if language == "en":
        return what
    return "兑换单" if what == "redemption" else "退货单"


def _accounts(debit: tuple, credit: tuple) -> str:
    def name(account: tuple) -> str:
        kind, owner, ledger = account
        return f"{kind}:{owner}@{ledger}" if owner else f"{kind}@{ledger}"

    return f"{name(debit)} → {name(credit)}"


def _totals(rows: list[dict]) -> Totals:
    return Totals(count=len(rows), points=format_points(sum(row["total"] for row in rows)))


async def _unaccounted(
    community: int, start: datetime, end: datetime, language: Language
) -> list[LedgerProblem]:
    """Transfers wallet (or a visitor's clearing account) → shop and back, of the day, that no
    redemption (refund) names."""
    rows = await fetch(
        "SELECT t.id, t.amount, t.debit_kind FROM ledger_movements t"
        " WHERE t.debit_ledger = {} AND t.phase IN ('single', 'post') AND t.at_us >= {} AND t.at_us < {}"
        " AND ((t.debit_kind IN ('wallet', 'clearing') AND t.credit_kind = 'shop'"
        "      AND NOT EXISTS (SELECT 1 FROM redemption r WHERE r.transfer_id = t.id))"
        "   OR (t.debit_kind = 'shop' AND t.credit_kind IN ('wallet', 'clearing')"
        "      AND NOT EXISTS (SELECT 1 FROM refund f WHERE f.transfer_id = t.id)))"
        " ORDER BY t.seq",
        community, _micros(start), _micros(end),
    )
    return [
        LedgerProblem(
            problem="transfer_unaccounted", transfer_id=row["id"], found=format_points(int(row["amount"])),
            detail=message("transfer_unaccounted", language, transfer_id=row["id"],
                           found=format_points(int(row["amount"]))),
        )
        for row in rows
    ]


def _micros(at: datetime) -> int:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


async def _by_product(community: int, start: datetime, end: datetime, keeper: int | None) -> list[ProductDay]:
    sql, args = _scoped(
        "SELECT l.product, SUM(l.quantity) AS quantity, SUM(l.quantity * l.unit_price) AS points"
        " FROM redemption_line l JOIN redemption r ON r.id = l.redemption"
        " WHERE r.community = {} AND r.created_at >= {} AND r.created_at < {}",
        [community, start, end], "r.keeper", keeper,
    )
    out = await fetch(sql + " GROUP BY l.product", *args)
    # A refund line is worth its redemption line's unit price, as the refund's total was.
    sql, args = _scoped(
        "SELECT b.product, SUM(b.quantity) AS quantity, SUM(b.quantity * l.unit_price) AS points"
        " FROM refund_line b JOIN refund f ON f.id = b.refund"
        " JOIN redemption_line l ON l.redemption = f.redemption AND l.product = b.product"
        " WHERE f.community = {} AND f.created_at >= {} AND f.created_at < {}",
        [community, start, end], "f.keeper", keeper,
    )
    back = await fetch(sql + " GROUP BY b.product", *args)
    products: dict[int, list[int]] = {}
    for row in out:
        products.setdefault(row["product"], [0, 0, 0, 0])[0:2] = [int(row["quantity"]), int(row["points"])]
    for row in back:
        products.setdefault(row["product"], [0, 0, 0, 0])[2:4] = [int(row["quantity"]), int(row["points"])]
    names = await _names(community, list(products))
    return [
        ProductDay(
            product_id=product, name=names.get(product, ""), quantity_out=q_out, quantity_back=q_back,
            points=format_points(p_out - p_back), points_out=format_points(p_out),
            points_back=format_points(p_back),
        )
        for product, (q_out, p_out, q_back, p_back) in sorted(products.items())
    ]


async def _stock(community: int, start: datetime, end: datetime, keeper: int | None) -> list[StockDay]:
    sql, args = _scoped(
        "SELECT product, kind, SUM(delta) AS delta FROM stock_movement"
        " WHERE community = {} AND at >= {} AND at < {}",
        [community, start, end], "actor", keeper,
    )
    rows = await fetch(sql + " GROUP BY product, kind ORDER BY product, kind", *args)
    names = await _names(community, sorted({row["product"] for row in rows}))
    return [
        StockDay(product_id=row["product"], name=names.get(row["product"], ""), kind=row["kind"],
                 delta=int(row["delta"]))
        for row in rows
    ]


async def _names(community: int, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    marks = ", ".join("{}" for _ in ids)
    rows = await fetch(
        f"SELECT id, name FROM product WHERE community = {{}} AND id IN ({marks})", community, *ids
    )
    return {row["id"]: row["name"] for row in rows}
