"""Audits the books from the log alone: the hash chains, every balance, the zero sums.

The account rows are a cache; the transfers are the truth. ``verify`` replays
every transfer in order and reports the first place where the two disagree, or
where a chain does not link.

An installation's transfers sit in chains: the *legacy* chain (everything written
before ledgers had chains of their own, ordered by ``seq``) and one chain per ledger
(ordered by ``number``), each starting from its genesis, the hash of an origin
document that names where the ledger stood when its chain began (``ledger.chain``).
A whole check replays the legacy chain, then confirms that each ledger's origin
names the legacy chain's head and the balances and holds the replay reached, then
replays each ledger's chain, and confirms that every pair of ledgers' clearing accounts
sums to zero (``ledger.writer.crossing``). A check of one ledger starts from its origin.
"""

from collections import defaultdict

from ledger.amounts import to_decimal
from ledger.chain import CHAIN_FORMAT, GENESIS, genesis_of, link, parse_origin
from ledger.model import AccountState, ChainHead, Problem, Row, VerifyReport
from ledger.stores import Store

PAGE = 10_000


class _Replay:
    def __init__(self, accounts: list[AccountState]) -> None:
        self.negative_ok = {a.id: a.allow_negative for a in accounts}
        self.ledger_of = {a.id: a.ledger for a in accounts}
        self.balance: dict[int, int] = defaultdict(int)
        self.held: dict[int, int] = defaultdict(int)
        self.open: dict[str, Row] = {}
        self.reversed: set[str] = set()

    def start_from(self, origin: dict) -> None:
        """Take a ledger's opening balances and holds from its origin (a check of one ledger)."""
        for account, (balance, held) in origin["accounts"].items():
            self.balance[account], self.held[account] = balance, held
        for hold_id, (debit, credit, amount) in origin["holds"].items():
            self.open[hold_id] = Row(
                seq=0, id=hold_id, ledger=origin["ledger"], kind="", phase="pending", debit=debit,
                credit=credit, amount=amount, memo="", reference=None, pending_id=None, reverses=None,
                timeout_ms=None, at_us=0, debit_after=0, credit_after=0, hash="",
            )

    def stands_as(self, origin: dict, ledger: int) -> str | None:
        """Does the replay so far agree with what ``ledger``'s origin says it started from?"""
        mine = [a for a, lg in self.ledger_of.items() if lg == ledger]
        balances = {a: (self.balance[a], self.held[a]) for a in mine}
        balances = {a: v for a, v in balances.items() if v != (0, 0)}
        if balances != origin["accounts"]:
            return "its origin's opening balances are not where the legacy chain left the ledger"
        holds = {h: (r.debit, r.credit, r.amount) for h, r in self.open.items() if r.ledger == ledger}
        if holds != origin["holds"]:
            return "its origin's open holds are not those the legacy chain left open"
        return None

    def apply(self, row: Row, original: Row | None) -> str | None:
        """Replay one row (``original``: the transfer it reverses, if it is a reversal);
        return what is wrong with it, if anything."""
        if row.debit not in self.negative_ok or row.credit not in self.negative_ok:
            return "names an account that does not exist"
        if self.ledger_of[row.debit] != row.ledger or self.ledger_of[row.credit] != row.ledger:
            return "moves points between accounts of another ledger"
        if row.amount <= 0 or row.debit == row.credit:
            return "amount or accounts are malformed"
        if row.phase == "single":
            if row.reverses is not None:
                if (
                    original is None or not _precedes(original, row) or row.reverses in self.reversed
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


def _precedes(original: Row, row: Row) -> bool:
    """Was ``original`` written before ``row``? Legacy rows come before every chain's rows;
    within a ledger's chain, by number."""
    if original.number is None:
        return row.number is not None or original.seq < row.seq
    return row.number is not None and original.ledger == row.ledger and original.number < row.number


class _Check:
    """One run of ``verify``: the replay, and what it has counted so far."""

    def __init__(self, store: Store, accounts: list[AccountState]) -> None:
        self.store = store
        self.accounts = accounts
        self.replay = _Replay(accounts)
        self.entries = 0

    async def walk(self, rows_after, ledger: int | None, start: str) -> tuple[int, str, Problem | None]:
        """Replay one chain page by page from ``start``; (length, head hash, first problem)."""
        previous, count = start, 0
        while True:
            rows: list[Row] = await rows_after(count, PAGE)
            # Reversals are rare: fetch their originals rather than keep every transfer in memory.
            originals = {r.reverses: await self.store.transfer(r.reverses) for r in rows if r.reverses}
            for row in rows:
                if row.position != count + 1:
                    return count, previous, Problem(
                        row.position, row.id, f"sequence jumps from {count} to {row.position}", ledger)
                if row.ledger != ledger and ledger is not None:
                    return count, previous, Problem(row.position, row.id, "belongs to another ledger", ledger)
                if link(previous, row) != row.hash:
                    return count, previous, Problem(
                        row.position, row.id, "hash does not match its content and chain", ledger)
                wrong = self.replay.apply(row, originals.get(row.reverses or ""))
                if wrong:
                    return count, previous, Problem(row.position, row.id, wrong, ledger)
                previous, count = row.hash, row.position
                self.entries += 1
            if len(rows) < PAGE:
                return count, previous, None


def _origin_problem(chain: tuple, legacy: tuple[int, str] | None) -> tuple[dict | None, Problem | None]:
    ledger, genesis, origin_text, *_ = chain
    try:
        origin = parse_origin(origin_text)
    except (ValueError, KeyError, TypeError, IndexError):
        return None, Problem(None, None, "its origin cannot be read", ledger)
    if origin["format"] != CHAIN_FORMAT or origin["ledger"] != ledger:
        return None, Problem(None, None, "its origin names another format or ledger", ledger)
    if genesis_of(origin_text) != genesis:
        return None, Problem(None, None, "its genesis is not the hash of its origin", ledger)
    if legacy is not None and origin["legacy"] is not None and origin["legacy"] != legacy:
        return None, Problem(None, None, "its origin names another head of the legacy chain", ledger)
    return origin, None


def _clearing_problem(accounts: list[AccountState]) -> Problem | None:
    """Every pair of ledgers' clearing accounts sums to zero: what one says it owes the other,
    the other says it is owed (``ledger.writer.crossing`` moves both in one transaction)."""
    clearing = {(a.ledger, int(a.owner)): a.balance for a in accounts if a.kind == "clearing"}
    for (one, other), balance in sorted(clearing.items()):
        if balance + clearing.get((other, one), 0) != 0:
            return Problem(None, None, f"the clearing accounts of ledgers {one} and {other}"
                                       " do not sum to zero", one)
    return None


async def verify(store: Store, ledger: int | None = None) -> VerifyReport:
    accounts = await store.accounts(ledger)
    check = _Check(store, accounts)
    chains = await store.chains(ledger)
    heads: list[ChainHead] = []
    legacy: tuple[int, str] | None = None

    def report(problem: Problem | None) -> VerifyReport:
        total = sum(a.balance for a in accounts)
        entries, head = (heads[0].entries, heads[0].head) if ledger is not None and heads else (
            check.entries, legacy[1] if legacy else GENESIS)
        return VerifyReport(
            ok=problem is None, entries=entries, head=head, accounts=len(accounts),
            total=to_decimal(total), problem=problem, chains=tuple(heads),
            clearing_pairs=len({frozenset((a.ledger, int(a.owner))) for a in accounts
                                if a.kind == "clearing"}) if ledger is None else 0,
        )

    if ledger is None:
        count, head, problem = await check.walk(store.scan_legacy, None, GENESIS)
        legacy = (count, head)
        if problem:
            return report(problem)
    elif not chains:
        return report(Problem(None, None, "the ledger has no chain", ledger))

    for chain in chains:
        chain_ledger, genesis, _, head_number, head_hash, _ = chain
        origin, problem = _origin_problem(chain, legacy)
        if problem or origin is None:
            return report(problem)
        if ledger is None:
            if wrong := check.replay.stands_as(origin, chain_ledger):
                return report(Problem(None, None, wrong, chain_ledger))
        else:
            check.replay.start_from(origin)
        count, head, problem = await check.walk(
            lambda after, limit, lg=chain_ledger: store.scan_chain(lg, after, limit), chain_ledger, genesis
        )
        if problem:
            return report(problem)
        if (count, head) != (head_number, head_hash):
            return report(Problem(None, None, f"the chain's head says {head_number}, the log {count}",
                                  chain_ledger))
        heads.append(ChainHead(chain_ledger, count, head))

    replay = check.replay
    for a in accounts:
        if (a.balance, a.held) != (replay.balance[a.id], replay.held[a.id]):
            return report(Problem(None, None, f"account {a.id} says {a.balance}/{a.held} held, "
                                              f"the log says {replay.balance[a.id]}/{replay.held[a.id]}",
                                  a.ledger))
    by_ledger: dict[int, int] = defaultdict(int)
    for a in accounts:
        by_ledger[a.ledger] += a.balance
    for unbalanced in sorted(lg for lg, total in by_ledger.items() if total != 0):
        return report(Problem(None, None, "the balances do not sum to zero", unbalanced))
    if ledger is None and (problem := _clearing_problem(accounts)):
        return report(problem)
    if await store.open_hold_ids(ledger) != set(replay.open):
        return report(Problem(None, None, "the open holds do not match the log", ledger))
    return report(None)
