"""``market backup`` and ``market restore`` refuse clearly — in Chinese, in English with LANG=en —
exit 1, and change nothing: an existing backup file, a file that is no backup, a target that holds
data (unless ``--force``), a missing pg_dump, a DATABASE_URL naming nothing to back up."""

import asyncio
import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from market.backups import PG_DUMP_MAGIC, SQLITE_MAGIC
from market.settings import sqlite_path
from tests.conftest import db_engine
from tests.deploy.support import another_database, fresh_database, market, with_schema

ENGLISH = {"LANG": "en_US.UTF-8"}


def community_names(url: str) -> list[str]:
    query = "SELECT name FROM community ORDER BY name"
    if url.startswith("sqlite:"):
        with sqlite3.connect(sqlite_path(url)) as connection:
            return [name for (name,) in connection.execute(query)]

    async def read() -> list[str]:
        connection = await asyncpg.connect(url)
        try:
            return [row[0] for row in await connection.fetch(query)]
        finally:
            await connection.close()

    return asyncio.run(read())


def with_community(url: str, directory: Path, community: str) -> str:
    made = market("admin", "create", "--name", "管理员", "--phone", "13800000000",
                  "--password", "a-long-password", "--community", community,
                  database_url=url, cwd=directory)
    assert made.returncode == 0, made.stderr
    return url


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Backup:
    file: Path
    source_url: str  # gone by the time a test restores; it names the schema a restore brings back


@pytest.fixture(scope="module")
def backup(tmp_path_factory: pytest.TempPathFactory) -> Backup:
    """A backup of a database with one community, 幸福里: made once for the module (two ``market``
    processes and a database of its own), as every test only reads it and restores it elsewhere."""
    tmp_path = tmp_path_factory.mktemp("backup")
    directory = tmp_path / "source"
    file = tmp_path / "market.backup"
    with fresh_database(directory) as url:
        with_community(url, directory, "幸福里")
        made = market("backup", str(file), database_url=url, cwd=directory)
        assert made.returncode == 0, made.stderr
    return Backup(file, url)


def test_backup_refuses_to_overwrite_a_file_unless_forced(tmp_path: Path) -> None:
    with fresh_database(tmp_path / "db") as url:
        with_community(url, tmp_path, "幸福里")
        file = tmp_path / "nightly.backup"
        assert market("backup", str(file), database_url=url, cwd=tmp_path).returncode == 0
        first = digest(file)

        refused = market("backup", str(file), database_url=url, cwd=tmp_path)
        assert refused.returncode == 1
        assert f"{file} 已存在，未做任何改动" in refused.stderr and "--force" in refused.stderr
        english = market("backup", str(file), database_url=url, cwd=tmp_path, env=ENGLISH)
        assert english.returncode == 1
        assert f"{file} exists already and nothing was changed" in english.stderr
        assert digest(file) == first

        forced = market("backup", "--force", str(file), database_url=url, cwd=tmp_path)
        assert forced.returncode == 0, forced.stderr
        assert "备份完成" in forced.stdout


def test_restore_refuses_a_file_that_is_no_backup(tmp_path: Path, backup: Backup) -> None:
    other_engine = tmp_path / "other-engine.backup"
    other_engine.write_bytes((PG_DUMP_MAGIC if db_engine() == "sqlite" else SQLITE_MAGIC) + b"\0" * 100)
    text = tmp_path / "notes.txt"
    text.write_text("这不是备份\n", encoding="utf-8")
    cut = tmp_path / "cut.backup"
    cut.write_bytes(backup.file.read_bytes()[:2000])  # copied half-way: the header survives, not the rest
    other = "PostgreSQL" if db_engine() == "sqlite" else "SQLite"
    expected = {
        text: (f"{text} 不是 market backup 做的备份", f"{text} is not a backup made by market backup"),
        tmp_path / "missing.backup": ("找不到备份文件", "There is no backup file at"),
        other_engine: (f"是 {other} 的备份", f"is a {other} backup"),
        cut: (f"备份文件 {cut} 已损坏或不完整，未做任何改动", f"The backup {cut} is damaged or incomplete"),
    }
    with another_database(backup.source_url, tmp_path / "target") as url:
        for file, (chinese, english) in expected.items():
            refused = market("restore", str(file), database_url=url, cwd=tmp_path)
            assert refused.returncode == 1, refused.stdout
            assert chinese in refused.stderr
            refused = market("restore", str(file), database_url=url, cwd=tmp_path, env=ENGLISH)
            assert refused.returncode == 1 and english in refused.stderr
        # Nothing was made, not even an empty database: a restore into it still works.
        restored = market("restore", str(backup.file), database_url=url, cwd=tmp_path)
        assert restored.returncode == 0, restored.stderr


