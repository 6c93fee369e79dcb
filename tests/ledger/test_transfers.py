"""What each movement does, and that every refusal leaves the books untouched."""

from datetime import timedelta
from decimal import Decimal

import pytest

from ledger import (
    AccountNotFound,
    HoldExpired,
    HoldNotPending,
    IdConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidTransfer,
    LedgerMismatch,
    NotReversible,
    TransferNotFound,
)
from tests.ledger.support import Books, fresh_ledger


async def test_transfer_moves_points_and_records_balances_after(ledger, books):
    alice = books.wallets[0]
    t = await ledger.transfer("earn-1", books.issuance, alice, "12.50", "earn", memo="扫地")
    assert (t.amount, t.credit_balance_after, t.debit_balance_after) == (
        Decimal("12.50"), Decimal("12.50"), Decimal("-12.50"))
    assert t.seq == 1 and len(t.hash) == 64
    balance = await ledger.balance(alice)
    assert (balance.balance, balance.held, balance.available) == (Decimal("12.50"), 0, Decimal("12.50"))
    assert (await ledger.verify()).ok


async def test_same_id_same_content_returns_the_first_transfer(ledger, books):
    first = await ledger.transfer("t", books.issuance, books.wallets[0], 5, "earn")
    again = await ledger.transfer("t", books.issuance, books.wallets[0], "5.00", "earn")
    assert again == first
    assert (await ledger.balance(books.wallets[0])).balance == 5
    assert (await ledger.head())[0] == 1


@pytest.mark.parametrize(
    "change",
    [{"amount": 6}, {"memo": "other"}, {"kind": "bonus"}, {"reference": "r"}, {"swap": True}],
)
async def test_same_id_other_content_conflicts(ledger, books, change):
    await ledger.transfer("t", books.issuance, books.wallets[0], 5, "earn")
    args = {"amount": 5, "memo": "", "kind": "earn", "reference": None}
    swap = change.pop("swap", False)
    args.update(change)
    debit, credit = books.issuance, books.wallets[0]
    if swap:
        debit, credit = books.wallets[1], books.wallets[0]
    with pytest.raises(IdConflict):
        await ledger.transfer("t", debit, credit, **args)
    assert (await ledger.head())[0] == 1


async def test_wallet_never_goes_below_zero(ledger, books):
    alice = books.wallets[0]
    await ledger.transfer("in", books.issuance, alice, 10, "earn")
    with pytest.raises(InsufficientFunds) as refused:
        await ledger.transfer("out", alice, books.shop, "10.01", "redeem")
    assert refused.value.reason == "insufficient_points"
    await ledger.transfer("out", alice, books.shop, "10.00", "redeem")
    assert (await ledger.balance(alice)).balance == 0


async def test_issuance_may_go_negative_and_books_sum_to_zero(ledger, books):
    for i, wallet in enumerate(books.wallets):
        await ledger.transfer(f"in{i}", books.issuance, wallet, "3.33", "earn")
    totals = await ledger.totals(1)
    assert totals["issuance"] == Decimal("-6.66") and totals["wallet"] == Decimal("6.66")
    report = await ledger.verify()
    assert report.ok and report.total == 0 and report.entries == 2


async def test_hold_reserves_points_and_post_moves_part_of_them(ledger, books):
    alice = books.wallets[0]
    await ledger.transfer("in", books.issuance, alice, 10, "earn")
    hold = await ledger.hold("order-1", alice, books.shop, 8, "order")
    assert hold.phase == "pending"
    balance = await ledger.balance(alice)
    assert (balance.balance, balance.held, balance.available) == (10, 8, 2)
    with pytest.raises(InsufficientFunds):
        await ledger.transfer("spend", alice, books.shop, 3, "redeem")
    with pytest.raises(InvalidAmount):
        await ledger.post("order-1/post", "order-1", amount=9)
    posted = await ledger.post("order-1/post", "order-1", amount=6)
    assert posted.amount == 6 and posted.pending_id == "order-1"
    balance = await ledger.balance(alice)
    assert (balance.balance, balance.held) == (4, 0)
    assert (await ledger.balance(books.shop)).balance == 6
    with pytest.raises(HoldNotPending):
        await ledger.void("order-1/void", "order-1")
    assert (await ledger.verify()).ok


