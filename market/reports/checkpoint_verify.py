"""Offline check of a community's transparency history (阳光积分) or of one entry's proof.

Anyone can run it on a file downloaded from the transparency page, with the community's
public key copied from that page (or from a notice board, a printed report — anywhere the
server cannot change later)::

    python -m market.reports.checkpoint_verify HISTORY.json --public-key HEX [--transfer ID]
    python -m market.reports.checkpoint_verify HISTORY.json --public-key HEX --legacy LEGACY.json
    python -m market.reports.checkpoint_verify PROOF.json --public-key HEX

It needs only the Python standard library and ``cryptography`` (for Ed25519): copy this
one file anywhere and run ``python checkpoint_verify.py …`` (which is why it is one file of
over 500 lines: a resident checks with it alone). Exit status 0 when
everything checks out, 1 when something does not (the first problem is printed),
2 when a file cannot be read.

Each community's ledger is a hash chain of its own. It starts from its *genesis*, the
SHA-256 of its *origin*: a small JSON text naming the community and, for a community
whose points moved before chains were per community, where the old installation-wide
chain (the *legacy* chain) ended and the community's balances and open holds then.

A history file (``/api/transparency/checkpoints.json``, format ``…history/2``) holds the
origin, every signed checkpoint of the community, oldest first, and the community's own
transfers up to the newest checkpoint's head, as stored — no other community's. The check:

1. the origin's hash is the genesis, and the origin names this community;
2. each checkpoint's hash is the SHA-256 of its canonical text, its signature is the
   community's Ed25519 signature of that text, and it names the hash of the checkpoint
   before it (the first names 64 zeros): a checkpoint altered, added or removed from the
   middle breaks this;
3. the transfers run 1, 2, 3 … from the genesis, each one's hash is SHA-256(previous hash ‖
   its canonical content), exactly as the ledger computes it (``ledger/chain.py``), and
   every balance a transfer records is the one replayed from the origin's opening balances:
   an entry altered in the database breaks its own hash, or, if the hashes were
   recomputed, the head no longer matches the signed one;
4. at each checkpoint's head the chain's hash is the signed head hash, and the
   community's points issued, redeemed, outstanding and expired, replayed from the
   origin and the transfers, are the signed totals;
5. with ``--transfer ID``: that transfer is in the checked chain, under a checkpoint.

Checkpoints of version 1 were signed before chains were per community, over the legacy
chain: in a history they are checked for their signature and their place among the
checkpoints. ``--legacy LEGACY.json`` (``/api/transparency/legacy.json``, the legacy chain
as the old release published it, format ``…history/1``) checks them too, and checks that
the legacy chain's hash where the origin says it ended is the one the origin names and
that the community's balances and holds replayed to there are the origin's opening ones:
the whole chain of trust from the first old transfer to today's head. A legacy file (or
a history of the old release) checked alone is checked as it always was.

A proof file (``/api/transparency/proof?transfer=ID``) holds one transfer, the hash of
the transfer before it, every transfer from it to a checkpoint's head, and that signed
checkpoint: the chain is recomputed from the entry to the signed head. (The ledger is a
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
#: A community's own chain, from its origin (version 2 checkpoints).
HISTORY_FORMAT = "points-market-transparency-history/2"
PROOF_FORMAT = "points-market-transparency-proof/2"
#: The legacy, installation-wide chain, as the release before chains per community published it.
LEGACY_FORMAT = "points-market-transparency-history/1"
LEGACY_PROOF_FORMAT = "points-market-transparency-proof/1"
#: What an origin's ``format`` says (``ledger.chain.CHAIN_FORMAT``).
CHAIN_FORMAT = "points-market-chain/2"
#: The version of the checkpoints made now.
VERSION = 2

#: The fields a checkpoint's signature covers, by version; the canonical text is these, as
#: compact JSON with sorted keys. Amounts are strings with exactly two decimals (never floats).
SIGNED_FIELDS = {
    1: ("version", "community_id", "day", "at", "head_seq", "head_hash",
        "issued", "redeemed", "outstanding", "expired", "previous"),
    2: ("version", "community_id", "day", "at", "head_number", "head_hash", "genesis",
        "issued", "redeemed", "outstanding", "expired", "previous"),
}
#: Where a checkpoint of each version says its head is: the legacy chain's seq, or the
#: community's chain's number.
HEAD = {1: "head_seq", 2: "head_number"}
#: A transfer as stored: its place in its chain first (the community's ``number``, or the
#: legacy chain's ``seq``), then the ledger's columns in order, the hash last.
ROW_LENGTH = 17
_PLACE, _ID, _LEDGER, _KIND, _PHASE, _DEBIT, _CREDIT, _AMOUNT, _MEMO, _REFERENCE, _PENDING = range(11)
_DEBIT_AFTER, _CREDIT_AFTER, _HASH = 14, 15, 16
_AMOUNT_TEXT = re.compile(r"-?\d+\.\d\d")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DAY = re.compile(r"\d{4}-\d\d-\d\d")


class Invalid(Exception):
    """What is wrong with the file, in one sentence."""


def checkpoint_text(checkpoint: dict) -> bytes:
    """The canonical text a checkpoint's hash and signature cover."""
    signed = {name: checkpoint[name] for name in SIGNED_FIELDS[checkpoint["version"]]}
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


