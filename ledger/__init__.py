"""The points ledger: append-only, double-entry, exact, idempotent, tamper-evident.

Public API (everything else is internal):

- ``Ledger.from_url(url)`` — ``sqlite:///file.db`` or ``postgresql://…``; ``start``/``close``.
- ``open_account``, ``find_account`` — issuance, wallet, shop and expiry accounts per ledger.
- ``transfer``, ``hold``, ``post``, ``void``, ``reverse`` — every movement of points; ``single``,
  ``pending``, ``posting``, ``voiding``, ``reversal``, ``locking`` build a ``Request`` for
  ``Ledger.apply_within(connection, requests)``, which runs them inside a write transaction the
  caller has open, so its own rows and the transfers commit together; ``crossing`` builds a
  movement between two ledgers (through ``clearing_accounts``).
- ``drive``, ``drive_now`` — run a generator of steps (``Request`` lists, queries) against an
  answer function: how a caller's write unit and the ledger's share one transaction.
- ``balance``, ``entries``, ``flows``, ``get``, ``totals``, ``head``, ``verify`` — reading and auditing.
- The views ``ledger_accounts``, ``ledger_transfers``, ``ledger_movements`` and ``ledger_chains``
  (``ledger.schema.VIEWS``), for the joins of a caller's own reports; the tables behind them are
  the ledger's alone (docs/LEDGER.md, "What market may read").
- ``TRANSFER_COLUMNS`` (a transfer's columns in canonical order), ``new_origin``, ``genesis_of``,
  ``parse_origin`` — to re-check a chain from published rows (the transparency checkpoints).
- ``to_hundredths``, ``to_decimal``, ``format_points``, ``MAX_HUNDREDTHS`` — exact amounts.
- ``LedgerError`` and its subclasses, each with a machine-readable ``reason``.
- Connecting as the ledger does, for a caller sharing its database: ``pg_connect``,
  ``pg_open_pool`` (asyncpg with every wait bounded), ``PG_CONNECT_TIMEOUT``,
  ``PG_COMMAND_TIMEOUT``, ``behind_pgbouncer``; ``SQLITE_BUSY_TIMEOUT``.

It knows nothing of the web, QR codes or the shop.
"""

from ledger.amounts import MAX_HUNDREDTHS, format_points, to_decimal, to_hundredths
from ledger.chain import genesis_of, new_origin, parse_origin
from ledger.drive import drive, drive_now
from ledger.errors import (
    AccountNotFound,
    HoldExpired,
    HoldNotPending,
    IdConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidTransfer,
    LedgerError,
    LedgerMismatch,
    NotReversible,
    TransferNotFound,
)
from ledger.model import ROW_COLUMNS as TRANSFER_COLUMNS
from ledger.model import Account, Balance, Entry, Flows, Problem, Request, Transfer, VerifyReport
from ledger.stores.pg_pool import COMMAND_TIMEOUT as PG_COMMAND_TIMEOUT
from ledger.stores.pg_pool import CONNECT_TIMEOUT as PG_CONNECT_TIMEOUT
from ledger.stores.pg_pool import behind_pgbouncer
from ledger.stores.pg_pool import connect as pg_connect
from ledger.stores.pg_pool import open_pool as pg_open_pool
from ledger.stores.sqlite import BUSY_TIMEOUT as SQLITE_BUSY_TIMEOUT
from ledger.writer import Ledger, crossing, locking, pending, posting, reversal, single, voiding

__all__ = [
    "MAX_HUNDREDTHS",
    "PG_COMMAND_TIMEOUT",
    "PG_CONNECT_TIMEOUT",
    "SQLITE_BUSY_TIMEOUT",
    "TRANSFER_COLUMNS",
    "Account",
    "AccountNotFound",
    "Balance",
    "Entry",
    "Flows",
    "HoldExpired",
    "HoldNotPending",
    "IdConflict",
    "InsufficientFunds",
    "InvalidAmount",
    "InvalidTransfer",
    "Ledger",
    "LedgerError",
    "LedgerMismatch",
    "NotReversible",
    "Problem",
    "Request",
    "Transfer",
    "TransferNotFound",
    "VerifyReport",
    "behind_pgbouncer",
    "crossing",
    "drive",
    "drive_now",
    "format_points",
    "genesis_of",
    "locking",
    "new_origin",
    "parse_origin",
    "pending",
    "pg_connect",
    "pg_open_pool",
    "posting",
    "reversal",
    "single",
    "to_decimal",
    "to_hundredths",
    "voiding",
]
