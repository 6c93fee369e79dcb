"""asyncpg pools that never wait forever for PostgreSQL: the ledger's, and the app's (which use it too).

asyncpg's defaults wait 60 s for a connection, forever for a free one and forever for a
statement: with the server stopped (SIGSTOP, a dead network) every request would hang as long
as the outage. Each wait here has a limit, so a caller gets an error it can answer (the app
answers 503 ``database_unavailable``) within ``ACQUIRE_TIMEOUT + 2 × COMMAND_TIMEOUT``:
a statement cut off by ``COMMAND_TIMEOUT`` is cancelled on the server, and the pool waits up to
``COMMAND_TIMEOUT`` again for that cancel before giving the connection up (asyncpg 0.32,
measured with the server stopped by SIGSTOP: 4.0 s with a 2 s limit, 6.0 s with 3 s).
A connection the server closed is replaced by the pool at its next ``acquire``.
"""

from typing import Any

import asyncpg

#: Opening a connection (TCP, start-up, authentication) takes a few milliseconds to a server
#: that answers, and well under a second right after a restart, when every worker reconnects
#: at once; three seconds without an answer means it is not coming.
CONNECT_TIMEOUT = 3.0
#: No statement the app runs takes this long: the slowest measured are the leaderboards cold
#: (p95 102 ms) and redemptions with 20 counters queued on the same product rows (p99 531 ms,
#: docs/PERFORMANCE.md); ten times that is a server that has stopped answering.
COMMAND_TIMEOUT = 5.0
#: A pool's connections are each held for one transaction (milliseconds); waiting longer than
#: a statement may run means they are all stuck on a server that does not answer. It covers
#: opening a connection when the pool has to (``CONNECT_TIMEOUT`` fits inside it).
ACQUIRE_TIMEOUT = 5.0
#: The longest a caller waits for an unreachable server, from asking for a connection to the
#: error (the module's docstring has the reason for the sum).
WAIT_BOUND = ACQUIRE_TIMEOUT + 2 * COMMAND_TIMEOUT


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What a connection needs when it goes back to the pool: nothing more than asyncpg does
    anyway (rolling back a transaction left open). Its default also runs ``SELECT
    pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`` — one more round trip after
    every query outside a transaction, for session state nobody here keeps: no session
    advisory locks, cursors, LISTEN or SET (the settings it needs are the connection's own,
    given when it opens)."""


class BoundedPool(asyncpg.Pool):
    """asyncpg's pool whose ``acquire`` (and so ``fetch``, ``execute``…) gives up after
    ``ACQUIRE_TIMEOUT`` unless the caller passes its own timeout."""

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=ACQUIRE_TIMEOUT if timeout is None else timeout)


async def open_pool(dsn: str, *, min_size: int, max_size: int, **options: Any) -> asyncpg.Pool:
    """A started ``BoundedPool`` with the timeouts above; ``options`` as asyncpg's
    ``create_pool`` takes them (``server_settings``…)."""
    options.setdefault("timeout", CONNECT_TIMEOUT)
    options.setdefault("command_timeout", COMMAND_TIMEOUT)
    # The keyword arguments asyncpg.create_pool passes to its Pool, with its defaults.
    pool = BoundedPool(
        dsn, min_size=min_size, max_size=max_size, max_queries=50_000,
        max_inactive_connection_lifetime=300.0, loop=None, reset=_keep_session,
        connection_class=asyncpg.Connection, record_class=asyncpg.Record, **options,
    )
    await pool
    return pool
