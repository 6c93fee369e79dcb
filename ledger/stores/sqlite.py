"""The ledger on an SQLite file, through the standard library's ``sqlite3``.

SQLite has one writer at a time anyway, so "locking" a ledger's chain is reading
its head inside the ``BEGIN IMMEDIATE`` transaction.

Each batch runs start to finish in one hop to a dedicated writer thread that owns
one connection (``BEGIN IMMEDIATE``, WAL, ``synchronous=FULL``): with aiosqlite
every statement would be a thread hop of its own, and with Piccolo every
transaction a new connection, which caps the ledger at a few hundred transfers
a second. Reads use a second thread with its own connection, so they never wait
behind a commit (WAL lets readers and the writer work at the same time).
"""

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ledger.chain import GENESIS, genesis_of, new_origin
from ledger.drive import drive_now
from ledger.errors import LedgerError
from ledger.model import ROW_COLUMNS, Account, AccountState, ChainHead, Request, Row
from ledger.planner import Plan, procedure
from ledger.schema import INSERT_CHAIN, install_steps
from ledger.stores.sql import ACCOUNT_COLUMNS, CHAIN_COLUMNS, COLUMNS, FLOWS, HISTORY

T = TypeVar("T")
CHUNK = 500  # ids per IN (...) list, well under SQLite's variable limit


def _chunks(items: list, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _row(values: tuple) -> Row:
    return Row(*values)


#: How long a connection waits for another one's write lock before "database is locked" (the
#: app answers 503). A write transaction holds it for milliseconds (the app's, the ledger's
#: batches), so five seconds is a file locked by something stuck — or a roster import of more
#: than about 15,000 rows (5,000 measured at 1.5 s), which other writers then wait out in 503s.
BUSY_TIMEOUT = 5.0


def _state(values: tuple) -> AccountState:
    i, ledger, kind, owner, allow_negative, balance, held = values
    return AccountState(i, ledger, kind, owner, bool(allow_negative), balance, held)


class _Thread:
    """One thread that owns one connection; work is sent to it whole."""

    def __init__(self, path: str, name: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves.
            con = sqlite3.connect(self._path, isolation_level=None, timeout=BUSY_TIMEOUT)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            con.execute("PRAGMA foreign_keys=ON")
            self._local.con = con
        return con

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._connection()))

    async def close(self) -> None:
        def _close(con: sqlite3.Connection) -> None:
            con.close()
            self._local.con = None

        if getattr(self._executor, "_shutdown", False):
            return
        await self.run(_close)
        self._executor.shutdown(wait=True)


def _answer(con: sqlite3.Connection, query: tuple[Any, ...]) -> Any:
    """Answer one of the planner's queries (see ``ledger.planner.Query``)."""
    match query:
        case ("ledgers", account_ids, transfer_ids):
            accounts = _pairs_in(con, "SELECT id, ledger FROM ledger_account WHERE id IN ({})", account_ids)
            transfers = _pairs_in(
                con, "SELECT id, ledger FROM ledger_transfer WHERE id IN ({})", transfer_ids)
            return dict(accounts), dict(transfers)
        case ("lock", ledgers, now_us, limit):
            heads = {
                r[0]: (r[1], r[2], r[3])
                for r in _pairs_in(
                    con, "SELECT ledger, head_seq, head_hash, head_at_us FROM ledger_chain"
                    " WHERE ledger IN ({})", ledgers,
                )
            }
            expired: list[tuple[str, int]] = []
            for ledger in heads:
                expired += con.execute(
                    "SELECT id, ledger FROM ledger_hold WHERE ledger = ? AND expires_at_us <= ?"
                    " ORDER BY expires_at_us LIMIT ?",
                    (ledger, now_us, limit),
                ).fetchall()
            return heads, expired
        case ("load", ids, targets, account_ids):
            rows = [_row(r) for r in _pairs_in(
                con, f"SELECT {COLUMNS} FROM ledger_transfer WHERE id IN ({{}})", ids)]
            open_ids = [r[0] for r in _pairs_in(con, "SELECT id FROM ledger_hold WHERE id IN ({})", targets)]
            reversed_ids = [r[0] for r in _pairs_in(
                con, "SELECT reverses FROM ledger_transfer WHERE reverses IN ({})", targets)]
            wanted = set(account_ids)
            wanted.update(a for r in rows if r.id in set(targets) for a in (r.debit, r.credit))
            accounts = [_state(r) for r in _pairs_in(
                con, f"SELECT {ACCOUNT_COLUMNS} FROM ledger_account WHERE id IN ({{}})", sorted(wanted))]
            return rows, open_ids, reversed_ids, accounts
        case ("write", plan):
            return _write(con, plan)
    raise ValueError(f"unknown query {query[0]!r}")


