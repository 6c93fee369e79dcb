"""Audits the books from the log alone: the hash chain, every balance, the zero sum.

The account rows are a cache; the transfers are the truth. ``verify`` replays
every transfer in order and reports the first place where the two disagree, or
where the chain does not link.
"""

from collections import defaultdict

from ledger.amounts import to_decimal
from ledger.chain import GENESIS, link
from ledger.model import Problem, Row, VerifyReport
from ledger.stores import Store

PAGE = 10_000


class _Replay:
    def __init__(self, negative_ok: dict[int, bool]) -> None:
        self.negative_ok = negative_ok
        self.balance: dict[int, int] = defaultdict(int)
        self.held: dict[int, int] = defaultdict(int)
        self.open: dict[str, Row] = {}
        self.resolved: set[str] = set()
        self.reversed: set[str] = set()

    def apply(self, row: Row, original: Row | None) -> str | None:
        """Replay one row (``original``: the transfer it reverses, if it is a reversal);
        return what is wrong with it, if anything."""
        if row.debit not in self.negative_ok or row.credit not in self.negative_ok:
            return "names an account that does not exist"
        if row.amount <= 0 or row.debit == row.credit:
            return "amount or accounts are malformed"
        if row.phase == "single":
            if row.reverses is not None:
                if (
                    original is None or original.seq >= row.seq or row.reverses in self.reversed
                    or original.phase not in ("single", "post") or original.reverses is not None
                ):
                    return "reverses a transfer that cannot be reversed"
                if (original.debit, original.credit, original.amount) != (row.credit, row.debit, row.amount):
                    return "reversal does not mirror the original"
                self.reversed.add(row.reverses)
            self.balance[row.debit] -= row.amount
            self.balance[row.credit] += row.amount
        elif row.phase == "pending":
            self.held[row.debit] += row.amount
            self.open[row.id] = row
        elif row.phase in ("post", "void"):
            hold = self.open.pop(row.pending_id or "", None)
            if hold is None:
                return "resolves a hold that is not open"
            if (hold.debit, hold.credit) != (row.debit, row.credit) or row.amount > hold.amount:
                return "does not match the hold it resolves"
            self.held[row.debit] -= hold.amount
            if row.phase == "post":
                self.balance[row.debit] -= row.amount
                self.balance[row.credit] += row.amount
        else:
            return f"unknown phase {row.phase!r}"
        if (row.debit_after, row.credit_after) != (self.balance[row.debit], self.balance[row.credit]):
            return "recorded balances do not match the replay"
        debit = row.debit
        if not self.negative_ok[debit] and self.balance[debit] - self.held[debit] < 0:
            return "takes an account below zero"
        return None


async def verify(store: Store) -> VerifyReport:
    accounts = await store.accounts()
    replay = _Replay({a.id: a.allow_negative for a in accounts})
    previous, count = GENESIS, 0

    def report(problem: Problem | None) -> VerifyReport:
        total = sum(a.balance for a in accounts)
        return VerifyReport(
            ok=problem is None, entries=count, head=previous, accounts=len(accounts),
            total=to_decimal(total), problem=problem,
        )

    while True:
        rows = await store.scan(count, PAGE)
        # Reversals are rare: fetch their originals rather than keep every transfer in memory.
        originals = {r.reverses: await store.transfer(r.reverses) for r in rows if r.reverses}
        for row in rows:
            if row.seq != count + 1:
                return report(Problem(row.seq, row.id, f"sequence jumps from {count} to {row.seq}"))
            if link(previous, row) != row.hash:
                return report(Problem(row.seq, row.id, "hash does not match its content and chain"))
            wrong = replay.apply(row, originals.get(row.reverses or ""))
            if wrong:
                return report(Problem(row.seq, row.id, wrong))
            previous, count = row.hash, row.seq
        if len(rows) < PAGE:
            break

    for a in accounts:
        if (a.balance, a.held) != (replay.balance[a.id], replay.held[a.id]):
            return report(Problem(None, None, f"account {a.id} says {a.balance}/{a.held} held, "
                                              f"the log says {replay.balance[a.id]}/{replay.held[a.id]}"))
    if sum(a.balance for a in accounts) != 0:
        return report(Problem(None, None, "the balances do not sum to zero"))
    open_ids = await store.open_hold_ids()
    if open_ids != set(replay.open):
        return report(Problem(None, None, "the open holds do not match the log"))
    return report(None)
