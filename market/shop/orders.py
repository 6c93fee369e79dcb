"""Orders: a resident reserves goods online and collects them at the shop.

Reserving holds the points (a pending ledger transfer wallet → shop) and sets
the stock aside ("reservation" movements), in one write transaction with the
order. Then exactly one of:

- a shop keeper fulfils it: the hold is posted and a redemption is written
  (so the day's reconciliation and the person's limits see it like any other);
- the resident or a shop keeper cancels it, or its deadline passes: the hold
  is voided and the stock released ("release" movements).

Each is one write unit (``market.writes``) with the ledger's part in it, last.
The ledger's own timeout on the hold is a day later than the order's deadline:
the market's sweeper settles an expired order (points and stock together)
long before; if the server was down for longer and the ledger voided the hold
by itself, the order is still settled and its stock released. So an order's
times are wall time, as the ledger's are, not ``market.clock``: its deadline and
the hold's timeout count on the same clock.
"""

import hashlib
import json
import logging
import secrets
from datetime import UTC, datetime, timedelta

import msgspec

from ledger import Ledger, LedgerError, format_points, pending, posting, to_hundredths, voiding
from market.auth.roles import ADMIN, SHOPKEEPER
from market.auth.sessions import Principal
from market.db import fetch, is_unique_violation
from market.errors import Conflict, NotFound, Unprocessable
from market.people.rules import mask_phone
from market.points import deductions
from market.points.service import account_id, wallet_id
from market.shop import basket, rules, stock
from market.shop.counter import (
    by_product,
    item_view,
    lock_row_steps,
    record_redemption_steps,
)
from market.shop.schemas import ItemView, Line, NewOrder, OrderList, OrderView
from market.writes import LedgerStep, Steps, write

log = logging.getLogger(__name__)

#: How long a reservation waits for its collection.
DEADLINE = timedelta(days=2)
#: The ledger voids the hold by itself only this long after the deadline (see the module's docstring).
LEDGER_GRACE = timedelta(days=1)
SWEEP_EVERY = 60.0


class OrderHolder(msgspec.Struct):
    """Who an order is for, as the shop keeper handing it out sees them."""

    id: int
    name: str
    phone: str
    """Masked: 138****0000."""
    card_no: str


def _request_hash(lines: list[Line]) -> str:
    body = sorted((line.product_id, line.quantity) for line in lines)
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()


async def _views(rows: list[dict]) -> list[OrderView]:
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    lines = await fetch(
        "SELECT l.\"order\" AS order_id, l.product, p.name, l.quantity, l.unit_price"
        " FROM shop_order_line l JOIN product p ON p.id = l.product"
        f" WHERE l.\"order\" IN ({', '.join('{}' for _ in ids)}) ORDER BY l.id",
        *ids,
    )
    by_order: dict[int, list[ItemView]] = {}
    for line in lines:
        by_order.setdefault(line["order_id"], []).append(
            item_view(line["product"], line["name"], line["quantity"], line["unit_price"])
        )
    return [
        OrderView(
            id=row["id"], status=row["status"], person_id=row["person"], total=format_points(row["total"]),
            items=by_order.get(row["id"], []), expires_at=row["expires_at"], created_at=row["created_at"],
            closed_at=row["closed_at"], redemption_id=row["redemption"], acted_by=row.get("acted_by"),
        )
        for row in rows
    ]


async def _order(community_id: int, order_id: int) -> dict:
    rows = await fetch("SELECT * FROM shop_order WHERE id = {} AND community = {}", order_id, community_id)
    if not rows:
        raise NotFound()
    return rows[0]


def _is_staff(me: Principal) -> bool:
    return bool(me.roles & {SHOPKEEPER, ADMIN})


async def _visible(me: Principal, order_id: int) -> dict:
    """The order, if ``me`` placed it or keeps the shop; 404 otherwise (as if absent)."""
    row = await _order(me.community_id, order_id)
    if row["person"] != me.id and not _is_staff(me):
        raise NotFound()
    return row