def _pairs_in(con: sqlite3.Connection, sql: str, ids: list) -> list[tuple]:
    """The rows of ``sql`` (one ``IN ({})`` list) for every id, a chunk at a time."""
    found: list[tuple] = []
    for chunk in _chunks(ids):
        found.extend(con.execute(sql.format(_marks(len(chunk))), chunk))
    return found


_WRITTEN = [c for c in ROW_COLUMNS if c != "seq"]
_INSERT = f"INSERT INTO ledger_transfer ({', '.join(_WRITTEN)}) VALUES ({_marks(len(_WRITTEN))})"


def _write(con: sqlite3.Connection, plan: Plan) -> dict[str, int]:
    keys: dict[str, int] = {}
    for row in plan.rows:  # one at a time, for each row's key (the table's rowid)
        keys[row.id] = con.execute(_INSERT, row.values()[1:]).lastrowid  # type: ignore[assignment]
    con.executemany(
        "UPDATE ledger_account SET balance = ?, held = ? WHERE id = ?",
        [(a.balance, a.held, a.id) for a in plan.accounts.values()],
    )
    if plan.holds_opened:
        con.executemany(
            "INSERT INTO ledger_hold (id, ledger, expires_at_us) VALUES (?, ?, ?)", plan.holds_opened
        )
    if plan.holds_closed:
        con.executemany("DELETE FROM ledger_hold WHERE id = ?", [(i,) for i in plan.holds_closed])
    at_us = max(r.at_us for r in plan.rows)
    con.executemany(
        "UPDATE ledger_chain SET head_seq = ?, head_hash = ?, head_at_us = ? WHERE ledger = ?",
        [(h.number, h.hash, at_us, ledger) for ledger, h in plan.heads.items()],
    )
    return keys


def run_upgrade(con: sqlite3.Connection, steps) -> None:
    """Drive ``ledger.schema.install_steps`` or ``upgrade_to_chains`` on ``con``."""

    def answer(step: tuple) -> Any:
        match step:
            case ("ddl", sql):
                return con.execute(sql)
            case ("rows", sql):
                return [tuple(r) for r in con.execute(sql).fetchall()]
            case ("insert_chain", ledger, genesis, origin, at_us):
                return con.execute(INSERT_CHAIN.format(p1="?1", p2="?2", p3="?3", p4="?4"),
                                   (ledger, genesis, origin, at_us))
        raise ValueError(f"unknown step {step[0]!r}")

    drive_now(steps, answer)


