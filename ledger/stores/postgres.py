"""The ledger on PostgreSQL, through asyncpg.

Each ledger (community) has a chain of its own, and a batch locks the ``ledger_chain``
rows of the ledgers it touches (``SELECT … FOR UPDATE``, in ledger order, held to the
end of the transaction): batches of one ledger append to its chain strictly in turn,
and batches of different ledgers never wait for each other. A batch is three round
trips: lock (with the chain heads and the expired holds), load (transfers, holds and
accounts in one query), write (every row, balance, hold and head in one statement).
Reads go through the pool without any lock.
"""

from typing import Any

import asyncpg

from ledger.chain import GENESIS, genesis_of, new_origin
from ledger.drive import drive
from ledger.errors import LedgerError
from ledger.model import ROW_COLUMNS, Account, AccountState, ChainHead, Request, Row
from ledger.planner import Plan, procedure
from ledger.schema import INSERT_CHAIN, install_steps
from ledger.stores.pg_pool import open_pool
from ledger.stores.sql import ACCOUNT_COLUMNS, CHAIN_COLUMNS, COLUMNS, FLOWS, HISTORY

#: asyncpg prepares every statement, and after five runs PostgreSQL may settle on a generic plan
#: chosen while the table was small: a sequential scan for ``id = ANY($1)`` or for a quiet
#: wallet's history, kept as the table grows (measured: 11k → 1.5k transfers/s over 60k rows).
#: Every connection the ledger uses plans each run instead.
PLAN_EACH_RUN = {"plan_cache_mode": "force_custom_plan"}


def _row(record: Any) -> Row:
    return Row(*record)


def _state(r: Any) -> AccountState:
    return AccountState(*r)


def _account(r: asyncpg.Record) -> Account:
    return Account(r["id"], r["ledger"], r["kind"], r["owner"], r["allow_negative"])


_LEDGERS = """
SELECT ARRAY(SELECT ROW(id, ledger) FROM ledger_account WHERE id = ANY($1::bigint[])),
       ARRAY(SELECT ROW(id, ledger) FROM ledger_transfer WHERE id = ANY($2::text[]))
"""

# The expired holds are read in the same statement as the lock, after it: a hold listed
# here that a batch before ours resolved is refused by the planner, harmlessly (the load
# below reads which holds are open under the lock).
_LOCK = """
SELECT c.ledger, c.head_seq, c.head_hash, c.head_at_us,
       ARRAY(SELECT h.id FROM ledger_hold h WHERE h.ledger = c.ledger AND h.expires_at_us <= $2
             ORDER BY h.expires_at_us LIMIT $3) AS expired
FROM ledger_chain c WHERE c.ledger = ANY($1::bigint[]) ORDER BY c.ledger FOR UPDATE OF c
"""

_LOAD = f"""
SELECT ARRAY(SELECT ROW({COLUMNS}) FROM ledger_transfer WHERE id = ANY($1::text[])),
       ARRAY(SELECT id FROM ledger_hold WHERE id = ANY($2::text[])),
       ARRAY(SELECT reverses FROM ledger_transfer WHERE reverses = ANY($2::text[])),
       ARRAY(SELECT ROW({ACCOUNT_COLUMNS}) FROM ledger_account WHERE id = ANY($3::bigint[])
             OR id IN (SELECT debit FROM ledger_transfer WHERE id = ANY($2::text[]))
             OR id IN (SELECT credit FROM ledger_transfer WHERE id = ANY($2::text[])))
"""

_WRITTEN = [c for c in ROW_COLUMNS if c != "seq"]
_TYPES = {
    "id": "text", "kind": "text", "phase": "text", "memo": "text", "reference": "text",
    "pending_id": "text", "reverses": "text", "hash": "text",
}
_UNNEST = ", ".join(f"${i}::{_TYPES.get(c, 'bigint')}[]" for i, c in enumerate(_WRITTEN, 1))
_N = len(_WRITTEN)
# One statement for the whole batch: fewer round trips while the chains are locked is
# what lets a ledger take more batches a second. Sibling data-modifying CTEs see the same
# snapshot, so a hold is never both inserted and deleted here (the planner nets them out).
_WRITE = f"""
WITH t AS (
    INSERT INTO ledger_transfer ({", ".join(_WRITTEN)}) SELECT * FROM unnest({_UNNEST})
    RETURNING id, seq
), a AS (
    UPDATE ledger_account AS x SET balance = u.balance, held = u.held
    FROM unnest(${_N + 1}::bigint[], ${_N + 2}::bigint[], ${_N + 3}::bigint[]) AS u(id, balance, held)
    WHERE x.id = u.id
), opened AS (
    INSERT INTO ledger_hold (id, ledger, expires_at_us)
    SELECT * FROM unnest(${_N + 4}::text[], ${_N + 5}::bigint[], ${_N + 6}::bigint[])
), closed AS (
    DELETE FROM ledger_hold WHERE id = ANY(${_N + 7}::text[])
), heads AS (
    UPDATE ledger_chain AS x SET head_seq = u.number, head_hash = u.hash, head_at_us = ${_N + 11}
    FROM unnest(${_N + 8}::bigint[], ${_N + 9}::bigint[], ${_N + 10}::text[]) AS u(ledger, number, hash)
    WHERE x.ledger = u.ledger
)
SELECT id, seq FROM t
"""