async def reserve(ledger: Ledger, me: Principal, data: NewOrder, key: str | None) -> tuple[OrderView, bool]:
    """Hold the points and set the goods aside; (order, whether it is new)."""
    lines = basket.check_lines(data.items)
    request_hash = _request_hash(lines)
    if key is not None and (found := await _earlier(me, key, request_hash)) is not None:
        return found, False
    at = datetime.now(UTC)
    # Reserving is allowed while the shop is shut (that is what it is for); the minimums apply.
    await rules.check_may_redeem(me.community_id, me.id, at, opening_hours=False)
    await deductions.check_not_suspended(me.community_id, me.id)  # 409 while suspended
    wallet = await wallet_id(ledger, me.community_id, me.id)
    shop = await account_id(ledger, me.community_id, "shop")
    try:
        row = await write(_reserve_steps, ledger, me, lines, key, request_hash, wallet, shop, at)
    except Exception as error:
        if key is None or not is_unique_violation(error):
            raise
        found = await _earlier(me, key, request_hash)  # the same key raced itself
        if found is None:
            raise
        return found, False
    log.info("order %s reserved by person %s", row["id"], me.id)
    return await get(me, row["id"]), True


def _reserve_steps(
    ledger: Ledger, me: Principal, lines: list[Line], key: str | None, request_hash: str,
    wallet: int, shop: int, at: datetime,
) -> Steps[dict]:
    """The reservation's unit: the resident's limits (the resident locked if any), the goods set
    aside in product order, the points held last."""
    priced = yield from basket.price_steps(me.community_id, lines)
    yield from basket.limited_steps(me.community_id, me.id, priced, at)
    total = sum(line.amount for line in priced)
    hold_id = f"order-{secrets.token_hex(12)}"
    (row,) = yield (
        "INSERT INTO shop_order (community, person, status, total, hold_id, key, request_hash,"
        " expires_at, created_at, acted_by)"
        " VALUES ({}, {}, 'reserved', {}, {}, {}, {}, {}, {}, {}) RETURNING *",
        (me.community_id, me.id, total, hold_id, key, request_hash, at + DEADLINE, at, me.delegate_id),
    )
    goods = sorted(priced, key=by_product)
    yield (
        "INSERT INTO shop_order_line (\"order\", product, quantity, unit_price) VALUES "
        + ", ".join("({}, {}, {}, {})" for _ in goods),
        tuple(v for line in goods for v in (row["id"], line.product_id, line.quantity, line.unit_price)),
    )
    yield from stock.move_many_steps(
        me.community_id, [(line.product_id, -line.quantity) for line in goods], "reservation",
        ref=f"order:{row['id']}", actor_id=me.id,
    )
    yield LedgerStep(ledger, [pending(
        hold_id, wallet, shop, format_points(total), "order", memo=f"order {row['id']}",
        expires_in=DEADLINE + LEDGER_GRACE, ledger=me.community_id,
    )])
    return row


async def _earlier(me: Principal, key: str, request_hash: str) -> OrderView | None:
    rows = await fetch("SELECT * FROM shop_order WHERE person = {} AND key = {}", me.id, key)
    if not rows:
        return None
    if rows[0]["request_hash"] != request_hash:
        raise Unprocessable("id_conflict", field="Idempotency-Key")
    return (await _views(rows))[0]


async def get(me: Principal, order_id: int) -> OrderView:
    return (await _views([await _visible(me, order_id)]))[0]


async def list_orders(me: Principal, status: str | None = None) -> OrderList:
    """A resident's own orders; for shop staff, the community's (newest first, 200 at most)."""
    where, args = ["community = {}"], [me.community_id]
    if not _is_staff(me):
        where.append("person = {}")
        args.append(me.id)
    if status is not None:
        where.append("status = {}")
        args.append(status)
    rows = await fetch(
        f"SELECT * FROM shop_order WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT 200", *args
    )
    return OrderList(items=await _views(rows))


async def holders(me: Principal, person_ids: list[int]) -> dict[int, OrderHolder]:
    """The residents of the given orders (shop staff only), by id; others of the community
    and of other communities are left out."""
    if not _is_staff(me) or not person_ids:
        return {}
    ids = sorted(set(person_ids))
    rows = await fetch(
        "SELECT id, name, phone, card_no FROM person WHERE community = {}"
        f" AND id IN ({', '.join('{}' for _ in ids)})",
        me.community_id, *ids,
    )
    return {
        row["id"]: OrderHolder(id=row["id"], name=row["name"], phone=mask_phone(row["phone"] or ""),
                               card_no=row["card_no"] or "")
        for row in rows
    }


def _check_open(row: dict, at: datetime) -> None:
    if row["status"] != "reserved":
        raise Conflict("order_closed", status=row["status"])
    if row["expires_at"] <= at:
        raise Conflict("order_expired")


