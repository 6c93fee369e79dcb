"""Signed daily checkpoints of the ledger (阳光积分): making them, listing them, and what the page
says of the newest one.

A checkpoint fixes, for one community and one Beijing day, the head of the community's own
hash chain (its number and hash), the chain's genesis, the community's totals and the hash of
the community's previous checkpoint, and signs that with the community's Ed25519 key
(``market.reports.keys``). The canonical text and the offline check live in
``market.reports.checkpoint_verify``, which needs nothing of this project, so what the server
signs and what a resident checks cannot drift apart. The files to download and the proofs
are ``market.reports.checkpoint_files``.

Checkpoints made before each community had a chain of its own (version 1) signed the legacy,
installation-wide chain; they stay as they were, and the first checkpoint of version 2 names
the newest of them as its ``previous``: one chain of checkpoints per community, across both.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
from cryptography.exceptions import InvalidSignature

from ledger import genesis_of, new_origin, parse_origin
from market import clock
from market.china_time import CHINA
from market.community import service as communities
from market.community.service import CommunityView
from market.db import fetch, write_transaction
from market.errors import Conflict, InvalidInput, NotFound
from market.paging import parse_cursor
from market.reports import keys
from market.reports.checkpoint_verify import GENESIS, VERSION, checkpoint_text, hundredths_text
from market.reports.schemas import CheckpointPage, CheckpointView
from market.settings import Settings
from market.tables import Community

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: How often the sweeper looks whether today's checkpoint is made.
SWEEP_EVERY = 600.0

CHECKPOINT_COLUMNS = (
    "id, community, day, at_us, version, head_seq, head_number, head_hash, genesis, issued, redeemed, "
    "outstanding, expired, previous, hash, signature, public_key"
)


@dataclass(frozen=True)
class Chain:
    """A community's hash chain: where it starts (origin, genesis; ``legacy`` is the legacy
    chain's (seq, hash) it follows, if any) and its head."""

    origin: str
    genesis: str
    head_number: int
    head_hash: str
    legacy: tuple[int, str] | None