async def _answer(con: asyncpg.Connection, query: tuple[Any, ...]) -> Any:
    """Answer one of the planner's queries (see ``ledger.planner.Query``)."""
    match query:
        case ("ledgers", account_ids, transfer_ids):
            accounts, transfers = await con.fetchrow(_LEDGERS, account_ids, transfer_ids)
            return dict(accounts), dict(transfers)
        case ("lock", ledgers, now_us, limit):
            rows = await con.fetch(_LOCK, ledgers, now_us, limit)
            heads = {r[0]: (r[1], r[2], r[3]) for r in rows}
            return heads, [(hold, r[0]) for r in rows for hold in r[4]]
        case ("load", ids, targets, account_ids):
            rows, open_ids, reversed_ids, accounts = await con.fetchrow(_LOAD, ids, targets, account_ids)
            return [_row(r) for r in rows], open_ids, reversed_ids, [_state(a) for a in accounts]
        case ("write", plan):
            return await _write(con, plan)
    raise ValueError(f"unknown query {query[0]!r}")


async def _write(con: asyncpg.Connection, plan: Plan) -> dict[str, int]:
    rows = [r.values()[1:] for r in plan.rows]  # every column but seq, which the table gives
    columns = [list(column) for column in zip(*rows, strict=True)]
    accounts = list(plan.accounts.values())
    at_us = max(r.at_us for r in plan.rows)
    written = await con.fetch(
        _WRITE, *columns,
        [a.id for a in accounts], [a.balance for a in accounts], [a.held for a in accounts],
        [h[0] for h in plan.holds_opened], [h[1] for h in plan.holds_opened],
        [h[2] for h in plan.holds_opened], plan.holds_closed,
        list(plan.heads), [h.number for h in plan.heads.values()], [h.hash for h in plan.heads.values()],
        at_us,
    )
    return {r[0]: r[1] for r in written}


async def apply_on(
    con: asyncpg.Connection, requests: list[Request], now_us: int
) -> list[Row | LedgerError | None]:
    """One batch inside the transaction open on ``con``; the caller commits or rolls back.
    The chains' locks are held to the end of that transaction, as for the ledger's own batches."""
    if not con.is_in_transaction():
        raise RuntimeError("apply_on needs a transaction already open on the connection")
    return await drive(procedure(requests, now_us), lambda query: _answer(con, query))


async def run_upgrade(con: asyncpg.Connection, steps) -> None:
    """Drive ``ledger.schema.install_steps`` or ``upgrade_to_chains`` on ``con``."""

    async def answer(step: tuple) -> Any:
        match step:
            case ("ddl", sql):
                return await con.execute(sql)
            case ("rows", sql):
                return [tuple(r) for r in await con.fetch(sql)]
            case ("insert_chain", ledger, genesis, origin, at_us):
                return await con.execute(
                    INSERT_CHAIN.format(p1="$1", p2="$2", p3="$3", p4="$4"), ledger, genesis, origin, at_us
                )
        raise ValueError(f"unknown step {step[0]!r}")

    await drive(steps, answer)


