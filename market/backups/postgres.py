"""PostgreSQL backups: ``pg_dump`` in its custom format, ``pg_restore`` into an empty database.

``pg_dump`` reads everything in one repeatable-read snapshot, so the dump is consistent while the
server keeps writing. With ``?search_path=S`` in ``DATABASE_URL`` (how the tests give each run a
schema of its own) only schema ``S`` is dumped, and a restore puts it back under the same name;
without it the whole database is dumped. The signing key is ``MARKET_SECRET_KEY``, never in the dump.

``DATABASE_URL`` is asyncpg's; libpq (which the tools use) does not know ``search_path`` as a URL
parameter, so it is taken out, and the password travels in ``PGPASSWORD`` rather than on a command
line anyone can read in ``ps``. The tools never prompt (``--no-password``): a backup run by a
timer must fail, not wait.
"""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import asyncpg

from ledger import behind_pgbouncer
from market.backups import BackupRefused, Note, partial_path, publish, size_mb

#: Tables a restore does not count as data: Piccolo's record of the migrations run.
BOOKKEEPING = {"migration"}
#: A dump waits this long for a table a migration holds, then fails instead of hanging.
LOCK_WAIT = "60s"

_SCHEMA_ENTRY = re.compile(r"^\d+; \d+ \d+ SCHEMA - (\S+) ", re.MULTILINE)
_TABLE_ENTRY = re.compile(r"^\d+; \d+ \d+ TABLE (?!DATA )(\S+) (\S+) ", re.MULTILINE)


@dataclass(frozen=True)
class Connection:
    """``DATABASE_URL`` as the PostgreSQL tools take it."""

    dsn: str  # without the password and without search_path
    password: str | None
    database: str
    schema: str | None  # the first schema of ?search_path=, if any

    @classmethod
    def from_url(cls, url: str) -> "Connection":
        if behind_pgbouncer(url):
            # The tools set session settings (pg_dump an empty search_path) before their
            # transaction: through transaction pooling those would land on a server connection
            # the app gets next, and the transaction itself on another one without them.
            raise BackupRefused("backup_through_pgbouncer")
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        path = [value for key, value in query if key == "search_path"]
        schema = path[-1].split(",")[0].strip().strip('"') if path else None
        netloc = parts.hostname or ""
        if ":" in netloc:  # an IPv6 address
            netloc = f"[{netloc}]"
        if parts.port:
            netloc += f":{parts.port}"
        if parts.username:
            netloc = f"{quote(unquote(parts.username), safe='')}@{netloc}"
        # %20 for a space, as libpq reads it (urlencode's default "+" is a plus sign to libpq:
        # ``options=-c%20name%3Dvalue`` would reach the server as "+name").
        rest = urlencode([(key, value) for key, value in query if key != "search_path"], quote_via=quote)
        dsn = urlunsplit((parts.scheme, netloc, parts.path, rest, ""))
        # The URL's user and password are percent-encoded; the tools take the password as is.
        password = unquote(parts.password) if parts.password is not None else None
        return cls(dsn, password, parts.path.lstrip("/"), schema or None)

    def describe(self, schema: str | None = None) -> str:
        """The database (and schema) for a message, without host or password."""
        schema = schema or self.schema
        return f"{self.database} ({schema})" if schema else self.database

    def environment(self) -> dict[str, str]:
        return os.environ | ({"PGPASSWORD": self.password} if self.password else {})


@dataclass(frozen=True)
class Contents:
    """What a custom-format archive holds, from its table of contents (``pg_restore --list``)."""

    schemas: set[str]  # schemas the archive creates (a schema's dump creates its schema)
    tables: set[tuple[str, str]]  # (schema, table)

    def schema_of(self, table: str) -> str | None:
        return next((schema for schema, name in self.tables if name == table), None)


