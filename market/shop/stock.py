"""The one mechanism every change of stock goes through, and the record it keeps.

``move_steps`` (and ``move_many_steps`` for a basket) change a product's stock with a
single guarded UPDATE and append a ``stock_movement`` row with the stock after it, as
steps of the caller's write unit (``market.writes``), so the stock and its record commit
(or roll back) together with whatever caused the change (a redemption, an order, a
donation). The guard (``stock + delta >= 0`` in the WHERE clause, backed by a CHECK)
decides on the row itself: concurrent moves cannot oversell on either engine, and on
PostgreSQL the UPDATE also locks the row until the transaction ends.

Invariant, checked by ``reconcile``: a product's stock equals the sum of its
movements' deltas, and its newest movement's ``stock_after``.
"""

from datetime import datetime
from typing import Any

import msgspec

from market import clock
from market.db import fetch
from market.errors import Conflict, InvalidInput, NotFound
from market.messages import Language
from market.shop.schemas import Movement, MovementPage
from market.writes import Steps, on_postgres

#: Every reason stock may change; the migration's CHECK lists the same.
KINDS = frozenset({
    "initial", "donation", "purchase", "adjustment", "redemption", "refund", "reservation", "release",
})
#: Far above any community shop's shelf, far below a 32-bit INTEGER's overflow.
MAX_STOCK = 1_000_000
MAX_REF = 64
MAX_DONOR = 50


class OutOfStock(Conflict):
    """409 ``out_of_stock``: the move would take the product below zero.
    The problem document names the product and how many are left."""

    def __init__(self, product_id: int, available: int) -> None:
        super().__init__("out_of_stock", product_id=product_id, available=available)
        self.product_id = product_id
        self.available = available

    def members(self, language: Language) -> dict[str, Any]:
        return {"product_id": self.product_id, "available": self.available}


class StockMismatch(msgspec.Struct):
    product_id: int
    stock: int
    movements_total: int
    last_stock_after: int | None


_MOVE = (
    "UPDATE product SET stock = stock + {} WHERE id = {} AND community = {}"
    " AND stock + {} >= 0 AND stock + {} <= {} RETURNING stock"
)
_RECORD_INTO = (
    "INSERT INTO stock_movement (community, product, delta, stock_after, kind, reason, donor, ref, actor, at)"
)
_RECORD = _RECORD_INTO + " VALUES "


def move_steps(
    community_id: int,
    product_id: int,
    delta: int,
    kind: str,
    *,
    reason: str | None = None,
    donor: str | None = None,
    ref: str | None = None,
    actor_id: int | None = None,
) -> Steps[int]:
    """Add ``delta`` (negative: take away) to the product's stock and record it; the new stock.

    Raises ``OutOfStock`` (409) if the stock would go below zero, ``NotFound`` (404)
    if the product is not the community's, ``Conflict("stock_too_high")`` above
    ``MAX_STOCK``, and ``InvalidInput`` for a zero or non-integer delta; the unit then
    rolls back, so nothing has changed."""
    (after,) = yield from move_many_steps(
        community_id, [(product_id, delta)], kind, reason=reason, donor=donor, ref=ref, actor_id=actor_id
    )
    return after


def move_many_steps(
    community_id: int,
    moves: list[tuple[int, int]],
    kind: str,
    *,
    reason: str | None = None,
    donor: str | None = None,
    ref: str | None = None,
    actor_id: int | None = None,
) -> Steps[list[int]]:
    """Several (product, delta) moves of one cause (a basket), as steps: one guarded UPDATE
    per product, in the order given (callers sort by product id: the lock order), then one
    INSERT of all their movement rows. The stocks after, in the same order."""
    if kind not in KINDS:
        raise ValueError(f"unknown stock movement kind {kind!r}")
    if ref is not None and len(ref) > MAX_REF:
        raise ValueError(f"a stock movement's ref is at most {MAX_REF} characters")
    for _, delta in moves:
        if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0 or abs(delta) > MAX_STOCK:
            raise InvalidInput("invalid_stock_delta", field="delta", max_stock=MAX_STOCK)
    at = clock.now()
    if on_postgres():
        return (yield from _moved_at_once(community_id, moves, kind, reason, donor, ref, actor_id, at))
    afters: list[int] = []
    for product_id, delta in moves:
        rows = yield (_MOVE, (delta, product_id, community_id, delta, delta, MAX_STOCK))
        if not rows:
            yield from _refusal(community_id, product_id, delta)
        afters.append(rows[0]["stock"])
    values = ", ".join("({}, {}, {}, {}, {}, {}, {}, {}, {}, {})" for _ in moves)
    args: list[object] = []
    for (product_id, delta), after in zip(moves, afters, strict=True):
        args += [community_id, product_id, delta, after, kind, reason, donor, ref, actor_id, at]
    yield (_RECORD + values, tuple(args))
    return afters


