"""The hash chains: each transfer's hash covers the previous hash and its own content.

Every ledger (community) has a chain of its own, so one community's books can be
checked, published and written without another's. A chain starts from its genesis:
the SHA-256 of its *origin*, a small canonical JSON document that names the ledger
and, for a ledger that existed before chains were per ledger, the head of the old
installation-wide chain (the *legacy* chain) and the ledger's balances and open holds
at that moment. So the new chain commits to everything before it.

Change any stored field of any transfer and every hash from there on stops
matching, so ``verify`` names the first altered row.
"""

import hashlib
import json

from ledger.model import Row

GENESIS = "0" * 64
CHAIN_FORMAT = "points-market-chain/2"


def canonical(row: Row) -> bytes:
    """Every field but the hash (and the table's own key), in a fixed order, as compact JSON.

    The first field is the row's place in its chain: ``number`` in a ledger's chain,
    ``seq`` in the legacy chain."""
    return json.dumps(
        [
            row.position, row.id, row.ledger, row.kind, row.phase, row.debit, row.credit,
            row.amount, row.memo, row.reference, row.pending_id, row.reverses,
            row.timeout_ms, row.at_us, row.debit_after, row.credit_after,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def link(previous_hash: str, row: Row) -> str:
    """SHA-256(previous hash ‖ canonical content), hex."""
    return hashlib.sha256(bytes.fromhex(previous_hash) + canonical(row)).hexdigest()


def origin_text(origin: dict) -> str:
    """The canonical spelling of an origin document (sorted keys, compact, UTF-8)."""
    return json.dumps(origin, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def genesis_of(text: str) -> str:
    """The hash a chain's first transfer links to: SHA-256 of its origin's text."""
    return hashlib.sha256(text.encode()).hexdigest()


def new_origin(ledger: int) -> str:
    """The origin of a ledger founded with chains per ledger: it starts from nothing."""
    return origin_text({"format": CHAIN_FORMAT, "ledger": ledger})


def upgraded_origin(
    ledger: int, legacy_seq: int, legacy_hash: str, accounts: dict[int, tuple[int, int]],
    holds: dict[str, tuple[int, int, int]],
) -> str:
    """The origin of a ledger that had transfers in the legacy chain: that chain's head, and the
    ledger's (balance, held) per account and (debit, credit, amount) per open hold at the upgrade."""
    return origin_text({
        "format": CHAIN_FORMAT, "ledger": ledger,
        "legacy": {"seq": legacy_seq, "hash": legacy_hash},
        "accounts": {str(a): list(v) for a, v in sorted(accounts.items()) if v != (0, 0)},
        "holds": {h: list(v) for h, v in sorted(holds.items())},
    })


def parse_origin(text: str) -> dict:
    """An origin's content: ``ledger``, ``legacy`` (seq, hash) or None, opening ``accounts``
    {id: (balance, held)} and ``holds`` {id: (debit, credit, amount)}."""
    raw = json.loads(text)
    legacy = raw.get("legacy")
    return {
        "format": raw.get("format"),
        "ledger": raw.get("ledger"),
        "legacy": None if legacy is None else (legacy["seq"], legacy["hash"]),
        "accounts": {int(a): (v[0], v[1]) for a, v in raw.get("accounts", {}).items()},
        "holds": {h: (v[0], v[1], v[2]) for h, v in raw.get("holds", {}).items()},
    }