def iso_utc(at_us: int) -> str:
    """Microseconds since the epoch as the signed text spells the time (UTC, exact)."""
    return (EPOCH + timedelta(microseconds=at_us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def beijing_day(moment: datetime) -> str:
    return moment.astimezone(CHINA).date().isoformat()


def view(row: dict) -> CheckpointView:
    """A stored checkpoint as published."""
    version = int(row["version"])
    return CheckpointView(
        version=version, community_id=int(row["community"]), day=row["day"], at=iso_utc(int(row["at_us"])),
        head_number=int(row["head_number"]) if version >= 2 else None,
        head_seq=int(row["head_seq"]) if version == 1 else None,
        head_hash=row["head_hash"], genesis=row["genesis"] if version >= 2 else None,
        issued=hundredths_text(int(row["issued"])), redeemed=hundredths_text(int(row["redeemed"])),
        outstanding=hundredths_text(int(row["outstanding"])), expired=hundredths_text(int(row["expired"])),
        previous=row["previous"], hash=row["hash"], signature=row["signature"], public_key=row["public_key"],
    )


async def community_or_404(community_id: int | None) -> CommunityView:
    """The community asked for, or the first one when none is named (as ``/api/transparency``)."""
    community = await (communities.first() if community_id is None else communities.get(community_id))
    if community is None:
        raise NotFound(field="community")
    return community


def _chain(community_id: int, row: dict | None) -> Chain:
    if row is None or row.get("origin") is None:
        # No account was ever opened for it, so no chain row yet: its chain will start from this
        # origin (a community founded now has no legacy).
        origin = new_origin(community_id)
        return Chain(origin, genesis_of(origin), 0, genesis_of(origin), None)
    return Chain(row["origin"], row["genesis"], int(row["head_number"]), row["head_hash"],
                 parse_origin(row["origin"])["legacy"])


async def chain_of(community_id: int) -> Chain:
    rows = await fetch(
        "SELECT origin, genesis, head_number, head_hash FROM ledger_chains WHERE ledger = {}", community_id)
    return _chain(community_id, rows[0] if rows else None)


# -- making a checkpoint ----------------------------------------------------------------------------

# One statement, so one snapshot on both engines: the chain's head and the balances agree (the
# ledger updates the chain row and the account rows in the transaction that appends transfers).
_SUM = "(SELECT COALESCE(SUM(balance), 0) FROM ledger_accounts WHERE ledger = {{}} AND kind = '{kind}')"
_SNAPSHOT = f"""
SELECT
    chain.origin, chain.genesis, chain.head_number, chain.head_hash,
    {_SUM.format(kind="issuance")} AS issuance, {_SUM.format(kind="shop")} AS shop,
    {_SUM.format(kind="wallet")} AS wallet, {_SUM.format(kind="expiry")} AS expiry
FROM (SELECT 1 AS here) AS one LEFT JOIN ledger_chains AS chain ON chain.ledger = {{}}
"""


async def make_checkpoint(
    settings: Settings, community_id: int, now: datetime | None = None
) -> CheckpointView:
    """Today's checkpoint of the community (Beijing day of ``now``), made if it does not exist.

    Idempotent per community per day: a second call that day returns the first checkpoint
    (which, on the day of the upgrade, may be one of version 1). A day before the newest
    checkpoint's (a clock set back) is refused: the chain runs forward.
    """
    now = now or clock.now()
    if now.tzinfo is None:
        raise InvalidInput(field="now")
    day = beijing_day(now)
    at_us = (now - EPOCH) // timedelta(microseconds=1)
    signer = keys.signing_key(settings, community_id)
    public_key = keys.public_key_hex(settings, community_id)
    async with write_transaction():
        latest = await fetch(
            f"SELECT {CHECKPOINT_COLUMNS} FROM transparency_checkpoint WHERE community = {{}} "
            "ORDER BY day DESC LIMIT 1", community_id,
        )
        if latest and latest[0]["day"] == day:
            return view(latest[0])
        if latest and latest[0]["day"] > day:
            raise Conflict("checkpoint_day_passed", day=day)
        (snap,) = await fetch(_SNAPSHOT, *[community_id] * 5)
        chain = _chain(community_id, snap)
        issued = -int(snap["issuance"])
        made = CheckpointView(
            version=VERSION, community_id=community_id, day=day, at=iso_utc(at_us),
            head_number=chain.head_number, head_hash=chain.head_hash, genesis=chain.genesis,
            issued=hundredths_text(issued), redeemed=hundredths_text(int(snap["shop"])),
            outstanding=hundredths_text(int(snap["wallet"])), expired=hundredths_text(int(snap["expiry"])),
            previous=latest[0]["hash"] if latest else GENESIS, hash="", signature="", public_key=public_key,
        )
        text = checkpoint_text(made.signed())
        made.hash = hashlib.sha256(text).hexdigest()
        made.signature = signer.sign(text).hex()
        await fetch(
            "INSERT INTO transparency_checkpoint (community, day, at_us, version, head_seq, head_number, "
            "head_hash, genesis, issued, redeemed, outstanding, expired, previous, hash, signature, "
            "public_key) "
            "VALUES ({}, {}, {}, {}, 0, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) "
            "ON CONFLICT (community, day) DO NOTHING",
            community_id, day, at_us, VERSION, chain.head_number, chain.head_hash, chain.genesis, issued,
            int(snap["shop"]), int(snap["wallet"]), int(snap["expiry"]), made.previous, made.hash,
            made.signature, public_key,
        )
        stored = await fetch(
            f"SELECT {CHECKPOINT_COLUMNS} FROM transparency_checkpoint "
            "WHERE community = {} AND day = {}", community_id, day,
        )
    log.info("checkpoint %s of community %s at entry %s", day, community_id, chain.head_number)
    return view(stored[0])


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


# -- reading them ----------------------------------------------------------------------------------


async def history_page(
    settings: Settings, community_id: int | None, limit: int = 20, cursor: str | None = None
) -> CheckpointPage:
    """The community's checkpoints, newest first, ``limit`` at a time."""
    community = await community_or_404(community_id)
    before = parse_cursor(cursor)
    if before is None:
        rows = await fetch(
            f"SELECT {CHECKPOINT_COLUMNS} FROM transparency_checkpoint WHERE community = {{}} "
            "ORDER BY id DESC LIMIT {}", community.id, limit + 1,
        )
    else:
        rows = await fetch(
            f"SELECT {CHECKPOINT_COLUMNS} FROM transparency_checkpoint WHERE community = {{}} AND id < {{}} "
            "ORDER BY id DESC LIMIT {}", community.id, min(before, 2**31 - 1), limit + 1,
        )
    items = [view(row) for row in rows[:limit]]
    next_cursor = str(rows[limit - 1]["id"]) if len(rows) > limit else None
    return CheckpointPage(
        community_id=community.id, community=community.name,
        public_key=keys.public_key_hex(settings, community.id), items=items, next_cursor=next_cursor,
    )


async def latest(community_id: int) -> CheckpointView | None:
    rows = await fetch(
        f"SELECT {CHECKPOINT_COLUMNS} FROM transparency_checkpoint WHERE community = {{}} "
        "ORDER BY id DESC LIMIT 1", community_id,
    )
    return view(rows[0]) if rows else None


class Status(msgspec.Struct):
    """What the page says of the newest checkpoint: is its signature the community's, and does
    the ledger still hold the head it signed?"""

    signature_ok: bool
    head_still_matches: bool


async def _head_hash(checkpoint: CheckpointView) -> str | None:
    """The hash the ledger holds now at the place ``checkpoint`` signed, in the chain it signed."""
    if checkpoint.version >= 2:
        chain = await chain_of(checkpoint.community_id)
        if checkpoint.genesis != chain.genesis:
            return None
        if checkpoint.head == 0:
            return chain.genesis
        rows = await fetch("SELECT hash FROM ledger_transfers WHERE ledger = {} AND number = {}",
                           checkpoint.community_id, checkpoint.head)
    else:
        if checkpoint.head == 0:
            return GENESIS
        rows = await fetch("SELECT hash FROM ledger_transfers WHERE number IS NULL AND seq = {}",
                           checkpoint.head)
    return rows[0]["hash"] if rows else None


async def status_of(settings: Settings, checkpoint: CheckpointView) -> Status:
    key = keys.public_key(settings, checkpoint.community_id)
    text = checkpoint_text(checkpoint.signed())
    try:
        key.verify(bytes.fromhex(checkpoint.signature), text)
        signature_ok = hashlib.sha256(text).hexdigest() == checkpoint.hash
    except (InvalidSignature, ValueError):
        signature_ok = False
    held = await _head_hash(checkpoint)
    return Status(signature_ok=signature_ok, head_still_matches=held == checkpoint.head_hash)
