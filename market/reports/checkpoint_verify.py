"""Offline check of a community's transparency history (阳光积分) or of one entry's proof.

Anyone can run it on a file downloaded from the transparency page, with the community's
public key copied from that page (or from a notice board, a printed report — anywhere the
server cannot change later)::

    python -m market.reports.checkpoint_verify HISTORY.json --public-key HEX [--transfer ID]
    python -m market.reports.checkpoint_verify PROOF.json --public-key HEX

It needs only the Python standard library and ``cryptography`` (for Ed25519): copy this
one file anywhere and run ``python checkpoint_verify.py …``. Exit status 0 when
everything checks out, 1 when something does not (the first problem is printed),
2 when the file cannot be read.

A history file (``/api/transparency/checkpoints.json``) holds every signed checkpoint of
the community, oldest first, and every ledger transfer up to the newest checkpoint's
head, as stored. The check:

1. each checkpoint's hash is the SHA-256 of its canonical text, its signature is the
   community's Ed25519 signature of that text, and it names the hash of the checkpoint
   before it (the first names 64 zeros): a checkpoint altered, added or removed from the
   middle breaks this;
2. the transfers run 1, 2, 3 … and each one's hash is SHA-256(previous hash ‖ its
   canonical content), exactly as the ledger computes it (``ledger/chain.py``): an entry
   altered in the database breaks its own hash, or, if the hashes were recomputed, the
   head no longer matches the signed one;
3. at each checkpoint's head the chain's hash is the signed head hash, and the
   community's points issued, redeemed, outstanding and expired, replayed from the
   transfers, are the signed totals;
4. with ``--transfer ID``: that transfer is in the checked chain, under a checkpoint.

A proof file (``/api/transparency/proof?transfer=ID``) holds one transfer, the hash of
the transfer before it, every transfer from it to a checkpoint's head, and that signed
checkpoint: the chain is recomputed from the entry to the signed head. (The ledger is one
hash chain, not a Merkle tree, so there is no shorter proof: the server caps its length and
beyond that points to the whole history.)
"""

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field

GENESIS = "0" * 64
HISTORY_FORMAT = "points-market-transparency-history/1"
PROOF_FORMAT = "points-market-transparency-proof/1"
VERSION = 1

#: The fields a checkpoint's signature covers; the canonical text is these, as compact JSON
#: with sorted keys. Amounts are strings with exactly two decimals (never floats).
SIGNED_FIELDS = (
    "version", "community_id", "day", "at", "head_seq", "head_hash",
    "issued", "redeemed", "outstanding", "expired", "previous",
)
#: A transfer as stored: the ledger's columns in order, the hash last (``ledger.model.ROW_COLUMNS``).
ROW_LENGTH = 17
_SEQ, _ID, _LEDGER, _KIND, _PHASE, _DEBIT, _CREDIT, _AMOUNT = range(8)
_HASH = 16
_AMOUNT_TEXT = re.compile(r"-?\d+\.\d\d")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DAY = re.compile(r"\d{4}-\d\d-\d\d")


class Invalid(Exception):
    """What is wrong with the file, in one sentence."""


