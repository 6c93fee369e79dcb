"""Where the ledger's rows live: one store per database engine, behind one small interface.

A store answers the planner's queries inside a write transaction (``apply``) and
serves reads. It never decides anything about points: that is the planner's job.
"""

from typing import Protocol

from ledger.errors import LedgerError
from ledger.model import Account, AccountState, ChainHead, Request, Row


class Store(Protocol):
    engine: str

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def install(self) -> None:
        """Create the ledger's tables (tests and stand-alone use; the app migrates)."""
    async def apply(self, requests: list[Request], now_us: int) -> list[Row | LedgerError | None]:
        """Run one batch in one write transaction; outcomes in request order."""
    async def open_accounts(
        self, ledger: int, kind: str, owners: list[str], allow_negative: bool
    ) -> dict[str, Account]:
        """Get or create many accounts of one kind (and the ledger's chain) in one transaction."""
    async def find_account(self, ledger: int, kind: str, owner: str) -> Account | None: ...
    async def account(self, account_id: int) -> AccountState | None: ...
    async def accounts(self, ledger: int | None = None) -> list[AccountState]: ...
    async def transfer(self, transfer_id: str) -> Row | None: ...
    async def history(self, account_id: int, limit: int, before: int | None) -> list[Row]: ...
    async def flows(self, account_id: int, since_us: int, until_us: int) -> dict[str, tuple[int, int, int]]:
        """kind → (credited, debited, movements) of the account's posted transfers in [since, until)."""
    async def scan_legacy(self, after_seq: int, limit: int) -> list[Row]:
        """Rows of the legacy chain (written before chains per ledger), by ``seq``."""
    async def scan_chain(self, ledger: int, after: int, limit: int) -> list[Row]:
        """Rows of one ledger's chain, by ``number``."""
    async def chains(self, ledger: int | None = None) -> list[tuple]:
        """(ledger, genesis, origin, head number, head hash, head at_us) of each chain."""
    async def open_hold_ids(self, ledger: int | None = None) -> set[str]: ...
    async def expired_ledgers(self, now_us: int) -> list[int]: ...
    async def totals(self, ledger: int) -> dict[str, int]: ...
    async def head(self, ledger: int | None = None) -> tuple[int, str]: ...
    async def chain_heads(self) -> list[ChainHead]: ...


def store_for_url(url: str, pool: object | None = None) -> Store:
    """``sqlite:///path/to/file.db`` or ``postgresql://…`` (``postgres://`` too); on PostgreSQL
    ``pool`` may be an asyncpg pool of the caller's to share."""
    if url.startswith(("postgresql://", "postgres://")):
        from ledger.stores.postgres import PostgresStore

        return PostgresStore(url, pool)  # type: ignore[arg-type]
    if url.startswith("sqlite:///"):
        from ledger.stores.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///"))
    raise ValueError("a ledger URL starts with sqlite:/// or postgresql://")
