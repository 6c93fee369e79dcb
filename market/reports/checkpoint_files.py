"""What the transparency page (阳光积分) lets anyone download and check offline: a community's
history, the legacy chain it grew from, and one entry's proof.

- The **history** (``checkpoints.json``, ``HISTORY_FORMAT``) holds the community's chain's
  origin and genesis, its checkpoints of both versions, oldest first, and the community's own
  transfers, numbered from its genesis, up to the newest checkpoint's head: no other
  community's transfer, account or memo. Each transfer is the 17 values the ledger hashes and
  stores, its ``number`` first and its hash last.
- The **legacy** file (``legacy.json``, ``LEGACY_FORMAT``) exists for a community whose chain
  starts from the installation-wide chain of the release before chains per community: that
  chain as the old release published it (its checkpoints of version 1 and every transfer up
  to where the community's origin says it ended, ``seq`` first). It holds other communities'
  transfers from before the upgrade, exactly as the old release already published them.
- A **proof** (``PROOF_FORMAT``) holds one transfer of the community's chain, the hash before
  it, every transfer from it to the covering checkpoint's head and that checkpoint.

Files are streamed, ``STREAM_PAGE`` transfers per query: bounded memory whatever their length.
Account ids are numbers, never names.
"""

import json
from collections.abc import AsyncIterator

import msgspec

from ledger import TRANSFER_COLUMNS
from market.community.service import CommunityView
from market.db import fetch
from market.errors import InvalidInput, NotFound
from market.reports import keys
from market.reports.checkpoint_service import (
    CHECKPOINT_COLUMNS,
    chain_of,
    community_or_404,
    view,
)
from market.reports.checkpoint_verify import (
    HISTORY_FORMAT,
    LEGACY_FORMAT,
    PROOF_FORMAT,
    VERSION,
    Invalid,
    verify_proof,
)
from market.reports.schemas import Proof
from market.settings import Settings

#: Longest proof served: transfers from the entry to the covering checkpoint's head. Beyond
#: it the whole history is the proof (a hash chain has no shorter one).
MAX_PROOF = 500
#: Transfers read per query while streaming a file.
STREAM_PAGE = 5000
CHECK = "python -m market.reports.checkpoint_verify {file} --public-key {key}"
LEGACY_URL = "/api/transparency/legacy.json?community={community}"

#: A transfer as published: its place in its chain first, the hash last (the ledger's columns
#: with ``seq``, the table's key, replaced by ``number`` in a community's chain).
_CHAIN_ROW = ("number", *TRANSFER_COLUMNS[1:17])
_LEGACY_ROW = TRANSFER_COLUMNS[:17]


class NoLegacyChain(NotFound):
    """The community's chain did not start from the legacy chain: there is no legacy file."""

    reason = "no_legacy_chain"


def _row(row: dict, columns: tuple[str, ...]) -> list:
    """A transfer row as plain JSON values, in ``columns`` order."""
    return [int(row[name]) if isinstance(row[name], int) else row[name] for name in columns]


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def _checkpoints(community_id: int, versions: tuple[int, int]) -> list[dict]:
    """The community's checkpoints of versions ``versions`` (from, to), oldest first, as signed."""
    rows = await fetch(
        f"SELECT {CHECKPOINT_COLUMNS} FROM transparency_checkpoint WHERE community = {{}} "
        "AND version BETWEEN {} AND {} ORDER BY id", community_id, *versions,
    )
    return [view(row).signed() for row in rows]


async def _accounts(community_id: int) -> dict[str, int]:
    rows = await fetch(
        "SELECT kind, id FROM ledger_accounts WHERE ledger = {} AND kind IN ('issuance', 'shop', 'expiry')",
        community_id,
    )
    return {row["kind"]: int(row["id"]) for row in rows}


async def _document(
    header: dict, checkpoints: list[dict], pages: AsyncIterator[list[list]]
) -> AsyncIterator[bytes]:
    """One JSON file: the header's members, the checkpoints, then the transfers one per line."""
    yield (_dumps(header)[:-1] + ',\n"checkpoints":[').encode()
    yield ",\n".join(_dumps(c) for c in checkpoints).encode()
    yield b'],\n"transfers":[\n'
    first = True
    async for page in pages:
        yield ((",\n" if not first else "") + ",\n".join(_dumps(row) for row in page)).encode()
        first = False
    yield b"\n]}\n"


async def _pages(query: str, scope: tuple, head: int, columns: tuple[str, ...]) -> AsyncIterator[list[list]]:
    """The rows ``query`` selects with ``scope``, a place after which and ``head``, in chain
    order, ``STREAM_PAGE`` at a time; the place is each row's first column."""
    after = 0
    while after < head:
        page = await fetch(query, *scope, after, head, STREAM_PAGE)
        if not page:
            return
        yield [_row(row, columns) for row in page]
        after = int(page[-1][columns[0]])


