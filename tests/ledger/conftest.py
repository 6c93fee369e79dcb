import pytest

from tests.ledger.support import Books, fresh_ledger


@pytest.fixture
async def ledger():
    async with fresh_ledger() as started:
        yield started


@pytest.fixture
async def books(ledger):
    return await Books(ledger).open()