def check_checkpoint(checkpoint: object, key, community_id: int, where: str, versions=(1, 2)) -> dict:
    """One checkpoint's shape, hash and signature; returns it."""
    from cryptography.exceptions import InvalidSignature

    if not isinstance(checkpoint, dict):
        raise Invalid(f"{where} is not an object")
    version = checkpoint.get("version")
    if not _is_int(version) or version not in versions:
        raise Invalid(f"{where} has a version this file cannot hold ({version!r})")
    missing = [name for name in (*SIGNED_FIELDS[version], "hash", "signature") if name not in checkpoint]
    if missing:
        raise Invalid(f"{where} lacks {', '.join(missing)}")
    if checkpoint["community_id"] != community_id:
        raise Invalid(f"{where} belongs to another community")
    head = HEAD[version]
    if not _is_int(checkpoint[head]) or checkpoint[head] < 0:
        raise Invalid(f"{where} has a malformed {head}")
    for name in ("head_hash", "previous", "hash", *(("genesis",) if version == 2 else ())):
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


def _check_row(row: object, expected: int, previous_hash: str, chain: str = "transfer") -> list:
    if not isinstance(row, list) or len(row) != ROW_LENGTH:
        raise Invalid(f"{chain} {expected} is malformed")
    if row[_PLACE] != expected or not _is_int(row[_PLACE]):
        raise Invalid(f"the {chain}s jump from {expected - 1} to {row[_PLACE]!r}")
    if transfer_hash(previous_hash, row) != row[_HASH]:
        raise Invalid(f"{chain} {expected} (id {row[_ID]}): its hash does not match its content and chain")
    return row


def parse_origin(text: object, genesis: object, community_id: int) -> dict:
    """An origin's content, once its hash is the genesis (``ledger.chain.parse_origin``):
    ``legacy`` (seq, hash) or None, opening ``accounts`` {id: (balance, held)} and open
    ``holds`` {id: (debit, credit, amount)}."""
    if not isinstance(text, str) or not isinstance(genesis, str) or not _HEX64.fullmatch(genesis):
        raise Invalid("the file lacks its chain's origin or genesis")
    if hashlib.sha256(text.encode()).hexdigest() != genesis:
        raise Invalid("the origin's hash is not the chain's genesis: the origin was changed")
    try:
        raw = json.loads(text)
        legacy = raw.get("legacy")
        origin = {
            "format": raw.get("format"), "ledger": raw.get("ledger"),
            "legacy": None if legacy is None else (legacy["seq"], legacy["hash"]),
            "accounts": {int(a): (v[0], v[1]) for a, v in raw.get("accounts", {}).items()},
            "holds": {h: (v[0], v[1], v[2]) for h, v in raw.get("holds", {}).items()},
        }
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        raise Invalid("the origin cannot be read") from None
    if origin["format"] != CHAIN_FORMAT or origin["ledger"] != community_id:
        raise Invalid("the origin is not this community's chain's")
    return origin


@dataclass
class Outcome:
    """What was checked, for the summary."""

    kind: str
    community_id: int
    checkpoints: int = 0
    transfers: int = 0
    head: int = 0
    head_hash: str = GENESIS
    newest_day: str = ""
    #: Checkpoints signed over the legacy chain (version 1) among ``checkpoints``.
    legacy_checkpoints: int = 0
    notes: list[str] = field(default_factory=list)
    #: Where a legacy replay stood at the seq it was asked to stop at: (hash, books).
    stop: "tuple[str, _Books] | None" = None


