"""Shared test setup: one fresh database for the whole test session, SQLite or PostgreSQL.

``MARKET_TEST_DB=sqlite|postgres`` (default sqlite) picks the engine. SQLite gets
a new file in a temporary directory; PostgreSQL (``MARKET_TEST_PG_URL``) gets a
new schema ``t_<hex>``, selected with ``?search_path=`` in the URL and dropped
at the end. ``DATABASE_URL`` and ``MARKET_SECRET_KEY`` are set in
``pytest_configure``, before any test module imports piccolo_conf or market.
"""

import asyncio
import os
import secrets
import shutil
import tempfile

import pytest

from tests import system_packages

ENGINE = os.environ.get("MARKET_TEST_DB", "sqlite").strip().lower() or "sqlite"
_GIVEN_PG_URL = os.environ.get("MARKET_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: The tests' connections do not wait for each commit to reach the disk (``synchronous_commit``,
#: set with libpq's ``options``, which asyncpg passes on as well): no test crashes the shared
#: cluster (the outage drills stop clusters of their own), so none could tell, and the waits were
#: 6–10 % of a database-bound test file's time (measured). Servers, ``psql`` and ``pg_dump`` the
#: tests start inherit it with the URL.
PG_URL = _GIVEN_PG_URL if "options=" in _GIVEN_PG_URL else (
    f"{_GIVEN_PG_URL}{'&' if '?' in _GIVEN_PG_URL else '?'}options=-c%20synchronous_commit%3Doff")


_created: dict[str, str] = {}


async def run_on_postgres(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def pytest_configure(config: pytest.Config) -> None:
    if ENGINE == "postgres":
        schema = f"t_{secrets.token_hex(6)}"
        asyncio.run(run_on_postgres(f'CREATE SCHEMA "{schema}"'))
        _created["schema"] = schema
        # asyncpg passes unknown DSN query parameters to the server as settings.
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}search_path={schema}"
    elif ENGINE == "sqlite":
        directory = tempfile.mkdtemp(prefix="market-test-")
        _created["directory"] = directory
        url = f"sqlite:///{directory}/market.db"
    else:
        raise pytest.UsageError(f"MARKET_TEST_DB must be sqlite or postgres, not {ENGINE!r}")
    # Overwritten, never defaulted: a developer's own DATABASE_URL must not be the one tested.
    os.environ["DATABASE_URL"] = url
    os.environ["MARKET_SECRET_KEY"] = secrets.token_urlsafe(32)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Install the Debian packages the tests drive when they are missing (once, not per worker)."""
    if hasattr(session.config, "workerinput"):
        return
    # Said on the terminal (a print here would be captured and never seen).
    terminal = session.config.pluginmanager.get_plugin("terminalreporter")
    say = terminal.write_line if terminal is not None else print
    try:
        system_packages.ensure(say)
    except RuntimeError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_unconfigure(config: pytest.Config) -> None:
    if schema := _created.pop("schema", None):
        asyncio.run(run_on_postgres(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    if directory := _created.pop("directory", None):
        shutil.rmtree(directory, ignore_errors=True)


def db_engine() -> str:
    """The engine under test: "sqlite" or "postgres"."""
    return ENGINE


@pytest.fixture(name="db_engine", scope="session")
def db_engine_fixture() -> str:
    return ENGINE


@pytest.fixture(scope="session")
def database_url() -> str:
    return os.environ["DATABASE_URL"]