async def test_void_releases_a_hold_exactly_once(ledger, books):
    alice = books.wallets[0]
    await ledger.transfer("in", books.issuance, alice, 10, "earn")
    await ledger.hold("h", alice, books.shop, 10, "order")
    released = await ledger.void("h/void", "h", memo="cancelled")
    assert released.phase == "void" and released.amount == 10
    assert (await ledger.balance(alice)).held == 0
    with pytest.raises(HoldNotPending):
        await ledger.post("h/post", "h")
    with pytest.raises(HoldNotPending):
        await ledger.void("h/void-again", "h")
    assert await ledger.void("h/void", "h", memo="cancelled") == released  # a retry is fine


async def test_hold_voids_itself_when_it_expires():
    now = [1_700_000_000_000_000]
    async with fresh_ledger(clock=lambda: now[0], sweep_every=None) as ledger:
        books = await Books(ledger).open()
        alice = books.wallets[0]
        await ledger.transfer("in", books.issuance, alice, 10, "earn")
        await ledger.hold("h", alice, books.shop, 10, "order", expires_in=timedelta(minutes=30))
        now[0] += 30 * 60 * 1_000_000 - 1
        await ledger.sweep()
        assert (await ledger.balance(alice)).held == 10
        now[0] += 1
        await ledger.sweep()
        assert (await ledger.balance(alice)).held == 0
        voided = await ledger.get("h/expired")
        assert voided is not None and voided.phase == "void" and voided.memo == "expired"
        with pytest.raises(HoldExpired):
            await ledger.post("h/post", "h")
        assert (await ledger.verify()).ok


async def test_an_expired_hold_cannot_be_posted_even_before_the_sweep():
    now = [1_700_000_000_000_000]
    async with fresh_ledger(clock=lambda: now[0], sweep_every=None) as ledger:
        books = await Books(ledger).open()
        await ledger.transfer("in", books.issuance, books.wallets[0], 10, "earn")
        await ledger.hold("h", books.wallets[0], books.shop, 4, "order", expires_in=timedelta(seconds=5))
        now[0] += 5_000_000
        with pytest.raises(HoldExpired):
            await ledger.post("h/post", "h")
        assert (await ledger.balance(books.wallets[0])).available == 10


async def test_reversal_undoes_once_and_is_linked(ledger, books):
    alice = books.wallets[0]
    earned = await ledger.transfer("in", books.issuance, alice, 10, "earn")
    reversal = await ledger.reverse("in/reversal", "in", reason="录入错误")
    assert (reversal.reverses, reversal.debit_account, reversal.credit_account) == (
        "in", alice, books.issuance)
    assert reversal.amount == earned.amount and reversal.memo == "录入错误"
    assert (await ledger.balance(alice)).balance == 0
    with pytest.raises(NotReversible):
        await ledger.reverse("in/reversal-2", "in", reason="again")
    with pytest.raises(NotReversible):
        await ledger.reverse("rr", "in/reversal", reason="reverse a reversal")
    assert (await ledger.get("in")) == earned  # the original stays as it was


async def test_reversal_needs_the_points_to_still_be_there(ledger, books):
    alice = books.wallets[0]
    await ledger.transfer("in", books.issuance, alice, 10, "earn")
    await ledger.transfer("spend", alice, books.shop, 7, "redeem")
    with pytest.raises(InsufficientFunds):
        await ledger.reverse("in/reversal", "in", reason="too late")
    await ledger.reverse("spend/refund", "spend", reason="refund")
    assert (await ledger.balance(alice)).balance == 10


