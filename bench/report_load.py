"""Leaderboard and dashboard latency over HTTP on a large generated community (SQLite or PostgreSQL).

Generates 10,000 residents, 2,000 activities and 1,000,000 ledger transfers straight into a
fresh SQLite database (``bench/report_data.py``, one transaction, hashes computed as the ledger
does); with ``--engine postgres`` copies that file into a fresh, migrated PostgreSQL schema
(``bench/report_copy.py``) and checks the tallies there with ``market reports check``. Then it
checks the chain with ``market ledger verify``, starts ``market serve`` and asks every
leaderboard and dashboard endpoint ``--rounds`` times in turn, one request at a time, with
``/health`` of the same server in the same run as the baseline: first cold (a new transfer
before each request, so nothing is answered from ``market.reports.board_cache``), then warm.
Prints p50/p95 per endpoint and the ratio of each p95 to /health's.

    /work/venv/bin/python -m bench.report_load                  # the full size
    /work/venv/bin/python -m bench.report_load --transfers 100000 --residents 2000  # quick
    /work/venv/bin/python -m bench.report_load --engine postgres  # the same data on PostgreSQL
"""

import argparse
import asyncio
import json
import sqlite3
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import httpx

from bench.checkin_load import ADMIN_PASSWORD, ADMIN_PHONE, market_command, market_serve
from bench.common import PG_URL, median, percentile, pg_schema, pg_version, print_machine, table
from bench.report_copy import copy
from bench.report_data import Sizes, generate

