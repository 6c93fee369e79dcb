"""``market backup FILE`` and ``market restore FILE``: a consistent copy of the whole installation
while it runs, and that copy put back into an empty database.

The engine's own tools do the copying: SQLite's online backup API (``backups.sqlite``, with the
signing key kept beside the database) and ``pg_dump``/``pg_restore`` (``backups.postgres``).
Either refuses with a ``BackupRefused`` whose reason is in ``market.messages`` — a missing tool,
a file that is not one of our backups, a target that holds data — and then has changed nothing.

A target "holds data" when any table but Piccolo's ``migration`` has a row: a database that
``market migrate`` or a first ``market serve`` made is still empty, one with a community is not.
A restore over data happens only with ``force``.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from market.errors import MarketError
from market.settings import EngineName, engine_of, sqlite_path

#: The first bytes of each engine's backup file.
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
ENGINE_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


class BackupRefused(MarketError):
    """A backup or restore that did not happen; ``reason`` says why, nothing was changed."""

    def __init__(self, reason: str, **params: Any) -> None:
        super().__init__(**params)
        self.reason = reason


@dataclass(frozen=True)
class Note:
    """One line of what a backup or restore did, as a reason of the catalogue and its parameters."""

    reason: str
    params: dict[str, Any] = field(default_factory=dict)


def backup(database_url: str, file: Path, *, force: bool = False) -> list[Note]:
    """Copy ``database_url``'s database to ``file`` (refused if it exists, unless ``force``)."""
    if file.exists() and not force:
        raise BackupRefused("backup_exists", path=str(file))
    if engine_of(database_url) == "sqlite":
        from market.backups import sqlite

        return sqlite.backup(sqlite_path(database_url), file)
    from market.backups import postgres

    return postgres.backup(database_url, file)


async def restore(database_url: str, file: Path, *, force: bool = False) -> list[Note]:
    """Put the backup ``file`` into ``database_url``'s database, which must not hold data unless
    ``force``. The caller then migrates and verifies the ledger."""
    engine = engine_of(database_url)
    found = backup_engine(file)
    if found != engine:
        raise BackupRefused("backup_wrong_engine", path=str(file), found=ENGINE_NAMES[found],
                            engine=ENGINE_NAMES[engine])
    if engine == "sqlite":
        from market.backups import sqlite

        return sqlite.restore(file, sqlite_path(database_url), force=force)
    from market.backups import postgres

    return await postgres.restore(file, database_url, force=force)


def backup_engine(file: Path) -> EngineName:
    """Which engine's backup ``file`` is, from its first bytes."""
    try:
        with file.open("rb") as opened:
            head = opened.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        raise BackupRefused("backup_not_found", path=str(file)) from None
    except OSError as error:
        raise BackupRefused("backup_unrecognised", path=f"{file} ({error.strerror})") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgres"
    raise BackupRefused("backup_unrecognised", path=str(file))


def partial_path(file: Path) -> Path:
    """Where a backup is written before it is complete: beside ``file``, so the rename is atomic."""
    return file.with_name(f".{file.name}.partial-{os.getpid()}")


def publish(partial: Path, file: Path) -> None:
    """Make the finished ``partial`` the backup ``file``, durably: a crash leaves the old or the new.
    Only its owner may read it: it holds names, phone numbers and password hashes."""
    os.chmod(partial, 0o600)
    with partial.open("rb") as written:
        os.fsync(written.fileno())
    os.replace(partial, file)
    directory = os.open(file.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def size_mb(file: Path) -> str:
    return f"{file.stat().st_size / 2**20:.1f}"
