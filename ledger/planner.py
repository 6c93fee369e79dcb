"""Plans one batch of requests against the books, in memory, with no I/O.

The writer locks the chains of the ledgers the batch touches (each ledger's own: a
batch of one community never waits for another's), loads what the requests touch,
and lets ``plan`` decide each request on its own: a refused request leaves no trace
and never fails its neighbours. ``procedure`` is the whole batch as a generator of
queries, so the same steps run on SQLite (driven synchronously inside one thread hop)
and on PostgreSQL (driven by asyncpg).
"""

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from ledger import errors
from ledger.chain import link
from ledger.model import AccountState, Request, Row, expiry_void_id

MAX_ID_LENGTH = 200
MAX_MEMO_LENGTH = 500


@dataclass(slots=True)
class Head:
    """Where a ledger's chain stands while a batch is planned (mutable)."""

    number: int
    hash: str


@dataclass(slots=True)
class Plan:
    outcomes: list[Row | errors.LedgerError | None]
    rows: list[Row] = field(default_factory=list)
    accounts: dict[int, AccountState] = field(default_factory=dict)  # changed ones
    #: Holds opened by this batch and still open at its end: (id, ledger, expires at).
    holds_opened: list[tuple[str, int, int | None]] = field(default_factory=list)
    #: Holds open before this batch and resolved by it.
    holds_closed: list[str] = field(default_factory=list)
    #: The new head of each chain the batch appended to.
    heads: dict[int, Head] = field(default_factory=dict)


def same_request(req: Request, row: Row, known: dict[str, Row]) -> bool:
    """Is ``req`` a retry of the request that stored ``row``?"""
    if req.memo != row.memo and not req.expiry:
        return False
    if req.op in ("single", "pending"):
        return (
            row.phase == req.op and row.reverses is None and row.kind == req.kind
            and row.debit == req.debit and row.credit == req.credit
            and row.amount == req.amount and row.reference == req.reference
            and (req.op == "single" or row.timeout_ms == req.timeout_ms)
        )
    if req.op == "post":
        target = known.get(req.target or "")
        wanted = req.amount if req.amount is not None else (target.amount if target else None)
        return (
            row.phase == "post" and row.pending_id == req.target
            and row.amount == wanted and row.reference == req.reference
        )
    if req.op == "void":
        return row.phase == "void" and row.pending_id == req.target
    return row.phase == "single" and row.reverses == req.target  # reverse


