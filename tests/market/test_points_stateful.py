"""Random sequences of the points rules, checked against a notebook model after every step.

The model keeps every lot a resident earned with what is left of it, and spends the
earliest-expiring first — the rule as a careful office clerk would apply it by hand. The product
keeps no such notebook: it derives which points are which from the balance and the lots
(``market.points.lots``). After every step, through the HTTP API of a running app and the
ledger: each balance and held amount equal the model's, no wallet is below zero, the community's
books sum to zero and its chain verifies, every balance is covered by its lots, and whatever
clearing moved equals what the model says had expired. The clock only moves forward, and the
policy (calendar year or N months) is fixed per example, so expiry follows earning order.
"""

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from market.app import create_app
from market.community import service as communities
from market.db import fetch
from market.points import expiry, lots
from market.points.policy import CHINA, Rules
from tests.market import records
from tests.market.support import running

amounts = st.integers(min_value=1, max_value=2_000)  # hundredths


def points(hundredths: int) -> str:
    sign = "-" if hundredths < 0 else ""
    return f"{sign}{abs(hundredths) // 100}.{abs(hundredths) % 100:02d}"


@dataclass
class Lot:
    expires_us: int
    left: int


@dataclass
class Notebook:
    lots: dict[int, list[Lot]] = field(default_factory=dict)
    held: dict[int, int] = field(default_factory=dict)
    orders: dict[int, tuple[int, int]] = field(default_factory=dict)  # order id → (person, points)
    expired: int = 0

    def balance(self, person: int) -> int:
        return sum(lot.left for lot in self.lots[person])

    def take(self, person: int, amount: int) -> None:
        """Spend ``amount``, the earliest-expiring first."""
        for lot in sorted(self.lots[person], key=lambda lot: lot.expires_us):
            used = min(lot.left, amount)
            lot.left -= used
            amount -= used
        assert amount == 0

    def clear(self, at_us: int) -> int:
        """What expires by ``at_us``, less what open reservations hold (they keep it, for now)."""
        moved = 0
        for person, person_lots in self.lots.items():
            due = sum(lot.left for lot in person_lots if lot.expires_us <= at_us)
            take = min(due, self.balance(person) - self.held[person])
            if take > 0:
                self.take(person, take)  # the expired lots are the earliest-expiring
                moved += take
        self.expired += moved
        return moved


class PointsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()
        self.app = create_app()
        self.run(self.stack.enter_async_context(running(self.app)))
        self.ledger = self.app.state.ledger
        self.model = Notebook()
        self.now = datetime(2025, 1, 6, 9, 0, tzinfo=CHINA)
        self.saved_clock = lots.clock
        lots.clock = lambda: self.now

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        lots.clock = self.saved_clock
        self.run(self.stack.aclose())
        self.loop.close()

    @initialize(policy=st.one_of(st.just("calendar_year"), st.integers(min_value=1, max_value=36)))
    def community(self, policy) -> None:
        self.rules = (Rules(expiry="calendar_year") if policy == "calendar_year"
                      else Rules(expiry="months", expiry_months=policy))

        async def setup() -> None:
            self.community_id = (
                await communities.get_or_create(self.ledger, f"积分模型-{secrets.token_hex(6)}")
            ).id
            admin = await records.person(self.community_id, "admin")
            keeper = await records.person(self.community_id, "shopkeeper")
            self.admin = await self.stack.enter_async_context(await records.bearer_client(self.app, admin))
            self.keeper = await self.stack.enter_async_context(await records.bearer_client(self.app, keeper))
            wire = "calendar_year" if policy == "calendar_year" else {"months": policy}
            answer = await self.admin.put("/api/points/policy", json={"expiry": wire})
            assert answer.status_code == 200, answer.text
            made = await self.keeper.post(
                "/api/products", json={"name": "大米", "price": "1.00", "stock": 10_000})
            assert made.status_code == 201, made.text
            self.product = made.json()["id"]
            self.residents = {}
            for _ in range(2):
                person = await records.person(self.community_id, "resident")
                client = await self.stack.enter_async_context(await records.bearer_client(self.app, person))
                self.residents[person] = client
                self.model.lots[person], self.model.held[person] = [], 0

        self.run(setup())

    def adjust(self, person: int, hundredths: int):
        return self.run(self.admin.post(
            "/api/adjustments", json={"person_id": person, "amount": points(hundredths), "reason": "模型"},
            headers={"Idempotency-Key": secrets.token_hex(8)},
        ))

    # -- time, earning, spending --------------------------------------------------------------

    @rule(days=st.integers(min_value=0, max_value=400), hours=st.integers(min_value=0, max_value=23))
    def time_passes(self, days: int, hours: int) -> None:
        self.now += timedelta(days=days, hours=hours)

    @rule(data=st.data(), amount=amounts)
    def earn(self, data, amount: int) -> None:
        person = data.draw(st.sampled_from(sorted(self.residents)))
        answer = self.adjust(person, amount)
        assert answer.status_code == 201, answer.text
        expires = self.rules.expires_at(self.now)
        assert expires is not None
        self.model.lots[person].append(Lot(lots.to_us(expires), amount))

    @rule(data=st.data(), amount=amounts)
    def spend(self, data, amount: int) -> None:
        person = data.draw(st.sampled_from(sorted(self.residents)))
        answer = self.adjust(person, -amount)
        if self.model.balance(person) - self.model.held[person] < amount:
            assert answer.status_code == 409 and answer.json()["reason"] == "insufficient_points"
            return
        assert answer.status_code == 201, answer.text
        self.model.take(person, amount)

    # -- reservations hold points -------------------------------------------------------------

    @rule(data=st.data(), quantity=st.integers(min_value=1, max_value=20))
    def reserve(self, data, quantity: int) -> None:
        person = data.draw(st.sampled_from(sorted(self.residents)))
        answer = self.run(self.residents[person].post(
            "/api/orders", json={"items": [{"product_id": self.product, "quantity": quantity}]},
            headers={"Idempotency-Key": secrets.token_hex(8)},
        ))
        if self.model.balance(person) - self.model.held[person] < quantity * 100:
            assert answer.status_code == 409, answer.text
            return
        assert answer.status_code == 201, answer.text
        self.model.orders[answer.json()["id"]] = (person, quantity * 100)
        self.model.held[person] += quantity * 100

    @precondition(lambda self: self.model.orders)
    @rule(data=st.data(), collect=st.booleans())
    def settle(self, data, collect: bool) -> None:
        order = data.draw(st.sampled_from(sorted(self.model.orders)))
        person, held = self.model.orders.pop(order)
        action = "fulfil" if collect else "cancel"
        answer = self.run(self.keeper.post(f"/api/orders/{order}/{action}"))
        assert answer.status_code == 200, answer.text
        self.model.held[person] -= held
        if collect:
            self.model.take(person, held)

    # -- clearing ------------------------------------------------------------------------------

    @rule(again=st.booleans())
    def clear(self, again: bool) -> None:
        moved = self.run(expiry.clear(self.ledger, self.community_id, self.now)).hundredths
        assert moved == self.model.clear(lots.to_us(self.now))
        if again:  # a rerun at the same moment moves nothing
            assert self.run(expiry.clear(self.ledger, self.community_id, self.now)).hundredths == 0

    # -- after every step ------------------------------------------------------------------------

    @invariant()
    def books_agree(self) -> None:
        if not hasattr(self, "community_id"):
            return

        async def check() -> None:
            for person, client in self.residents.items():
                shown = (await client.get("/api/me/balance")).json()
                assert shown["balance"] == points(self.model.balance(person)), person
                assert shown["held"] == points(self.model.held[person]), person
                assert shown["balance"][0] != "-"
                # Every point in the wallet is covered by its lots.
                (covered,) = await fetch(
                    "SELECT COALESCE(SUM(amount), 0) AS total FROM points_lot WHERE community = {}"
                    " AND person = {}", self.community_id, person)
                assert int(covered["total"]) >= self.model.balance(person)
            totals = await self.ledger.totals(self.community_id)
            assert sum(totals.values()) == 0
            assert totals["expiry"] * 100 == self.model.expired
            report = await self.ledger.verify(self.community_id)
            assert report.ok, report

        self.run(check())


TestPoints = PointsMachine.TestCase
TestPoints.settings = settings(
    max_examples=10,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
