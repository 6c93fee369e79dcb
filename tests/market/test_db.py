"""The database helpers: read-then-write transactions survive concurrency on both engines."""

import asyncio
from datetime import UTC, datetime, timedelta

from market.db import write_transaction
from market.tables import Session
from tests.market.support import Member


async def test_concurrent_read_then_write_transactions_all_succeed(admin: Member) -> None:
    """On SQLite a DEFERRED transaction that reads first fails with "database is
    locked" when another writer is active; ``write_transaction`` must not."""
    now = datetime.now(UTC)

    async def read_then_write(n: int) -> None:
        async with write_transaction():
            await Session.count().where(Session.person == admin.id)
            await Session.insert(Session(
                token_hash=f"{admin.id:032d}{n:032d}", person=admin.id, csrf_token="x",
                created_at=now, expires_at=now + timedelta(minutes=1),
            ))

    await asyncio.gather(*(read_then_write(n) for n in range(20)))
    written = await Session.count().where(Session.token_hash.like(f"{admin.id:032d}%"))
    assert written == 20