# PostgreSQL, a basket in two statements: its products locked in id order (the lock order of
# every unit), then each moved by its guarded UPDATE and the movements recorded. While a basket
# holds its goods every other basket with one of them waits, so the fewer round trips here, the
# shorter that wait (five products were five UPDATEs and an INSERT). The lock is a statement of
# its own: taken inside the moving statement, whose snapshot is older than the lock's wait, the
# UPDATE met rows another basket had changed meanwhile and chased their new versions: concurrent
# baskets deadlocked there (32 aborts in 30 s of the town trial; none since).
_LOCK_ALL = (
    "SELECT id FROM product WHERE id = ANY({}::integer[]) AND community = {} ORDER BY id FOR NO KEY UPDATE"
)
_MOVE_ALL = f"""
WITH moved AS (
    UPDATE product p SET stock = p.stock + w.delta
    FROM unnest({{}}::integer[], {{}}::integer[]) AS w(product, delta)
    WHERE p.id = w.product AND p.community = {{}}
      AND p.stock + w.delta >= 0 AND p.stock + w.delta <= {MAX_STOCK}
    RETURNING p.id, p.stock, w.delta
), recorded AS (
    {_RECORD_INTO} SELECT {{}}::integer, m.id, m.delta, m.stock, {{}}::text, {{}}::text, {{}}::text,
    {{}}::text, {{}}::integer, {{}}::timestamptz FROM moved m ORDER BY m.id
)
SELECT id, stock FROM moved
"""


def _moved_at_once(
    community_id: int, moves: list[tuple[int, int]], kind: str, reason: str | None, donor: str | None,
    ref: str | None, actor_id: int | None, at: datetime,
) -> Steps[list[int]]:
    products = [product for product, _ in moves]
    yield (_LOCK_ALL, (products, community_id))
    rows = yield (_MOVE_ALL, (
        products, [delta for _, delta in moves], community_id,
        community_id, kind, reason, donor, ref, actor_id, at,
    ))
    after = {row["id"]: row["stock"] for row in rows}
    for product_id, delta in moves:
        if product_id not in after:
            # The whole unit rolls back with this refusal, the moves that did happen included.
            yield from _refusal(community_id, product_id, delta)
    return [after[product] for product in products]


def _refusal(community_id: int, product_id: int, delta: int) -> Steps[None]:
    """Why a guarded move did not happen: raised (404, 409 ``out_of_stock``, 409 ``stock_too_high``)."""
    found = yield ("SELECT stock FROM product WHERE id = {} AND community = {}", (product_id, community_id))
    if not found:
        raise NotFound(field="product_id")
    if delta < 0:
        raise OutOfStock(product_id, found[0]["stock"])
    raise Conflict("stock_too_high", field="delta", max_stock=MAX_STOCK)


async def movements(
    community_id: int, product_id: int, limit: int, before: int | None = None
) -> MovementPage:
    """The product's movements, newest first: ``limit`` of them with an id below ``before``."""
    found = await fetch(
        "SELECT id FROM product WHERE id = {} AND community = {}", product_id, community_id
    )
    if not found:
        raise NotFound()
    # The community condition is redundant with the product's, and keeps a bug elsewhere from
    # ever showing one community another's record.
    sql = "SELECT * FROM stock_movement WHERE product = {} AND community = {}"
    args: list[object] = [product_id, community_id]
    if before is not None:
        sql += " AND id < {}"
        args.append(before)
    rows = await fetch(sql + " ORDER BY id DESC LIMIT {}", *args, limit + 1)
    items = [
        Movement(
            id=row["id"], at=row["at"], delta=row["delta"], stock_after=row["stock_after"],
            kind=row["kind"], reason=row["reason"], donor=row["donor"], ref=row["ref"],
            actor_id=row["actor"],
        )
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return MovementPage(items=items, next_cursor=str(items[-1].id) if more else None)


async def reconcile(community_id: int) -> list[StockMismatch]:
    """Products of the community whose stock disagrees with their movements; empty when all agree.

    A product agrees when its stock is the sum of its movements' deltas and the
    ``stock_after`` of its newest movement (0 with no movement at all).
    """
    rows = await fetch(
        "SELECT p.id, p.stock, COALESCE(SUM(m.delta), 0) AS total,"
        " (SELECT l.stock_after FROM stock_movement l WHERE l.product = p.id"
        "  ORDER BY l.id DESC LIMIT 1) AS last_after"
        " FROM product p LEFT JOIN stock_movement m ON m.product = p.id"
        " WHERE p.community = {} GROUP BY p.id, p.stock ORDER BY p.id",
        community_id,
    )
    return [
        StockMismatch(
            product_id=row["id"], stock=row["stock"], movements_total=int(row["total"]),
            last_stock_after=row["last_after"],
        )
        for row in rows
        if int(row["total"]) != row["stock"] or (row["last_after"] or 0) != row["stock"]
    ]
