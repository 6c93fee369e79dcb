"""The one way a write that moves points, stock or attendance reaches the database.

A write is a *unit*: a generator function whose steps yield what the transaction does,
one statement at a time (``(sql, args)``, ``{}`` marking each argument; it is sent
back the rows) or a ``LedgerStep`` (the ledger's batch, in the same transaction; it is
sent back the transfers). Python decides between the steps; it never awaits anything
else, so the whole transaction runs where its connection is — on SQLite in one hop to
the writer's thread (``market.sqlite_pool``), together with the units waiting with it
(one transaction, each unit in a savepoint of its own, one commit: ``_Batches``), on
PostgreSQL on the writer's own event loop (``market.pg_writer``) — and commits when the
unit returns. Anything it raises rolls all of it back (on SQLite, back to its savepoint:
the units beside it are not touched). ``write(unit, *args)`` runs it.

Because a unit is a function of its arguments, it can be run again from its first step.
PostgreSQL aborts a transaction caught in a deadlock (40P01) or one that cannot be
serialised (40001), as its documentation says it may under load; ``write`` then runs
the unit again, at most ``ATTEMPTS`` times in all, and answers 503 ``busy`` if it never
gets through. Deadlocks stay rare because every unit takes its locks in one order:

1. the resident (``person`` row, ``FOR NO KEY UPDATE``), only for a basket with a limited good:
   one person's baskets and reservations are then decided one after another, so a limit
   cannot be passed twice; and, where the community caps earning, by every unit that may
   credit earned points (a scan, an approval, hours set by hand: ``lots.earning_rules_steps``,
   the people in id order, before the activity), so a cap cannot be passed twice; and by every
   unit of a move of house (``market.subdistricts.moves``), whose approval also moves the row to
   its new community before it takes the two chains;
2. the activity: ``FOR KEY SHARE`` by scans, which run side by side and only wait for
   what changes the activity; ``FOR UPDATE`` by edits, cancellations, approvals,
   rejections, hours set by hand and closing unfinished stays, which wait for the scans
   in flight and make later ones wait; a capped activity's ``taken`` counter (a guarded
   ``UPDATE``) by its scans, one at a time;
3. the order or redemption row (``FOR NO KEY UPDATE``): fulfilment, cancellation, expiry; refunds;
4. stays, by the statement that changes them (one activity's at a time), and with them, by
   their triggers, the activity's tally row and the people's hours rows, in key order (a
   scan writes its stay after its log line: that tally row is one per activity);
5. products, in id order (``market.shop.stock``), then the rows whose triggers add to the
   goods tallies (lines), which take those tallies' rows in key order; 公示 rows
   (``points_publicity``) by the statement that changes them (``market.points.publicity``);
6. the community's ledger chain (``LedgerStep``), always last, held to the commit: it is
   the one lock every points movement of the community waits for, so nothing else is
   done while it is held.

A row another unit only points at (a foreign key: a new order line at its product, a stay at
its person) is share-locked for the key by that insert (``FOR KEY SHARE``). So rows are locked
``FOR NO KEY UPDATE`` where a unit changes them, which lets those inserts through; ``FOR
UPDATE`` would wait for them, and two units each holding one share and wanting the other's
update deadlock (found with sixteen reservations of one good at once).

On SQLite one writer at a time makes the order moot; the units are the same.
"""

import asyncio
import logging
import sqlite3
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import asyncpg

from ledger import PG_COMMAND_TIMEOUT, PG_CONNECT_TIMEOUT, Ledger, Request, drive, drive_now, pg_connect
from market import db
from market.errors import MarketError
from market.sqlite_pool import Connection

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

#: How many times a unit is run before its caller is told to come back (503 ``busy``).
ATTEMPTS = 4

#: What PostgreSQL rolls back on its own and asks the client to run again.
RETRYABLE = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)

#: Hand-written SQL (``{}`` marks each argument) and its arguments.
Statement = tuple[str, tuple]


@dataclass(frozen=True)
class LedgerStep:
    """The ledger's batch inside the unit's transaction. Sent back: the transfers (the first
    refusal is raised, rolling the unit back), or with ``each`` every request's transfer or
    refusal (the transfers stand; a refused request leaves no trace)."""

    ledger: Ledger
    requests: list[Request]
    each: bool = False


#: A unit's steps: statements (sent back their rows) and ledger steps; returns the unit's answer.
Steps = Generator[Statement | LedgerStep, Any, T]


class Busy(MarketError):
    """503: the database kept aborting this write as a deadlock; nothing of it was written."""

    status, reason = 503, "busy"

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