class _Books:
    """The community's accounts, replayed from its transfers: posted balances, held points and
    open holds. A transfer's recorded balances after it must be the replayed ones."""

    def __init__(self, community_id: int, accounts: dict, origin: dict | None = None) -> None:
        self.community_id = community_id
        self.named = {kind: accounts.get(kind) for kind in ("issuance", "shop", "expiry")}
        self.balance: dict[int, int] = {}
        self.held: dict[int, int] = {}
        self.open: dict[str, tuple[int, int, int]] = {}
        if origin is not None:
            for account, (balance, held) in origin["accounts"].items():
                self.balance[account], self.held[account] = balance, held
            self.open = dict(origin["holds"])

    def _move(self, debit: int, credit: int, amount: int) -> None:
        self.balance[debit] = self.balance.get(debit, 0) - amount
        self.balance[credit] = self.balance.get(credit, 0) + amount

    def apply(self, row: list, where: str) -> None:
        debit, credit, amount, phase = row[_DEBIT], row[_CREDIT], row[_AMOUNT], row[_PHASE]
        if not (_is_int(amount) and amount > 0 and _is_int(debit) and _is_int(credit)):
            raise Invalid(f"{where} has a malformed amount or account")
        if phase == "single":
            self._move(debit, credit, amount)
        elif phase == "pending":
            self.held[debit] = self.held.get(debit, 0) + amount
            self.open[row[_ID]] = (debit, credit, amount)
        elif phase in ("post", "void"):
            hold = self.open.pop(row[_PENDING] or "", None)
            if hold is None or hold[:2] != (debit, credit) or amount > hold[2]:
                raise Invalid(f"{where} resolves a hold that is not open")
            self.held[debit] = self.held.get(debit, 0) - hold[2]
            if phase == "post":
                self._move(debit, credit, amount)
        else:
            raise Invalid(f"{where} has an unknown phase {phase!r}")
        if (row[_DEBIT_AFTER], row[_CREDIT_AFTER]) != (self.balance.get(debit), self.balance.get(credit)):
            raise Invalid(f"{where}: the balances it records are not those its chain gives")

    def totals(self) -> dict[str, str]:
        named = {kind: self.balance.get(account, 0) for kind, account in self.named.items()}
        wallets = sum(v for k, v in self.balance.items() if k not in self.named.values())
        return {
            "issued": hundredths_text(-named["issuance"]), "redeemed": hundredths_text(named["shop"]),
            "outstanding": hundredths_text(wallets), "expired": hundredths_text(named["expiry"]),
        }

    def standing(self) -> tuple[dict, dict]:
        """(balance, held) of each account that is not at (0, 0), and the open holds: what an
        origin records."""
        accounts = {a: (self.balance.get(a, 0), self.held.get(a, 0)) for a in {*self.balance, *self.held}}
        return {a: v for a, v in accounts.items() if v != (0, 0)}, dict(self.open)

    def meet(self, checkpoint: dict, chain_hash: str) -> None:
        """The replay has reached ``checkpoint``'s head: its hash and totals must be the signed ones."""
        if checkpoint["head_hash"] != chain_hash:
            raise Invalid(f"the checkpoint of {checkpoint['day']} signed head "
                          f"{checkpoint[HEAD[checkpoint['version']]]} with another hash: the ledger was "
                          "changed since")
        for name, value in self.totals().items():
            if checkpoint[name] != value:
                raise Invalid(f"the checkpoint of {checkpoint['day']} signed {name} "
                              f"{checkpoint[name]}, the transfers give {value}")


def _header(document: object, public_key_hex: str, formats: tuple[str, ...], what: str):
    key = _public_key(public_key_hex)
    if not isinstance(document, dict) or document.get("format") not in formats:
        raise Invalid(f"this is not {what}")
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
    return key, community_id, checkpoints, transfers, accounts


