"""The ledger's vocabulary: accounts, transfers, and the requests that make transfers.

Inside the ledger every amount is integer hundredths; the public ``Transfer``,
``Balance`` and ``Entry`` carry Decimals, converted once by ``from_row``.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from ledger.amounts import to_decimal

AccountKind = Literal["issuance", "wallet", "shop", "expiry", "clearing"]
ACCOUNT_KINDS: tuple[str, ...] = ("issuance", "wallet", "shop", "expiry", "clearing")
#: Kinds whose accounts may go below zero. Issuance is where points come from. A clearing
#: account (owner: the other ledger's id) stands for what this ledger owes that one (above
#: zero) or is owed by it (below): see ``ledger.writer.crossing``.
NEGATIVE_KINDS: frozenset[str] = frozenset({"issuance", "clearing"})

#: How a transfer row moves points. ``single`` moves them at once; ``pending``
#: reserves them on the debit account; ``post`` and ``void`` resolve a pending
#: transfer exactly once (a post may move less than was held).
Phase = Literal["single", "pending", "post", "void"]


def utc_from_us(at_us: int) -> datetime:
    return datetime.fromtimestamp(at_us / 1_000_000, tz=UTC).replace(
        microsecond=at_us % 1_000_000
    )


@dataclass(slots=True)
class AccountState:
    """An account as the writer sees it while planning a batch (mutable)."""

    id: int
    ledger: int
    kind: str
    owner: str
    allow_negative: bool
    balance: int
    held: int


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    ledger: int
    kind: str
    owner: str
    allow_negative: bool


@dataclass(frozen=True, slots=True)
class Flows:
    """What an account received (``credited``) and gave (``debited``) in a time range, posted
    movements only, and how many movements that was."""

    credited: Decimal
    debited: Decimal
    movements: int


@dataclass(frozen=True, slots=True)
class Balance:
    """``balance`` is posted points; ``held`` is reserved by open holds;
    ``available`` = balance − held is what may still be spent."""

    account_id: int
    balance: Decimal
    held: Decimal

    @property
    def available(self) -> Decimal:
        return self.balance - self.held


@dataclass(slots=True)
class Row:
    """One stored transfer, exactly as in the database (amounts in hundredths).

    ``seq`` orders every row of the installation (the table's key, given by the
    database); ``number`` is the row's place in its ledger's own hash chain (1, 2, 3 …),
    None for a row written before ledgers had chains of their own (the legacy chain, where
    ``seq`` is the place)."""

    seq: int
    id: str
    ledger: int
    kind: str
    phase: str
    debit: int
    credit: int
    amount: int
    memo: str
    reference: str | None
    pending_id: str | None
    reverses: str | None
    timeout_ms: int | None
    at_us: int
    debit_after: int
    credit_after: int
    hash: str
    number: int | None = None

    def values(self) -> tuple:
        """The row's fields in ``ROW_COLUMNS`` order."""
        return (
            self.seq, self.id, self.ledger, self.kind, self.phase, self.debit, self.credit,
            self.amount, self.memo, self.reference, self.pending_id, self.reverses,
            self.timeout_ms, self.at_us, self.debit_after, self.credit_after, self.hash, self.number,
        )

    @property
    def position(self) -> int:
        """Where the row sits in the chain it belongs to: its ledger's, or the legacy one."""
        return self.seq if self.number is None else self.number

    @property
    def expires_at_us(self) -> int | None:
        if self.phase != "pending" or self.timeout_ms is None:
            return None
        return self.at_us + self.timeout_ms * 1000


#: Column order of the transfer table; stores select and insert in this order.
ROW_COLUMNS = (
    "seq", "id", "ledger", "kind", "phase", "debit", "credit", "amount", "memo",
    "reference", "pending_id", "reverses", "timeout_ms", "at_us", "debit_after",
    "credit_after", "hash", "number",
)


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer as the ledger's callers see it."""

    seq: int
    id: str
    ledger: int
    kind: str
    phase: str
    debit_account: int
    credit_account: int
    amount: Decimal
    memo: str
    reference: str | None
    pending_id: str | None
    reverses: str | None
    at: datetime
    expires_at: datetime | None
    debit_balance_after: Decimal
    credit_balance_after: Decimal
    hash: str
    #: The transfer's place in its ledger's hash chain (None: written before chains per ledger).
    number: int | None = None

    @classmethod
    def from_row(cls, row: Row) -> "Transfer":
        expires = row.expires_at_us
        return cls(
            seq=row.seq, id=row.id, ledger=row.ledger, kind=row.kind, phase=row.phase,
            debit_account=row.debit, credit_account=row.credit,
            amount=to_decimal(row.amount), memo=row.memo, reference=row.reference,
            pending_id=row.pending_id, reverses=row.reverses, at=utc_from_us(row.at_us),
            expires_at=None if expires is None else utc_from_us(expires),
            debit_balance_after=to_decimal(row.debit_after),
            credit_balance_after=to_decimal(row.credit_after), hash=row.hash, number=row.number,
        )


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of an account's history: a transfer seen from that account."""

    seq: int
    transfer_id: str
    at: datetime
    kind: str
    phase: str
    amount: Decimal  # signed: negative when the account was debited
    balance_after: Decimal
    memo: str
    reference: str | None


#: ``sweep`` asks for nothing but to void the ledger's expired holds (the writer's sweeper).
Op = Literal["single", "pending", "post", "void", "reverse", "sweep"]


def expiry_void_id(hold_id: str) -> str:
    """The id of the void the writer stores when a hold times out."""
    return f"{hold_id}/expired"


@dataclass(slots=True)
class Request:
    """What a caller asks the writer to do; becomes at most one transfer row."""

    op: Op
    id: str
    #: The ledger (community) whose chain the transfer joins; found from its accounts or
    #: target when the caller does not say.
    ledger: int | None = None
    kind: str = ""
    debit: int = 0
    credit: int = 0
    amount: int | None = None  # hundredths; None on post = the whole held amount
    memo: str = ""
    reference: str | None = None
    target: str | None = None  # the pending transfer (post/void) or the reversed one
    timeout_ms: int | None = None
    #: Set by the writer's sweep, so a void caused by a timeout says so.
    expiry: bool = field(default=False)


@dataclass(frozen=True, slots=True)
class Problem:
    """The first thing ``verify`` found wrong. ``seq`` is the transfer's place in its chain
    (``ledger``'s, or the legacy chain's when ``ledger`` is None)."""

    seq: int | None
    transfer_id: str | None
    message: str
    ledger: int | None = None


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where one ledger's chain stands: how many transfers, and the last one's hash."""

    ledger: int
    entries: int
    head: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    entries: int
    head: str
    accounts: int
    total: Decimal  # the sum of all balances: zero when the books balance
    problem: Problem | None = None
    #: Each ledger's chain that was checked.
    chains: tuple[ChainHead, ...] = ()
    #: Pairs of ledgers with clearing accounts between them (checked in a whole check only).
    clearing_pairs: int = 0