@pytest.mark.skipif(db_engine() != "postgres", reason="an SQLite backup is one file: no schema to name")
def test_a_postgresql_backup_is_restored_under_its_own_schema(tmp_path: Path, backup: Backup) -> None:
    with fresh_database(tmp_path / "target") as url:  # a schema of another name
        refused = market("restore", str(backup.file), database_url=url, cwd=tmp_path)
        wanted, found = url.rsplit("=", 1)[1], backup.source_url.rsplit("=", 1)[1]
        assert refused.returncode == 1
        assert f"备份里是模式 {found}，而 DATABASE_URL 选的是模式 {wanted}" in refused.stderr
        assert f"?search_path={found}" in refused.stderr


def test_restore_refuses_a_target_that_holds_data_unless_forced(tmp_path: Path, backup: Backup) -> None:
    with another_database(backup.source_url, tmp_path / "target") as url:
        with_community(url, tmp_path, "向阳里")
        refused = market("restore", str(backup.file), database_url=url, cwd=tmp_path)
        assert refused.returncode == 1
        assert "里已有数据，未做任何改动" in refused.stderr and "--force" in refused.stderr
        english = market("restore", str(backup.file), database_url=url, cwd=tmp_path, env=ENGLISH)
        assert english.returncode == 1 and "holds data, so nothing was changed" in english.stderr
        assert community_names(url) == ["向阳里"]

        forced = market("restore", "--force", str(backup.file), database_url=url, cwd=tmp_path)
        assert forced.returncode == 0, forced.stderr
        assert "ledger OK" in forced.stdout
        assert community_names(url) == ["幸福里"]


def test_a_migrated_database_without_data_counts_as_empty(tmp_path: Path, backup: Backup) -> None:
    # What a first `market serve` or `market migrate` on the new host leaves behind.
    with another_database(backup.source_url, tmp_path / "target") as url:
        assert market("migrate", database_url=url, cwd=tmp_path).returncode == 0
        restored = market("restore", str(backup.file), database_url=url, cwd=tmp_path)
        assert restored.returncode == 0, restored.stderr
        assert community_names(url) == ["幸福里"]
        assert market("ledger", "verify", database_url=url, cwd=tmp_path).returncode == 0


def test_the_postgresql_tools_are_needed_on_postgresql_only(tmp_path: Path, backup: Backup) -> None:
    no_tools = {"PATH": str(tmp_path / "empty")}
    with fresh_database(tmp_path / "db") as url:
        with_community(url, tmp_path, "幸福里")
        made = market("backup", str(tmp_path / "again.backup"), database_url=url, cwd=tmp_path, env=no_tools)
    with another_database(backup.source_url, tmp_path / "target") as target:
        restored = market("restore", str(backup.file), database_url=target, cwd=tmp_path, env=no_tools)
        english = market("restore", str(backup.file), database_url=target, cwd=tmp_path,
                         env=no_tools | ENGLISH)
    if db_engine() == "sqlite":  # SQLite needs nothing installed
        assert made.returncode == 0 and restored.returncode == 0, made.stderr + restored.stderr
        return
    assert made.returncode == 1
    assert "找不到 pg_dump：请安装 PostgreSQL 客户端工具" in made.stderr
    assert not (tmp_path / "again.backup").exists()
    assert restored.returncode == 1 and "找不到 pg_restore" in restored.stderr
    assert english.returncode == 1 and "pg_restore was not found" in english.stderr


def test_backup_says_when_database_url_names_nothing_to_back_up(tmp_path: Path) -> None:
    if db_engine() == "sqlite":
        url, expected = f"sqlite:///{tmp_path}/typo.db", f"找不到数据库文件 {tmp_path}/typo.db"
    else:
        with fresh_database(tmp_path) as some:
            pass  # a schema that existed once and is gone now
        url, expected = with_schema(some.split("?")[0], some.rsplit("=", 1)[1]), "pg_dump 失败，未完成"
    refused = market("backup", str(tmp_path / "x.backup"), database_url=url, cwd=tmp_path)
    assert refused.returncode == 1
    assert expected in refused.stderr
    assert not (tmp_path / "x.backup").exists() and not (tmp_path / "typo.db").exists()


def test_the_tools_get_the_url_s_settings_as_libpq_reads_them() -> None:
    """Settings in ``DATABASE_URL`` reach ``pg_dump`` as written: ``options`` with a space stays a
    space (%20), not a plus sign; the password and ``search_path`` are taken out, the password and
    the user decoded once (not passed on encoded, nor encoded twice)."""
    from market.backups.postgres import Connection

    connection = Connection.from_url(
        "postgresql://mar%40ket:s%20ecret@db.example:5433/town?options=-c%20synchronous_commit%3Doff"
        "&application_name=nightly&search_path=c_7,public")
    assert connection.dsn == ("postgresql://mar%40ket@db.example:5433/town"
                              "?options=-c%20synchronous_commit%3Doff&application_name=nightly")
    assert (connection.password, connection.database, connection.schema) == ("s ecret", "town", "c_7")
