"""Random sequences of every ledger operation, checked against a simple model after each step.

The model is plain Python dictionaries: what a careful clerk would compute. After
every step: balances equal the model's, no wallet is below zero, the books sum
to exactly zero, and ``verify`` replays the log to the same numbers.
"""

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ledger import LedgerError, to_decimal
from tests.ledger.support import Books, drop_database, install, new_database

START_US = 1_700_000_000_000_000
amounts = st.integers(min_value=1, max_value=3_000)  # hundredths
ids = st.sampled_from([f"t{i}" for i in range(12)])  # few ids, so retries and conflicts happen


@dataclass
class Expected:
    """What the model says a request stored, to compare retries against."""

    op: tuple
    reason: str | None = None


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.now = START_US
        self.url = self.run(new_database())
        self.run(install(self.url))
        from ledger import Ledger

        self.ledger = Ledger.from_url(self.url, clock=lambda: self.now, sweep_every=None)
        self.run(self.ledger.start())
        self.books = self.run(Books(self.ledger).open(wallets=3))
        self.accounts = [self.books.issuance, self.books.shop, *self.books.wallets]
        self.balance = dict.fromkeys(self.accounts, 0)
        self.held = dict.fromkeys(self.accounts, 0)
        self.stored: dict[str, tuple] = {}  # transfer id -> the request that stored it
        self.holds: dict[str, tuple[int, int, int, int | None]] = {}  # open: debit, credit, amount, expiry
        self.closed_holds: dict[str, bool] = {}  # resolved hold id -> expired?
        self.reversible: dict[str, tuple[int, int, int]] = {}
        self.reversed: set[str] = set()

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.ledger.close())
        self.run(drop_database(self.url))
        self.loop.close()

    # -- the model -------------------------------------------------------------

    def expire(self) -> None:
        for hold_id, (debit, _, amount, expiry) in list(self.holds.items()):
            if expiry is not None and expiry <= self.now:
                self.held[debit] -= amount
                del self.holds[hold_id]
                self.closed_holds[hold_id] = True
                self.stored[f"{hold_id}/expired"] = ("void", hold_id)

    def can_spend(self, account: int, amount: int) -> bool:
        return account == self.books.issuance or self.balance[account] - self.held[account] >= amount

    def attempt(self, transfer_id: str, op: tuple, expected_error: str | None, apply, call) -> None:
        """Run ``call`` and check it against the model's expectation."""
        self.expire()
        if transfer_id in self.stored:
            expected_error = None if self.stored[transfer_id] == op else "id_conflict"
            apply = None
        try:
            self.run(call())
        except LedgerError as refusal:
            assert refusal.reason == expected_error, (op, refusal.reason, expected_error)
            return
        assert expected_error is None, (op, "succeeded but the model expected", expected_error)
        if apply:
            self.stored[transfer_id] = op
            apply()

    # -- rules -----------------------------------------------------------------

    @rule(tid=ids, debit=st.integers(0, 4), credit=st.integers(0, 4), amount=amounts)
    def transfer(self, tid, debit, credit, amount):
        debit, credit = self.accounts[debit], self.accounts[credit]
        op = ("single", debit, credit, amount)
        error = None
        if debit == credit:
            error = "invalid_transfer"
        elif not self.can_spend(debit, amount):
            error = "insufficient_points"

        def apply():
            self.balance[debit] -= amount
            self.balance[credit] += amount
            self.reversible[tid] = (debit, credit, amount)

        self.attempt(tid, op, error, apply,
                     lambda: self.ledger.transfer(tid, debit, credit, to_decimal(amount), "move"))

    @rule(tid=ids, wallet=st.integers(2, 4), amount=amounts,
          seconds=st.one_of(st.none(), st.integers(1, 120)))
    def hold(self, tid, wallet, amount, seconds):
        debit = self.accounts[wallet]
        op = ("pending", debit, amount, seconds)
        error = None if self.can_spend(debit, amount) else "insufficient_points"
        expires_in = None if seconds is None else timedelta(seconds=seconds)

        def apply():
            expiry = None if seconds is None else self.now + seconds * 1_000_000
            self.held[debit] += amount
            self.holds[tid] = (debit, self.books.shop, amount, expiry)

        self.attempt(tid, op, error, apply, lambda: self.ledger.hold(
            tid, debit, self.books.shop, to_decimal(amount), "order", expires_in=expires_in))

    def _resolution_error(self, target: str) -> str | None:
        if target in self.holds:
            return None
        if target in self.closed_holds:
            return "hold_expired" if self.closed_holds[target] else "hold_not_pending"
        if target in self.stored:
            return "hold_not_pending"
        return "transfer_not_found"

    @rule(tid=ids, of=ids, part=st.one_of(st.none(), amounts))
    def post(self, tid, of, part):
        self.expire()
        error = self._resolution_error(of)
        hold = self.holds.get(of)
        if error is None and part is not None and part > hold[2]:
            error = "invalid_amount"
        moved = (hold[2] if part is None else part) if hold else None
        op = ("post", of, moved)

        def apply():
            debit, credit, amount, _ = self.holds.pop(of)
            self.held[debit] -= amount
            self.balance[debit] -= moved
            self.balance[credit] += moved
            self.closed_holds[of] = False
            self.reversible[tid] = (debit, credit, moved)

        if tid in self.stored and self.stored[tid][:2] == ("post", of):
            op = self.stored[tid] if part is None or part == self.stored[tid][2] else op
        self.attempt(tid, op, error, apply, lambda: self.ledger.post(
            tid, of, None if part is None else to_decimal(part)))

    @rule(tid=ids, of=ids)
    def void(self, tid, of):
        self.expire()
        op = ("void", of)

        def apply():
            debit, _, amount, _ = self.holds.pop(of)
            self.held[debit] -= amount
            self.closed_holds[of] = False

        self.attempt(tid, op, self._resolution_error(of), apply,
                     lambda: self.ledger.void(tid, of))

    @rule(tid=ids, of=ids)
    def reverse(self, tid, of):
        op = ("reverse", of)
        original = self.reversible.get(of)
        if original is None:
            error = "not_reversible" if of in self.stored else "transfer_not_found"
        elif of in self.reversed:
            error = "not_reversible"
        else:
            error = None if self.can_spend(original[1], original[2]) else "insufficient_points"

        def apply():
            debit, credit, amount = original
            self.balance[credit] -= amount
            self.balance[debit] += amount
            self.reversed.add(of)

        self.attempt(tid, op, error, apply,
                     lambda: self.ledger.reverse(tid, of, reason="correction"))

    @rule(seconds=st.integers(1, 90))
    def time_passes(self, seconds):
        self.now += seconds * 1_000_000

    @initialize()
    def start_with_points(self):
        for i, wallet in enumerate(self.books.wallets):
            self.run(self.ledger.transfer(f"seed{i}", self.books.issuance, wallet, 5_000, "earn"))
            self.balance[self.books.issuance] -= 500_000
            self.balance[wallet] += 500_000

    # -- invariants --------------------------------------------------------------

    @invariant()
    def books_match_the_model(self):
        self.run(self.ledger.sweep())
        self.expire()
        for account in self.accounts:
            b = self.run(self.ledger.balance(account))
            assert (b.balance, b.held) == (to_decimal(self.balance[account]), to_decimal(self.held[account]))
            if account != self.books.issuance:
                assert b.available >= 0
        assert sum(self.balance.values()) == 0
        report = self.run(self.ledger.verify())
        assert report.ok, report.problem
        assert report.total == 0


TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
