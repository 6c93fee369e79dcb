"""Points that cross between two ledgers (issue 17): ``crossing`` and the clearing pairs ``verify`` checks.

The market applies a crossing's two legs in one transaction (tests/market/test_subdistricts.py);
here each leg is written on its own, so that a ledger holding one leg without the other — what a
bug or a hand-made row would leave — is seen by ``verify``.
"""

import pytest

from ledger import InvalidTransfer, crossing
from tests.ledger.support import Books


async def _two_ledgers(ledger):
    one, two = await Books(ledger, 1).open(1), await Books(ledger, 2).open(1)
    await ledger.transfer("earn", one.issuance, one.wallets[0], "50", "earn", ledger=1)
    return one, two


async def test_a_crossing_is_two_legs_through_the_pair_of_clearing_accounts(ledger) -> None:
    one, two = await _two_ledgers(ledger)
    clearing = await ledger.clearing_accounts(1, 2)
    assert clearing == await ledger.clearing_accounts(1, 2)  # opened once
    out, into = crossing("visit", one.wallets[0], two.shop, "12.50", "redemption", "小票",
                         ledgers=(1, 2), clearing=clearing)
    assert (out.id, out.ledger, out.debit, out.credit) == ("visit:out", 1, one.wallets[0], clearing[0])
    assert (into.id, into.ledger, into.debit, into.credit) == ("visit:in", 2, clearing[1], two.shop)
    await ledger.transfer(out.id, out.debit, out.credit, "12.50", "redemption", ledger=1)
    # One leg alone: each ledger's own books balance, but the pair does not.
    report = await ledger.verify()
    assert not report.ok and "clearing accounts of ledgers 1 and 2" in report.problem.message
    assert (await ledger.verify(1)).ok  # a check of one ledger cannot see the other side
    await ledger.transfer(into.id, into.debit, into.credit, "12.50", "redemption", ledger=2)
    report = await ledger.verify()
    assert report.ok and report.clearing_pairs == 1
    # The destination's clearing account is below zero: it is owed what the origin's says it owes.
    assert (await ledger.balance(clearing[0])).balance == 12.5
    assert (await ledger.balance(clearing[1])).balance == -12.5


async def test_a_crossing_joins_two_different_ledgers(ledger) -> None:
    one, _ = await _two_ledgers(ledger)
    with pytest.raises(InvalidTransfer):
        crossing("x", one.wallets[0], one.shop, "1", "redemption", ledgers=(1, 1), clearing=(1, 2))
