"""The ledger on an SQLite file, through the standard library's ``sqlite3``.

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

from ledger.chain import GENESIS
from ledger.errors import LedgerError
from ledger.model import ROW_COLUMNS, Account, AccountState, Request, Row
from ledger.planner import Plan, procedure
from ledger.schema import statements
from ledger.stores.sql import ACCOUNT_COLUMNS, COLUMNS, HISTORY

T = TypeVar("T")
CHUNK = 500  # ids per IN (...) list, well under SQLite's variable limit


def _chunks(items: list, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _row(values: tuple) -> Row:
    return Row(*values)


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
            con = sqlite3.connect(self._path, isolation_level=None, timeout=30)
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
        case ("head",):
            last = con.execute(
                "SELECT seq, hash, at_us FROM ledger_transfer ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            return last or (0, GENESIS, 0)
        case ("expired_holds", now_us, limit):
            rows = con.execute(
                "SELECT id FROM ledger_hold WHERE expires_at_us <= ? ORDER BY expires_at_us LIMIT ?",
                (now_us, limit),
            )
            return [r[0] for r in rows]
        case ("transfers", ids):
            found: list[Row] = []
            for chunk in _chunks(ids):
                sql = f"SELECT {COLUMNS} FROM ledger_transfer WHERE id IN ({_marks(len(chunk))})"
                found.extend(_row(r) for r in con.execute(sql, chunk))
            return found
        case ("open_holds", ids):
            return _ids_in(con, "SELECT id FROM ledger_hold WHERE id IN ({})", ids)
        case ("reversed", ids):
            return _ids_in(con, "SELECT reverses FROM ledger_transfer WHERE reverses IN ({})", ids)
        case ("accounts", ids):
            states: list[AccountState] = []
            for chunk in _chunks(ids):
                sql = f"SELECT {ACCOUNT_COLUMNS} FROM ledger_account WHERE id IN ({_marks(len(chunk))})"
                states.extend(_state(r) for r in con.execute(sql, chunk))
            return states
        case ("write", plan):
            _write(con, plan)
            return None
    raise ValueError(f"unknown query {query[0]!r}")


def _ids_in(con: sqlite3.Connection, sql: str, ids: list[str]) -> list[str]:
    found: list[str] = []
    for chunk in _chunks(ids):
        found.extend(r[0] for r in con.execute(sql.format(_marks(len(chunk))), chunk))
    return found


def _write(con: sqlite3.Connection, plan: Plan) -> None:
    marks = _marks(len(ROW_COLUMNS))
    con.executemany(
        f"INSERT INTO ledger_transfer ({COLUMNS}) VALUES ({marks})",
        [r.values() for r in plan.rows],
    )
    con.executemany(
        "UPDATE ledger_account SET balance = ?, held = ? WHERE id = ?",
        [(a.balance, a.held, a.id) for a in plan.accounts.values()],
    )
    if plan.holds_opened:
        con.executemany("INSERT INTO ledger_hold (id, expires_at_us) VALUES (?, ?)", plan.holds_opened)
    if plan.holds_closed:
        con.executemany("DELETE FROM ledger_hold WHERE id = ?", [(i,) for i in plan.holds_closed])


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
        def create(con: sqlite3.Connection) -> None:
            for statement in statements("sqlite"):
                con.execute(statement)

        await self._writer.run(create)

    # -- writes ----------------------------------------------------------------

    async def apply(self, requests: list[Request], now_us: int) -> list[Row | LedgerError]:
        return await self._writer.run(lambda con: _in_transaction(con, requests, now_us))

    async def open_account(
        self, ledger: int, kind: str, owner: str, allow_negative: bool
    ) -> Account:
        def get_or_create(con: sqlite3.Connection) -> Account:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.execute(
                    "INSERT INTO ledger_account (ledger, kind, owner, allow_negative) VALUES (?,?,?,?)"
                    " ON CONFLICT (ledger, kind, owner) DO NOTHING",
                    (ledger, kind, owner, allow_negative),
                )
                row = con.execute(
                    f"SELECT {ACCOUNT_COLUMNS} FROM ledger_account"
                    " WHERE ledger = ? AND kind = ? AND owner = ?",
                    (ledger, kind, owner),
                ).fetchone()
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            s = _state(row)
            return Account(s.id, s.ledger, s.kind, s.owner, s.allow_negative)

        return await self._writer.run(get_or_create)

    async def open_accounts(
        self, ledger: int, kind: str, owners: list[str], allow_negative: bool
    ) -> dict[str, Account]:
        def get_or_create(con: sqlite3.Connection) -> dict[str, Account]:
            con.execute("BEGIN IMMEDIATE")
            try:
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
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            return found

        return await self._writer.run(get_or_create)

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

    async def accounts(self) -> list[AccountState]:
        rows = await self._fetch(f"SELECT {ACCOUNT_COLUMNS} FROM ledger_account ORDER BY id")
        return [_state(r) for r in rows]

    async def transfer(self, transfer_id: str) -> Row | None:
        rows = await self._fetch(f"SELECT {COLUMNS} FROM ledger_transfer WHERE id = ?", (transfer_id,))
        return _row(rows[0]) if rows else None

    async def history(self, account_id: int, limit: int, before: int | None) -> list[Row]:
        sql = HISTORY.format(p1="?1", p2="?2", p3="?3")
        rows = await self._fetch(sql, (account_id, before if before is not None else 2**62, limit))
        return [_row(r) for r in rows]

    async def scan(self, after_seq: int, limit: int) -> list[Row]:
        rows = await self._fetch(
            f"SELECT {COLUMNS} FROM ledger_transfer WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [_row(r) for r in rows]

    async def open_hold_ids(self) -> set[str]:
        return {r[0] for r in await self._fetch("SELECT id FROM ledger_hold")}

    async def has_expired_holds(self, now_us: int) -> bool:
        rows = await self._fetch("SELECT 1 FROM ledger_hold WHERE expires_at_us <= ? LIMIT 1", (now_us,))
        return bool(rows)

    async def totals(self, ledger: int) -> dict[str, int]:
        rows = await self._fetch(
            "SELECT kind, SUM(balance) FROM ledger_account WHERE ledger = ? GROUP BY kind", (ledger,)
        )
        return {kind: int(total) for kind, total in rows}

    async def head(self) -> tuple[int, str]:
        rows = await self._fetch("SELECT seq, hash FROM ledger_transfer ORDER BY seq DESC LIMIT 1")
        return (rows[0][0], rows[0][1]) if rows else (0, GENESIS)


def apply_on(con: sqlite3.Connection, requests: list[Request], now_us: int) -> list[Row | LedgerError]:
    """One batch inside a write transaction the caller opened (``BEGIN IMMEDIATE``) on ``con``
    and will commit or roll back, together with its own rows: the shop's redemptions."""
    if not con.in_transaction:
        raise RuntimeError("apply_on needs a write transaction already open on the connection")
    # The caller's connection may hand rows back as dicts; the ledger reads tuples.
    row_factory, con.row_factory = con.row_factory, None
    try:
        steps = procedure(requests, now_us)
        answer = None
        while True:
            try:
                query = steps.send(answer)
            except StopIteration as done:
                return done.value
            answer = _answer(con, query)
    finally:
        con.row_factory = row_factory


def _in_transaction(
    con: sqlite3.Connection, requests: list[Request], now_us: int
) -> list[Row | LedgerError]:
    con.execute("BEGIN IMMEDIATE")
    try:
        outcomes = apply_on(con, requests, now_us)
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    return outcomes
