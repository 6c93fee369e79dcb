"""``?pgbouncer=1`` on ``DATABASE_URL``: what it changes in the connections asyncpg makes, that a URL
without it is passed on untouched, that a mistyped value is refused, that backups refuse to go
through PgBouncer, and that DEPLOY.md shows the settings the shipped file has. (PgBouncer itself,
running: ``tests/deploy/test_pgbouncer.py``.)"""

from pathlib import Path

import pytest

from ledger.stores.pg_pool import asyncpg_arguments, behind_pgbouncer
from market import backups
from market.backups import BackupRefused
from market.messages import message
from market.settings import SettingsError, database_url_from_env
from tests.deploy.pgbouncer import CONF

BOUNCER = "postgresql://market:p%40ss@10.0.0.5:6432/market"
PLAN = {"plan_cache_mode": "force_custom_plan"}


@pytest.mark.parametrize(("query", "expected"), [
    ("", False), ("?pgbouncer=1", True), ("?pgbouncer=true", True), ("?sslmode=require&pgbouncer=on", True),
    ("?pgbouncer=0", False), ("?pgbouncer=false", False), ("?pgbouncer=1&pgbouncer=0", False),
])
def test_the_option_is_read_off_the_url(query: str, expected: bool) -> None:
    assert behind_pgbouncer(BOUNCER + query) is expected


def test_a_mistyped_value_is_refused_not_taken_for_no(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="1 or 0"):
        behind_pgbouncer(BOUNCER + "?pgbouncer=ja")
    monkeypatch.setenv("DATABASE_URL", BOUNCER + "?pgbouncer=ja")
    with pytest.raises(SettingsError, match="pgbouncer"):
        database_url_from_env()


def test_without_the_option_asyncpg_gets_the_url_and_options_as_given() -> None:
    options = {"server_settings": PLAN, "min_size": 1}
    dsn, given = asyncpg_arguments(BOUNCER + "?search_path=s1", options)
    assert dsn == BOUNCER + "?search_path=s1" and given is options


def test_with_the_option_no_statement_cache_and_no_plan_cache_mode() -> None:
    dsn, options = asyncpg_arguments(
        BOUNCER + "?sslmode=require&pgbouncer=1",
        {"server_settings": PLAN | {"application_name": "market"}, "timeout": 3.0},
    )
    # The option is taken out (asyncpg would send it as a setting), the password and the rest stay.
    assert dsn == BOUNCER + "?sslmode=require"
    assert options == {"statement_cache_size": 0, "server_settings": {"application_name": "market"},
                       "timeout": 3.0}
    _, options = asyncpg_arguments(BOUNCER + "?pgbouncer=1", {"server_settings": PLAN})
    assert options["server_settings"] is None


async def test_backups_and_restores_refuse_to_go_through_pgbouncer(tmp_path: Path) -> None:
    url = BOUNCER + "?pgbouncer=1"
    with pytest.raises(BackupRefused) as refused:
        backups.backup(url, tmp_path / "market.backup")
    assert refused.value.reason == "backup_through_pgbouncer"
    archive = tmp_path / "old.backup"
    archive.write_bytes(backups.PG_DUMP_MAGIC + b"\0" * 64)
    with pytest.raises(BackupRefused) as refused:
        await backups.restore(url, archive)
    assert refused.value.reason == "backup_through_pgbouncer"
    assert "PgBouncer" in message("backup_through_pgbouncer", "zh")
    assert "without ?pgbouncer=1" in message("backup_through_pgbouncer", "en")


def test_deploy_md_shows_the_settings_of_the_shipped_file() -> None:
    guide = (CONF.parents[2] / "docs" / "DEPLOY.md").read_text()
    section = guide.split("The heart of `deploy/pgbouncer/pgbouncer.ini`:")[1]
    shown = section.split("```ini")[1].split("```")[0]
    shipped = {line.strip() for line in CONF.read_text().splitlines()}
    lines = [line for line in shown.splitlines() if line.strip()]
    assert len(lines) > 10 and [line for line in lines if line.strip() not in shipped] == []
