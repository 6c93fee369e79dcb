"""The points ledger: append-only, double-entry, exact, idempotent, tamper-evident.

Public API (everything else is internal):

- ``Ledger.from_url(url)`` — ``sqlite:///file.db`` or ``postgresql://…``; ``start``/``close``.
- ``open_account``, ``find_account`` — issuance, wallet, shop and expiry accounts per ledger.
- ``transfer``, ``hold``, ``post``, ``void``, ``reverse`` — every movement of points; ``single``,
  ``pending``, ``posting``, ``voiding``, ``reversal``, ``locking`` build them for ``apply_within``;
  ``crossing`` builds a movement between two ledgers (through ``clearing_accounts``).
- ``balance``, ``entries``, ``flows``, ``get``, ``totals``, ``head``, ``verify`` — reading and auditing.
- ``to_hundredths``, ``to_decimal``, ``format_points`` — exact amounts.
- ``LedgerError`` and its subclasses, each with a machine-readable ``reason``.

It knows nothing of the web, QR codes or the shop.
"""

from ledger.amounts import format_points, to_decimal, to_hundredths
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
from ledger.model import Account, Balance, Entry, Flows, Problem, Transfer, VerifyReport
from ledger.writer import Ledger, crossing, locking, pending, posting, reversal, single, voiding

__all__ = [
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
    "Transfer",
    "TransferNotFound",
    "VerifyReport",
    "crossing",
    "format_points",
    "locking",
    "pending",
    "posting",
    "reversal",
    "single",
    "to_decimal",
    "to_hundredths",
    "voiding",
]
