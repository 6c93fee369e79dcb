"""Signed daily checkpoints of the ledger (阳光积分): making them, listing them, the downloadable
history and one entry's proof.

A checkpoint fixes, for one community and one Beijing day, the ledger's head (seq and hash),
the community's totals and the hash of the community's previous checkpoint, and signs that
with the community's Ed25519 key (``market.reports.keys``). The canonical text and the
offline check live in ``market.reports.checkpoint_verify``, which needs nothing of this
project, so what the server signs and what a resident checks cannot drift apart.

The ledger is one hash chain for the whole database (every community's transfers, in
order), so a community's history carries every transfer up to its newest checkpoint: the
chain cannot be recomputed with gaps. Account ids are numbers, never names.
"""

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
from cryptography.exceptions import InvalidSignature

from ledger.model import ROW_COLUMNS
from market.community import service as communities
from market.community.service import CommunityView
from market.db import fetch, write_transaction
from market.errors import Conflict, InvalidInput, NotFound
from market.reports import keys
from market.reports.checkpoint_verify import (
    GENESIS,
    HISTORY_FORMAT,
    PROOF_FORMAT,
    VERSION,
    Invalid,
    checkpoint_text,
    hundredths_text,
    verify_proof,
)
from market.settings import Settings
from market.tables import Community

log = logging.getLogger(__name__)

CHINA = ZoneInfo("Asia/Shanghai")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Longest proof served: transfers from the entry to the covering checkpoint's head. Beyond
#: it the whole history is the proof (a hash chain has no shorter one).
MAX_PROOF = 500
#: Transfers read per query while streaming a history: bounded memory whatever its length.
STREAM_PAGE = 5000
#: How often the sweeper looks whether today's checkpoint is made.
SWEEP_EVERY = 600.0

_COLUMNS = ", ".join(ROW_COLUMNS)
_CHECKPOINT_COLUMNS = (
    "id, community, day, at_us, head_seq, head_hash, issued, redeemed, outstanding, expired, "
    "previous, hash, signature, public_key"
)


class CheckpointView(msgspec.Struct):
    """A checkpoint as published: the signed fields, its hash and its signature."""

    version: int
    community_id: int
    day: str
    at: str
    head_seq: int
    head_hash: str
    issued: str
    redeemed: str
    outstanding: str
    expired: str
    previous: str
    hash: str
    signature: str
    #: The key it was signed with (the community's, unless the server's secret was changed).
    public_key: str

    def signed(self) -> dict:
        return msgspec.to_builtins(self)


class CheckpointPage(msgspec.Struct):
    community_id: int
    community: str
    public_key: str
    items: list[CheckpointView]
    next_cursor: str | None


class Proof(msgspec.Struct):
    """One entry's proof; ``status``: ``ok`` (complete, check it offline), ``not_yet`` (in the
    ledger but after the newest checkpoint) or ``too_long`` (check the whole history)."""

    format: str
    status: str
    community_id: int
    public_key: str
    transfer_id: str
    seq: int
    checkpoint: CheckpointView | None
    previous_hash: str | None
    transfers: list[list]