class _Planner:
    def __init__(
        self, heads: dict[int, Head], now_us: int, accounts: dict[int, AccountState],
        known: dict[str, Row], open_holds: set[str], reversed_ids: set[str],
    ) -> None:
        self.heads, self.now_us = heads, now_us
        self.accounts, self.known = accounts, known
        self.open_holds, self.reversed = open_holds, reversed_ids
        self.plan = Plan(outcomes=[])
        self._opened: dict[str, tuple[str, int, int | None]] = {}

    def run(self, requests: list[Request]) -> Plan:
        for req in requests:
            if req.op == "sweep":
                self.plan.outcomes.append(None)
                continue
            try:
                existing = self.known.get(req.id)
                if existing is not None:
                    if not same_request(req, existing, self.known):
                        raise errors.IdConflict(f"transfer id {req.id!r} was used for another transfer")
                    self.plan.outcomes.append(existing)
                    continue
                self.plan.outcomes.append(self._decide(req))
            except errors.LedgerError as refusal:
                self.plan.outcomes.append(refusal)
        self.plan.holds_opened = list(self._opened.values())
        return self.plan

    # -- deciding one request -------------------------------------------------

    def _decide(self, req: Request) -> Row:
        if not isinstance(req.id, str) or not req.id or len(req.id) > MAX_ID_LENGTH:
            raise errors.InvalidTransfer("a transfer id is 1 to 200 characters")
        if len(req.memo) > MAX_MEMO_LENGTH:
            raise errors.InvalidTransfer("memo is too long")
        if req.op in ("single", "pending"):
            return self._move(req)
        if req.op in ("post", "void"):
            return self._resolve(req)
        return self._reverse(req)

    def _account(self, account_id: int) -> AccountState:
        account = self.accounts.get(account_id)
        if account is None:
            raise errors.AccountNotFound(f"no account {account_id}", account_id=account_id)
        return account

    def _check_ledger(self, req: Request, ledger: int) -> None:
        """The request names (or was found to be of) the ledger whose chain it joins, and
        that chain was locked for this batch."""
        if req.ledger != ledger:
            raise errors.LedgerMismatch("the transfer belongs to another ledger than the one named")
        if ledger not in self.heads:
            raise errors.AccountNotFound(f"ledger {ledger} has no chain")

    def _check_move(self, req: Request, debit_id: int, credit_id: int, amount: int | None):
        if amount is None or amount <= 0:
            raise errors.InvalidAmount("amount must be positive")
        if debit_id == credit_id:
            raise errors.InvalidTransfer("debit and credit account are the same")
        debit, credit = self._account(debit_id), self._account(credit_id)
        if debit.ledger != credit.ledger:
            raise errors.LedgerMismatch("accounts belong to different ledgers")
        self._check_ledger(req, debit.ledger)
        if not debit.allow_negative and debit.balance - debit.held < amount:
            raise errors.InsufficientFunds(
                "not enough points", account_id=debit.id, available=debit.balance - debit.held
            )
        return debit, credit

    def _move(self, req: Request) -> Row:
        if not req.kind or len(req.kind) > 40:
            raise errors.InvalidTransfer("a transfer needs a kind of 1 to 40 characters")
        if req.op == "pending" and req.timeout_ms is not None and req.timeout_ms <= 0:
            raise errors.InvalidTransfer("a hold's timeout must be positive")
        debit, credit = self._check_move(req, req.debit, req.credit, req.amount)
        assert req.amount is not None
        if req.op == "single":
            debit.balance -= req.amount
            credit.balance += req.amount
        else:
            debit.held += req.amount
        row = self._append(req, req.kind, debit, credit, req.amount, pending_id=None, reverses=None)
        if req.op == "pending":
            self.open_holds.add(row.id)
            self._opened[row.id] = (row.id, row.ledger, row.expires_at_us)
        return row

    def _resolve(self, req: Request) -> Row:
        hold = self.known.get(req.target or "")
        if hold is None:
            raise errors.TransferNotFound(f"no transfer {req.target!r}")
        if hold.phase != "pending":
            raise errors.HoldNotPending(f"{hold.id!r} is not a hold")
        self._check_ledger(req, hold.ledger)
        if hold.id not in self.open_holds:
            if expiry_void_id(hold.id) in self.known:
                raise errors.HoldExpired(f"hold {hold.id!r} expired")
            raise errors.HoldNotPending(f"hold {hold.id!r} was already posted or voided")
        expires = hold.expires_at_us
        if req.op == "post" and expires is not None and expires <= self.now_us:
            # Only reachable when more holds expired at once than one sweep voids.
            raise errors.HoldExpired(f"hold {hold.id!r} expired")
        debit, credit = self._account(hold.debit), self._account(hold.credit)
        amount = hold.amount if req.op == "void" or req.amount is None else req.amount
        if amount <= 0 or amount > hold.amount:
            raise errors.InvalidAmount("a post moves more than zero and at most the held amount")
        debit.held -= hold.amount
        if req.op == "post":
            debit.balance -= amount
            credit.balance += amount
        self.open_holds.discard(hold.id)
        # A hold opened and resolved in the same batch never reaches the hold table.
        if self._opened.pop(hold.id, None) is None:
            self.plan.holds_closed.append(hold.id)
        return self._append(req, hold.kind, debit, credit, amount, pending_id=hold.id, reverses=None)

    def _reverse(self, req: Request) -> Row:
        original = self.known.get(req.target or "")
        if original is None:
            raise errors.TransferNotFound(f"no transfer {req.target!r}")
        if original.phase not in ("single", "post") or original.reverses is not None:
            raise errors.NotReversible("only posted movements can be reversed, not reversals")
        if original.id in self.reversed:
            raise errors.NotReversible(f"{original.id!r} was already reversed")
        debit, credit = self._check_move(req, original.credit, original.debit, original.amount)
        debit.balance -= original.amount
        credit.balance += original.amount
        self.reversed.add(original.id)
        return self._append(
            req, "reversal", debit, credit, original.amount, pending_id=None, reverses=original.id
        )

    def _append(
        self, req: Request, kind: str, debit: AccountState, credit: AccountState, amount: int,
        pending_id: str | None, reverses: str | None,
    ) -> Row:
        head = self.heads[debit.ledger]
        head.number += 1
        phase = "single" if req.op == "reverse" else req.op
        row = Row(
            seq=0, id=req.id, ledger=debit.ledger, kind=kind, phase=phase,  # seq: given at the write
            debit=debit.id, credit=credit.id, amount=amount, memo=req.memo,
            reference=req.reference, pending_id=pending_id, reverses=reverses,
            timeout_ms=req.timeout_ms if phase == "pending" else None, at_us=self.now_us,
            debit_after=debit.balance, credit_after=credit.balance, hash="", number=head.number,
        )
        row.hash = head.hash = link(head.hash, row)
        self.plan.heads[debit.ledger] = head
        self.known[row.id] = row
        self.plan.rows.append(row)
        self.plan.accounts[debit.id] = debit
        self.plan.accounts[credit.id] = credit
        return row


