"""The ``market`` command on the test database: migrate, admin create, ledger verify, reports check."""

import asyncio
import secrets
from decimal import Decimal

import httpx
import pytest

from ledger import Ledger, Problem, VerifyReport
from market.app import create_app
from market.cli import main
from market.settings import Settings, get_settings
from tests.market.support import client_for, random_phone, running


def run(*argv: str) -> int:
    return main(list(argv))


def test_migrate_is_repeatable(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("migrate") == 0
    assert run("migrate") == 0
    assert "up to date" in capsys.readouterr().out


def test_admin_create_then_sign_in(capsys: pytest.CaptureFixture[str]) -> None:
    phone, password = random_phone(), "a long admin password"
    community = f"CLI 社区 {secrets.token_hex(4)}"
    # A plain (sync) test: the command runs its own event loop, as from a shell,
    # and no app is running meanwhile (its PostgreSQL pool belongs to one loop).
    assert run("admin", "create", "--name", "社区管理员", "--phone", phone,
               "--password", password, "--community", community) == 0
    out = capsys.readouterr().out.strip()
    assert out.isdigit()
    assert phone not in out and password not in out

    async def sign_in() -> httpx.Response:
        async with running(create_app(Settings.from_env())) as app, client_for(app) as client:
            return await client.post("/api/session", json={"login": phone, "secret": password})

    response = asyncio.run(sign_in())
    assert response.status_code == 200
    assert response.json()["person"] == {"id": int(out), "name": "社区管理员", "roles": ["admin"]}


def test_admin_create_refuses_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    community = f"CLI 社区 {secrets.token_hex(4)}"
    assert run("admin", "create", "--name", "甲", "--phone", "12345",
               "--password", "long enough", "--community", community) == 1
    assert "手机号" in capsys.readouterr().err
    assert run("admin", "create", "--name", "甲", "--phone", random_phone(),
               "--password", "short", "--community", community) == 1
    assert "8" in capsys.readouterr().err


def test_admin_create_refuses_a_taken_phone(capsys: pytest.CaptureFixture[str]) -> None:
    community, phone = f"CLI 社区 {secrets.token_hex(4)}", random_phone()
    args = ("admin", "create", "--name", "乙", "--phone", phone, "--password", "long enough",
            "--community", community)
    assert run(*args) == 0
    capsys.readouterr()
    assert run(*args) == 1
    assert "已在本社区登记" in capsys.readouterr().err


def test_admin_create_without_community_uses_the_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("admin", "create", "--name", "丙", "--phone", random_phone(),
               "--password", "long enough") == 0
    assert capsys.readouterr().out.strip().isdigit()


def test_ledger_verify_passes_on_a_good_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("ledger", "verify") == 0
    out = capsys.readouterr().out
    assert "ledger OK" in out
    assert "entries:" in out and "accounts:" in out
    assert "total:    0.00" in out


def test_ledger_verify_checks_one_community(capsys: pytest.CaptureFixture[str]) -> None:
    community = f"CLI 社区 {secrets.token_hex(4)}"
    assert run("admin", "create", "--name", "管理员", "--phone", random_phone(),
               "--password", "a long admin password", "--community", community) == 0
    capsys.readouterr()
    assert run("ledger", "verify", "--community", community) == 0
    out = capsys.readouterr().out
    assert community in out and "entries:  0" in out and "ledger OK" in out
    assert run("ledger", "verify", "--community", "没有这个社区") == 1


def test_ledger_verify_names_the_first_bad_transfer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The database refuses to be tampered with, so the report is staged.
    async def broken(self: Ledger, ledger: int | None = None) -> VerifyReport:
        return VerifyReport(
            ok=False, entries=9, head="ab" * 32, accounts=4, total=Decimal("0.00"),
            problem=Problem(seq=7, transfer_id="adj:1:k", message="hash does not match"),
        )

    monkeypatch.setattr(Ledger, "verify", broken)
    assert run("ledger", "verify") == 1
    err = capsys.readouterr().err
    assert "entry 7" in err and "adj:1:k" in err and "hash does not match" in err


def test_reports_check_compares_the_tallies_with_the_rows(capsys: pytest.CaptureFixture[str]) -> None:
    community = f"CLI 社区 {secrets.token_hex(4)}"
    assert run("admin", "create", "--name", "管理员", "--phone", random_phone(),
               "--password", "a long admin password", "--community", community) == 0
    assert run("reports", "check", "--community", community) == 0
    assert "tallies OK" in capsys.readouterr().out
    assert run("reports", "check", "--community", "没有这个社区") == 1


def test_reports_check_names_what_differs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from market.reports import tallies

    async def broken(community_id: int | None = None) -> tuple[list[tallies.Difference], int]:
        return [tallies.Difference("tally_points_period", (1, "month", 202611, 7), (501,), (500,))], 12

    monkeypatch.setattr(tallies, "check", broken)
    assert run("reports", "check") == 1
    err = capsys.readouterr().err
    assert "tally_points_period (1, 'month', 202611, 7): kept (501,), counted (500,)" in err
    assert "1 of 12" in err and "market reports refill" in err


def test_serve_refuses_postgres_without_a_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    monkeypatch.delenv("MARKET_SECRET_KEY")
    get_settings.cache_clear()
    try:
        assert run("serve", "--port", "1") == 1
    finally:
        get_settings.cache_clear()
    assert "MARKET_SECRET_KEY" in capsys.readouterr().err