async def write(unit: Callable[P, Steps[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``unit(*args, **kwargs)`` as one write transaction and return what it returns.

    It is a transaction of its own, never part of another (a Piccolo transaction open on
    this task would be waited for by the writer: refused)."""
    engine = db.engine()
    if engine.transaction_exists():
        raise RuntimeError("a write unit is a transaction of its own and cannot join another")
    attempt = 1
    while True:
        try:
            return await _run(engine, unit(*args, **kwargs))
        except RETRYABLE as error:
            if attempt >= ATTEMPTS:
                log.error("write %s aborted %s times (%s); giving up", unit.__name__, attempt,
                          type(error).__name__)
                raise Busy() from error
            attempt += 1
            log.warning("write %s aborted (%s); running it again, attempt %s", unit.__name__,
                        type(error).__name__, attempt)


async def _run(engine: Any, steps: Steps[T]) -> T:
    if engine.engine_type == "sqlite":
        writer = engine.writer()
        if writer is not None:
            batches = _batches.get(writer)
            if batches is None:
                batches = _batches[writer] = _Batches(writer)
            return await batches.run(steps)
        # No pool on this event loop (a command, a test's own loop): a connection for this unit.
        connection = Connection(engine.connection_kwargs, name="market-write")
        try:
            (outcome,) = await connection.run(lambda con: _batch_on_sqlite(con, [steps]))
        finally:
            await connection.close()
        return outcome.result()
    pg_writer = db.pg_writer_here()
    if pg_writer is not None:
        return await pg_writer.run(lambda con: _on_postgres(con, steps))
    con = await pg_connect(engine.config["dsn"], server_settings=db.PG_SERVER_SETTINGS,
                        timeout=PG_CONNECT_TIMEOUT, command_timeout=PG_COMMAND_TIMEOUT)
    try:
        async with con.transaction():
            return await _on_postgres(con, steps)
    finally:
        await con.close()


def _numbered(sql: str) -> str:
    """``{}`` placeholders as PostgreSQL's ``$1``, ``$2``, …"""
    parts = sql.split("{}")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


async def _on_postgres(con: asyncpg.Connection, steps: Steps[T]) -> T:
    """The unit in the transaction open on ``con``, on the connection's own loop."""

    async def answer(step: Statement | LedgerStep) -> Any:
        if isinstance(step, LedgerStep):
            return await step.ledger.apply_within(con, step.requests, each=step.each)
        return [dict(row) for row in await con.fetch(_numbered(step[0]), *step[1])]

    return await drive(steps, answer)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one unit of a batch came to: its answer, or what it raised."""

    value: Any = None
    error: BaseException | None = None

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


#: Units per SQLite transaction at the most (a burst of scans waits for one commit, not a queue).
MAX_BATCH = 64


class _Batches:
    """SQLite: the units of this event loop waiting for the writer, sent to its thread together.

    They run one after another in one transaction, each inside a savepoint of its own — a unit
    that raises is rolled back to its savepoint, and only it fails — and commit together: one
    fsync and one hop to the thread for a burst of scans instead of one each (issue 13: a
    check-in was one fsync and two loop hops). A unit is answered only after the commit.
    """

    def __init__(self, writer: Connection) -> None:
        self.writer = writer
        self.waiting: list[tuple[Steps, asyncio.Future]] = []
        self.draining: asyncio.Task | None = None

    async def run(self, steps: Steps[T]) -> T:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((steps, future))
        if self.draining is None:
            self.draining = asyncio.get_running_loop().create_task(self._drain())
        return (await future).result()

    async def _drain(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
                units = [steps for steps, _ in batch]
                try:
                    outcomes = await self.writer.run(lambda con, units=units: _batch_on_sqlite(con, units))
                except Exception as failure:  # the transaction as a whole (a locked file): all fail
                    outcomes = [_Outcome(error=failure)] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
        finally:
            self.draining = None


#: The batches of each writer connection (a broken writer is replaced by a new one).
_batches: "weakref.WeakKeyDictionary[Connection, _Batches]" = weakref.WeakKeyDictionary()


def _batch_on_sqlite(con: sqlite3.Connection, units: list[Steps]) -> list[_Outcome]:
    """The units from ``BEGIN IMMEDIATE`` to ``COMMIT``, each in its savepoint, in the
    connection's thread."""
    outcomes: list[_Outcome] = []
    con.execute("BEGIN IMMEDIATE")
    try:
        for steps in units:
            con.execute("SAVEPOINT unit")
            try:
                value = drive_now(steps, lambda step: _answer_sqlite(con, step))
            except Exception as error:
                con.execute("ROLLBACK TO unit")
                con.execute("RELEASE unit")
                outcomes.append(_Outcome(error=error))
            else:
                con.execute("RELEASE unit")
                outcomes.append(_Outcome(value=value))
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    return outcomes


def _answer_sqlite(con: sqlite3.Connection, step: Statement | LedgerStep) -> Any:
    if isinstance(step, LedgerStep):
        return step.ledger.apply_on_sqlite(con, step.requests, each=step.each)
    return con.execute(step[0].replace("{}", "?"), step[1]).fetchall()


def _one(sql: str, args: tuple) -> Steps[list[dict]]:
    return (yield (sql, args))


async def statement(sql: str, *args: object) -> list[dict]:
    """One statement that writes, and its rows: the small writes besides the units (a lease, a
    lock-out count, a refused scan's log line). On SQLite it is a unit on the writer, so while
    the file is locked it waits there and never holds one of the readers' connections (a
    health check or a balance would queue behind it); on PostgreSQL it runs on its own."""
    if db.engine_name() == "sqlite":
        return await write(_one, sql, args)
    return await db.fetch(sql, *args)


async def read(unit: Callable[P, Steps[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a unit that only reads (SELECTs, no ledger step) statement by statement, outside any
    transaction: what a page shows of a rule a write unit enforces (a resident's allowance)."""

    async def answer(step: Statement | LedgerStep) -> list[dict]:
        if isinstance(step, LedgerStep) or not step[0].lstrip().upper().startswith("SELECT"):
            raise RuntimeError("read() runs reading statements only")
        return await db.fetch(step[0], *step[1])

    return await drive(unit(*args, **kwargs), answer)


def on_postgres() -> bool:
    """Whether units are running on PostgreSQL (row locks to ask for) or SQLite (one writer)."""
    return db.engine_name() == "postgres"