def _chain_of_checkpoints(checkpoints: list, key, community_id: int, versions, genesis: str | None) -> str:
    """Each checkpoint signed, linked to the one before it, in order; returns the newest day.
    Version 1 (legacy chain) checkpoints all come before version 2 ones."""
    previous, previous_day, heads = GENESIS, "", {1: 0, 2: 0}
    newest_version = 1
    for number, raw in enumerate(checkpoints, 1):
        checkpoint = check_checkpoint(raw, key, community_id, f"checkpoint {number}", versions)
        version = checkpoint["version"]
        if checkpoint["previous"] != previous:
            raise Invalid(f"checkpoint {number} ({checkpoint['day']}) does not follow the one before it "
                          "(one was removed, added or changed)")
        if checkpoint["day"] <= previous_day or checkpoint[HEAD[version]] < heads[version] or (
                version < newest_version):
            raise Invalid(f"checkpoint {number} ({checkpoint['day']}) is out of order")
        if version == 2 and checkpoint["genesis"] != genesis:
            raise Invalid(f"checkpoint {number} ({checkpoint['day']}) signed another chain's genesis")
        previous, previous_day = checkpoint["hash"], checkpoint["day"]
        heads[version], newest_version = checkpoint[HEAD[version]], version
    return previous_day


def verify_legacy(
    document: object, public_key_hex: str, transfer_id: str | None = None, stop_at: int | None = None
) -> Outcome:
    """Check a history of the legacy chain (format 1, as the old release published it);
    with ``stop_at``, also record the chain's hash and the community's books at that seq."""
    key, community_id, checkpoints, transfers, accounts = _header(
        document, public_key_hex, (LEGACY_FORMAT,), "a transparency history file")
    outcome = Outcome("history", community_id)
    outcome.newest_day = _chain_of_checkpoints(checkpoints, key, community_id, (1,), None)
    outcome.checkpoints = outcome.legacy_checkpoints = len(checkpoints)

    books = _Books(community_id, accounts)
    pending = list(checkpoints)  # oldest first: each is met when the replay reaches its head
    chain_hash, seq, found = GENESIS, 0, None

    def reached() -> None:
        while pending and pending[0]["head_seq"] == seq:
            books.meet(pending.pop(0), chain_hash)
        if stop_at == seq:
            outcome.stop = (chain_hash, books)

    reached()
    for row in transfers:
        row = _check_row(row, seq + 1, chain_hash)
        chain_hash, seq = row[_HASH], row[_PLACE]
        if row[_LEDGER] == community_id:  # the legacy chain holds every community's transfers
            books.apply(row, f"transfer {seq} (id {row[_ID]})")
            if row[_ID] == transfer_id:
                found = row
        reached()
    if pending:
        raise Invalid(f"the transfers stop at {seq}, before the head of the checkpoint of "
                      f"{pending[0]['day']} ({pending[0]['head_seq']})")
    if stop_at is not None and outcome.stop is None:
        raise Invalid(f"the legacy transfers stop at {seq}, before {stop_at}, where this community's "
                      "chain begins")
    outcome.transfers, outcome.head, outcome.head_hash = seq, seq, chain_hash
    if transfer_id is not None:
        # Up to where a community's chain begins, its origin commits to the legacy chain too.
        beyond = None if stop_at is None else (
            "before where this community's chain begins (its origin commits to it)")
        _note_found(outcome, transfer_id, found, checkpoints, beyond)
    return outcome


def _note_found(
    outcome: Outcome, transfer_id: str, found: list | None, checkpoints: list, beyond: str | None = None
) -> None:
    """Say which checkpoint covers the transfer asked for, or that none does (``beyond``: what
    covers one after the newest checkpoint instead)."""
    if found is None:
        raise Invalid(f"transfer {transfer_id} is not in the signed chain")
    covering = next((c for c in checkpoints if c[HEAD[c["version"]]] >= found[_PLACE]), None)
    if covering is None and beyond is None:
        raise Invalid(f"transfer {transfer_id} is after the newest checkpoint")
    where = beyond if covering is None else f"covered by the checkpoint of {covering['day']}"
    outcome.notes.append(f"transfer {transfer_id} is entry {found[_PLACE]}, {where}")


