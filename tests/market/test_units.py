"""Small pure pieces: enrolment rules, card numbers, the login limiter, settings."""

import os
import stat
from pathlib import Path

import pytest

from market.auth import credentials
from market.auth.limiter import MemoryLoginLimiter
from market.errors import InvalidInput
from market.people import rules
from market.settings import Settings, SettingsError, engine_of


@pytest.mark.parametrize("pin", ["000000", "999999", "123456", "234567", "654321", "543210"])
def test_trivial_pins_are_weak(pin: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        credentials.check_pin(pin, frozenset({"resident"}), "13800001111")
    assert refused.value.reason == "weak_pin"


def test_pin_may_not_be_the_phones_tail() -> None:
    with pytest.raises(InvalidInput):
        credentials.check_pin("801357", frozenset({"resident"}), "13900801357")
    assert credentials.check_pin("801357", frozenset({"resident"}), "13900801358") == "801357"


@pytest.mark.parametrize("pin", ["12345", "1234567", "12a456", "١٢٣٤٥٦"])
def test_pins_are_six_ascii_digits(pin: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        credentials.check_pin(pin, frozenset({"resident"}), "13800001111")
    assert refused.value.reason == "invalid_pin"


def test_card_numbers_carry_a_check_digit() -> None:
    for _ in range(200):
        card = rules.new_card_no()
        assert len(card) == 10 and card[0] != "0"
        assert rules.is_card_no(card)
        typo = card[:4] + str((int(card[4]) + 1) % 10) + card[5:]
        assert not rules.is_card_no(typo)


def test_phone_masking() -> None:
    assert rules.mask_phone("13812340000") == "138****0000"


async def test_limiter_locks_then_backs_off() -> None:
    now = [1000.0]
    limiter = MemoryLoginLimiter(clock=lambda: now[0])
    for _ in range(4):
        await limiter.record_failure("k")
        assert await limiter.retry_after("k") is None
    await limiter.record_failure("k")
    assert await limiter.retry_after("k") == 60
    now[0] += 61
    assert await limiter.retry_after("k") is None
    for _ in range(5):
        await limiter.record_failure("k")
    assert await limiter.retry_after("k") == 300  # the second lock lasts longer
    await limiter.reset("k")
    assert await limiter.retry_after("k") is None


async def test_limiter_forgets_quiet_keys_when_full() -> None:
    now = [0.0]
    limiter = MemoryLoginLimiter(clock=lambda: now[0], max_keys=3)
    for key in "abc":
        await limiter.record_failure(key)
    now[0] += 7200
    await limiter.record_failure("d")
    assert set(limiter._records) == {"d"}


def test_engine_of() -> None:
    assert engine_of("sqlite:///market.db") == "sqlite"
    assert engine_of("postgresql://u@h/db") == "postgres"
    with pytest.raises(SettingsError):
        engine_of("mysql://u@h/db")


def test_sqlite_secret_is_generated_once_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/m.db")
    monkeypatch.delenv("MARKET_SECRET_KEY")
    first = Settings.from_env()
    second = Settings.from_env()
    assert first.secret_key == second.secret_key and len(first.secret_key) >= 40
    key_file = tmp_path / "m.db.secret"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert first.ledger_url == f"sqlite:///{tmp_path}/m.db"


def test_relative_sqlite_path_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///market.db")
    settings = Settings.from_env()
    assert settings.ledger_url == f"sqlite:///{tmp_path}/market.db"


def test_postgres_needs_a_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/x")
    monkeypatch.delenv("MARKET_SECRET_KEY")
    with pytest.raises(SettingsError, match="MARKET_SECRET_KEY"):
        Settings.from_env()


def test_the_sweep_interval_is_a_sane_number_of_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().sweep_seconds is None  # each sweep its own interval
    monkeypatch.setenv("MARKET_SWEEP_SECONDS", "2.5")
    assert Settings.from_env().sweep_seconds == 2.5
    for wrong in ("0", "-1", "nan", "inf", "soon", "100000"):
        monkeypatch.setenv("MARKET_SWEEP_SECONDS", wrong)
        with pytest.raises(SettingsError, match="MARKET_SWEEP_SECONDS"):
            Settings.from_env()