def plan(
    requests: list[Request], *, heads: dict[int, Head], now_us: int,
    accounts: dict[int, AccountState], known: dict[str, Row], open_holds: set[str],
    reversed_ids: set[str],
) -> Plan:
    """Decide every request in order against the given state (which it updates)."""
    planner = _Planner(heads, now_us, accounts, known, open_holds, reversed_ids)
    return planner.run(requests)


# -- the batch as a sequence of queries ---------------------------------------

#: The queries ``procedure`` yields; each store answers them for its engine.
#:   ("ledgers", account_ids, transfer_ids)
#:        -> ({account id: ledger}, {transfer id: ledger}) of those that exist (no lock needed:
#:           an account or transfer never changes ledger)
#:   ("lock", ledgers, now_us, limit)
#:        -> ({ledger: (head number, head hash, head at_us)}, [(hold id, ledger)]): locks each
#:           ledger's chain, in ledger order, to the end of the transaction, and lists up to
#:           ``limit`` of their open holds whose timeout has passed
#:   ("load", transfer_ids, targets, account_ids)
#:        -> (rows with those ids, the targets that are open holds, the targets some transfer
#:           reverses, the accounts named and those of the targets)
#:   ("write", plan)  -> {transfer id: seq} of the rows it stored with the plan's accounts,
#:                       holds and chain heads
Query = tuple[Any, ...]

SWEEP_LIMIT = 500


def _find_ledgers(requests: list[Request]) -> Generator[Query, Any, None]:
    """Fill in the ledger of each request that does not name it, from its accounts or target."""
    unnamed = [r for r in requests if r.ledger is None]
    if not unnamed:
        return
    accounts = sorted({a for r in unnamed for a in (r.debit, r.credit) if isinstance(a, int) and a > 0})
    targets = sorted({r.target for r in unnamed if isinstance(r.target, str)})
    of_account, of_transfer = yield ("ledgers", accounts, targets)
    for r in unnamed:
        r.ledger = of_account.get(r.debit) if r.target is None else of_transfer.get(r.target)


def procedure(
    requests: list[Request], now_us: int
) -> Generator[Query, Any, list[Row | errors.LedgerError | None]]:
    """One batch, start to finish, inside the caller's write transaction.

    Expired holds of the ledgers it locks are voided first, so the rest of the batch
    sees them gone. Returns the outcomes of ``requests`` (None for a ``sweep``; the
    sweep's own voids are dropped).
    """
    yield from _find_ledgers(requests)
    ledgers = sorted({r.ledger for r in requests if r.ledger is not None})
    # Requests of no known ledger are still decided (a retry's id may exist), locking nothing.
    found, expired = (yield ("lock", ledgers, now_us, SWEEP_LIMIT)) if ledgers else ({}, [])
    heads = {ledger: Head(number, hash_) for ledger, (number, hash_, _) in found.items()}
    # A clock stepping back must not reorder a chain.
    now_us = max([now_us, *(at_us for _, _, at_us in found.values())])
    sweep = [Request(op="void", id=expiry_void_id(hold_id), ledger=ledger, target=hold_id,
                     memo="expired", expiry=True)
             for hold_id, ledger in expired]
    batch = sweep + requests

    ids = {r.id for r in batch if isinstance(r.id, str) and r.op != "sweep"}
    targets = {r.target for r in batch if r.target}
    # A hold's expiry void is loaded too, so a late post can say why the hold is gone.
    expiry_voids = {expiry_void_id(t) for t in targets}
    account_ids = {a for r in batch for a in (r.debit, r.credit) if isinstance(a, int) and a > 0}
    rows, open_ids, reversed_ids, states = yield (
        "load", sorted(ids | targets | expiry_voids), sorted(targets), sorted(account_ids)
    )
    result = plan(
        batch, heads=heads, now_us=now_us, accounts={a.id: a for a in states},
        known={row.id: row for row in rows}, open_holds=set(open_ids), reversed_ids=set(reversed_ids),
    )
    if result.rows:
        keys = yield ("write", result)
        for row in result.rows:
            row.seq = keys[row.id]
    return result.outcomes[len(sweep):]
