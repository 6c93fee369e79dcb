"""The shop's catalogue: products with prices, limits and stock, managed by shop keepers and admins.

Rules decided here:

- Prices are points with at most two decimals, more than 0 and at most
  ``MAX_PRICE``; they are kept as integer hundredths and shown as "12.50".
- A product name is unique in its community (a unique index; a duplicate is
  409 ``product_exists``). Products are deactivated, never deleted: the stock
  record and redemptions point at them.
- A purchase limit is a quantity per person and a period ("day" … "year"),
  both or neither.
- Stock is never edited directly: creation writes an "initial" movement and
  ``add_stock`` a donation, purchase or adjustment, all through
  ``market.shop.stock.move_steps`` in a write unit.
- Residents and organizers see active products only; shop keepers and admins
  may ask for inactive ones too.
- Creating and editing a product is written to the audit log (``product:{id}``);
  stock changes carry their actor in the stock record itself.
"""

import logging
from decimal import Decimal

from msgspec import UNSET

from ledger import InvalidAmount, format_points, to_hundredths
from market import audit, clock
from market.auth.roles import ADMIN, SHOPKEEPER
from market.auth.sessions import Principal
from market.db import fetch, is_unique_violation
from market.errors import Conflict, InvalidInput, NotFound
from market.paging import parse_cursor
from market.shop import stock
from market.shop.limits import MAX_NAME, PERIODS
from market.shop.schemas import (
    MovementPage,
    NewProduct,
    ProductChanges,
    ProductList,
    ProductView,
    StockChange,
    StockLevel,
)
from market.writes import Steps, on_postgres, write

log = logging.getLogger(__name__)

#: The dearest product, in points: far above anything a community shop sells.
MAX_PRICE = 100_000
MAX_CATEGORY = 30
MAX_LIMIT = 10_000
MAX_REASON = 200
MAX_PRODUCTS = 1_000
#: The kinds of stock change made by hand; the others belong to redemptions and orders.
MANUAL_KINDS = frozenset({"donation", "purchase", "adjustment"})
SHOP_STAFF = frozenset({SHOPKEEPER, ADMIN})


# -- validation --------------------------------------------------------------------------------


def _text(value: str, field: str, reason: str, low: int, high: int) -> str:
    cleaned = " ".join(value.split())
    if not low <= len(cleaned) <= high:
        raise InvalidInput(reason, field=field)
    return cleaned


def _price(value: Decimal) -> int:
    try:
        hundredths = to_hundredths(value)
    except InvalidAmount:
        hundredths = 0
    if not 0 < hundredths <= MAX_PRICE * 100:
        raise InvalidInput("invalid_price", field="price", max_price=MAX_PRICE)
    return hundredths


def _limits(per_person: int | None, period: str | None) -> tuple[int | None, str | None]:
    if per_person is not None and not 1 <= per_person <= MAX_LIMIT:
        field = "limit_per_person"
    elif period is not None and period not in PERIODS:
        field = "limit_period"
    elif (per_person is None) != (period is None):
        field = "limit_per_person" if per_person is None else "limit_period"
    else:
        return per_person, period
    raise InvalidInput("invalid_limit", field=field, max_limit=MAX_LIMIT)


def _columns(data: NewProduct | ProductChanges) -> dict:
    """Validated column values of the fields given (limits are checked as a pair by the caller)."""
    out: dict = {}
    if isinstance(data.name, str):
        out["name"] = _text(data.name, "name", "invalid_product_name", 1, MAX_NAME)
    if isinstance(data.category, str):
        out["category"] = _text(data.category, "category", "invalid_product_category", 0, MAX_CATEGORY)
    if isinstance(data.price, Decimal):
        out["price"] = _price(data.price)
    if isinstance(data.active, bool):
        out["active"] = data.active
    return out


def is_shop_staff(me: Principal) -> bool:
    return not me.roles.isdisjoint(SHOP_STAFF)


def _photo_urls(row: dict) -> tuple[str | None, str | None]:
    if not row["has_photo"] or row["photo_at"] is None:
        return None, None
    # The version makes a new photo a new URL, so the images can be cached for long.
    version = int(row["photo_at"].timestamp() * 1000)
    base = f"/api/products/{row['id']}"
    return f"{base}/photo.jpg?v={version}", f"{base}/thumb.jpg?v={version}"


def _view(row: dict) -> ProductView:
    photo, thumb = _photo_urls(row)
    return ProductView(
        id=row["id"], name=row["name"], category=row["category"], price=format_points(row["price"]),
        stock=row["stock"], limit_per_person=row["limit_per_person"],
        limit_period=row["limit_period"], active=bool(row["active"]), photo_url=photo, thumb_url=thumb,
    )


# -- reading -----------------------------------------------------------------------------------


_SELECT = (
    "SELECT p.*, ph.updated_at AS photo_at FROM product p"
    " LEFT JOIN product_photo ph ON ph.product = p.id WHERE p.community = {}"
)


async def _product(community_id: int, product_id: int) -> dict | None:
    rows = await fetch(_SELECT + " AND p.id = {}", community_id, product_id)
    return rows[0] if rows else None


async def get(me: Principal, product_id: int) -> ProductView:
    row = await _product(me.community_id, product_id)
    if row is None or not (row["active"] or is_shop_staff(me)):
        raise NotFound()
    return _view(row)


