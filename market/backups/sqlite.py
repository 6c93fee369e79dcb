"""SQLite backups: SQLite's online backup API, and the signing key kept beside the database.

The copy is made in one step (``pages=-1``), so it is one read transaction: one snapshot of the
whole file. In WAL mode a reader never blocks the writer, so the server keeps answering and
writing meanwhile; what it writes after the snapshot began is simply not in the copy. A restore
uses the same API the other way round, which writes the target through SQLite's own locking and
journal (a file copied over a database in WAL mode could meet a stale ``-wal`` beside it).

The key file (``market.db.secret``, see ``market.settings``) travels beside the backup as
``FILE.secret``: it signs member cards, posters and the checkpoints' keys, so a restore without it
would leave every printed card and poster invalid.
"""

import os
import sqlite3
from pathlib import Path

from market.backups import BackupRefused, Note, partial_path, publish, size_mb
from market.settings import secret_file, secret_key_from_env

#: Tables a restore does not count as data: Piccolo's record of the migrations run.
BOOKKEEPING = {"migration"}


def backup(database: Path, file: Path) -> list[Note]:
    if not database.is_file():
        raise BackupRefused("backup_no_database", path=str(database))
    if file.resolve() in (database.resolve(), secret_file(database).resolve()):
        raise BackupRefused("backup_is_database", path=str(file))
    partial = partial_path(file)
    try:
        # mode=rw: a database that is not there is refused above, never created here.
        source = sqlite3.connect(database.as_uri() + "?mode=rw", uri=True, timeout=30)
        try:
            copy = _open_for_writing(partial, file)
            try:
                source.backup(copy)
                _check(copy, file)
                if "community" not in _tables(copy):  # DATABASE_URL names another database
                    raise BackupRefused("backup_not_market", path=str(database))
            finally:
                copy.close()
        finally:
            source.close()
        publish(partial, file)
    except OSError as error:
        raise BackupRefused("backup_write_failed", path=str(file), detail=error.strerror or error) from None
    finally:
        partial.unlink(missing_ok=True)
    return [Note("backup_written", {"path": str(file), "size": size_mb(file)}), _save_key(database, file)]


def restore(file: Path, database: Path, *, force: bool) -> list[Note]:
    if file.resolve() == database.resolve():
        raise BackupRefused("restore_onto_itself", path=str(file))
    # immutable: a backup is only read, and no -shm or -wal is made beside it.
    backup_copy = sqlite3.connect(file.absolute().as_uri() + "?mode=ro&immutable=1", uri=True)
    try:
        try:
            tables = _tables(backup_copy)
            _check(backup_copy, file)
        except sqlite3.DatabaseError as error:
            raise BackupRefused("backup_damaged", path=str(file), detail=str(error)) from None
        if "community" not in tables:
            raise BackupRefused("backup_not_market", path=str(file))
        if not force and database.exists() and _holds_data(database):
            raise BackupRefused("restore_not_empty", target=str(database))
        database.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(database, timeout=30)
        try:
            backup_copy.backup(target)
        finally:
            target.close()
    finally:
        backup_copy.close()
    return [Note("restore_done", {"path": str(file), "target": str(database)}), _put_key_back(file, database)]


def _open_for_writing(partial: Path, file: Path) -> sqlite3.Connection:
    if not file.parent.is_dir():
        raise BackupRefused("backup_write_failed", path=str(file), detail="no such directory")
    partial.unlink(missing_ok=True)
    try:
        return sqlite3.connect(partial)
    except sqlite3.OperationalError as error:  # e.g. a directory we may not write in
        raise BackupRefused("backup_write_failed", path=str(file), detail=str(error)) from None


def _check(connection: sqlite3.Connection, file: Path) -> None:
    """SQLite's own check of every page (``quick_check``): a damaged copy is no backup."""
    verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
    if verdict != "ok":
        raise BackupRefused("backup_damaged", path=str(file), detail=verdict)


def _tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    return {name for (name,) in rows}


def _holds_data(database: Path) -> bool:
    connection = sqlite3.connect(database, timeout=30)
    try:
        return any(
            connection.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone()
            for table in _tables(connection) - BOOKKEEPING
        )
    finally:
        connection.close()


def _save_key(database: Path, file: Path) -> Note:
    if secret_key_from_env():
        return Note("backup_key_in_environment")
    key = secret_file(database)
    if not key.is_file():
        return Note("backup_key_missing", {"path": str(key)})
    saved = secret_file(file)
    _write_secret(saved, key.read_bytes())
    return Note("backup_key_copied", {"path": str(saved)})


def _put_key_back(file: Path, database: Path) -> Note:
    saved = secret_file(file)
    if not saved.is_file():
        return Note("restore_key_not_in_backup")
    if configured := secret_key_from_env():
        same = saved.read_text(encoding="ascii").strip() == configured
        return Note("restore_key_environment") if same else Note("restore_key_differs", {"path": str(saved)})
    key = secret_file(database)
    _write_secret(key, saved.read_bytes())
    return Note("restore_key_installed", {"path": str(key)})


def _write_secret(path: Path, content: bytes) -> None:
    """``content`` at ``path``, readable by its owner only from the first byte, replaced whole."""
    partial = partial_path(path)
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        publish(partial, path)
    finally:
        partial.unlink(missing_ok=True)