def verify_history(
    document: object, public_key_hex: str, transfer_id: str | None = None, legacy: object = None
) -> Outcome:
    """Check a community's history (its own chain from its origin); with ``legacy`` (the legacy
    download), also where that chain began. A legacy-format file alone is checked as such.
    Raises ``Invalid`` naming the first problem."""
    if isinstance(document, dict) and document.get("format") == LEGACY_FORMAT:
        if legacy is not None:
            raise Invalid("--legacy goes with a community's history (format 2), not with a legacy file")
        return verify_legacy(document, public_key_hex, transfer_id)
    key, community_id, checkpoints, transfers, accounts = _header(
        document, public_key_hex, (HISTORY_FORMAT,), "a transparency history file")
    genesis = document.get("genesis")
    origin = parse_origin(document.get("origin"), genesis, community_id)
    outcome = Outcome("history", community_id)
    outcome.newest_day = _chain_of_checkpoints(checkpoints, key, community_id, (1, 2), genesis)
    outcome.checkpoints = len(checkpoints)
    old = [c for c in checkpoints if c["version"] == 1]
    outcome.legacy_checkpoints = len(old)

    books = _Books(community_id, accounts, origin)
    pending = [c for c in checkpoints if c["version"] == 2]
    chain_hash, number, found = genesis, 0, None

    def reached() -> None:
        while pending and pending[0]["head_number"] == number:
            books.meet(pending.pop(0), chain_hash)

    reached()
    for row in transfers:
        row = _check_row(row, number + 1, chain_hash)
        chain_hash, number = row[_HASH], row[_PLACE]
        if row[_LEDGER] != community_id:
            raise Invalid(f"transfer {number} (id {row[_ID]}) belongs to another community")
        books.apply(row, f"transfer {number} (id {row[_ID]})")
        if row[_ID] == transfer_id:
            found = row
        reached()
    if pending:
        raise Invalid(f"the transfers stop at {number}, before the head of the checkpoint of "
                      f"{pending[0]['day']} ({pending[0]['head_number']})")
    outcome.transfers, outcome.head, outcome.head_hash = number, number, chain_hash

    # A transfer not in the community's own chain may be one of its legacy entries.
    search_legacy = transfer_id if found is None and legacy is not None else None
    if legacy is not None:
        _check_legacy(outcome, origin, old, legacy, public_key_hex, search_legacy)
    elif old:
        outcome.notes.append(
            f"{len(old)} checkpoint(s) from before this community's chain began: their signatures and "
            "links check out; their heads are in the legacy chain (check them with --legacy FILE)")
    if transfer_id is not None and search_legacy is None:
        _note_found(outcome, transfer_id, found, [c for c in checkpoints if c["version"] == 2])
    return outcome


def _check_legacy(
    outcome: Outcome, origin: dict, old: list, legacy: object, public_key_hex: str, transfer_id: str | None
) -> None:
    """The legacy download leads to this chain's origin: its checkpoints are the history's
    version 1 ones, and its hash and the community's books where the origin says it ended
    are the origin's."""
    if origin["legacy"] is None:
        raise Invalid("this community's chain did not start from the legacy chain: "
                      "no legacy file goes with it")
    if not isinstance(legacy, dict) or legacy.get("community_id") != outcome.community_id:
        raise Invalid("the legacy file is not this community's")
    legacy_seq, legacy_hash = origin["legacy"]
    try:
        before = verify_legacy(legacy, public_key_hex, transfer_id, stop_at=legacy_seq)
    except Invalid as problem:
        raise Invalid(f"in the legacy file: {problem}") from None
    if [c["hash"] for c in legacy["checkpoints"]] != [c["hash"] for c in old]:
        raise Invalid("the legacy file's checkpoints are not the history's checkpoints "
                      "from before the chain began")
    assert before.stop is not None
    chain_hash, books = before.stop
    if chain_hash != legacy_hash:
        raise Invalid(f"the legacy chain's hash at {legacy_seq} is not the one the origin names")
    accounts, holds = books.standing()
    if accounts != origin["accounts"]:
        raise Invalid(f"the community's balances at legacy entry {legacy_seq} are not the origin's opening "
                      "balances")
    if holds != origin["holds"]:
        raise Invalid(f"the community's open holds at legacy entry {legacy_seq} are not the origin's")
    outcome.notes.append(
        f"legacy chain: {before.transfers} transfers checked; at entry {legacy_seq} its hash and this "
        "community's balances and holds are the ones this chain's origin starts from; "
        f"{len(old)} checkpoint(s) from before check out against it")
    outcome.notes.extend(before.notes)