def iso_utc(at_us: int) -> str:
    """Microseconds since the epoch as the signed text spells the time (UTC, exact)."""
    return (EPOCH + timedelta(microseconds=at_us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def beijing_day(moment: datetime) -> str:
    return moment.astimezone(CHINA).date().isoformat()


def _view(row: dict) -> CheckpointView:
    return CheckpointView(
        version=VERSION, community_id=int(row["community"]), day=row["day"], at=iso_utc(int(row["at_us"])),
        head_seq=int(row["head_seq"]), head_hash=row["head_hash"], issued=hundredths_text(int(row["issued"])),
        redeemed=hundredths_text(int(row["redeemed"])), outstanding=hundredths_text(int(row["outstanding"])),
        expired=hundredths_text(int(row["expired"])), previous=row["previous"], hash=row["hash"],
        signature=row["signature"], public_key=row["public_key"],
    )


def _row(values: list | tuple | dict) -> list:
    """A transfer row as plain JSON values, in the ledger's column order."""
    if isinstance(values, dict):
        values = [values[name] for name in ROW_COLUMNS]
    return [int(v) if isinstance(v, int) else v for v in values]


async def community_or_404(community_id: int | None) -> CommunityView:
    """The community asked for, or the first one when none is named (as ``/api/transparency``)."""
    community = await (communities.first() if community_id is None else communities.get(community_id))
    if community is None:
        raise NotFound(field="community")
    return community


# -- making a checkpoint ----------------------------------------------------------------------------

# One statement, so one snapshot on both engines: the head and the balances agree (the ledger
# updates account rows in the transaction that appends the transfers).
_SUM = "(SELECT COALESCE(SUM(balance), 0) FROM ledger_account WHERE ledger = {{}} AND kind = '{kind}')"
_SNAPSHOT = f"""
SELECT
    (SELECT seq FROM ledger_transfer ORDER BY seq DESC LIMIT 1) AS head_seq,
    (SELECT hash FROM ledger_transfer ORDER BY seq DESC LIMIT 1) AS head_hash,
    {_SUM.format(kind="issuance")} AS issuance, {_SUM.format(kind="shop")} AS shop,
    {_SUM.format(kind="wallet")} AS wallet, {_SUM.format(kind="expiry")} AS expiry
"""


async def make_checkpoint(
    settings: Settings, community_id: int, now: datetime | None = None
) -> CheckpointView:
    """Today's checkpoint of the community (Beijing day of ``now``), made if it does not exist.

    Idempotent per community per day: a second call that day returns the first checkpoint.
    A day before the newest checkpoint's (a clock set back) is refused: the chain runs forward.
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise InvalidInput(field="now")
    day = beijing_day(now)
    at_us = (now - EPOCH) // timedelta(microseconds=1)
    signer = keys.signing_key(settings, community_id)
    public_key = keys.public_key_hex(settings, community_id)
    async with write_transaction():
        latest = await fetch(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM transparency_checkpoint WHERE community = {{}} "
            "ORDER BY day DESC LIMIT 1", community_id,
        )
        if latest and latest[0]["day"] == day:
            return _view(latest[0])
        if latest and latest[0]["day"] > day:
            raise Conflict("checkpoint_day_passed", day=day)
        (snap,) = await fetch(_SNAPSHOT, community_id, community_id, community_id, community_id)
        issued = -int(snap["issuance"])
        view = CheckpointView(
            version=VERSION, community_id=community_id, day=day, at=iso_utc(at_us),
            head_seq=int(snap["head_seq"] or 0), head_hash=snap["head_hash"] or GENESIS,
            issued=hundredths_text(issued), redeemed=hundredths_text(int(snap["shop"])),
            outstanding=hundredths_text(int(snap["wallet"])), expired=hundredths_text(int(snap["expiry"])),
            previous=latest[0]["hash"] if latest else GENESIS, hash="", signature="", public_key=public_key,
        )
        text = checkpoint_text(view.signed())
        view.hash = hashlib.sha256(text).hexdigest()
        view.signature = signer.sign(text).hex()
        await fetch(
            "INSERT INTO transparency_checkpoint (community, day, at_us, head_seq, head_hash, issued, "
            "redeemed, outstanding, expired, previous, hash, signature, public_key) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) "
            "ON CONFLICT (community, day) DO NOTHING",
            community_id, day, at_us, view.head_seq, view.head_hash, issued, int(snap["shop"]),
            int(snap["wallet"]), int(snap["expiry"]), view.previous, view.hash, view.signature, public_key,
        )
        made = await fetch(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM transparency_checkpoint "
            "WHERE community = {} AND day = {}", community_id, day,
        )
    log.info("checkpoint %s of community %s at head %s", day, community_id, view.head_seq)
    return _view(made[0])


async def checkpoint_all(settings: Settings, now: datetime | None = None) -> list[CheckpointView]:
    """Today's checkpoint of every community (the sweeper's and the CLI's work). A community
    that cannot have one (a clock set back) is logged and skipped: the others still get theirs."""
    made = []
    for row in await Community.select(Community.id).order_by(Community.id):
        try:
            made.append(await make_checkpoint(settings, row["id"], now))
        except Conflict:
            log.warning("no checkpoint for community %s: a later day is checkpointed already", row["id"])
    return made


async def keep_checkpointing(
    settings: Settings, every: float = SWEEP_EVERY, clock: Callable[[], datetime] | None = None
) -> None:
    """Make each community's checkpoint once a Beijing day (the app's lifespan runs this task).

    It looks every ``every`` seconds and makes only what is missing, so several workers or a
    restart make no duplicates (one per community per day, by a unique index)."""
    while True:
        await asyncio.sleep(every)
        try:
            await checkpoint_all(settings, clock() if clock else None)
        except Exception:
            log.exception("making the daily checkpoints failed; trying again later")


# -- reading them ----------------------------------------------------------------------------------


def _parse_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 18:
        raise InvalidInput("invalid_cursor", field="cursor")
    return int(cursor)


async def history_page(
    settings: Settings, community_id: int | None, limit: int = 20, cursor: str | None = None
) -> CheckpointPage:
    """The community's checkpoints, newest first, ``limit`` at a time."""
    community = await community_or_404(community_id)
    before = _parse_cursor(cursor)
    if before is None:
        rows = await fetch(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM transparency_checkpoint WHERE community = {{}} "
            "ORDER BY id DESC LIMIT {}", community.id, limit + 1,
        )
    else:
        rows = await fetch(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM transparency_checkpoint WHERE community = {{}} AND id < {{}} "
            "ORDER BY id DESC LIMIT {}", community.id, min(before, 2**31 - 1), limit + 1,
        )
    items = [_view(row) for row in rows[:limit]]
    next_cursor = str(rows[limit - 1]["id"]) if len(rows) > limit else None
    return CheckpointPage(
        community_id=community.id, community=community.name,
        public_key=keys.public_key_hex(settings, community.id), items=items, next_cursor=next_cursor,
    )


async def latest(community_id: int) -> CheckpointView | None:
    rows = await fetch(
        f"SELECT {_CHECKPOINT_COLUMNS} FROM transparency_checkpoint WHERE community = {{}} "
        "ORDER BY id DESC LIMIT 1", community_id,
    )
    return _view(rows[0]) if rows else None


class Status(msgspec.Struct):
    """What the page says of the newest checkpoint: is its signature the community's, and does
    the ledger still hold the head it signed?"""

    signature_ok: bool
    head_still_matches: bool


async def status_of(settings: Settings, checkpoint: CheckpointView) -> Status:
    key = keys.public_key(settings, checkpoint.community_id)
    text = checkpoint_text(checkpoint.signed())
    try:
        key.verify(bytes.fromhex(checkpoint.signature), text)
        signature_ok = hashlib.sha256(text).hexdigest() == checkpoint.hash
    except (InvalidSignature, ValueError):
        signature_ok = False
    if checkpoint.head_seq == 0:
        matches = checkpoint.head_hash == GENESIS
    else:
        rows = await fetch("SELECT hash FROM ledger_transfer WHERE seq = {}", checkpoint.head_seq)
        matches = bool(rows) and rows[0]["hash"] == checkpoint.head_hash
    return Status(signature_ok=signature_ok, head_still_matches=matches)


async def _accounts(community_id: int) -> dict[str, int]:
    rows = await fetch(
        "SELECT kind, id FROM ledger_account WHERE ledger = {} AND kind IN ('issuance', 'shop', 'expiry')",
        community_id,
    )
    return {row["kind"]: int(row["id"]) for row in rows}


async def history_document(settings: Settings, community: CommunityView) -> AsyncIterator[bytes]:
    """The whole history as one JSON file, streamed: header, checkpoints oldest first, then every
    transfer up to the newest checkpoint's head, one per line, read ``STREAM_PAGE`` at a time."""
    rows = await fetch(
        f"SELECT {_CHECKPOINT_COLUMNS} FROM transparency_checkpoint WHERE community = {{}} ORDER BY id",
        community.id,
    )
    checkpoints = [_view(row).signed() for row in rows]
    head = checkpoints[-1]["head_seq"] if checkpoints else 0
    header = {
        "format": HISTORY_FORMAT, "community_id": community.id, "community": community.name,
        "public_key": keys.public_key_hex(settings, community.id),
        "check": "python -m market.reports.checkpoint_verify FILE --public-key KEY",
        "accounts": await _accounts(community.id),
    }

    def dumps(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    yield (dumps(header)[:-1] + ',\n"checkpoints":[').encode()
    yield ",\n".join(dumps(c) for c in checkpoints).encode()
    yield b'],\n"transfers":[\n'
    after, first = 0, True
    while after < head:
        page = await fetch(
            f"SELECT {_COLUMNS} FROM ledger_transfer "
            "WHERE seq > {} AND seq <= {} ORDER BY seq LIMIT {}", after, head, STREAM_PAGE,
        )
        if not page:
            break
        chunk = ",\n".join(dumps(_row(row)) for row in page)
        yield ((",\n" if not first else "") + chunk).encode()
        first, after = False, int(page[-1]["seq"])
    yield b"\n]}\n"


async def proof(settings: Settings, community_id: int | None, transfer_id: str) -> Proof:
    """The proof that ``transfer_id`` (of this community) is in the chain a checkpoint signed."""
    community = await community_or_404(community_id)
    transfer_id = transfer_id.strip()
    if not 1 <= len(transfer_id) <= 200:
        raise InvalidInput(field="transfer")
    found = await fetch(f"SELECT {_COLUMNS} FROM ledger_transfer WHERE id = {{}}", transfer_id)
    if not found or int(found[0]["ledger"]) != community.id:
        raise NotFound(field="transfer")
    row = _row(found[0])
    seq = row[0]
    covering = await fetch(
        f"SELECT {_CHECKPOINT_COLUMNS} FROM transparency_checkpoint "
        "WHERE community = {} AND head_seq >= {} ORDER BY head_seq, id LIMIT 1", community.id, seq,
    )
    public_key = keys.public_key_hex(settings, community.id)
    answer = Proof(format=PROOF_FORMAT, status="not_yet", community_id=community.id, public_key=public_key,
                   transfer_id=transfer_id, seq=seq, checkpoint=None, previous_hash=None, transfers=[row])
    if not covering:
        return answer
    answer.checkpoint = checkpoint = _view(covering[0])
    if checkpoint.head_seq - seq + 1 > MAX_PROOF:
        answer.status = "too_long"
        return answer
    if seq > 1:
        before = await fetch("SELECT hash FROM ledger_transfer WHERE seq = {}", seq - 1)
        answer.previous_hash = before[0]["hash"] if before else None
    else:
        answer.previous_hash = GENESIS
    segment = await fetch(
        f"SELECT {_COLUMNS} FROM ledger_transfer WHERE seq >= {{}} AND seq <= {{}} ORDER BY seq",
        seq, checkpoint.head_seq,
    )
    answer.transfers = [_row(r) for r in segment]
    answer.status = "ok"
    return answer


def check_proof(answer: Proof) -> str | None:
    """The offline checker's verdict on a proof, run here for the page: None when it holds."""
    try:
        verify_proof(msgspec.to_builtins(answer), answer.public_key)
    except Invalid as problem:
        return str(problem)
    return None

