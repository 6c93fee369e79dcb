"""deploy/systemd: ``systemd-analyze verify`` accepts the units, and market.env.example fits them
and the app — every variable it sets is one something reads, and as shipped (no secret in it) it
does not start a PostgreSQL installation without a key."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.checkin_load import REPO
from market.cli import build_parser
from market.settings import Settings, SettingsError

UNITS = REPO / "deploy" / "systemd"
#: Where DEPLOY.md installs the checkout; verify checks that ExecStart's program exists.
INSTALLED = "/srv/market/.venv/bin/market"
#: Read by uvicorn, which ``market serve`` runs (the proxy addresses it takes headers from).
UVICORN_VARIABLES = {"FORWARDED_ALLOW_IPS"}


def example() -> dict[str, str]:
    settings = {}
    for line in (UNITS / "market.env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, value = line.split("=", 1)
            settings[name] = value
    return settings


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    market = Path(sys.executable).with_name("market")
    assert market.is_file(), "the test needs the installed market command"
    units = []
    for name in ("market.service", "market-backup.service", "market-backup.timer"):
        text = (UNITS / name).read_text(encoding="utf-8")
        if name.endswith(".service"):
            assert INSTALLED in text
        (tmp_path / name).write_text(text.replace(INSTALLED, str(market)), encoding="utf-8")
        units.append(str(tmp_path / name))
    verified = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    # Warnings (an unknown key, a bad value) leave the exit code 0: none may be printed either.
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr
    assert not verified.stdout.strip(), verified.stdout


def test_the_environment_example_fits_the_unit_and_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = example()
    unit = (UNITS / "market.service").read_text(encoding="utf-8")
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    used_by_unit = set(re.findall(r"\$\{([A-Z_]+)\}", exec_start))
    assert used_by_unit <= settings.keys()
    source = "\n".join(path.read_text(encoding="utf-8") for path in (REPO / "market").rglob("*.py"))
    read_by_app = set(re.findall(r'(?:environ\.get\(|_flag\()"([A-Z_]+)"', source))
    assert settings.keys() <= read_by_app | used_by_unit | UVICORN_VARIABLES, (
        settings.keys() - read_by_app - used_by_unit - UVICORN_VARIABLES)

    argv = exec_start.split("bin/market ", 1)[1]
    for name in used_by_unit:
        argv = argv.replace("${" + name + "}", settings[name])
    args = build_parser().parse_args(argv.split())
    assert args.command == "serve" and args.workers >= 1

    # No secret in the example, and a PostgreSQL server that gets it unfilled refuses to start.
    assert settings["MARKET_SECRET_KEY"] == "" and ":CHANGE-ME@" in settings["DATABASE_URL"]
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match="MARKET_SECRET_KEY must be set"):
        Settings.from_env()
