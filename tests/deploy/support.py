"""What the deployment tests share: fresh databases of the engine under test, and the ``market``
command run as an operator runs it (a process of its own, configured by the environment).

On SQLite the signing key is left to the key file beside the database (``MARKET_SECRET_KEY`` is
unset), as an installation without configuration has it; on PostgreSQL it is set, as it must be.
"""

import asyncio
import os
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench.checkin_load import REPO, market_command
from tests.conftest import PG_URL, db_engine, run_on_postgres

PG_SECRET_KEY = "deploy-test-secret-key-" + "d" * 24
#: What ``market serve`` (bench.checkin_load.market_serve) is given: the key as each engine keeps it.
SERVER_KEY: dict[str, str | None] = {
    "MARKET_SECRET_KEY": PG_SECRET_KEY if db_engine() == "postgres" else None,
}


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}search_path={schema}"


@contextmanager
def fresh_database(directory: Path) -> Iterator[str]:
    """The DATABASE_URL of a new, empty database: an SQLite file in ``directory``, or a new schema
    of the PostgreSQL test database (dropped afterwards)."""
    directory.mkdir(parents=True, exist_ok=True)
    if db_engine() != "postgres":
        yield f"sqlite:///{directory}/market.db"
        return
    schema = f"d_{secrets.token_hex(6)}"
    asyncio.run(run_on_postgres(f'CREATE SCHEMA "{schema}"'))
    try:
        yield with_schema(PG_URL, schema)
    finally:
        asyncio.run(run_on_postgres(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@contextmanager
def another_database(source_url: str, directory: Path) -> Iterator[str]:
    """Where a backup of ``source_url`` is restored: a file that does not exist yet, or a new
    PostgreSQL database (dropped afterwards) with an empty schema of the source's name (a restore
    brings a schema back under its own name)."""
    directory.mkdir(parents=True, exist_ok=True)
    if db_engine() != "postgres":
        yield f"sqlite:///{directory}/market.db"
        return
    name = f"restored_{secrets.token_hex(6)}"
    asyncio.run(run_on_postgres(f'CREATE DATABASE "{name}"'))
    url = urlunsplit(urlsplit(source_url)._replace(path=f"/{name}"))
    try:
        asyncio.run(_create_schema(url))
        yield url
    finally:
        asyncio.run(run_on_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _create_schema(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        schema = await connection.fetchval("SHOW search_path")
        await connection.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await connection.close()


def market(
    *argv: str, database_url: str, cwd: Path, env: Mapping[str, str | None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``market ARGV`` with ``DATABASE_URL`` and the key as the engine keeps it, in Chinese (the
    default language) unless ``env`` says ``LANG``; ``env`` overrides (``None`` unsets a variable)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MARKET_SECRET_KEY")}
    environment |= {
        "DATABASE_URL": database_url,
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    if db_engine() == "postgres":
        environment["MARKET_SECRET_KEY"] = PG_SECRET_KEY
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run(
        [*market_command(), *argv], env=environment, cwd=cwd, capture_output=True, text=True, timeout=300,
    )
