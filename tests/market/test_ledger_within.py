"""The ledger inside the market's own write transaction: points and market rows commit together.

What the shop relies on: a redemption's transfer, its stock movements and its
receipt are one transaction, so a refusal or a failure anywhere leaves none
of them behind.
"""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ledger import InsufficientFunds, Ledger, single
from market.community.service import CommunityView
from market.db import fetch, transaction_connection, write_transaction
from market.points.service import account_id, wallet_id
from tests.market.support import Member


async def _marker_count(prefix: str) -> int:
    rows = await fetch("SELECT count(*) AS n FROM person_session WHERE token_hash LIKE {}", prefix + "%")
    return rows[0]["n"]


async def _mark(person_id: int, token_hash: str) -> None:
    """A market row written in the same transaction (a stand-in for a receipt)."""
    now = datetime.now(UTC)
    await fetch(
        "INSERT INTO person_session (token_hash, person, csrf_token, created_at, expires_at)"
        " VALUES ({}, {}, 'x', {}, {})",
        token_hash, person_id, now, now + timedelta(minutes=1),
    )


async def _accounts(ledger: Ledger, community: CommunityView, person_id: int) -> tuple[int, int]:
    return (await account_id(ledger, community.id, "issuance"),
            await wallet_id(ledger, community.id, person_id))


async def test_points_and_market_rows_commit_together(
    ledger: Ledger, community: CommunityView, resident: Member
) -> None:
    issuance, wallet = await _accounts(ledger, community, resident.id)
    async with write_transaction():
        await _mark(resident.id, "within-commit-1")
        (transfer,) = await ledger.apply_within(
            transaction_connection(), [single("within-1", issuance, wallet, "5.00", "test")]
        )
    assert transfer.credit_balance_after == 5
    assert await _marker_count("within-commit") == 1
    assert (await ledger.get("within-1")) is not None
    assert (await ledger.verify()).ok


async def test_a_failure_after_the_transfer_takes_the_transfer_back_too(
    ledger: Ledger, community: CommunityView, resident: Member
) -> None:
    issuance, wallet = await _accounts(ledger, community, resident.id)
    head = await ledger.head()
    with pytest.raises(RuntimeError, match="stock ran out"):
        async with write_transaction():
            await ledger.apply_within(
                transaction_connection(), [single("within-2", issuance, wallet, "5.00", "test")]
            )
            await _mark(resident.id, "within-rollback-1")
            raise RuntimeError("stock ran out")
    assert await ledger.get("within-2") is None
    assert await _marker_count("within-rollback") == 0
    assert await ledger.head() == head
    assert (await ledger.balance(wallet)).balance == 0


async def test_a_refused_transfer_raises_and_the_market_rows_roll_back(
    ledger: Ledger, community: CommunityView, resident: Member
) -> None:
    shop = await account_id(ledger, community.id, "shop")
    _, wallet = await _accounts(ledger, community, resident.id)
    with pytest.raises(InsufficientFunds):
        async with write_transaction():
            await _mark(resident.id, "within-refused-1")
            await ledger.apply_within(
                transaction_connection(), [single("within-3", wallet, shop, "1.00", "redemption")]
            )
    assert await _marker_count("within-refused") == 0
    assert await ledger.get("within-3") is None


async def test_joined_and_queued_transfers_share_one_valid_chain(
    ledger: Ledger, community: CommunityView, resident: Member
) -> None:
    """The ledger's own writer and transfers inside market transactions, all at once."""
    issuance, wallet = await _accounts(ledger, community, resident.id)

    async def joined(n: int) -> None:
        async with write_transaction():
            await _mark(resident.id, f"within-mixed-{n}")
            await ledger.apply_within(
                transaction_connection(), [single(f"mixed-j{n}", issuance, wallet, "0.01", "test")]
            )

    async def queued(n: int) -> None:
        await ledger.transfer(f"mixed-q{n}", issuance, wallet, "0.10", "test")

    await asyncio.gather(*(joined(n) for n in range(40)), *(queued(n) for n in range(40)))
    assert str((await ledger.balance(wallet)).balance) == "4.40"
    assert await _marker_count("within-mixed") == 40
    report = await ledger.verify()
    assert report.ok, report


async def test_outside_a_write_transaction_it_is_refused(ledger: Ledger) -> None:
    with pytest.raises(RuntimeError, match="inside write_transaction"):
        transaction_connection()