class SQLiteStore:
    engine = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._writer = _Thread(path, "ledger-writer")
        self._reader = _Thread(path, "ledger-reader")

    async def open(self) -> None:
        await self._writer.run(lambda con: None)  # opens the file and switches it to WAL

    async def close(self) -> None:
        await self._writer.close()
        await self._reader.close()

    async def install(self) -> None:
        steps = install_steps("sqlite")
        await self._writer.run(lambda con: _atomically(con, lambda: run_upgrade(con, steps)))

    # -- writes ----------------------------------------------------------------

    async def apply(self, requests: list[Request], now_us: int) -> list[Row | LedgerError | None]:
        return await self._writer.run(lambda con: _atomically(con, lambda: apply_on(con, requests, now_us)))

    async def open_accounts(
        self, ledger: int, kind: str, owners: list[str], allow_negative: bool
    ) -> dict[str, Account]:
        origin = new_origin(ledger)

        def get_or_create(con: sqlite3.Connection) -> dict[str, Account]:
            # The ledger's chain first: a ledger with accounts always has one.
            con.execute(INSERT_CHAIN.format(p1="?1", p2="?2", p3="?3", p4="0"),
                        (ledger, genesis_of(origin), origin))
            con.executemany(
                "INSERT INTO ledger_account (ledger, kind, owner, allow_negative) VALUES (?,?,?,?)"
                " ON CONFLICT (ledger, kind, owner) DO NOTHING",
                [(ledger, kind, owner, allow_negative) for owner in owners],
            )
            found: dict[str, Account] = {}
            for chunk in _chunks(owners):
                rows = con.execute(
                    f"SELECT {ACCOUNT_COLUMNS} FROM ledger_account WHERE ledger = ? AND kind = ?"
                    f" AND owner IN ({_marks(len(chunk))})",
                    (ledger, kind, *chunk),
                )
                for row in rows:
                    s = _state(row)
                    found[s.owner] = Account(s.id, s.ledger, s.kind, s.owner, s.allow_negative)
            return found

        return await self._writer.run(lambda con: _atomically(con, lambda: get_or_create(con)))

    # -- reads -----------------------------------------------------------------

    async def _fetch(self, sql: str, params: tuple = ()) -> list[tuple]:
        return await self._reader.run(lambda con: con.execute(sql, params).fetchall())

    async def find_account(self, ledger: int, kind: str, owner: str) -> Account | None:
        rows = await self._fetch(
            f"SELECT {ACCOUNT_COLUMNS} FROM ledger_account WHERE ledger = ? AND kind = ? AND owner = ?",
            (ledger, kind, owner),
        )
        if not rows:
            return None
        s = _state(rows[0])
        return Account(s.id, s.ledger, s.kind, s.owner, s.allow_negative)

    async def account(self, account_id: int) -> AccountState | None:
        rows = await self._fetch(
            f"SELECT {ACCOUNT_COLUMNS} FROM ledger_account WHERE id = ?", (account_id,)
        )
        return _state(rows[0]) if rows else None

    async def accounts(self, ledger: int | None = None) -> list[AccountState]:
        rows = await self._fetch(
            f"SELECT {ACCOUNT_COLUMNS} FROM ledger_account WHERE ?1 IS NULL OR ledger = ?1 ORDER BY id",
            (ledger,),
        )
        return [_state(r) for r in rows]

    async def transfer(self, transfer_id: str) -> Row | None:
        rows = await self._fetch(f"SELECT {COLUMNS} FROM ledger_transfer WHERE id = ?", (transfer_id,))
        return _row(rows[0]) if rows else None

    async def history(self, account_id: int, limit: int, before: int | None) -> list[Row]:
        sql = HISTORY.format(p1="?1", p2="?2", p3="?3")
        rows = await self._fetch(sql, (account_id, before if before is not None else 2**62, limit))
        return [_row(r) for r in rows]

    async def flows(self, account_id: int, since_us: int, until_us: int) -> dict[str, tuple[int, int, int]]:
        sql = FLOWS.format(p1="?1", p2="?2", p3="?3")
        rows = await self._fetch(sql, (account_id, since_us, until_us))
        return {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in rows}

    async def scan_legacy(self, after_seq: int, limit: int) -> list[Row]:
        rows = await self._fetch(
            f"SELECT {COLUMNS} FROM ledger_transfer WHERE number IS NULL AND seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [_row(r) for r in rows]

    async def scan_chain(self, ledger: int, after: int, limit: int) -> list[Row]:
        rows = await self._fetch(
            f"SELECT {COLUMNS} FROM ledger_transfer WHERE ledger = ? AND number > ? ORDER BY number LIMIT ?",
            (ledger, after, limit),
        )
        return [_row(r) for r in rows]

    async def chains(self, ledger: int | None = None) -> list[tuple]:
        return await self._fetch(
            f"SELECT {CHAIN_COLUMNS} FROM ledger_chain WHERE ?1 IS NULL OR ledger = ?1 ORDER BY ledger",
            (ledger,),
        )

    async def open_hold_ids(self, ledger: int | None = None) -> set[str]:
        rows = await self._fetch("SELECT id FROM ledger_hold WHERE ?1 IS NULL OR ledger = ?1", (ledger,))
        return {r[0] for r in rows}

    async def expired_ledgers(self, now_us: int) -> list[int]:
        rows = await self._fetch(
            "SELECT DISTINCT ledger FROM ledger_hold WHERE expires_at_us <= ? ORDER BY ledger", (now_us,)
        )
        return [r[0] for r in rows]

    async def totals(self, ledger: int) -> dict[str, int]:
        rows = await self._fetch(
            "SELECT kind, SUM(balance) FROM ledger_account WHERE ledger = ? GROUP BY kind", (ledger,)
        )
        return {kind: int(total) for kind, total in rows}

    async def head(self, ledger: int | None = None) -> tuple[int, str]:
        if ledger is not None:
            rows = await self._fetch(
                "SELECT head_seq, head_hash FROM ledger_chain WHERE ledger = ?", (ledger,)
            )
        else:
            rows = await self._fetch("SELECT seq, hash FROM ledger_transfer ORDER BY seq DESC LIMIT 1")
        return (rows[0][0], rows[0][1]) if rows else (0, GENESIS)

    async def chain_heads(self) -> list[ChainHead]:
        rows = await self._fetch("SELECT ledger, head_seq, head_hash FROM ledger_chain ORDER BY ledger")
        return [ChainHead(*r) for r in rows]


def _atomically(con: sqlite3.Connection, work: Callable[[], T]) -> T:
    """``work`` in one write transaction on ``con`` (``BEGIN IMMEDIATE``: it will write)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        result = work()
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    return result


def apply_on(con: sqlite3.Connection, requests: list[Request], now_us: int) -> list[Row | LedgerError]:
    """One batch inside a write transaction the caller opened (``BEGIN IMMEDIATE``) on ``con``
    and will commit or roll back, together with its own rows: the shop's redemptions."""
    if not con.in_transaction:
        raise RuntimeError("apply_on needs a write transaction already open on the connection")
    # The caller's connection may hand rows back as dicts; the ledger reads tuples.
    row_factory, con.row_factory = con.row_factory, None
    try:
        return drive_now(procedure(requests, now_us), lambda query: _answer(con, query))
    finally:
        con.row_factory = row_factory
