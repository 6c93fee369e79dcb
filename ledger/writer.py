"""The ledger's one writer per process: concurrent requests, gathered into batches.

Callers await their own transfer; the writer takes everything queued while the
previous batch was committing and commits it in one database transaction (group
commit). Each request still succeeds or fails on its own. A caller is answered
only after the commit, so an acknowledged transfer is durable.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.amounts import to_decimal, to_hundredths
from ledger.errors import AccountNotFound, InvalidAmount, InvalidTransfer, LedgerError
from ledger.model import (
    ACCOUNT_KINDS,
    NEGATIVE_KINDS,
    Account,
    Balance,
    Entry,
    Flows,
    Request,
    Row,
    Transfer,
    VerifyReport,
    utc_from_us,
)
from ledger.stores import Store, store_for_url
from ledger.verify import verify

Amount = Decimal | int | str


def _now_us() -> int:
    return time.time_ns() // 1000


def _positive(amount: Amount) -> int:
    hundredths = to_hundredths(amount)
    if hundredths <= 0:
        raise InvalidAmount("amount must be positive")
    return hundredths


# -- requests: what each way of moving points asks of the planner ----------------------


#: Each builder takes the ``ledger`` (community) whose chain the transfer joins; without it,
#: the writer finds it from the accounts or the target, at the cost of one more query.


def single(
    id: str, debit: int, credit: int, amount: Amount, kind: str, memo: str = "",
    reference: str | None = None, *, ledger: int | None = None,
) -> Request:
    return Request(
        op="single", id=id, kind=kind, debit=_account_id(debit), credit=_account_id(credit),
        amount=_positive(amount), memo=memo, reference=reference, ledger=_ledger_id(ledger),
    )


def pending(
    id: str, debit: int, credit: int, amount: Amount, kind: str, memo: str = "",
    reference: str | None = None, expires_in: timedelta | None = None, *, ledger: int | None = None,
) -> Request:
    timeout_ms = None
    if expires_in is not None:
        timeout_ms = int(expires_in.total_seconds() * 1000)
        if timeout_ms <= 0:
            raise InvalidTransfer("a hold's timeout must be positive")
    return Request(
        op="pending", id=id, kind=kind, debit=_account_id(debit), credit=_account_id(credit),
        amount=_positive(amount), memo=memo, reference=reference, timeout_ms=timeout_ms,
        ledger=_ledger_id(ledger),
    )


def posting(
    id: str, pending_id: str, amount: Amount | None = None, memo: str = "",
    reference: str | None = None, *, ledger: int | None = None,
) -> Request:
    return Request(
        op="post", id=id, target=pending_id, memo=memo, reference=reference,
        amount=None if amount is None else _positive(amount), ledger=_ledger_id(ledger),
    )


def voiding(id: str, pending_id: str, memo: str = "", *, ledger: int | None = None) -> Request:
    return Request(op="void", id=id, target=pending_id, memo=memo, ledger=_ledger_id(ledger))


def reversal(id: str, transfer_id: str, reason: str, *, ledger: int | None = None) -> Request:
    if not reason.strip():
        raise InvalidTransfer("a reversal needs a reason")
    return Request(op="reverse", id=id, target=transfer_id, memo=reason, ledger=_ledger_id(ledger))


def crossing(
    id: str, debit: int, credit: int, amount: Amount, kind: str, memo: str = "",
    reference: str | None = None, *, ledgers: tuple[int, int], clearing: tuple[int, int],
) -> list[Request]:
    """Points from ``debit`` in ledger ``ledgers[0]`` to ``credit`` in ledger ``ledgers[1]``.

    Each ledger keeps its own chain and its own zero sum, so the movement is two transfers,
    one in each ledger, through the pair's clearing accounts (``Ledger.clearing_accounts``):
    ``debit`` → the first ledger's account for the second (``id:out``), and the second
    ledger's account for the first → ``credit`` (``id:in``). Applied in one batch (one
    transaction, both chains locked in ledger order), both legs commit or neither does; the
    same ``id`` again answers the first movement. The pair's two clearing balances always sum
    to zero, which ``verify`` checks."""
    origin, destination = (_ledger_id(ledger) for ledger in ledgers)
    if origin == destination:
        raise InvalidTransfer("a crossing joins two different ledgers")
    out_of, into = clearing
    return [
        single(f"{id}:out", debit, out_of, amount, kind, memo, reference, ledger=origin),
        single(f"{id}:in", into, credit, amount, kind, memo, reference, ledger=destination),
    ]


def locking(ledger: int) -> Request:
    """Nothing moved: the ledger's chain locked to the end of the caller's transaction (its expired
    holds voided on the way). A unit that decides an amount from balances it reads takes it
    before reading them, so no movement of that ledger can come in between."""
    return Request(op="sweep", id="", ledger=_ledger_id(ledger))


def outcomes_of(outcomes: list[Row | LedgerError | None]) -> list[Transfer | LedgerError]:
    """Each request's transfer, or the ledger's refusal of it (the others stand)."""
    return [o if isinstance(o, LedgerError) else Transfer.from_row(o) for o in outcomes if o is not None]


def _transfers(outcomes: list[Row | LedgerError | None]) -> list[Transfer]:
    """The transfers of a batch, or its first refusal raised."""
    found = outcomes_of(outcomes)
    for outcome in found:
        if isinstance(outcome, LedgerError):
            raise outcome
    return found  # type: ignore[return-value]


class Ledger:
    """The points ledger. Start it, move points, read balances, verify the books."""

    def __init__(
        self, store: Store, *, max_batch: int = 1000, sweep_every: float | None = 1.0,
        clock: Callable[[], int] = _now_us,
        unreachable: Callable[[BaseException], bool] = lambda _: False,
    ):
        """``clock`` gives the time in microseconds since the epoch (tests pass their own);
        ``unreachable`` tells a failure of the database itself (stopped, locked) from one a
        request caused (the app passes its classifier)."""
        self.store = store
        self.clock = clock
        self.unreachable = unreachable
        self.max_batch = max_batch
        self.sweep_every = sweep_every
        self._queue: asyncio.Queue[tuple[Request, asyncio.Future]] | None = None
        self._tasks: list[asyncio.Task] = []
        # (ledger, kind, owner) -> account id: an account is never deleted or renumbered.
        self._account_ids: dict[tuple[int, str, str], int] = {}

    @classmethod
    def from_url(cls, url: str, *, pool: Any = None, **options) -> "Ledger":
        """The ledger of the database at ``url``; on PostgreSQL, ``pool`` (an asyncpg pool the
        caller keeps open to it) spares the ledger a pool of its own."""
        return cls(store_for_url(url, pool), **options)

    @property
    def engine(self) -> str:
        return self.store.engine

    async def start(self) -> None:
        await self.store.open()
        self._queue = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._write_batches(), name="ledger-writer")]
        if self.sweep_every:
            self._tasks.append(asyncio.create_task(self._sweep_expired(), name="ledger-sweeper"))

    async def close(self) -> None:
        """Finish what is queued, then stop."""
        if self._queue is not None:
            await self._queue.join()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks, self._queue = [], None
        await self.store.close()

    async def __aenter__(self) -> "Ledger":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # -- the writer ------------------------------------------------------------

    async def _submit(self, request: Request) -> Row | None:
        if self._queue is None:
            raise RuntimeError("the ledger is not started")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((request, future))
        return await future

    async def _write_batches(self) -> None:
        queue = self._queue
        assert queue is not None
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    queue.task_done()

    async def _commit(self, batch: list[tuple[Request, asyncio.Future]]) -> None:
        requests = [r for r, _ in batch]
        try:
            outcomes = await self.store.apply(requests, self.clock())
        except Exception as failure:
            if self.unreachable(failure):
                # Not the requests' fault: each alone would wait for the database as long
                # again, one after the other, and so would what is queued behind them.
                self._fail_queued(failure)
            if len(batch) == 1 or self.unreachable(failure):
                for _, future in batch:
                    _settle(future, failure)
                return
            # Something the planner did not foresee broke the whole transaction: run
            # each request alone, so only the one at fault fails.
            for item in batch:
                await self._commit([item])
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome)

    def _fail_queued(self, failure: BaseException) -> None:
        queue = self._queue
        assert queue is not None
        while not queue.empty():
            _, future = queue.get_nowait()
            _settle(future, failure)
            queue.task_done()

    async def _sweep_expired(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_every or 1.0)
            with contextlib.suppress(Exception):  # a sweep failing now is retried next tick
                await self.sweep()

    async def sweep(self) -> None:
        """Void every hold whose timeout has passed (each batch does it for the ledgers it
        locks; this reaches the quiet ones)."""
        for ledger in await self.store.expired_ledgers(self.clock()):
            await self._submit(Request(op="sweep", id="", ledger=ledger))

    # -- moving points -----------------------------------------------------------

    async def _one(self, request: Request) -> Transfer:
        row = await self._submit(request)
        assert row is not None
        return Transfer.from_row(row)

    async def transfer(
        self, id: str, debit: int, credit: int, amount: Amount, kind: str,
        memo: str = "", reference: str | None = None, *, ledger: int | None = None,
    ) -> Transfer:
        """Move ``amount`` from ``debit`` to ``credit`` now. Retrying with the same id
        and content returns the first transfer; different content raises IdConflict."""
        return await self._one(single(id, debit, credit, amount, kind, memo, reference, ledger=ledger))

    async def hold(
        self, id: str, debit: int, credit: int, amount: Amount, kind: str,
        memo: str = "", reference: str | None = None, expires_in: timedelta | None = None,
        *, ledger: int | None = None,
    ) -> Transfer:
        """Reserve ``amount`` on ``debit`` for a later post to ``credit``; with
        ``expires_in`` the hold voids itself once that time has passed."""
        return await self._one(
            pending(id, debit, credit, amount, kind, memo, reference, expires_in, ledger=ledger)
        )

    async def post(
        self, id: str, pending_id: str, amount: Amount | None = None, memo: str = "",
        reference: str | None = None, *, ledger: int | None = None,
    ) -> Transfer:
        """Move a hold's points (all, or ``amount`` of them; the rest is released)."""
        return await self._one(posting(id, pending_id, amount, memo, reference, ledger=ledger))

    async def void(self, id: str, pending_id: str, memo: str = "", *, ledger: int | None = None) -> Transfer:
        """Release a hold without moving anything."""
        return await self._one(voiding(id, pending_id, memo, ledger=ledger))

    async def reverse(
        self, id: str, transfer_id: str, reason: str, *, ledger: int | None = None
    ) -> Transfer:
        """Undo a posted movement with a new, linked transfer the other way."""
        return await self._one(reversal(id, transfer_id, reason, ledger=ledger))

    async def apply_within(
        self, connection: Any, requests: list[Request], *, each: bool = False
    ) -> list[Transfer] | list[Transfer | LedgerError]:
        """Run ``requests`` inside a write transaction the caller has open on ``connection``,
        so the caller's own rows and these transfers commit together or not at all.

        SQLite: ``connection`` has ``async run(fn)``, calling ``fn`` with the
        ``sqlite3.Connection`` in the thread that owns it (transaction begun
        IMMEDIATE); PostgreSQL: an ``asyncpg`` connection. The first refusal is
        raised; the caller's transaction must then roll back, which takes every
        transfer of ``requests`` with it. With ``each``, nothing is raised: each
        request's transfer or refusal is returned, and the transfers stand (a refused
        request leaves no trace). Build requests with ``single``, ``pending``,
        ``posting``, ``voiding`` and ``reversal``, naming their ``ledger``.
        """
        if self.engine == "sqlite":
            return await connection.run(lambda con: self.apply_on_sqlite(con, requests, each=each))
        from ledger.stores.postgres import apply_on as apply_on_postgres

        outcomes = await apply_on_postgres(connection, requests, self.clock())
        return outcomes_of(outcomes) if each else _transfers(outcomes)

    def apply_on_sqlite(
        self, con: Any, requests: list[Request], *, each: bool = False
    ) -> list[Transfer] | list[Transfer | LedgerError]:
        """``apply_within`` for a caller already in the ``sqlite3`` connection's own thread."""
        from ledger.stores.sqlite import apply_on

        outcomes = apply_on(con, requests, self.clock())
        return outcomes_of(outcomes) if each else _transfers(outcomes)

    # -- accounts and reads --------------------------------------------------------

    async def open_account(self, ledger: int, kind: str, owner: str = "") -> Account:
        """Get or create the account; only issuance and clearing accounts may go below zero."""
        return (await self.open_accounts(ledger, kind, [owner]))[owner]

    async def open_accounts(self, ledger: int, kind: str, owners: list[str]) -> dict[str, Account]:
        """Get or create one account per owner, all in one transaction (e.g. a roster import)."""
        if kind not in ACCOUNT_KINDS:
            raise InvalidTransfer(f"unknown account kind {kind!r}")
        _ledger_id(ledger)
        unique = sorted(set(owners))
        if not unique:
            return {}
        return await self.store.open_accounts(ledger, kind, unique, kind in NEGATIVE_KINDS)

    async def clearing_accounts(self, origin: int, destination: int) -> tuple[int, int]:
        """The ids of the clearing accounts ``crossing`` moves points through from ``origin`` to
        ``destination``: the origin's account for the destination, and the destination's for the
        origin (opened if need be)."""
        return (await self.account_id(origin, "clearing", str(destination)),
                await self.account_id(destination, "clearing", str(origin)))

    async def find_account(self, ledger: int, kind: str, owner: str = "") -> Account | None:
        return await self.store.find_account(ledger, kind, owner)

    async def account_id(self, ledger: int, kind: str, owner: str = "") -> int:
        """The account's id, opened if need be; remembered, so a busy path (every
        check-in credits a wallet from the issuance account) asks the store once."""
        key = (ledger, kind, owner)
        found = self._account_ids.get(key)
        if found is None:
            account = await self.find_account(ledger, kind, owner)
            if account is None:
                account = await self.open_account(ledger, kind, owner)
            found = self._account_ids[key] = account.id
        return found

    async def balance(self, account_id: int) -> Balance:
        state = await self.store.account(account_id)
        if state is None:
            raise AccountNotFound(f"no account {account_id}")
        return Balance(state.id, to_decimal(state.balance), to_decimal(state.held))

    async def get(self, transfer_id: str) -> Transfer | None:
        row = await self.store.transfer(transfer_id)
        return Transfer.from_row(row) if row else None

    async def entries(
        self, account_id: int, limit: int = 20, before: int | None = None
    ) -> tuple[list[Entry], int | None]:
        """The account's transfers, newest first, and the cursor of the next page."""
        limit = max(1, min(limit, 200))
        rows = await self.store.history(account_id, limit + 1, before)
        page = [_entry(account_id, row) for row in rows[:limit]]
        return page, (page[-1].seq if len(rows) > limit else None)

    async def flows(self, account_id: int, since: datetime, until: datetime) -> dict[str, Flows]:
        """What the account received and gave in [since, until) (aware datetimes), per kind of
        transfer (kinds without movements are absent)."""
        found = await self.store.flows(account_id, _micros(since), _micros(until))
        return {kind: Flows(to_decimal(credited), to_decimal(debited), movements)
                for kind, (credited, debited, movements) in found.items()}

    async def totals(self, ledger: int) -> dict[str, Decimal]:
        totals = await self.store.totals(ledger)
        return {kind: to_decimal(totals.get(kind, 0)) for kind in ACCOUNT_KINDS}

    async def head(self, ledger: int | None = None) -> tuple[int, str]:
        """(entries, hash of the last) of ``ledger``'s chain; without a ledger, (seq, hash) of
        the newest transfer of the installation (it changes with every write)."""
        return await self.store.head(ledger)

    async def verify(self, ledger: int | None = None) -> VerifyReport:
        """Check one ledger's chain and books, or (None) everything: the legacy chain, every
        ledger's chain and where it starts from, every account and the zero sum."""
        return await verify(self.store, ledger)


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise InvalidTransfer("a moment must carry its time zone")
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _account_id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidTransfer("an account id is a positive integer")
    return value


def _ledger_id(value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise InvalidTransfer("a ledger id is a positive integer")
    return value


def _entry(account_id: int, row: Row) -> Entry:
    outgoing = row.debit == account_id
    moves = row.phase in ("single", "post")
    amount = (-row.amount if outgoing else row.amount) if moves else 0
    return Entry(
        seq=row.seq, transfer_id=row.id, at=utc_from_us(row.at_us), kind=row.kind,
        phase=row.phase, amount=to_decimal(amount),
        balance_after=to_decimal(row.debit_after if outgoing else row.credit_after),
        memo=row.memo, reference=row.reference,
    )


def _settle(future: asyncio.Future, outcome: Row | LedgerError | BaseException | None) -> None:
    if future.done():  # the caller gave up waiting; the outcome stands all the same
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