async def list_products(me: Principal, include_inactive: bool = False) -> ProductList:
    sql, args = _SELECT, [me.community_id]
    if not (include_inactive and is_shop_staff(me)):
        sql += " AND p.active = {}"
        args.append(True)
    rows = await fetch(sql + " ORDER BY p.category, p.name LIMIT {}", *args, MAX_PRODUCTS)
    return ProductList(items=[_view(row) for row in rows])


async def visible(me: Principal, product_id: int) -> bool:
    """May ``me`` see this product (of their community; active unless they are shop staff)?"""
    rows = await fetch(
        "SELECT active FROM product WHERE id = {} AND community = {}", product_id, me.community_id
    )
    return bool(rows) and (bool(rows[0]["active"]) or is_shop_staff(me))


# -- writing -----------------------------------------------------------------------------------


async def create(me: Principal, data: NewProduct) -> ProductView:
    values = _columns(data)
    per_person, period = _limits(data.limit_per_person, data.limit_period)
    if not 0 <= data.stock <= stock.MAX_STOCK:
        raise InvalidInput("invalid_stock", field="stock", max_stock=stock.MAX_STOCK)
    try:
        product_id = await write(_create_steps, me, values, per_person, period, data.stock)
    except Exception as error:
        if is_unique_violation(error):
            raise Conflict("product_exists", field="name") from None
        raise
    log.info("product %s created by person %s", product_id, me.id)
    found = await _product(me.community_id, product_id)
    assert found is not None
    return _view(found)


def _create_steps(
    me: Principal, values: dict, per_person: int | None, period: str | None, initial: int
) -> Steps[int]:
    (row,) = yield (
        "INSERT INTO product (community, name, category, price, stock, limit_per_person,"
        " limit_period, active, has_photo, created_at)"
        " VALUES ({}, {}, {}, {}, 0, {}, {}, {}, {}, {}) RETURNING id",
        (me.community_id, values["name"], values.get("category", ""), values["price"],
         per_person, period, values.get("active", True), False, clock.now()),
    )
    if initial:
        yield from stock.move_steps(me.community_id, row["id"], initial, "initial", actor_id=me.id)
    yield audit.entry(me.community_id, me.id, "product_created", f"product:{row['id']}")
    return row["id"]


async def update(me: Principal, product_id: int, changes: ProductChanges) -> ProductView:
    values = _columns(changes)
    try:
        await write(_update_steps, me, product_id, changes, values)
    except Exception as error:
        if is_unique_violation(error):
            raise Conflict("product_exists", field="name") from None
        raise
    found = await _product(me.community_id, product_id)
    assert found is not None
    return _view(found)


def _update_steps(me: Principal, product_id: int, changes: ProductChanges, values: dict) -> Steps[None]:
    lock = " FOR NO KEY UPDATE" if on_postgres() else ""
    rows = yield ("SELECT * FROM product WHERE id = {} AND community = {}" + lock,
                  (product_id, me.community_id))
    if not rows:
        raise NotFound()
    row = rows[0]
    per_person = row["limit_per_person"] if changes.limit_per_person is UNSET else (
        changes.limit_per_person)
    period = row["limit_period"] if changes.limit_period is UNSET else changes.limit_period
    if changes.limit_per_person is not UNSET or changes.limit_period is not UNSET:
        values["limit_per_person"], values["limit_period"] = _limits(
            per_person, period  # type: ignore[arg-type]
        )
    if values:
        assignments = ", ".join(f"{column} = {{}}" for column in values)
        yield (f"UPDATE product SET {assignments} WHERE id = {{}}", (*values.values(), product_id))
        yield audit.entry(me.community_id, me.id, "product_changed", f"product:{product_id}")


async def add_stock(me: Principal, product_id: int, change: StockChange) -> StockLevel:
    """A donation, a purchase or an adjustment by hand, recorded with who made it and why."""
    if change.kind not in MANUAL_KINDS:
        raise InvalidInput("invalid_stock_kind", field="kind")
    if change.delta == 0 or abs(change.delta) > stock.MAX_STOCK or (
        change.kind != "adjustment" and change.delta < 0
    ):
        raise InvalidInput("invalid_stock_delta", field="delta", max_stock=stock.MAX_STOCK)
    reason = None
    if change.reason is not None:
        reason = _text(change.reason, "reason", "invalid_reason", 0, MAX_REASON) or None
    if change.kind == "adjustment" and reason is None:
        raise InvalidInput("invalid_reason", field="reason")
    donor = None
    if change.donor is not None:
        if change.kind != "donation":
            raise InvalidInput("invalid_donor", field="donor")
        donor = _text(change.donor, "donor", "invalid_donor", 1, stock.MAX_DONOR)
    after = await write(
        stock.move_steps, me.community_id, product_id, change.delta, change.kind,
        reason=reason, donor=donor, actor_id=me.id,
    )
    log.info("stock of product %s moved by %s (%s) by person %s",
             product_id, change.delta, change.kind, me.id)
    return StockLevel(product_id=product_id, stock=after)


async def stock_record(
    me: Principal, product_id: int, limit: int, cursor: str | None
) -> MovementPage:
    return await stock.movements(me.community_id, product_id, limit, parse_cursor(cursor))
