"""The ledger's errors: one small hierarchy, each with a machine-readable reason.

The web layer maps ``reason`` to HTTP status and translated text in one place;
the ledger only says what went wrong.
"""


class LedgerError(Exception):
    """Base of every refusal by the ledger. ``reason`` is stable; the text is for logs."""

    reason = "ledger_error"

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message or self.reason)
        self.details = details


class InvalidAmount(LedgerError, ValueError):
    reason = "invalid_amount"


class InvalidTransfer(LedgerError, ValueError):
    """The request itself is malformed: same account twice, empty id, bad kind…"""

    reason = "invalid_transfer"


class AccountNotFound(LedgerError):
    reason = "account_not_found"


class LedgerMismatch(LedgerError):
    """Both accounts must belong to the same ledger (one community's points)."""

    reason = "ledger_mismatch"


class InsufficientFunds(LedgerError):
    reason = "insufficient_points"


class IdConflict(LedgerError):
    """The transfer id was used before for a transfer with different content."""

    reason = "id_conflict"


class TransferNotFound(LedgerError):
    reason = "transfer_not_found"


class HoldNotPending(LedgerError):
    """Post or void of something that is not an open hold (already posted or voided)."""

    reason = "hold_not_pending"


class HoldExpired(LedgerError):
    reason = "hold_expired"


class NotReversible(LedgerError):
    """Only posted movements can be reversed, and each only once."""

    reason = "not_reversible"
