"""Random sequences of everything the shop does, checked against a plain model after every step.

Products, stock changes by hand, redemptions at the counter, refunds (whole or
in part), reservations, their collection, cancellation and expiry — all
through the HTTP API of a running app. The model is what a careful shop
keeper with a notebook would write down. After every step: each product's
stock equals the model's and the sum of its movements; each resident's
balance and held points equal the model's; the ledger verifies.
"""

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from market.cards.service import member_code
from market.community import service as communities
from market.settings import get_settings
from market.shop import orders, stock
from market.tables import Order
from tests.market import records
from tests.market.stateful_app import example_app

START_POINTS = 5_000  # hundredths, per resident
quantities = st.integers(min_value=1, max_value=4)
prices = st.integers(min_value=1, max_value=900)  # hundredths


def points(hundredths: int) -> str:
    return f"{hundredths // 100}.{hundredths % 100:02d}"


@dataclass
class Sale:
    """A redemption in the model: what is left to refund, per product, at its price."""

    resident: int
    left: dict[int, int]
    prices: dict[int, int]


@dataclass
class Reservation:
    resident: int
    lines: dict[int, int]
    total: int


@dataclass
class Shop:
    stock: dict[int, int] = field(default_factory=dict)
    price: dict[int, int] = field(default_factory=dict)
    balance: dict[int, int] = field(default_factory=dict)
    held: dict[int, int] = field(default_factory=dict)
    sales: dict[int, Sale] = field(default_factory=dict)
    reserved: dict[int, Reservation] = field(default_factory=dict)


class ShopMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()
        self.app = self.run(self.stack.enter_async_context(example_app()))
        self.ledger = self.app.state.ledger
        self.model = Shop()

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.stack.aclose())
        self.loop.close()

    @initialize()
    def community(self) -> None:
        async def setup() -> None:
            self.community_id = (
                await communities.get_or_create(self.ledger, f"模型社区-{secrets.token_hex(6)}")
            ).id
            admin = await records.person(self.community_id, "admin")
            keeper = await records.person(self.community_id, "shopkeeper")
            self.admin = await self.stack.enter_async_context(await records.bearer_client(self.app, admin))
            self.keeper = await self.stack.enter_async_context(await records.bearer_client(self.app, keeper))
            self.residents = {}
            for _ in range(2):
                person = await records.person(self.community_id, "resident")
                client = await self.stack.enter_async_context(await records.bearer_client(self.app, person))
                self.residents[person] = client
                answer = await self.admin.post(
                    "/api/adjustments",
                    json={"person_id": person, "amount": points(START_POINTS), "reason": "模型"},
                    headers={"Idempotency-Key": secrets.token_hex(8)},
                )
                assert answer.status_code == 201, answer.text
                self.model.balance[person], self.model.held[person] = START_POINTS, 0

        self.run(setup())

    # -- the catalogue -----------------------------------------------------------------------

    @rule(price=prices, count=st.integers(min_value=0, max_value=6))
    def add_product(self, price: int, count: int) -> None:
        answer = self.run(
            self.keeper.post(
                "/api/products",
                json={"name": f"商品{secrets.token_hex(4)}", "price": points(price), "stock": count},
            )
        )
        assert answer.status_code == 201, answer.text
        self.model.stock[answer.json()["id"]], self.model.price[answer.json()["id"]] = count, price

    @precondition(lambda self: self.model.stock)
    @rule(data=st.data(), delta=st.integers(min_value=-4, max_value=4).filter(bool))
    def change_stock(self, data, delta: int) -> None:
        product = data.draw(st.sampled_from(sorted(self.model.stock)))
        answer = self.run(
            self.keeper.post(f"/api/products/{product}/stock", json={"delta": delta, "reason": "盘点"})
        )
        if self.model.stock[product] + delta < 0:
            assert answer.status_code == 409 and answer.json()["reason"] == "out_of_stock", answer.text
        else:
            assert answer.status_code == 200, answer.text
            self.model.stock[product] += delta

    # -- baskets -----------------------------------------------------------------------------

    def basket(self, data) -> dict[int, int]:
        products = data.draw(
            st.lists(st.sampled_from(sorted(self.model.stock)), min_size=1, max_size=3, unique=True)
        )
        return {p: data.draw(quantities) for p in products}

    def refusal(self, resident: int, lines: dict[int, int]) -> str | None:
        """What the shop must answer, checking in its order: stock line by line, then points."""
        for product, quantity in lines.items():
            if self.model.stock[product] < quantity:
                return "out_of_stock"
        total = sum(self.model.price[p] * q for p, q in lines.items())
        if self.model.balance[resident] - self.model.held[resident] < total:
            return "insufficient_points"
        return None

    @precondition(lambda self: self.model.stock)
    @rule(data=st.data())
    def redeem(self, data) -> None:
        resident = data.draw(st.sampled_from(sorted(self.residents)))
        lines = self.basket(data)
        code = member_code(get_settings(), resident).code
        answer = self.run(
            self.keeper.post(
                "/api/redemptions",
                headers={"Idempotency-Key": secrets.token_hex(8)},
                json={
                    "member_code": code,
                    "items": [{"product_id": p, "quantity": q} for p, q in lines.items()],
                },
            )
        )
        expected = self.refusal(resident, lines)
        if expected:
            assert answer.status_code == 409 and answer.json()["reason"] == expected, answer.text
            return
        assert answer.status_code == 201, answer.text
        total = sum(self.model.price[p] * q for p, q in lines.items())
        assert answer.json()["total"] == points(total)
        for product, quantity in lines.items():
            self.model.stock[product] -= quantity
        self.model.balance[resident] -= total
        self.model.sales[answer.json()["id"]] = Sale(
            resident, dict(lines), {p: self.model.price[p] for p in lines}
        )

    @precondition(lambda self: any(any(s.left.values()) for s in self.model.sales.values()))
    @rule(data=st.data(), whole=st.booleans())
    def refund(self, data, whole: bool) -> None:
        sale_id = data.draw(
            st.sampled_from(sorted(i for i, s in self.model.sales.items() if any(s.left.values())))
        )
        sale = self.model.sales[sale_id]
        if whole:
            back = {p: q for p, q in sale.left.items() if q}
            body: dict = {"reason": "退货"}
        else:
            product = data.draw(st.sampled_from(sorted(p for p, q in sale.left.items() if q)))
            back = {product: data.draw(st.integers(min_value=1, max_value=sale.left[product]))}
            body = {
                "reason": "退一部分",
                "items": [{"product_id": p, "quantity": q} for p, q in back.items()],
            }
        answer = self.run(self.keeper.post(f"/api/redemptions/{sale_id}/refund", json=body))
        assert answer.status_code == 201, answer.text
        total = sum(sale.prices[p] * q for p, q in back.items())
        assert answer.json()["total"] == points(total)
        for product, quantity in back.items():
            sale.left[product] -= quantity
            self.model.stock[product] += quantity
        self.model.balance[sale.resident] += total

    # -- orders ------------------------------------------------------------------------------

    @precondition(lambda self: self.model.stock)
    @rule(data=st.data())
    def reserve(self, data) -> None:
        resident = data.draw(st.sampled_from(sorted(self.residents)))
        lines = self.basket(data)
        answer = self.run(
            self.residents[resident].post(
                "/api/orders", json={"items": [{"product_id": p, "quantity": q} for p, q in lines.items()]}
            )
        )
        expected = self.refusal(resident, lines)
        if expected:
            assert answer.status_code == 409 and answer.json()["reason"] == expected, answer.text
            return
        assert answer.status_code == 201, answer.text
        total = sum(self.model.price[p] * q for p, q in lines.items())
        for product, quantity in lines.items():
            self.model.stock[product] -= quantity
        self.model.held[resident] += total
        self.model.reserved[answer.json()["id"]] = Reservation(resident, dict(lines), total)

    def settle(self, data, how: str) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.model.reserved)))
        reservation = self.model.reserved.pop(order_id)
        if how == "fulfil":
            answer = self.run(self.keeper.post(f"/api/orders/{order_id}/fulfil"))
            assert answer.status_code == 200 and answer.json()["status"] == "fulfilled", answer.text
            self.model.balance[reservation.resident] -= reservation.total
            prices = {p: self.model.price[p] for p in reservation.lines}
            self.model.sales[answer.json()["redemption_id"]] = Sale(
                reservation.resident, dict(reservation.lines), prices
            )
        else:
            if how == "cancel":
                answer = self.run(self.residents[reservation.resident].post(f"/api/orders/{order_id}/cancel"))
                assert answer.status_code == 200 and answer.json()["status"] == "cancelled", answer.text
            else:

                async def overdue() -> None:
                    await Order.update({Order.expires_at: datetime.now(UTC) - timedelta(seconds=1)}).where(
                        Order.id == order_id
                    )
                    await orders.expire_overdue(self.ledger)

                self.run(overdue())
            for product, quantity in reservation.lines.items():
                self.model.stock[product] += quantity
        self.model.held[reservation.resident] -= reservation.total

    @precondition(lambda self: self.model.reserved)
    @rule(data=st.data(), how=st.sampled_from(["fulfil", "cancel", "expire"]))
    def settle_order(self, data, how: str) -> None:
        self.settle(data, how)

    # -- what must hold after every step -----------------------------------------------------

    @invariant()
    def books_agree(self) -> None:
        if not hasattr(self, "community_id"):
            return

        async def check() -> None:
            listed = (await self.keeper.get("/api/products?include_inactive=true")).json()["items"]
            assert {p["id"]: p["stock"] for p in listed} == self.model.stock
            assert await stock.reconcile(self.community_id) == []
            for resident, client in self.residents.items():
                wallet = (await client.get("/api/me/balance")).json()
                assert (wallet["balance"], wallet["held"]) == (
                    points(self.model.balance[resident]),
                    points(self.model.held[resident]),
                )
            # This community's chain and books: the whole database's grow with every other test.
            report = await self.ledger.verify(self.community_id)
            assert report.ok, report

        self.run(check())


TestShop = ShopMachine.TestCase
TestShop.settings = settings(
    max_examples=12,  # ~2 s an example on PostgreSQL (it verifies its own community only)
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
