"""Random sequences of the points rules, checked against a notebook model after every step.

Earning (adjustments, and activity credits through ``earn_steps`` with or without a 公示 window),
spending, reservations held and settled, gifts between residents, deductions and upheld
appeals, the 公示 job posting what is due, and clearing.

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

from market import clock
from market.community import service as communities
from market.db import fetch
from market.points import expiry, lots, publicity
from market.points.lots import Credit, earn_steps
from market.points.policy import CHINA, Rules
from market.writes import write
from tests.market import records
from tests.market.stateful_app import example_app

amounts = st.integers(min_value=1, max_value=2_000)  # hundredths


def points(hundredths: int) -> str:
    sign = "-" if hundredths < 0 else ""
    return f"{sign}{abs(hundredths) // 100}.{abs(hundredths) % 100:02d}"


@dataclass
class Lot:
    expires_us: int
    left: int
    #: What the lot can hold: what was earned, less what was given away from it.
    size: int = 0

    def __post_init__(self) -> None:
        self.size = self.size or self.left


@dataclass
class Notebook:
    lots: dict[int, list[Lot]] = field(default_factory=dict)
    held: dict[int, int] = field(default_factory=dict)
    orders: dict[int, tuple[int, int]] = field(default_factory=dict)  # order id → (person, points)
    #: Deductions not yet appealed: (person, transfer id, points taken).
    deductions: list[tuple[int, str, int]] = field(default_factory=list)
    #: Activity credits waiting for their 公示 window: transfer id → (person, points).
    waiting: dict[str, tuple[int, int]] = field(default_factory=dict)
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

    def give_back(self, person: int, amount: int) -> None:
        """Points come back as the latest-expiring of those spent (``lots.covered_steps``)."""
        for lot in sorted(self.lots[person], key=lambda lot: lot.expires_us, reverse=True):
            back = min(lot.size - lot.left, amount)
            lot.left += back
            amount -= back
        assert amount == 0

    def giftable(self, person: int, now_us: int) -> int:
        """What a gift may take: neither held points nor expired ones not yet cleared."""
        expired = sum(lot.left for lot in self.lots[person] if lot.expires_us <= now_us)
        return self.balance(person) - max(expired, self.held[person])

    def give(self, giver: int, receiver: int, amount: int, now_us: int) -> None:
        """The giver's earliest-expiring alive points, passed on with their expiries."""
        alive = [lot for lot in self.lots[giver] if lot.expires_us > now_us]
        for lot in sorted(alive, key=lambda lot: lot.expires_us):
            given = min(lot.left, amount)
            if given:
                lot.left -= given
                lot.size -= given
                self.lots[receiver].append(Lot(lot.expires_us, given))
                amount -= given
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
        self.app = self.run(self.stack.enter_async_context(example_app()))
        self.ledger = self.app.state.ledger
        self.model = Notebook()
        self.now = datetime(2025, 1, 6, 9, 0, tzinfo=CHINA)
        self.saved_clock = clock.clock
        clock.clock = lambda: self.now

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        clock.clock = self.saved_clock
        self.run(self.stack.aclose())
        self.loop.close()

    @initialize(policy=st.one_of(st.just("calendar_year"), st.integers(min_value=1, max_value=36)),
                publicity=st.sampled_from([0, 3]))
    def community(self, policy, publicity: int) -> None:
        self.rules = (Rules(expiry="calendar_year", publicity_days=publicity) if policy == "calendar_year"
                      else Rules(expiry="months", expiry_months=policy, publicity_days=publicity))

        async def setup() -> None:
            self.community_id = (
                await communities.get_or_create(self.ledger, f"积分模型-{secrets.token_hex(6)}")
            ).id
            admin = await records.person(self.community_id, "admin")
            keeper = await records.person(self.community_id, "shopkeeper")
            self.admin = await self.stack.enter_async_context(await records.bearer_client(self.app, admin))
            self.keeper = await self.stack.enter_async_context(await records.bearer_client(self.app, keeper))
            wire = "calendar_year" if policy == "calendar_year" else {"months": policy}
            answer = await self.admin.put("/api/points/policy", json={
                "expiry": wire, "publicity_days": publicity, "gifting": "community",
                "gift_cap_per_month": "1000000",
            })
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
            self.issuance = await self.ledger.account_id(self.community_id, "issuance")

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

    @rule(data=st.data(), amount=amounts)
    def earn_at_an_activity(self, data, amount: int) -> None:
        """A check-in's credit, through the one path every activity credit takes."""
        person = data.draw(st.sampled_from(sorted(self.residents)))
        transfer_id = f"model:{secrets.token_hex(6)}"

        async def credit() -> None:
            wallet = await self.ledger.account_id(self.community_id, "wallet", str(person))
            await write(earn_steps, self.ledger, self.community_id, self.issuance,
                        [Credit(transfer_id, person, wallet, amount, "checkin", "模型活动")], self.now)

        self.run(credit())
        if self.rules.publicity_days:
            self.model.waiting[transfer_id] = (person, amount)
        else:
            self.model.lots[person].append(Lot(lots.to_us(self.rules.expires_at(self.now)), amount))

    @precondition(lambda self: self.model.waiting)
    @rule()
    def publicity_job(self) -> None:
        """What the 公示 job posts at this moment: every waiting credit whose window has ended."""
        due = {row["transfer_id"] for row in self.run(fetch(
            "SELECT transfer_id FROM points_publicity WHERE community = {} AND state = 'pending'"
            " AND due_us <= {}", self.community_id, lots.to_us(self.now)))}
        self.run(publicity.post_due(self.ledger, self.now, community_id=self.community_id))
        for transfer_id in sorted(due):
            person, amount = self.model.waiting.pop(transfer_id)
            self.model.lots[person].append(Lot(lots.to_us(self.rules.expires_at(self.now)), amount))

    # -- gifts, deductions, appeals ------------------------------------------------------------

    @rule(data=st.data(), amount=amounts)
    def gift(self, data, amount: int) -> None:
        giver, receiver = data.draw(st.permutations(sorted(self.residents)))[:2]
        answer = self.run(self.residents[giver].post(
            "/api/gifts", json={"to_person_id": receiver, "amount": points(amount)},
            headers={"Idempotency-Key": secrets.token_hex(8)},
        ))
        now_us = lots.to_us(self.now)
        if self.model.giftable(giver, now_us) < amount:
            assert answer.status_code == 409 and answer.json()["reason"] == "insufficient_points", answer.text
            return
        assert answer.status_code == 201, answer.text
        self.model.give(giver, receiver, amount, now_us)

    @rule(data=st.data(), amount=amounts)
    def deduct(self, data, amount: int) -> None:
        person = data.draw(st.sampled_from(sorted(self.residents)))
        answer = self.run(self.admin.post(
            "/api/deductions", json={"person_id": person, "amount": points(amount), "reason": "乱堆乱放"},
            headers={"Idempotency-Key": secrets.token_hex(8)},
        ))
        assert answer.status_code == 201, answer.text
        taken = min(amount, self.model.balance(person) - self.model.held[person])
        assert answer.json()["taken"] == points(taken)
        if taken:
            self.model.take(person, taken)
            self.model.deductions.append((person, answer.json()["transfer_id"], taken))

    @precondition(lambda self: self.model.deductions)
    @rule(data=st.data())
    def appeal_upheld(self, data) -> None:
        person, transfer_id, taken = data.draw(st.sampled_from(self.model.deductions))
        self.model.deductions.remove((person, transfer_id, taken))
        appealed = self.run(self.residents[person].post(
            "/api/appeals", json={"transfer_id": transfer_id, "reason": "我没有乱放"}))
        assert appealed.status_code == 201, appealed.text
        decided = self.run(self.admin.post(
            f"/api/appeals/{appealed.json()['id']}/decision", json={"uphold": True, "note": "属实"}))
        assert decided.status_code == 200, decided.text
        self.model.give_back(person, taken)

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
                # Which points expire when, as the resident is told, is the notebook's.
                now_us = lots.to_us(self.now)
                alive: dict[int, int] = {}
                for lot in self.model.lots[person]:
                    if lot.expires_us > now_us and lot.left:
                        alive[lot.expires_us] = alive.get(lot.expires_us, 0) + lot.left
                told = [(lots.to_us(datetime.fromisoformat(e["at"])), e["amount"]) for e in shown["expiring"]]
                assert told == [(at, points(amount)) for at, amount in sorted(alive.items())], person
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