class PostgresStore:
    engine = "postgres"

    def __init__(self, url: str, pool: asyncpg.Pool | None = None) -> None:
        """``pool``: connections the caller already keeps to the same database (the app's),
        used instead of opening more and left open at ``close``; opened with
        ``PLAN_EACH_RUN`` like the ledger's own."""
        self.url = url
        self._pool: asyncpg.Pool | None = pool
        self._owned = pool is None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the ledger store is not open")
        return self._pool

    async def open(self) -> None:
        if self._pool is None:
            # Its waits for the server are bounded (``pg_pool``): an outage fails fast.
            self._pool = await open_pool(self.url, min_size=1, max_size=4, server_settings=PLAN_EACH_RUN)

    async def close(self) -> None:
        if self._pool is not None and self._owned:
            await self._pool.close()
        self._pool = None

    async def install(self) -> None:
        async with self.pool.acquire() as con, con.transaction():
            await run_upgrade(con, install_steps("postgres"))

    # -- writes ----------------------------------------------------------------

    async def apply(self, requests: list[Request], now_us: int) -> list[Row | LedgerError | None]:
        async with self.pool.acquire() as con, con.transaction():
            return await apply_on(con, requests, now_us)

    async def open_accounts(
        self, ledger: int, kind: str, owners: list[str], allow_negative: bool
    ) -> dict[str, Account]:
        origin = new_origin(ledger)
        async with self.pool.acquire() as con, con.transaction():
            # The ledger's chain first: a ledger with accounts always has one.
            await con.execute(INSERT_CHAIN.format(p1="$1", p2="$2", p3="$3", p4="0"),
                              ledger, genesis_of(origin), origin)
            await con.execute(
                "INSERT INTO ledger_account (ledger, kind, owner, allow_negative)"
                " SELECT $1, $2, o, $4 FROM unnest($3::text[]) AS o"
                " ON CONFLICT (ledger, kind, owner) DO NOTHING",
                ledger, kind, owners, allow_negative,
            )
            rows = await con.fetch(
                f"SELECT {ACCOUNT_COLUMNS} FROM ledger_account"
                " WHERE ledger = $1 AND kind = $2 AND owner = ANY($3::text[])",
                ledger, kind, owners,
            )
        return {r["owner"]: _account(r) for r in rows}

    # -- reads -----------------------------------------------------------------

    async def find_account(self, ledger: int, kind: str, owner: str) -> Account | None:
        row = await self.pool.fetchrow(
            f"SELECT {ACCOUNT_COLUMNS} FROM ledger_account"
            " WHERE ledger = $1 AND kind = $2 AND owner = $3",
            ledger, kind, owner,
        )
        return _account(row) if row else None

    async def account(self, account_id: int) -> AccountState | None:
        row = await self.pool.fetchrow(
            f"SELECT {ACCOUNT_COLUMNS} FROM ledger_account WHERE id = $1", account_id
        )
        return _state(row) if row else None

    async def accounts(self, ledger: int | None = None) -> list[AccountState]:
        rows = await self.pool.fetch(
            f"SELECT {ACCOUNT_COLUMNS} FROM ledger_account WHERE $1::bigint IS NULL OR ledger = $1"
            " ORDER BY id", ledger,
        )
        return [_state(r) for r in rows]

    async def transfer(self, transfer_id: str) -> Row | None:
        row = await self.pool.fetchrow(
            f"SELECT {COLUMNS} FROM ledger_transfer WHERE id = $1", transfer_id
        )
        return _row(row) if row else None

    async def history(self, account_id: int, limit: int, before: int | None) -> list[Row]:
        sql = HISTORY.format(p1="$1", p2="$2", p3="$3")
        rows = await self.pool.fetch(
            sql, account_id, before if before is not None else 2**62, limit
        )
        return [_row(r) for r in rows]

    async def flows(self, account_id: int, since_us: int, until_us: int) -> dict[str, tuple[int, int, int]]:
        sql = FLOWS.format(p1="$1", p2="$2", p3="$3")
        rows = await self.pool.fetch(sql, account_id, since_us, until_us)
        return {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in rows}

    async def scan_legacy(self, after_seq: int, limit: int) -> list[Row]:
        rows = await self.pool.fetch(
            f"SELECT {COLUMNS} FROM ledger_transfer WHERE number IS NULL AND seq > $1"
            " ORDER BY seq LIMIT $2",
            after_seq, limit,
        )
        return [_row(r) for r in rows]

    async def scan_chain(self, ledger: int, after: int, limit: int) -> list[Row]:
        rows = await self.pool.fetch(
            f"SELECT {COLUMNS} FROM ledger_transfer WHERE ledger = $1 AND number > $2"
            " ORDER BY number LIMIT $3",
            ledger, after, limit,
        )
        return [_row(r) for r in rows]

    async def chains(self, ledger: int | None = None) -> list[tuple]:
        rows = await self.pool.fetch(
            f"SELECT {CHAIN_COLUMNS} FROM ledger_chain WHERE $1::bigint IS NULL OR ledger = $1"
            " ORDER BY ledger", ledger,
        )
        return [tuple(r) for r in rows]

    async def open_hold_ids(self, ledger: int | None = None) -> set[str]:
        rows = await self.pool.fetch(
            "SELECT id FROM ledger_hold WHERE $1::bigint IS NULL OR ledger = $1", ledger
        )
        return {r[0] for r in rows}

    async def expired_ledgers(self, now_us: int) -> list[int]:
        rows = await self.pool.fetch(
            "SELECT DISTINCT ledger FROM ledger_hold WHERE expires_at_us <= $1", now_us
        )
        return sorted(r[0] for r in rows)

    async def totals(self, ledger: int) -> dict[str, int]:
        rows = await self.pool.fetch(
            "SELECT kind, SUM(balance) AS total FROM ledger_account WHERE ledger = $1 GROUP BY kind",
            ledger,
        )
        return {r["kind"]: int(r["total"]) for r in rows}

    async def head(self, ledger: int | None = None) -> tuple[int, str]:
        if ledger is not None:
            row = await self.pool.fetchrow(
                "SELECT head_seq, head_hash FROM ledger_chain WHERE ledger = $1", ledger
            )
            return (row[0], row[1]) if row else (0, GENESIS)
        row = await self.pool.fetchrow(
            "SELECT seq, hash FROM ledger_transfer ORDER BY seq DESC LIMIT 1"
        )
        return (row["seq"], row["hash"]) if row else (0, GENESIS)

    async def chain_heads(self) -> list[ChainHead]:
        rows = await self.pool.fetch("SELECT ledger, head_seq, head_hash FROM ledger_chain ORDER BY ledger")
        return [ChainHead(*r) for r in rows]