def verify_proof(document: object, public_key_hex: str) -> Outcome:
    """Check one entry's proof: its chain from the entry to a signed checkpoint's head."""
    key = _public_key(public_key_hex)
    formats = (PROOF_FORMAT, LEGACY_PROOF_FORMAT)
    if not isinstance(document, dict) or document.get("format") not in formats:
        raise Invalid("this is not a transparency proof file")
    version = 2 if document["format"] == PROOF_FORMAT else 1
    community_id = document.get("community_id")
    if not _is_int(community_id):
        raise Invalid("the file names no community")
    if document.get("status") == "legacy":
        raise Invalid("this entry is in the legacy chain, from before the community's own chain: "
                      "check it in the legacy download")
    if document.get("status") != "ok":
        raise Invalid("this proof is not complete (status "
                      f"{document.get('status')!r}): check the whole history instead")
    checkpoint = check_checkpoint(document.get("checkpoint"), key, community_id, "the checkpoint", (version,))
    rows = document.get("transfers")
    previous = document.get("previous_hash")
    if not isinstance(rows, list) or not rows or not _HEX64.fullmatch(str(previous)):
        raise Invalid("the proof lacks its transfers or the previous hash")
    first = rows[0]
    if not isinstance(first, list) or len(first) != ROW_LENGTH or not _is_int(first[_PLACE]):
        raise Invalid("the proof's transfer is malformed")
    if first[_ID] != document.get("transfer_id"):
        raise Invalid("the proof is for another transfer")
    start = checkpoint["genesis"] if version == 2 else GENESIS
    if first[_PLACE] == 1 and previous != start:
        raise Invalid("the first transfer must follow the chain's genesis")
    chain_hash, place = previous, first[_PLACE] - 1
    for row in rows:
        row = _check_row(row, place + 1, chain_hash)
        chain_hash, place = row[_HASH], row[_PLACE]
        if version == 2 and row[_LEDGER] != community_id:
            raise Invalid(f"transfer {place} (id {row[_ID]}) belongs to another community")
    if first[_LEDGER] != community_id:
        raise Invalid("the transfer belongs to another community")
    if place != checkpoint[HEAD[version]] or chain_hash != checkpoint["head_hash"]:
        raise Invalid("the chain from the transfer does not reach the signed checkpoint's head")
    outcome = Outcome("proof", community_id, checkpoints=1, transfers=len(rows), head=place,
                      head_hash=chain_hash, newest_day=checkpoint["day"])
    _note_found(outcome, first[_ID], first, [checkpoint])
    return outcome


def verify_document(
    document: object, public_key_hex: str, transfer_id: str | None = None, legacy: object = None
) -> Outcome:
    """A history or a proof, whichever the file is."""
    if isinstance(document, dict) and document.get("format") in (PROOF_FORMAT, LEGACY_PROOF_FORMAT):
        if legacy is not None:
            raise Invalid("--legacy goes with a community's history, not with a proof")
        return verify_proof(document, public_key_hex)
    return verify_history(document, public_key_hex, transfer_id, legacy)


def _read(path: str) -> object:
    with open(path, "rb") as file:
        return json.load(file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m market.reports.checkpoint_verify",
        description="Check a transparency history or proof file offline, with the community's public key.",
    )
    parser.add_argument("file", help="the downloaded checkpoints.json or proof file")
    parser.add_argument("--public-key", required=True, help="the community's public key (64 hex digits)")
    parser.add_argument("--transfer", help="also confirm that this transfer id is in the signed chain")
    parser.add_argument("--legacy", help="the legacy download (legacy.json): also check where the "
                                         "community's chain began, and the checkpoints from before")
    args = parser.parse_args(argv)
    documents = []
    for path in filter(None, (args.file, args.legacy)):
        try:
            documents.append(_read(path))
        except (OSError, ValueError) as error:
            print(f"cannot read {path}: {error}", file=sys.stderr)
            return 2
    try:
        outcome = verify_document(documents[0], args.public_key, args.transfer,
                                  documents[1] if args.legacy else None)
    except Invalid as problem:
        print(f"FAILED: {problem}", file=sys.stderr)
        return 1
    print(f"community:   {outcome.community_id}")
    old = outcome.legacy_checkpoints
    legacy = f", {old} of them on the legacy chain" if old else ""
    print(f"checkpoints: {outcome.checkpoints}{legacy} (newest {outcome.newest_day or '-'})")
    print(f"transfers:   {outcome.transfers} checked, head {outcome.head} {outcome.head_hash}")
    for note in outcome.notes:
        print(note)
    print("OK: every signature, checkpoint link, transfer hash and total checks out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
