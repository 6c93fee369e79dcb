"""The shop counter: a resident's goods handed out for points, and taken back.

A redemption is one write unit (``market.writes``) holding everything it changes:
the redemption and its lines, one stock movement per line, and the ledger's
transfer from the resident's wallet to the community's shop account. Any refusal —
not enough points, not enough stock, a limit reached — rolls all of it back,
so a refused or interrupted redemption leaves no trace anywhere. Its locks, in the
order every unit takes them: the resident, the products (in id order), the
community's ledger chain.

A resident of another community of the subdistrict may redeem here when it shares its points
(通存通兑, ``market.subdistricts``): their wallet stays in their own community's ledger, and the
points cross to this shop through the two communities' clearing accounts (``ledger.crossing``),
both legs in the same unit, so both commit or neither; the redemption records the resident's
``home_community``. A refund goes back to the wallet the resident has now — crossing the same way
when that is in another community (a visitor's, or a resident's who has moved house since).

The shop keeper's Idempotency-Key names the redemption: the same key with the
same basket answers with the first redemption; with another basket, 422.
A refund moves the points back with a transfer shop → wallet, linked to the
redemption's transfer, and puts the goods back on the shelf.

One module over 500 lines on purpose: a redemption and its refund are the two units that move
stock and points at the counter; they share the lock order and the rows they write, which is
read best in one place.
"""

import hashlib
import json
import logging
from datetime import datetime
from typing import NamedTuple

import msgspec

from ledger import Ledger, crossing, format_points, single, to_hundredths
from market import clock
from market.auth.hashing import SecretHasher
from market.auth.limiter import LoginLimiter
from market.auth.roles import ADMIN, SHOPKEEPER
from market.auth.sessions import Principal
from market.cards.service import check_counter_pin, resolve_member_code
from market.china_time import CHINA
from market.db import fetch, is_unique_violation
from market.errors import InvalidInput, NotFound, Unprocessable
from market.points import deductions, lots
from market.points.service import account_id, wallet_id
from market.settings import Settings
from market.shop import basket, rules, stock
from market.shop.limits import MAX_REASON
from market.shop.schemas import (
    ItemView,
    Line,
    PersonRef,
    Redeem,
    RedemptionView,
    RefundRequest,
    RefundView,
)
from market.writes import LedgerStep, Steps, on_postgres, write

log = logging.getLogger(__name__)


class RefundRecord(msgspec.Struct):
    """A refund as the receipt lists it afterwards."""

    id: int
    total: str
    reason: str
    items: list[ItemView]
    at: datetime


def by_product(line: basket.PricedLine) -> int:
    """Every transaction that moves several products locks their rows in this order (PostgreSQL
    locks a row at its UPDATE): two baskets listing the same goods in another order would
    otherwise deadlock, each holding a row the other waits for."""
    return line.product_id


def receipt_no(redemption_id: int, at: datetime) -> str:
    """What is printed on the receipt: the Beijing date and the redemption's number."""
    return f"{at.astimezone(CHINA):%Y%m%d}-{redemption_id:06d}"


def _request_hash(member_code: str, lines: list[Line]) -> str:
    """What the key was used for: the code as scanned (a retry must still find the first
    answer after a rotating member code has expired) and the basket in any order."""
    body = {"code": member_code, "items": sorted((line.product_id, line.quantity) for line in lines)}
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()


def _transfer_id(keeper_id: int, key: str) -> str:
    # Fixed length whatever the key: the key is the keeper's, the id the ledger's.
    return f"redeem-{keeper_id}-{hashlib.sha256(key.encode()).hexdigest()[:32]}"