ENDPOINTS = [
    ("/health", {}),
    ("/api/leaderboards", {"period": "month", "at": "2026-11"}),
    ("/api/leaderboards", {"period": "quarter", "at": "2026-Q4"}),
    ("/api/leaderboards", {"period": "year", "at": "2026"}),
    ("/api/leaderboards/public", {"period": "month", "at": "2026-11"}),
    ("/api/leaderboards/public", {"period": "year", "at": "2026"}),
    ("/api/dashboards/activities", {"period": "year", "at": "2026"}),
    ("/api/dashboards/points", {"period": "year", "at": "2026"}),
    ("/api/dashboards/points", {"period": "month", "at": "2026-11"}),
    ("/api/dashboards/shop", {"period": "year", "at": "2026"}),
    ("/api/dashboards/shop", {"period": "month", "at": "2026-11"}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite",
                        help="postgres: generate on SQLite, copy it into a throwaway PostgreSQL schema"
                             " (bench/report_copy.py) and measure there")
    parser.add_argument("--pg-url", default=PG_URL, help="a database to create the throwaway schema in")
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--activities", type=int, default=2_000)
    parser.add_argument("--transfers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--database", type=Path,
                        help="keep the generated SQLite file here and, when it exists, measure it again"
                             " instead of generating (it is migrated first)")
    args = parser.parse_args()
    sizes = Sizes(residents=args.residents, households=max(args.residents * 2 // 5, 1),
                  activities=args.activities, transfers=args.transfers,
                  redemptions=args.transfers // 10)
    extra = {"engine": args.engine, "transfers": str(args.transfers), "residents": str(args.residents)}
    if args.engine == "postgres":
        extra["postgres"] = asyncio.run(pg_version(args.pg_url))
    print_machine(extra)
    with tempfile.TemporaryDirectory(prefix="report-load-") as workdir:
        path = args.database.resolve() if args.database else Path(workdir) / "market.db"
        url = f"sqlite:///{path}"
        env_run = {"DATABASE_URL": url}
        reused = path.exists()
        subprocess.run([*market_command(), "migrate"], env=_env(env_run), cwd=workdir, check=True,
                       capture_output=True)
        if reused:
            print(f"measuring {path} again ({path.stat().st_size / 1e6:,.0f} MB)")
        else:
            timings = generate(str(path), sizes)
            print(f"generated {int(timings['transfers']):,} transfers ({int(timings['stays']):,} stays,"
                  f" {int(timings['redemptions']):,} redemptions) in {timings['total']:.1f} s"
                  f" ({timings['transfers'] / timings['total']:,.0f} transfers/s;"
                  f" hashing {timings['transfers_hashing']:.1f} s);"
                  f" database {path.stat().st_size / 1e6:,.0f} MB")
        has_admin = _has_admin(path)
        if args.engine == "sqlite":
            _verify_and_measure(url, workdir, args, has_admin)
        else:
            with _pg_schema(args.pg_url) as pg_url:
                started = time.perf_counter()
                env_pg = _env({"DATABASE_URL": pg_url})
                subprocess.run([*market_command(), "migrate"], env=env_pg, cwd=workdir, check=True,
                               capture_output=True)
                migrated = time.perf_counter() - started
                copied = asyncio.run(copy(str(path), pg_url))
                print(f"postgres: migrated in {migrated:.1f} s; copied {sum(copied['rows'].values()):,} rows"
                      f" of {len(copied['rows'])} tables ({copied['rows']['ledger_transfer']:,} transfers)"
                      f" in {copied['copy']:.1f} s; VACUUM (ANALYZE) {copied['vacuum']:.1f} s")
                started = time.perf_counter()
                checked = subprocess.run([*market_command(), "reports", "check"], env=env_pg, cwd=workdir,
                                         capture_output=True, text=True)
                took = time.perf_counter() - started
                print(f"market reports check: exit {checked.returncode} in {took:.1f} s:"
                      f" {(checked.stdout + checked.stderr).strip()[-300:]}")
                if checked.returncode != 0 or "tallies OK" not in checked.stdout:
                    raise SystemExit("the tallies of the PostgreSQL copy do not agree with its rows")
                _verify_and_measure(pg_url, workdir, args, has_admin, must_verify=True)
    print("\nfirst request after start (ms): "
          + ", ".join(f"{name} {ms:,.0f}" for name, ms in FIRST.items()))


def _verify_and_measure(url: str, workdir: str, args: argparse.Namespace, has_admin: bool,
                        must_verify: bool = False) -> None:
    """``market ledger verify`` (unless --skip-verify), then ``market serve`` and the measurement,
    cold and warm, on the database at ``url``. ``must_verify``: stop when the ledger does not verify."""
    if not args.skip_verify:
        started = time.perf_counter()
        verified = subprocess.run([*market_command(), "ledger", "verify"], env=_env({"DATABASE_URL": url}),
                                  cwd=workdir, capture_output=True, text=True)
        took = time.perf_counter() - started
        print(f"market ledger verify: exit {verified.returncode} in {took:.1f} s:"
              f" {verified.stdout.strip()[-300:]}")
        if must_verify and verified.returncode != 0:
            raise SystemExit(f"the ledger does not verify: {verified.stderr.strip()[-300:]}")
    with market_serve(url, Path(workdir), create_admin=not has_admin) as server:
        for cold in (True, False):
            results = measure(server.url, args.rounds, cold)
            report("cold: a new transfer before every request" if cold
                   else "warm: nothing changed between requests (answers from the cache)", results)


def _has_admin(path: Path) -> bool:
    """Whether the SQLite file has the benchmark's admin already (a file measured before has;
    a freshly generated one has not, and neither has a copy of it)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute("SELECT 1 FROM person WHERE phone = ?", (ADMIN_PHONE,)).fetchone() is not None
    finally:
        con.close()


@contextmanager
def _pg_schema(base_url: str):
    """``bench.common.pg_schema`` for this synchronous script: yields the URL selecting a new,
    empty schema; the schema is dropped afterwards."""
    with asyncio.Runner() as runner:
        manager = pg_schema(base_url)
        _, url = runner.run(manager.__aenter__())
        try:
            yield url
        finally:
            runner.run(manager.__aexit__(None, None, None))


def report(title: str, results: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    base = percentile(results["/health"], 95)
    rows = []
    for name, samples in results.items():
        p95 = percentile(samples, 95)
        rows.append((name, len(samples), median(samples), p95, max(samples), p95 / base))
    print(table(["endpoint", "n", "p50 ms", "p95 ms", "max ms", "p95 / health"], rows))
    print(json.dumps({name: {"p50_ms": round(median(s), 1), "p95_ms": round(percentile(s, 95), 1)}
                      for name, s in results.items()}))


def _env(extra: dict[str, str]) -> dict[str, str]:
    import os

    from bench.checkin_load import REPO, SECRET_KEY
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MARKET_BASE_URL")}
    env |= {"MARKET_SECRET_KEY": SECRET_KEY, "LANG": "en_US.UTF-8", "PYTHONPATH": str(REPO), **extra}
    return env


#: Each endpoint's very first answer after the server started (closed months not yet summed).
FIRST: dict[str, float] = {}


def measure(base_url: str, rounds: int, cold: bool) -> dict[str, list[float]]:
    """Each endpoint once per round, in turn (so a slow moment hits all alike), in ms.

    ``cold``: an admin adjustment (one new transfer, not timed) before every request, so no
    request finds its answer in ``market.reports.board_cache``: a busy community's worst case.
    """
    with httpx.Client(base_url=base_url, timeout=60) as client:
        signed = client.post("/api/session", json={"login": ADMIN_PHONE, "secret": ADMIN_PASSWORD})
        signed.raise_for_status()
        token = signed.json()["token"]
        client.cookies.clear()
        headers = {"Authorization": f"Bearer {token}"}
        community = client.get("/api/transparency").json().get("community_id", 1)
        results: dict[str, list[float]] = {}
        for round_no in range(rounds + 2):
            for path, params in ENDPOINTS:
                query = dict(params)
                if path.endswith("/public"):
                    query["community"] = community
                if cold and path != "/health":
                    moved = client.post(
                        "/api/adjustments", headers={**headers, "Idempotency-Key": uuid4().hex},
                        json={"person_id": 1, "amount": "1.00", "reason": "bench: a change"})
                    moved.raise_for_status()
                started = time.perf_counter()
                response = client.get(path, params=query, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{path} {query}: {response.status_code} {response.text[:300]}")
                label = path + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
                if round_no == 0:
                    FIRST.setdefault(label, elapsed)
                if round_no >= 2:  # two warm-up rounds
                    results.setdefault(label, []).append(elapsed)
    return results


if __name__ == "__main__":
    main()