async def test_pending_transfers_cannot_be_reversed(ledger, books):
    await ledger.transfer("in", books.issuance, books.wallets[0], 10, "earn")
    await ledger.hold("h", books.wallets[0], books.shop, 4, "order")
    with pytest.raises(NotReversible):
        await ledger.reverse("h/rev", "h", reason="no")


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda L, b: L.transfer("x", b.issuance, b.wallets[0], "1.005", "earn"), InvalidAmount),
        (lambda L, b: L.transfer("x", b.issuance, b.wallets[0], "NaN", "earn"), InvalidAmount),
        (lambda L, b: L.transfer("x", b.issuance, b.wallets[0], "ten", "earn"), InvalidAmount),
        (lambda L, b: L.transfer("x", b.issuance, b.wallets[0], 0.5, "earn"), InvalidAmount),
        (lambda L, b: L.transfer("x", b.issuance, b.wallets[0], 0, "earn"), InvalidAmount),
        (lambda L, b: L.transfer("x", b.issuance, b.wallets[0], -5, "earn"), InvalidAmount),
        (lambda L, b: L.hold("x", b.wallets[0], b.shop, "-1", "order"), InvalidAmount),
        (lambda L, b: L.hold("x", b.wallets[0], b.shop, 1, "order", expires_in=timedelta(0)),
         InvalidTransfer),
        (lambda L, b: L.transfer("x", b.issuance, 999_999, 1, "earn"), AccountNotFound),
        (lambda L, b: L.transfer("x", 999_999, b.wallets[0], 1, "earn"), AccountNotFound),
        (lambda L, b: L.transfer("x", b.wallets[0], b.wallets[0], 1, "earn"), InvalidTransfer),
        (lambda L, b: L.transfer("", b.issuance, b.wallets[0], 1, "earn"), InvalidTransfer),
        (lambda L, b: L.transfer("x" * 201, b.issuance, b.wallets[0], 1, "earn"), InvalidTransfer),
        (lambda L, b: L.transfer("x", b.issuance, b.wallets[0], 1, ""), InvalidTransfer),
        (lambda L, b: L.transfer("x", b.issuance, b.wallets[0], 1, "earn", memo="m" * 501),
         InvalidTransfer),
        (lambda L, b: L.transfer("x", b.issuance, "2", 1, "earn"), InvalidTransfer),
        (lambda L, b: L.post("x", "no-such-hold"), TransferNotFound),
        (lambda L, b: L.void("x", "no-such-hold"), TransferNotFound),
        (lambda L, b: L.post("x", "in"), HoldNotPending),
        (lambda L, b: L.reverse("x", "no-such-transfer", reason="r"), TransferNotFound),
        (lambda L, b: L.reverse("x", "in", reason=" "), InvalidTransfer),
        (lambda L, b: L.open_account(1, "bank"), InvalidTransfer),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(ledger, books, call, error):
    await ledger.transfer("in", books.issuance, books.wallets[0], 5, "earn")
    before = (await ledger.head(), await ledger.totals(1))
    with pytest.raises(error):
        await call(ledger, books)
    assert (await ledger.head(), await ledger.totals(1)) == before
    assert (await ledger.verify()).ok


async def test_accounts_of_different_communities_do_not_mix(ledger, books):
    other = await Books(ledger, community=2).open()
    await ledger.transfer("in", books.issuance, books.wallets[0], 5, "earn")
    with pytest.raises(LedgerMismatch):
        await ledger.transfer("x", books.wallets[0], other.wallets[0], 1, "gift")
    assert (await ledger.totals(2))["wallet"] == 0


async def test_one_refused_transfer_never_fails_its_neighbours_in_a_batch(ledger, books):
    import asyncio

    alice, bob = books.wallets
    await ledger.transfer("in", books.issuance, alice, 1, "earn")
    results = await asyncio.gather(
        ledger.transfer("a", books.issuance, bob, 1, "earn"),
        ledger.transfer("b", alice, books.shop, 2, "redeem"),  # refused
        ledger.transfer("c", books.issuance, bob, 1, "earn"),
        ledger.transfer("d", alice, books.shop, 1, "redeem"),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == ["Transfer", "InsufficientFunds", "Transfer", "Transfer"]
    assert (await ledger.balance(bob)).balance == 2
    assert (await ledger.verify()).ok


async def test_history_is_newest_first_and_pages_by_cursor(ledger, books):
    alice = books.wallets[0]
    for i in range(5):
        await ledger.transfer(f"in{i}", books.issuance, alice, i + 1, "earn")
    await ledger.transfer("out", alice, books.shop, 2, "redeem")
    page, cursor = await ledger.entries(alice, limit=4)
    assert [e.transfer_id for e in page] == ["out", "in4", "in3", "in2"]
    assert [e.amount for e in page] == [-2, 5, 4, 3]
    assert page[0].balance_after == 13
    rest, end = await ledger.entries(alice, limit=4, before=cursor)
    assert [e.transfer_id for e in rest] == ["in1", "in0"] and end is None


async def test_open_accounts_in_bulk_is_get_or_create(ledger):
    first = await ledger.open_accounts(3, "wallet", [str(i) for i in range(1200)])
    assert len(first) == 1200 and len({a.id for a in first.values()}) == 1200
    single = await ledger.open_account(3, "wallet", "7")
    assert single == first["7"]
    again = await ledger.open_accounts(3, "wallet", ["7", "7", "new"])
    assert again["7"] == first["7"] and again["new"].owner == "new"
    assert not again["new"].allow_negative
    assert await ledger.open_accounts(3, "wallet", []) == {}
