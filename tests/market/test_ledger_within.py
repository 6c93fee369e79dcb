"""The ledger inside the market's own write units: points and market rows commit together.

What the shop relies on: a redemption's transfer, its stock movements and its
receipt are one transaction (a unit of ``market.writes`` with a ``LedgerStep``), so a
refusal or a failure anywhere leaves none of them behind.
"""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ledger import InsufficientFunds, Ledger, single
from market.community.service import CommunityView
from market.db import fetch
from market.points.service import account_id, wallet_id
from market.writes import LedgerStep, write
from tests.market.support import Member


async def _marker_count(prefix: str) -> int:
    rows = await fetch("SELECT count(*) AS n FROM person_session WHERE token_hash LIKE {}", prefix + "%")
    return rows[0]["n"]


def _mark(person_id: int, token_hash: str) -> tuple[str, tuple]:
    """A market row written in the same unit (a stand-in for a receipt)."""
    now = datetime.now(UTC)
    return (
        "INSERT INTO person_session (token_hash, person, csrf_token, created_at, expires_at)"
        " VALUES ({}, {}, 'x', {}, {})",
        (token_hash, person_id, now, now + timedelta(minutes=1)),
    )


def _receipt_and_points(ledger: Ledger, person_id: int, marker: str, request, fail: str = ""):
    """Steps: a market row, the points, then maybe a failure after both."""
    yield _mark(person_id, marker)
    (transfer,) = yield LedgerStep(ledger, [request])
    if fail:
        raise RuntimeError(fail)
    return transfer


async def _accounts(ledger: Ledger, community: CommunityView, person_id: int) -> tuple[int, int]:
    return (await account_id(ledger, community.id, "issuance"),
            await wallet_id(ledger, community.id, person_id))


async def test_points_and_market_rows_commit_together(
    ledger: Ledger, community: CommunityView, resident: Member
) -> None:
    issuance, wallet = await _accounts(ledger, community, resident.id)
    transfer = await write(_receipt_and_points, ledger, resident.id, "within-commit-1",
                           single("within-1", issuance, wallet, "5.00", "test", ledger=community.id))
    assert transfer.credit_balance_after == 5 and transfer.number is not None
    assert await _marker_count("within-commit") == 1
    assert (await ledger.get("within-1")) is not None
    assert (await ledger.verify(community.id)).ok


async def test_a_failure_after_the_transfer_takes_the_transfer_back_too(
    ledger: Ledger, community: CommunityView, resident: Member
) -> None:
    issuance, wallet = await _accounts(ledger, community, resident.id)
    head = await ledger.head(community.id)
    with pytest.raises(RuntimeError, match="stock ran out"):
        await write(_receipt_and_points, ledger, resident.id, "within-rollback-1",
                    single("within-2", issuance, wallet, "5.00", "test", ledger=community.id),
                    fail="stock ran out")
    assert await ledger.get("within-2") is None
    assert await _marker_count("within-rollback") == 0
    assert await ledger.head(community.id) == head
    assert (await ledger.balance(wallet)).balance == 0


async def test_a_refused_transfer_raises_and_the_market_rows_roll_back(
    ledger: Ledger, community: CommunityView, resident: Member
) -> None:
    shop = await account_id(ledger, community.id, "shop")
    _, wallet = await _accounts(ledger, community, resident.id)
    with pytest.raises(InsufficientFunds):
        await write(_receipt_and_points, ledger, resident.id, "within-refused-1",
                    single("within-3", wallet, shop, "1.00", "redemption", ledger=community.id))
    assert await _marker_count("within-refused") == 0
    assert await ledger.get("within-3") is None


async def test_each_request_answers_for_itself_when_asked(
    ledger: Ledger, community: CommunityView, resident: Member
) -> None:
    """``each``: a refused request leaves no trace, the others stand (a cancellation's reversals)."""
    issuance, wallet = await _accounts(ledger, community, resident.id)
    shop = await account_id(ledger, community.id, "shop")

    def both():
        yield _mark(resident.id, "within-each-1")
        return (yield LedgerStep(ledger, [
            single("within-each-ok", issuance, wallet, "2.00", "test", ledger=community.id),
            single("within-each-no", wallet, shop, "9.00", "redemption", ledger=community.id),
        ], each=True))

    done, refused = await write(both)
    assert done.amount == 2 and isinstance(refused, InsufficientFunds)
    assert await ledger.get("within-each-ok") is not None and await ledger.get("within-each-no") is None
    assert await _marker_count("within-each") == 1


async def test_units_and_the_ledgers_own_writer_share_one_valid_chain(
    ledger: Ledger, community: CommunityView, resident: Member
) -> None:
    """The ledger's own writer and transfers inside market units, all at once."""
    issuance, wallet = await _accounts(ledger, community, resident.id)

    async def joined(n: int) -> None:
        await write(_receipt_and_points, ledger, resident.id, f"within-mixed-{n}",
                    single(f"mixed-j{n}", issuance, wallet, "0.01", "test", ledger=community.id))

    async def queued(n: int) -> None:
        await ledger.transfer(f"mixed-q{n}", issuance, wallet, "0.10", "test")

    await asyncio.gather(*(joined(n) for n in range(40)), *(queued(n) for n in range(40)))
    assert str((await ledger.balance(wallet)).balance) == "4.40"
    assert await _marker_count("within-mixed") == 40
    report = await ledger.verify(community.id)
    assert report.ok, report