async def _view(community_id: int, redemption_id: int) -> RedemptionView:
    rows = await fetch(
        "SELECT r.id, r.total, r.balance_after, r.created_at, p.id AS person, p.name AS person_name,"
        " h.name AS home_name FROM redemption r JOIN person p ON p.id = r.person"
        " LEFT JOIN community h ON h.id = r.home_community"
        " WHERE r.id = {} AND r.community = {}",
        redemption_id, community_id,
    )
    if not rows:
        raise NotFound()
    row = rows[0]
    lines = await fetch(
        "SELECT l.product, pr.name, l.quantity, l.unit_price FROM redemption_line l"
        " JOIN product pr ON pr.id = l.product WHERE l.redemption = {} ORDER BY l.id",
        redemption_id,
    )
    refunded = await fetch(
        "SELECT COALESCE(SUM(total), 0) AS n FROM refund WHERE redemption = {}", redemption_id
    )
    return RedemptionView(
        id=row["id"], receipt_no=receipt_no(row["id"], row["created_at"]),
        person=PersonRef(id=row["person"], name=row["person_name"]),
        total=format_points(row["total"]), balance_after=format_points(row["balance_after"]),
        items=[item_view(x["product"], x["name"], x["quantity"], x["unit_price"]) for x in lines],
        refunded=format_points(int(refunded[0]["n"])), at=row["created_at"], visiting_from=row["home_name"],
    )


def item_view(product_id: int, name: str, quantity: int, unit_price: int) -> ItemView:
    return ItemView(
        product_id=product_id, name=name, quantity=quantity, unit_price=format_points(unit_price),
        amount=format_points(unit_price * quantity),
    )


async def _earlier(keeper_id: int, key: str, request_hash: str) -> int | None:
    """The redemption this keeper already made with this key, if any (422 for another basket)."""
    rows = await fetch(
        "SELECT id, request_hash FROM redemption WHERE keeper = {} AND key = {}", keeper_id, key
    )
    if not rows:
        return None
    if rows[0]["request_hash"] != request_hash:
        raise Unprocessable("id_conflict", field="Idempotency-Key")
    return rows[0]["id"]


async def redeem(
    ledger: Ledger, me: Principal, data: Redeem, key: str, *,
    settings: Settings, hasher: SecretHasher, limiter: LoginLimiter,
) -> tuple[RedemptionView, bool]:
    """Hand out the goods of ``data`` to the resident whose code was scanned.

    Returns the redemption and whether it is new (False: the same request again).
    """
    lines = basket.check_lines(data.items)
    request_hash = _request_hash(data.member_code, lines)
    if (found := await _earlier(me.id, key, request_hash)) is not None:
        return await _view(me.community_id, found), False
    member = await resolve_member_code(me.community_id, data.member_code, settings=settings, visiting=True)
    home = member.community_id or me.community_id
    at = clock.now()
    await rules.check_may_redeem(me.community_id, member.person_id, at)
    # 409 while suspended, by the resident's own community or by this one.
    await deductions.check_not_suspended(me.community_id, member.person_id, visiting=home)
    if member.via_card:
        # A printed card can be lost or copied; at the shop it needs its PIN.
        await check_counter_pin(member.person_id, data.pin, hasher=hasher, limiter=limiter,
                                secret_key=settings.secret_key)
    # Opened before the write transaction: opening an account is the ledger's own
    # write, which would wait behind ours on SQLite's one write lock.
    wallet = await wallet_id(ledger, home, member.person_id)
    shop = await account_id(ledger, me.community_id, "shop")
    visit = None if home == me.community_id else Visit(
        home, await ledger.clearing_accounts(home, me.community_id), member.community_name)
    transfer_id = _transfer_id(me.id, key)
    try:
        view = await write(
            _redeem_steps, ledger, me, PersonRef(id=member.person_id, name=member.name), lines, key,
            request_hash, transfer_id, wallet, shop, at, visit,
        )
    except Exception as error:
        if not is_unique_violation(error):
            raise
        # The same key raced itself: the other request made the redemption.
        found = await _earlier(me.id, key, request_hash)
        if found is None:
            raise
        return await _view(me.community_id, found), False
    log.debug("redemption %s: %s lines for person %s", view.id, len(lines), member.person_id)
    return view, True


class Visit(NamedTuple):
    """A resident of another community at this shop: their community, and the clearing accounts
    (theirs for this community, this community's for theirs) the points cross through."""

    home: int
    clearing: tuple[int, int]
    #: The home community's name, for the receipt.
    name: str = ""