def checkpoint_text(checkpoint: dict) -> bytes:
    """The canonical text a checkpoint's hash and signature cover."""
    signed = {name: checkpoint[name] for name in SIGNED_FIELDS}
    return json.dumps(signed, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def transfer_hash(previous_hash: str, row: list) -> str:
    """SHA-256(previous hash ‖ canonical content): ``ledger.chain.link`` for a stored row."""
    canonical = json.dumps(row[:_HASH], ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(bytes.fromhex(previous_hash) + canonical).hexdigest()


def hundredths_text(value: int) -> str:
    """12.5 points kept as 1250 → "12.50" (integers only: no float touches an amount)."""
    sign = "-" if value < 0 else ""
    whole, cents = divmod(abs(value), 100)
    return f"{sign}{whole}.{cents:02d}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _public_key(hex_key: str):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = bytes.fromhex(hex_key.strip())
        if len(raw) != 32:
            raise ValueError
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise Invalid("the public key must be 64 hexadecimal digits (32 bytes)") from None


def check_checkpoint(checkpoint: object, key, community_id: int, where: str) -> dict:
    """One checkpoint's shape, hash and signature; returns it."""
    from cryptography.exceptions import InvalidSignature

    if not isinstance(checkpoint, dict):
        raise Invalid(f"{where} is not an object")
    missing = [name for name in (*SIGNED_FIELDS, "hash", "signature") if name not in checkpoint]
    if missing:
        raise Invalid(f"{where} lacks {', '.join(missing)}")
    if checkpoint["version"] != VERSION:
        raise Invalid(f"{where} has an unknown version")
    if checkpoint["community_id"] != community_id:
        raise Invalid(f"{where} belongs to another community")
    if not _is_int(checkpoint["head_seq"]) or checkpoint["head_seq"] < 0:
        raise Invalid(f"{where} has a malformed head_seq")
    for name in ("head_hash", "previous", "hash"):
        if not isinstance(checkpoint[name], str) or not _HEX64.fullmatch(checkpoint[name]):
            raise Invalid(f"{where} has a malformed {name}")
    for name in ("issued", "redeemed", "outstanding", "expired"):
        if not isinstance(checkpoint[name], str) or not _AMOUNT_TEXT.fullmatch(checkpoint[name]):
            raise Invalid(f"{where} has a malformed amount {name}")
    if not isinstance(checkpoint["day"], str) or not _DAY.fullmatch(checkpoint["day"]):
        raise Invalid(f"{where} has a malformed day")
    text = checkpoint_text(checkpoint)
    if hashlib.sha256(text).hexdigest() != checkpoint["hash"]:
        raise Invalid(f"{where} ({checkpoint['day']}): its hash does not match its content")
    try:
        key.verify(bytes.fromhex(str(checkpoint["signature"])), text)
    except (InvalidSignature, ValueError):
        raise Invalid(f"{where} ({checkpoint['day']}): the signature is not the community's") from None
    return checkpoint


def _check_row(row: object, expected_seq: int, previous_hash: str) -> list:
    if not isinstance(row, list) or len(row) != ROW_LENGTH:
        raise Invalid(f"transfer {expected_seq} is malformed")
    if row[_SEQ] != expected_seq or not _is_int(row[_SEQ]):
        raise Invalid(f"the transfers jump from {expected_seq - 1} to {row[_SEQ]!r}")
    if transfer_hash(previous_hash, row) != row[_HASH]:
        raise Invalid(
            f"transfer {expected_seq} (id {row[_ID]}): its hash does not match its content and chain"
        )
    return row


@dataclass
class Outcome:
    """What was checked, for the summary."""

    kind: str
    community_id: int
    checkpoints: int = 0
    transfers: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    newest_day: str = ""
    notes: list[str] = field(default_factory=list)


class _Totals:
    """The community's balances by account, replayed from the transfers (posted points only)."""

    def __init__(self, community_id: int, accounts: dict) -> None:
        self.community_id = community_id
        self.named = {kind: accounts.get(kind) for kind in ("issuance", "shop", "expiry")}
        self.balance: dict[int, int] = {}

    def apply(self, row: list) -> None:
        if row[_LEDGER] != self.community_id or row[_PHASE] not in ("single", "post"):
            return
        amount = row[_AMOUNT]
        if not _is_int(amount):
            raise Invalid(f"transfer {row[_SEQ]} has a malformed amount")
        self.balance[row[_DEBIT]] = self.balance.get(row[_DEBIT], 0) - amount
        self.balance[row[_CREDIT]] = self.balance.get(row[_CREDIT], 0) + amount

    def now(self) -> dict[str, str]:
        named = {kind: self.balance.get(account, 0) for kind, account in self.named.items()}
        wallets = sum(v for k, v in self.balance.items() if k not in self.named.values())
        return {
            "issued": hundredths_text(-named["issuance"]), "redeemed": hundredths_text(named["shop"]),
            "outstanding": hundredths_text(wallets), "expired": hundredths_text(named["expiry"]),
        }


def verify_history(document: object, public_key_hex: str, transfer_id: str | None = None) -> Outcome:
    """Check a whole history; raises ``Invalid`` naming the first problem."""
    key = _public_key(public_key_hex)
    if not isinstance(document, dict) or document.get("format") != HISTORY_FORMAT:
        raise Invalid("this is not a transparency history file")
    community_id = document.get("community_id")
    if not _is_int(community_id):
        raise Invalid("the file names no community")
    if str(document.get("public_key", "")).lower() != public_key_hex.strip().lower():
        raise Invalid("the file was signed for another public key than the one given")
    checkpoints = document.get("checkpoints")
    transfers = document.get("transfers")
    accounts = document.get("accounts") or {}
    if not isinstance(checkpoints, list) or not isinstance(transfers, list) or not isinstance(accounts, dict):
        raise Invalid("the file lacks its checkpoints, transfers or accounts")
    outcome = Outcome("history", community_id)

    previous_checkpoint, previous_day, previous_seq = GENESIS, "", 0
    for number, raw in enumerate(checkpoints, 1):
        checkpoint = check_checkpoint(raw, key, community_id, f"checkpoint {number}")
        if checkpoint["previous"] != previous_checkpoint:
            raise Invalid(f"checkpoint {number} ({checkpoint['day']}) does not follow the one before it "
                          "(one was removed, added or changed)")
        if checkpoint["day"] <= previous_day or checkpoint["head_seq"] < previous_seq:
            raise Invalid(f"checkpoint {number} ({checkpoint['day']}) is out of order")
        previous_checkpoint, previous_day = checkpoint["hash"], checkpoint["day"]
        previous_seq = checkpoint["head_seq"]
    outcome.checkpoints = len(checkpoints)

    totals = _Totals(community_id, accounts)
    pending = list(checkpoints)  # oldest first: each is met when the replay reaches its head
    chain_hash, seq, found = GENESIS, 0, None

    def meet_checkpoints() -> None:
        while pending and pending[0]["head_seq"] == seq:
            checkpoint = pending.pop(0)
            if checkpoint["head_hash"] != chain_hash:
                raise Invalid(f"the checkpoint of {checkpoint['day']} signed head {checkpoint['head_seq']} "
                              "with another hash: the ledger was changed since")
            replayed = totals.now()
            for name, value in replayed.items():
                if checkpoint[name] != value:
                    raise Invalid(f"the checkpoint of {checkpoint['day']} signed {name} "
                                  f"{checkpoint[name]}, the transfers give {value}")

    meet_checkpoints()
    for row in transfers:
        row = _check_row(row, seq + 1, chain_hash)
        chain_hash, seq = row[_HASH], row[_SEQ]
        totals.apply(row)
        if transfer_id is not None and row[_ID] == transfer_id:
            found = row
        meet_checkpoints()
    if pending:
        raise Invalid(f"the transfers stop at {seq}, before the head of the checkpoint of "
                      f"{pending[0]['day']} ({pending[0]['head_seq']})")
    outcome.transfers, outcome.head_seq, outcome.head_hash = seq, seq, chain_hash
    outcome.newest_day = previous_day
    if transfer_id is not None:
        if found is None:
            raise Invalid(f"transfer {transfer_id} is not in the signed chain")
        covering = next(c for c in checkpoints if c["head_seq"] >= found[_SEQ])
        outcome.notes.append(f"transfer {transfer_id} is entry {found[_SEQ]}, "
                             f"covered by the checkpoint of {covering['day']}")
    return outcome


def verify_proof(document: object, public_key_hex: str) -> Outcome:
    """Check one entry's proof: its chain from the entry to a signed checkpoint's head."""
    key = _public_key(public_key_hex)
    if not isinstance(document, dict) or document.get("format") != PROOF_FORMAT:
        raise Invalid("this is not a transparency proof file")
    community_id = document.get("community_id")
    if not _is_int(community_id):
        raise Invalid("the file names no community")
    if document.get("status") != "ok":
        raise Invalid("this proof is not complete (status "
                      f"{document.get('status')!r}): check the whole history instead")
    checkpoint = check_checkpoint(document.get("checkpoint"), key, community_id, "the checkpoint")
    rows = document.get("transfers")
    previous = document.get("previous_hash")
    if not isinstance(rows, list) or not rows or not _HEX64.fullmatch(str(previous)):
        raise Invalid("the proof lacks its transfers or the previous hash")
    first = rows[0]
    if not isinstance(first, list) or len(first) != ROW_LENGTH or not _is_int(first[_SEQ]):
        raise Invalid("the proof's transfer is malformed")
    if first[_ID] != document.get("transfer_id"):
        raise Invalid("the proof is for another transfer")
    if first[_LEDGER] != community_id:
        raise Invalid("the transfer belongs to another community")
    if first[_SEQ] == 1 and previous != GENESIS:
        raise Invalid("the first transfer must follow the genesis hash")
    chain_hash, seq = previous, first[_SEQ] - 1
    for row in rows:
        row = _check_row(row, seq + 1, chain_hash)
        chain_hash, seq = row[_HASH], row[_SEQ]
    if seq != checkpoint["head_seq"] or chain_hash != checkpoint["head_hash"]:
        raise Invalid("the chain from the transfer does not reach the signed checkpoint's head")
    outcome = Outcome("proof", community_id, checkpoints=1, transfers=len(rows), head_seq=seq,
                      head_hash=chain_hash, newest_day=checkpoint["day"])
    outcome.notes.append(f"transfer {first[_ID]} is entry {first[_SEQ]}, "
                         f"covered by the checkpoint of {checkpoint['day']}")
    return outcome


def verify_document(document: object, public_key_hex: str, transfer_id: str | None = None) -> Outcome:
    """A history or a proof, whichever the file is."""
    if isinstance(document, dict) and document.get("format") == PROOF_FORMAT:
        return verify_proof(document, public_key_hex)
    return verify_history(document, public_key_hex, transfer_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m market.reports.checkpoint_verify",
        description="Check a transparency history or proof file offline, with the community's public key.",
    )
    parser.add_argument("file", help="the downloaded checkpoints.json or proof file")
    parser.add_argument("--public-key", required=True, help="the community's public key (64 hex digits)")
    parser.add_argument("--transfer", help="also confirm that this transfer id is in the signed chain")
    args = parser.parse_args(argv)
    try:
        with open(args.file, "rb") as file:
            document = json.load(file)
    except (OSError, ValueError) as error:
        print(f"cannot read {args.file}: {error}", file=sys.stderr)
        return 2
    try:
        outcome = verify_document(document, args.public_key, args.transfer)
    except Invalid as problem:
        print(f"FAILED: {problem}", file=sys.stderr)
        return 1
    print(f"community:   {outcome.community_id}")
    print(f"checkpoints: {outcome.checkpoints} (newest {outcome.newest_day or '-'})")
    print(f"transfers:   {outcome.transfers} checked, head {outcome.head_seq} {outcome.head_hash}")
    for note in outcome.notes:
        print(note)
    print("OK: every signature, checkpoint link, transfer hash and total checks out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