def backup(url: str, file: Path) -> list[Note]:
    connection = Connection.from_url(url)
    pg_dump = _tool("pg_dump")
    partial = partial_path(file)
    if not file.parent.is_dir():
        raise BackupRefused("backup_write_failed", path=str(file), detail="no such directory")
    scope = ["--schema", f'"{connection.schema}"'] if connection.schema else []
    try:
        _run(pg_dump, ["--format=custom", "--file", str(partial), "--no-password",
                       f"--lock-wait-timeout={LOCK_WAIT}", *scope, "--dbname", connection.dsn],
             connection)
        if _contents(partial).schema_of("community") is None:  # DATABASE_URL names another database
            raise BackupRefused("backup_not_market", path=connection.describe())
        publish(partial, file)
    except OSError as error:
        raise BackupRefused("backup_write_failed", path=str(file), detail=error.strerror or error) from None
    finally:
        partial.unlink(missing_ok=True)
    where = {"database": connection.database, "schema": connection.schema}
    return [
        Note("backup_written", {"path": str(file), "size": size_mb(file)}),
        Note("backup_pg_schema" if connection.schema else "backup_pg_database", where),
        Note("backup_key_in_environment"),
    ]


async def restore(file: Path, url: str, *, force: bool) -> list[Note]:
    connection = Connection.from_url(url)
    pg_restore = _tool("pg_restore")
    try:
        contents = _contents(file)
    except BackupRefused as refused:
        raise BackupRefused("backup_damaged", path=str(file), detail=refused.params["detail"]) from None
    home = contents.schema_of("community")
    if home is None:
        raise BackupRefused("backup_not_market", path=str(file))
    target = await asyncpg.connect(url)
    try:
        schema = connection.schema or await target.fetchval("SELECT current_schema()") or "public"
        if home != schema:
            raise BackupRefused("restore_schema_mismatch", found=home, wanted=schema)
        where = connection.describe(schema)
        tables = await _tables(target, schema)
        if not force and await _holds_data(target, schema, tables):
            raise BackupRefused("restore_not_empty", target=where)
        await _make_room(target, schema, creates_schema=schema in contents.schemas, emptied=bool(tables))
    finally:
        await target.close()
    # One transaction: a restore that fails half-way leaves nothing half-restored behind.
    _run(pg_restore, ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
                      "--no-password", "--dbname", connection.dsn, str(file)], connection)
    target = await asyncpg.connect(url)
    try:
        # pg_restore leaves the planner without statistics until autovacuum comes by.
        for table in await _tables(target, schema):
            await target.execute(f'ANALYZE "{schema}"."{table}"')
    finally:
        await target.close()
    return [Note("restore_done", {"path": str(file), "target": where}), Note("restore_key_not_in_backup")]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupRefused("pg_tool_missing", tool=name)
    return found


def _run(tool: str, arguments: list[str], connection: Connection | None = None) -> str:
    done = subprocess.run(
        [tool, *arguments], capture_output=True, text=True,
        env=connection.environment() if connection else None,
    )
    if done.returncode != 0:
        # The tools' own words: "server version mismatch", "password authentication failed", …
        detail = " ".join(done.stderr.strip().splitlines()[-3:]) or f"exit code {done.returncode}"
        raise BackupRefused("pg_tool_failed", tool=Path(tool).name, detail=detail)
    return done.stdout


def _contents(file: Path) -> Contents:
    listing = _run(_tool("pg_restore"), ["--list", str(file)])
    return Contents(
        schemas=set(_SCHEMA_ENTRY.findall(listing)),
        tables={(schema, name) for schema, name in _TABLE_ENTRY.findall(listing)},
    )


async def _tables(connection: asyncpg.Connection, schema: str) -> list[str]:
    rows = await connection.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", schema
    )
    return [row[0] for row in rows]


async def _holds_data(connection: asyncpg.Connection, schema: str, tables: list[str]) -> bool:
    for table in tables:
        if table not in BOOKKEEPING and await connection.fetchval(
            f'SELECT EXISTS (SELECT 1 FROM "{schema}"."{table}")'
        ):
            return True
    return False


async def _make_room(
    connection: asyncpg.Connection, schema: str, *, creates_schema: bool, emptied: bool
) -> None:
    """Clear the target schema for the archive: a schema's dump creates its schema, so one already
    there (even empty) is dropped; a whole database's dump fills ``public``, which is emptied."""
    exists = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema
    )
    if not exists or not (creates_schema or emptied):
        return
    async with connection.transaction():
        await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
        if not creates_schema:
            await connection.execute(f'CREATE SCHEMA "{schema}"')