def shop_leg(transfer_id: str, visit: Visit | None, *, back: bool = False) -> str:
    """The id of the transfer that reaches (or, ``back``, leaves) the shop's account: what the
    redemption or refund records, and what the shop's reconciliation checks."""
    if visit is None:
        return transfer_id
    return f"{transfer_id}:out" if back else f"{transfer_id}:in"


def _moving(
    transfer_id: str, debit: int, credit: int, amount: str, kind: str, memo: str, reference: str,
    *, community_id: int, visit: Visit | None, back: bool = False,
) -> list:
    """The ledger requests of a redemption (or, ``back``, a refund): one transfer in the shop's
    ledger, or for a visitor a crossing between their community's ledger and the shop's."""
    if visit is None:
        return [single(transfer_id, debit, credit, amount, kind, memo=memo, reference=reference,
                       ledger=community_id)]
    ledgers = (community_id, visit.home) if back else (visit.home, community_id)
    clearing = visit.clearing[::-1] if back else visit.clearing
    return crossing(transfer_id, debit, credit, amount, kind, memo, reference, ledgers=ledgers,
                    clearing=clearing)


def _redeem_steps(
    ledger: Ledger, me: Principal, person: PersonRef, lines: list[Line], key: str, request_hash: str,
    transfer_id: str, wallet: int, shop: int, at: datetime, visit: Visit | None = None,
) -> Steps[RedemptionView]:
    """The redemption's write unit: everything or nothing.
    Its answer is made from what the transaction wrote, without reading it back."""
    person_id = person.id
    priced = yield from basket.price_steps(me.community_id, lines)
    yield from basket.limited_steps(me.community_id, person_id, priced, at,
                                    home=None if visit is None else visit.home)
    total = sum(line.amount for line in priced)
    # The balance after is known once the ledger has run, just below.
    redemption_id = yield from redemption_header_steps(
        community_id=me.community_id, person_id=person_id, keeper_id=me.id, key=key,
        request_hash=request_hash, total=total, transfer_id=shop_leg(transfer_id, visit), balance_after=0,
        at=at, home_community=None if visit is None else visit.home,
    )
    # The goods first (their rows locked in product order), then the lines, whose goods tallies
    # (migration t11) are then locked only while this basket already holds those goods.
    yield from stock.move_many_steps(
        me.community_id, [(line.product_id, -line.quantity) for line in sorted(priced, key=by_product)],
        "redemption", ref=f"redemption:{redemption_id}", actor_id=me.id,
    )
    yield from redemption_lines_steps(
        redemption_id, [(line.product_id, line.quantity, line.unit_price) for line in priced])
    # The wallet's leg is the first: a visitor's balance after is their own community's.
    (transfer, *_) = yield LedgerStep(ledger, _moving(
        transfer_id, wallet, shop, format_points(total), "redemption", receipt_no(redemption_id, at),
        f"redemption:{redemption_id}", community_id=me.community_id, visit=visit,
    ))
    balance_after = to_hundredths(transfer.debit_balance_after)
    yield ("UPDATE redemption SET balance_after = {} WHERE id = {}", (balance_after, redemption_id))
    return RedemptionView(
        id=redemption_id, receipt_no=receipt_no(redemption_id, at), person=person,
        total=format_points(total), balance_after=format_points(balance_after),
        items=[item_view(line.product_id, line.name, line.quantity, line.unit_price) for line in priced],
        refunded=format_points(0), at=at, visiting_from=None if visit is None else visit.name,
    )


def record_redemption_steps(
    *, community_id: int, person_id: int, keeper_id: int, key: str, request_hash: str, total: int,
    transfer_id: str, balance_after: int, lines: list[tuple[int, int, int]], at: datetime,
) -> Steps[int]:
    """The redemption and its (product, quantity, unit price) lines, as steps of a unit."""
    redemption_id = yield from redemption_header_steps(
        community_id=community_id, person_id=person_id, keeper_id=keeper_id, key=key,
        request_hash=request_hash, total=total, transfer_id=transfer_id, balance_after=balance_after, at=at,
    )
    yield from redemption_lines_steps(redemption_id, lines)
    return redemption_id


