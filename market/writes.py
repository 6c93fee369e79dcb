"""The one way a write that moves points, stock or attendance reaches the database.

A write is a *unit*: a generator function whose steps yield what the transaction does,
one statement at a time (``(sql, args)``, ``{}`` marking each argument; it is sent
back the rows) or a ``LedgerStep`` (the ledger's batch, in the same transaction; it is
sent back the transfers). Python decides between the steps; it never awaits anything
else, so the whole transaction runs where its connection is — on SQLite in one hop to
the writer's thread (``market.sqlite_pool``), on PostgreSQL on the writer's own event
loop (``market.pg_writer``) — and commits when the unit returns. Anything it raises
rolls all of it back. ``write(unit, *args)`` runs it.

Because a unit is a function of its arguments, it can be run again from its first step.
PostgreSQL aborts a transaction caught in a deadlock (40P01) or one that cannot be
serialised (40001), as its documentation says it may under load; ``write`` then runs
the unit again, at most ``ATTEMPTS`` times in all, and answers 503 ``busy`` if it never
gets through. Deadlocks stay rare because every unit takes its locks in one order:

1. the resident (``person`` row, ``FOR UPDATE``): one person's baskets and reservations are
   decided one after another, so a limit cannot be passed twice;
2. the activity: ``FOR KEY SHARE`` by scans, which run side by side and only wait for
   what changes the activity; ``FOR UPDATE`` by edits, cancellations, approvals,
   rejections, hours set by hand and closing unfinished stays, which wait for the scans
   in flight and make later ones wait; a capped activity's ``taken`` counter (a guarded
   ``UPDATE``) by its scans, one at a time;
3. the order or redemption row (``FOR UPDATE``): fulfilment, cancellation, expiry; refunds;
4. stays, by the statement that changes them (one activity's at a time);
5. products, in id order (``market.shop.stock``), then the rows whose triggers add to the
   goods tallies (lines), which take those tallies' rows in key order;
6. the community's ledger chain (``LedgerStep``), always last, held to the commit: it is
   the one lock every points movement of the community waits for, so nothing else is
   done while it is held.

On SQLite one writer at a time makes the order moot; the units are the same.
"""

import logging
import sqlite3
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import asyncpg

from ledger import Ledger
from ledger.drive import drive
from ledger.model import Request
from ledger.stores.pg_pool import COMMAND_TIMEOUT, CONNECT_TIMEOUT, connect
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
            return await writer.run(lambda con: _on_sqlite(con, steps))
        # No pool on this event loop (a command, a test's own loop): a connection for this unit.
        connection = Connection(engine.connection_kwargs, name="market-write")
        try:
            return await connection.run(lambda con: _on_sqlite(con, steps))
        finally:
            await connection.close()
    pg_writer = db.pg_writer_here()
    if pg_writer is not None:
        return await pg_writer.run(lambda con: _on_postgres(con, steps))
    con = await connect(engine.config["dsn"], server_settings=db.PG_SERVER_SETTINGS,
                        timeout=CONNECT_TIMEOUT, command_timeout=COMMAND_TIMEOUT)
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


def _on_sqlite(con: sqlite3.Connection, steps: Steps[T]) -> T:
    """The unit from ``BEGIN IMMEDIATE`` to ``COMMIT``, in the connection's thread."""
    con.execute("BEGIN IMMEDIATE")
    try:
        answer: Any = None
        while True:
            try:
                step = steps.send(answer)
            except StopIteration as done:
                con.execute("COMMIT")
                return done.value
            if isinstance(step, LedgerStep):
                answer = step.ledger.apply_on_sqlite(con, step.requests, each=step.each)
            else:
                answer = con.execute(step[0].replace("{}", "?"), step[1]).fetchall()
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise


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
