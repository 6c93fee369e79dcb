"""A batch that finds the database unreachable fails whole and at once: retried request by
request, each would wait for the database as long again, one after the other."""

import asyncio

import pytest

from tests.ledger.support import Books, fresh_ledger


@pytest.mark.parametrize(("unreachable", "tries"), [
    (lambda error: isinstance(error, ConnectionRefusedError), 1),  # as the app configures it
    (None, 1 + 5),  # by default: the batch, then each request alone
])
async def test_a_batch_fails_whole_when_the_database_is_unreachable(unreachable, tries) -> None:
    options = {"unreachable": unreachable} if unreachable else {}
    async with fresh_ledger(**options) as ledger:
        books = await Books(ledger).open()
        calls = []
        real_apply = ledger.store.apply

        async def apply(requests, now_us):
            calls.append(len(requests))
            raise ConnectionRefusedError(111, "Connection refused")

        ledger.store.apply = apply
        outcomes = await asyncio.gather(*(
            ledger.transfer(f"t{i}", books.issuance, books.wallets[0], 1, "earn") for i in range(5)
        ), return_exceptions=True)
        assert all(isinstance(o, ConnectionRefusedError) for o in outcomes), outcomes
        assert len(calls) == tries, calls
        # The database back, the writer goes on.
        ledger.store.apply = real_apply
        await ledger.transfer("after", books.issuance, books.wallets[0], 1, "earn")
        assert (await ledger.balance(books.wallets[0])).balance == 1