def redemption_header_steps(
    *, community_id: int, person_id: int, keeper_id: int, key: str, request_hash: str, total: int,
    transfer_id: str, balance_after: int, at: datetime, home_community: int | None = None,
) -> Steps[int]:
    (row,) = yield (
        "INSERT INTO redemption (community, person, keeper, key, request_hash, total,"
        " transfer_id, balance_after, created_at, home_community)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
        (community_id, person_id, keeper_id, key, request_hash, total, transfer_id, balance_after, at,
         home_community),
    )
    return row["id"]


def redemption_lines_steps(redemption_id: int, lines: list[tuple[int, int, int]]) -> Steps[None]:
    """(product, quantity, unit price) of each line, written in product order: each line adds to
    its product's goods tally (migration t11), and two baskets of the same goods must take those
    row locks in the same order (PostgreSQL)."""
    values = ", ".join("({}, {}, {}, {})" for _ in lines)
    yield (
        f"INSERT INTO redemption_line (redemption, product, quantity, unit_price) VALUES {values}",
        tuple(value for line in sorted(lines) for value in (redemption_id, *line)),
    )


async def get(me: Principal, redemption_id: int) -> RedemptionView:
    """Shop staff see any redemption of the community; a resident only their own."""
    view = await _view(me.community_id, redemption_id)
    if not me.roles & {SHOPKEEPER, ADMIN} and view.person.id != me.id:
        raise NotFound()
    return view


async def refunds_of(me: Principal, redemption_id: int) -> list[RefundRecord]:
    """The refunds made of a redemption, oldest first (who may see it: as ``get``)."""
    await get(me, redemption_id)
    rows = await fetch(
        "SELECT id, total, reason, created_at FROM refund WHERE redemption = {} AND community = {}"
        " ORDER BY id",
        redemption_id, me.community_id,
    )
    if not rows:
        return []
    lines = await fetch(
        "SELECT f.refund, f.product, p.name, f.quantity, l.unit_price FROM refund_line f"
        " JOIN refund d ON d.id = f.refund JOIN product p ON p.id = f.product"
        " JOIN redemption_line l ON l.redemption = d.redemption AND l.product = f.product"
        " WHERE d.redemption = {} ORDER BY f.id",
        redemption_id,
    )
    by_refund: dict[int, list[ItemView]] = {}
    for line in lines:
        by_refund.setdefault(line["refund"], []).append(
            item_view(line["product"], line["name"], line["quantity"], line["unit_price"])
        )
    return [
        RefundRecord(id=row["id"], total=format_points(row["total"]), reason=row["reason"],
                     items=by_refund.get(row["id"], []), at=row["created_at"])
        for row in rows
    ]


def _reason(text: str) -> str:
    reason = " ".join(text.split())
    if not 1 <= len(reason) <= MAX_REASON:
        raise InvalidInput("invalid_reason", field="reason")
    return reason


def _refund_hash(redemption_id: int, asked: list[Line] | None, reason: str) -> str:
    """What a refund's key was used for: the redemption, the items (any order; None: all that
    is left) and the reason."""
    items = None if asked is None else sorted((line.product_id, line.quantity) for line in asked)
    body = {"redemption": redemption_id, "items": items, "reason": reason}
    return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()


