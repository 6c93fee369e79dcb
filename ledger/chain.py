"""The hash chain: each transfer's hash covers the previous hash and its own content.

Change any stored field of any transfer and every hash from there on stops
matching, so ``verify`` names the first altered row.
"""

import hashlib
import json

from ledger.model import Row

GENESIS = "0" * 64


def canonical(row: Row) -> bytes:
    """Every field but the hash, in a fixed order, as compact JSON (unambiguous)."""
    return json.dumps(
        [
            row.seq, row.id, row.ledger, row.kind, row.phase, row.debit, row.credit,
            row.amount, row.memo, row.reference, row.pending_id, row.reverses,
            row.timeout_ms, row.at_us, row.debit_after, row.credit_after,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def link(previous_hash: str, row: Row) -> str:
    """SHA-256(previous hash ‖ canonical content), hex."""
    return hashlib.sha256(bytes.fromhex(previous_hash) + canonical(row)).hexdigest()