async def fulfil(ledger: Ledger, me: Principal, order_id: int) -> OrderView:
    """The resident collected the goods: post the hold, write the redemption."""
    await write(_fulfil_steps, ledger, me, order_id, datetime.now(UTC))
    log.info("order %s fulfilled by %s", order_id, me.id)
    return await get(me, order_id)


def _fulfil_steps(ledger: Ledger, me: Principal, order_id: int, at: datetime) -> Steps[None]:
    row = yield from lock_row_steps(me.community_id, "shop_order", order_id)
    _check_open(row, at)
    lines = yield (
        "SELECT product, quantity, unit_price FROM shop_order_line WHERE \"order\" = {}", (order_id,)
    )
    post_id = f"{row['hold_id']}-post"
    # The redemption first, the ledger last (as at the counter): its lines add to the goods'
    # tallies, whose row locks come before the ledger's chain.
    redemption_id = yield from record_redemption_steps(
        community_id=me.community_id, person_id=row["person"], keeper_id=me.id,
        key=f"order-{order_id}", request_hash=row["request_hash"], total=row["total"],
        transfer_id=post_id, balance_after=0,
        lines=[(line["product"], line["quantity"], line["unit_price"]) for line in lines], at=at,
    )
    (transfer,) = yield LedgerStep(ledger, [posting(
        post_id, row["hold_id"], memo=f"order {order_id} collected", ledger=me.community_id,
    )])
    yield ("UPDATE redemption SET balance_after = {} WHERE id = {}",
           (to_hundredths(transfer.debit_balance_after), redemption_id))
    yield (
        "UPDATE shop_order SET status = 'fulfilled', closed_at = {}, closed_by = {}, redemption = {}"
        " WHERE id = {}",
        (at, me.id, redemption_id, order_id),
    )


async def cancel(ledger: Ledger, me: Principal, order_id: int) -> OrderView:
    """The resident (their own order) or a shop keeper calls it off: points and stock come back."""
    await write(_close_steps, ledger, me.community_id, order_id, "cancelled", datetime.now(UTC), me)
    log.info("order %s cancelled by %s", order_id, me.id)
    return await get(me, order_id)


def _close_steps(
    ledger: Ledger, community_id: int, order_id: int, status: str, at: datetime, me: Principal | None,
) -> Steps[bool]:
    """Call the order off (``me``: who asks; None: its deadline passed): the goods back in product
    order, then the hold voided. False if it was no longer reserved (an expiry that came late)."""
    row = yield from lock_row_steps(community_id, "shop_order", order_id)
    if me is not None and row["person"] != me.id and not _is_staff(me):
        raise NotFound()
    if row["status"] != "reserved":
        if me is None:
            return False
        raise Conflict("order_closed", status=row["status"])
    lines = yield (
        "SELECT product, quantity FROM shop_order_line WHERE \"order\" = {} ORDER BY product", (row["id"],)
    )
    yield from stock.move_many_steps(
        community_id, [(line["product"], line["quantity"]) for line in lines], "release",
        ref=f"order:{row['id']}", actor_id=None if me is None else me.id,
    )
    # If the ledger's own timeout voided the hold already (the server was down for a day), the
    # refusal is all there is to it: the order is settled and its goods back all the same.
    (outcome,) = yield LedgerStep(ledger, [voiding(
        f"{row['hold_id']}-void", row["hold_id"], memo=f"order {row['id']} {status}", ledger=community_id,
    )], each=True)
    if isinstance(outcome, LedgerError) and outcome.reason not in ("hold_expired", "hold_not_pending"):
        raise outcome
    yield (
        "UPDATE shop_order SET status = {}, closed_at = {}, closed_by = {} WHERE id = {}",
        (status, at, None if me is None else me.id, row["id"]),
    )
    return True


async def expire_overdue(ledger: Ledger, now: datetime | None = None) -> int:
    """Settle every reserved order past its deadline; returns how many were settled.

    Each order is a unit of its own that locks it and settles it only if it is still
    reserved, so however many workers sweep at once, each order is settled once. One
    that cannot be settled is logged and left for the next sweep; it does not hold up
    the others."""
    at = now or datetime.now(UTC)
    due = await fetch(
        "SELECT id, community FROM shop_order WHERE status = 'reserved' AND expires_at <= {} ORDER BY id", at
    )
    settled = 0
    for order in due:
        try:
            settled += await write(_close_steps, ledger, order["community"], order["id"], "expired", at, None)
        except Exception:
            log.exception("order %s could not be expired; trying again at the next sweep", order["id"])
    return settled