async def _earlier_refund(
    ledger: Ledger, me: Principal, key: str, request_hash: str
) -> RefundView | None:
    """The refund this keeper already made with this key, answered again (422 for another one)."""
    rows = await fetch(
        "SELECT id, redemption, request_hash, total, transfer_id, created_at FROM refund"
        " WHERE keeper = {} AND idempotency_key = {} AND community = {}",
        me.id, key, me.community_id,
    )
    if not rows:
        return None
    row = rows[0]
    if row["request_hash"] != request_hash:
        raise Unprocessable("id_conflict", field="Idempotency-Key")
    lines = await fetch(
        "SELECT f.product, p.name, f.quantity, l.unit_price FROM refund_line f"
        " JOIN product p ON p.id = f.product"
        " JOIN redemption_line l ON l.redemption = {} AND l.product = f.product"
        " WHERE f.refund = {} ORDER BY f.id",
        row["redemption"], row["id"],
    )
    # The wallet's leg: a visitor's refund crossed back, and its shop leg ends in ":out".
    wallet_leg = row["transfer_id"].removesuffix(":out") + ":in" if row["transfer_id"].endswith(":out") \
        else row["transfer_id"]
    transfer = await ledger.get(wallet_leg)
    balance_after = 0 if transfer is None else to_hundredths(transfer.credit_balance_after)
    return RefundView(
        id=row["id"], redemption_id=row["redemption"], total=format_points(row["total"]),
        balance_after=format_points(balance_after),
        items=[item_view(r["product"], r["name"], r["quantity"], r["unit_price"]) for r in lines],
        at=row["created_at"],
    )


async def refund(
    ledger: Ledger, me: Principal, redemption_id: int, data: RefundRequest, key: str | None = None
) -> RefundView:
    """Take back goods of a redemption (all that is left, or ``data.items``). With ``key``
    (the Idempotency-Key), the same request again answers the first refund."""
    reason = _reason(data.reason)
    asked = basket.check_lines(data.items) if data.items is not None else None
    request_hash = _refund_hash(redemption_id, asked, reason) if key is not None else None
    if key is not None and (found := await _earlier_refund(ledger, me, key, request_hash)):
        return found
    # The wallet that paid exists (the redemption debited it): looked up before the unit.
    # The points go back to the wallet the resident has now: in their own community for a visitor,
    # and in their new one for a resident who has moved house since (``market.subdistricts.moves``).
    sold = await fetch("SELECT r.person, p.community AS home FROM redemption r"
                       " JOIN person p ON p.id = r.person WHERE r.id = {} AND r.community = {}",
                       redemption_id, me.community_id)
    if not sold:
        raise NotFound()
    home = sold[0]["home"]
    wallet = await _wallet_of(ledger, home, sold[0]["person"])
    shop = await account_id(ledger, me.community_id, "shop")
    visit = None if home == me.community_id else Visit(
        home, await ledger.clearing_accounts(home, me.community_id))
    try:
        view = await write(_refund_steps, ledger, me, redemption_id, asked, reason, key, request_hash,
                           wallet, shop, clock.now(), visit)
    except Exception as error:
        if key is None or not (isinstance(error, _KeyUsed) or is_unique_violation(error)):
            raise
        # The same key raced itself: the other request made the refund.
        found = await _earlier_refund(ledger, me, key, request_hash)
        if found is None:
            raise
        return found
    log.info("refund %s of redemption %s", view.id, redemption_id)
    return view


class _KeyUsed(Exception):
    """Found inside the refund's unit: a request with the same key got there first."""