async def history_document(settings: Settings, community: CommunityView) -> AsyncIterator[bytes]:
    """The community's history as one JSON file, to stream (what comes before the transfers is
    read now, so a failure is an error answer, not a file cut short)."""
    chain = await chain_of(community.id)
    checkpoints = await _checkpoints(community.id, (1, VERSION))
    head = max((c["head_number"] for c in checkpoints if c["version"] >= 2), default=0)
    check = CHECK.format(file="FILE", key="KEY")
    header = {
        "format": HISTORY_FORMAT, "community_id": community.id, "community": community.name,
        "public_key": keys.public_key_hex(settings, community.id),
        "check": check + (" --legacy LEGACY_FILE" if chain.legacy else ""),
        "accounts": await _accounts(community.id), "origin": chain.origin, "genesis": chain.genesis,
    }
    if chain.legacy:
        header["legacy_download"] = LEGACY_URL.format(community=community.id)
    query = (f"SELECT {', '.join(_CHAIN_ROW)} FROM ledger_transfers WHERE ledger = {{}} "
             "AND number > {} AND number <= {} ORDER BY number LIMIT {}")
    return _document(header, checkpoints, _pages(query, (community.id,), head, _CHAIN_ROW))


async def legacy_document(settings: Settings, community: CommunityView) -> AsyncIterator[bytes]:
    """The legacy chain as the old release published it, up to where the community's chain
    begins, to stream; ``NoLegacyChain`` when its chain did not start from the legacy one."""
    chain = await chain_of(community.id)
    if chain.legacy is None:
        raise NoLegacyChain(field="community")
    seq, hash_ = chain.legacy
    header = {
        "format": LEGACY_FORMAT, "community_id": community.id, "community": community.name,
        "public_key": keys.public_key_hex(settings, community.id),
        "check": CHECK.format(file="FILE", key="KEY"),
        "accounts": await _accounts(community.id),
        "note": "The installation-wide chain of the release before each community had a chain of its own: "
                "it holds every community's transfers up to its entry "
                f"{seq}, where this community's chain begins (its origin names that entry's hash).",
        "legacy_head": {"seq": seq, "hash": hash_},
    }
    query = (f"SELECT {', '.join(_LEGACY_ROW)} FROM ledger_transfers WHERE number IS NULL "
             "AND seq > {} AND seq <= {} ORDER BY seq LIMIT {}")
    checkpoints = await _checkpoints(community.id, (1, 1))
    return _document(header, checkpoints, _pages(query, (), seq, _LEGACY_ROW))


async def proof(settings: Settings, community_id: int | None, transfer_id: str) -> Proof:
    """The proof that ``transfer_id`` (of this community) is in the chain a checkpoint signed."""
    community = await community_or_404(community_id)
    transfer_id = transfer_id.strip()
    if not 1 <= len(transfer_id) <= 200:
        raise InvalidInput(field="transfer")
    found = await fetch(f"SELECT {', '.join(TRANSFER_COLUMNS)} FROM ledger_transfers WHERE id = {{}}",
                        transfer_id)
    if not found or int(found[0]["ledger"]) != community.id:
        raise NotFound(field="transfer")
    stored = found[0]
    answer = Proof(format=PROOF_FORMAT, status="not_yet", community_id=community.id,
                   public_key=keys.public_key_hex(settings, community.id), transfer_id=transfer_id,
                   number=stored["number"], transfers=[])
    if stored["number"] is None:
        answer.status, answer.legacy_seq = "legacy", int(stored["seq"])
        answer.transfers = [_row(stored, _LEGACY_ROW)]
        answer.legacy_download = LEGACY_URL.format(community=community.id)
        return answer
    number = answer.number = int(stored["number"])
    answer.transfers = [_row(stored, _CHAIN_ROW)]
    covering = await fetch(
        f"SELECT {CHECKPOINT_COLUMNS} FROM transparency_checkpoint "
        "WHERE community = {} AND version >= 2 AND head_number >= {} ORDER BY head_number, id LIMIT 1",
        community.id, number,
    )
    if not covering:
        return answer
    answer.checkpoint = checkpoint = view(covering[0])
    if checkpoint.head - number + 1 > MAX_PROOF:
        answer.status = "too_long"
        return answer
    if number > 1:
        before = await fetch("SELECT hash FROM ledger_transfers WHERE ledger = {} AND number = {}",
                             community.id, number - 1)
        answer.previous_hash = before[0]["hash"] if before else None
    else:
        answer.previous_hash = checkpoint.genesis
    segment = await fetch(
        f"SELECT {', '.join(_CHAIN_ROW)} FROM ledger_transfers WHERE ledger = {{}} "
        "AND number >= {} AND number <= {} ORDER BY number", community.id, number, checkpoint.head,
    )
    answer.transfers = [_row(r, _CHAIN_ROW) for r in segment]
    answer.status = "ok"
    return answer


def check_proof(answer: Proof) -> str | None:
    """The offline checker's verdict on a proof, run here for the page: None when it holds."""
    try:
        verify_proof(msgspec.to_builtins(answer), answer.public_key)
    except Invalid as problem:
        return str(problem)
    return None
