"""asyncpg pools that never wait forever for PostgreSQL: the ledger's, and the app's (which use it too).

asyncpg's defaults wait 60 s for a connection, forever for a free one and forever for a
statement: with the server stopped (SIGSTOP, a dead network) every request would hang as long
as the outage. Each wait here has a limit, so a caller gets an error it can answer (the app
answers 503 ``database_unavailable``) within ``ACQUIRE_TIMEOUT + 2 × COMMAND_TIMEOUT``:
a statement cut off by ``COMMAND_TIMEOUT`` is cancelled on the server, and the pool waits up to
``COMMAND_TIMEOUT`` again for that cancel before giving the connection up (asyncpg 0.32,
measured with the server stopped by SIGSTOP: 4.0 s with a 2 s limit, 6.0 s with 3 s).
A connection the server closed is replaced by the pool at its next ``acquire``.

A URL ending in ``?pgbouncer=1`` names a PgBouncer in transaction-pooling mode rather than
PostgreSQL itself: every connection made here then fits it (``asyncpg_arguments``).
"""

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

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


#: The URL's query parameter that says it names a PgBouncer in transaction-pooling mode.
PGBOUNCER = "pgbouncer"
_YES, _NO = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def behind_pgbouncer(url: str) -> bool:
    """Whether ``url`` carries ``?pgbouncer=1`` (``true``, ``yes``, ``on``; ``0`` and the like
    say no). Any other value is a ``ValueError``: a typo must not quietly mean "no"."""
    values = [value.strip().lower() for key, value in
              parse_qsl(urlsplit(url).query, keep_blank_values=True) if key == PGBOUNCER]
    if not values:
        return False
    if values[-1] not in _YES | _NO:
        raise ValueError(f"?{PGBOUNCER}= takes 1 or 0, not {values[-1]!r}")
    return values[-1] in _YES


def asyncpg_arguments(url: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The DSN and keyword options asyncpg gets for ``url``: as given, unless ``url`` says
    ``?pgbouncer=1``. Then, for transaction pooling, where consecutive transactions of one
    connection run on different server connections of PgBouncer's:

    - the option itself is taken out of the DSN (asyncpg would send it to the server as a setting);
    - no statement cache (``statement_cache_size=0``): a named prepared statement lives on one
      server connection, and the next transaction may land on another ("prepared statement
      "__asyncpg_stmt_1__" does not exist"). Without the cache asyncpg (0.32, as pinned; its
      pull request #1065) uses the unnamed statement and sends its Parse again with the Bind, so
      a statement outside a transaction is whole on whichever server connection runs it: reads
      need no transaction around them (``tests/deploy/test_pgbouncer.py`` shows it under
      concurrency). It costs a round trip per statement: 2 instead of 1 for one the cache knew;
    - no ``plan_cache_mode`` at start-up: PgBouncer refuses start-up parameters it does not know
      ("unsupported startup parameter"). It is not needed either: the setting keeps PostgreSQL from
      switching a prepared statement to a generic plan after five runs, and an unnamed statement
      parsed again for each run is planned for its own arguments every time (measured with
      auto_explain; the same test).

    The pools' release runs no reset query either way (``_keep_session``): through PgBouncer it
    would reset whichever server connection PgBouncer picks. The app keeps no session state
    (docs/DEPLOY.md, "PgBouncer", also on the one thing asyncpg does to a session by itself:
    ``jit`` around a type look-up).
    """
    if not behind_pgbouncer(url):
        return url, options
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True)
             if key != PGBOUNCER]
    dsn = parts._replace(query=urlencode(query)).geturl()
    settings = {k: v for k, v in (options.get("server_settings") or {}).items() if k != "plan_cache_mode"}
    options = {**options, "statement_cache_size": 0, "server_settings": settings or None}
    return dsn, options


async def connect(url: str, **options: Any) -> asyncpg.Connection:
    """One connection (``asyncpg.connect``'s options), fitting PgBouncer when ``url`` says so."""
    dsn, options = asyncpg_arguments(url, options)
    return await asyncpg.connect(dsn, **options)


async def open_pool(dsn: str, *, min_size: int, max_size: int, **options: Any) -> asyncpg.Pool:
    """A started ``BoundedPool`` with the timeouts above; ``options`` as asyncpg's
    ``create_pool`` takes them (``server_settings``…), fitting PgBouncer when ``dsn`` says
    ``?pgbouncer=1`` (``asyncpg_arguments``)."""
    dsn, options = asyncpg_arguments(dsn, options)
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