def _refund_steps(
    ledger: Ledger, me: Principal, redemption_id: int, asked: list[Line] | None, reason: str,
    key: str | None, request_hash: str | None, wallet: int, shop: int, at: datetime,
    visit: Visit | None = None,
) -> Steps[RefundView]:
    """The refund's unit: the redemption row locked (its refunds one at a time), then the goods
    back on the shelf in product order, the refund's lines, and the points back last."""
    redemption = yield from lock_row_steps(me.community_id, "redemption", redemption_id)
    # Checked again under the redemption's lock: a twin sent at the same instant waited here.
    if key is not None and (yield (
        "SELECT id FROM refund WHERE keeper = {} AND idempotency_key = {}", (me.id, key)
    )):
        raise _KeyUsed()
    left = yield from _left_steps(redemption_id)
    if asked is None:
        taking = {product: (quantity, price) for product, (quantity, price) in left.items() if quantity}
    else:
        taking = {}
        for line in asked:
            quantity, price = left.get(line.product_id, (0, 0))
            if line.quantity > quantity:
                raise InvalidInput("refund_too_much", field="items", product_id=line.product_id,
                                   remaining=quantity)
            taking[line.product_id] = (line.quantity, price)
    if not taking:
        raise InvalidInput("already_refunded", field="items")
    total = sum(quantity * price for quantity, price in taking.values())
    earlier = yield ("SELECT count(*) AS n FROM refund WHERE redemption = {}", (redemption_id,))
    transfer_id = f"refund-{redemption_id}-{int(earlier[0]['n']) + 1}"
    (row,) = yield (
        "INSERT INTO refund (community, redemption, keeper, total, reason, transfer_id, created_at,"
        " idempotency_key, request_hash, home_community)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
        (me.community_id, redemption_id, me.id, total, reason, shop_leg(transfer_id, visit, back=True), at,
         key, request_hash, None if visit is None else visit.home),
    )
    products = sorted(taking)
    # The goods first, then the lines (their goods tallies): the order a redemption locks them.
    yield from stock.move_many_steps(
        me.community_id, [(p, taking[p][0]) for p in products], "refund", reason=reason,
        ref=f"refund:{row['id']}", actor_id=me.id,
    )
    yield (
        "INSERT INTO refund_line (refund, product, quantity) VALUES "
        + ", ".join("({}, {}, {})" for _ in products),
        tuple(v for p in products for v in (row["id"], p, taking[p][0])),
    )
    names = yield (
        "SELECT id, name FROM product WHERE id IN ({})".format(", ".join("{}" for _ in products)),
        tuple(products),
    )
    # The wallet's leg is the last: a visitor's points cross back to their own community.
    (*_, transfer) = yield LedgerStep(ledger, _moving(
        transfer_id, shop, wallet, format_points(total), "refund", reason, redemption["transfer_id"],
        community_id=me.community_id, visit=visit, back=True,
    ))
    # The points come back as the ones they were (``market.points.lots``).
    yield from lots.covered_steps(me.community_id if visit is None else visit.home, wallet, transfer.id,
                                  total, at)
    name_of = {n["id"]: n["name"] for n in names}
    return RefundView(
        id=row["id"], redemption_id=redemption_id, total=format_points(total),
        balance_after=format_points(to_hundredths(transfer.credit_balance_after)),
        items=[item_view(p, name_of.get(p, ""), q, price) for p, (q, price) in taking.items()],
        at=at,
    )


def lock_row_steps(community_id: int, table: str, row_id: int) -> Steps[dict]:
    """The community's row, locked to the end of the unit on PostgreSQL (SQLite's one writer
    already serialises units): one person's baskets, or one redemption's refunds, are decided
    one after another, so limits and refunds cannot be exceeded by a race. 404 if absent."""
    lock = " FOR NO KEY UPDATE" if on_postgres() else ""
    rows = yield (f"SELECT * FROM {table} WHERE id = {{}} AND community = {{}}{lock}", (row_id, community_id))
    if not rows:
        raise NotFound()
    return rows[0]


async def _wallet_of(ledger: Ledger, community_id: int, person_id: int) -> int:
    """The wallet that paid: it exists (the redemption debited it), so this only reads."""
    account = await ledger.find_account(community_id, "wallet", str(person_id))
    if account is None:
        raise NotFound()
    return account.id


def _left_steps(redemption_id: int) -> Steps[dict[int, tuple[int, int]]]:
    """product → (quantity not yet refunded, unit price) of a redemption."""
    lines = yield (
        "SELECT product, quantity, unit_price FROM redemption_line WHERE redemption = {}", (redemption_id,)
    )
    back = yield (
        "SELECT f.product, SUM(f.quantity) AS n FROM refund_line f JOIN refund d ON d.id = f.refund"
        " WHERE d.redemption = {} GROUP BY f.product",
        (redemption_id,),
    )
    returned = {row["product"]: int(row["n"]) for row in back}
    return {
        line["product"]: (line["quantity"] - returned.get(line["product"], 0), line["unit_price"])
        for line in lines
    }
