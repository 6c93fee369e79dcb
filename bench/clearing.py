"""Yearly clearing of a big community, with check-ins answering all along.

    python -m bench.clearing [--engine sqlite|postgres] [--people 100000] [--lots-each 10]
                             [--residents 100] [--spread 8]

What it does:

1. A fresh database (an SQLite file, or a PostgreSQL schema), ``market admin create`` and
   ``market serve`` (one worker), the calendar-year policy set over the API, and the check-in
   set-up of ``bench.checkin_load`` (``--residents`` residents with tokens, activities open now).
2. The big community, written straight into the database (not timed): ``--people`` wallets, each
   credited its balance through the ledger (group-committed transfers), and ``--lots-each`` lots per
   person — seven earned in 2025 (expiring when 2025 ends), the rest in 2026 (expiring when 2026
   ends); each balance is its lots less a random part already spent. 100,000 × 10 = 1,000,000 lots.
3. Baseline: two rounds of check-in and check-out by the residents, spread over ``--spread``
   seconds a phase (the same generator as ``bench.checkin_load``, in its own process).
4. The clearing: ``market points expire --at 2026-01-01T00:00:00+08:00`` as a process of its own,
   timed, while the same load runs again (more rounds, so it lasts longer than the clearing).
5. Checks (not timed): the points moved equal what the lot rule gives, computed here from the
   generated numbers; a second run moves nothing; every check-in and check-out answered 2xx.

Reported: clearing wall time and people per second; check-in/check-out p50 and p99 before and
during the clearing, and their ratio (during ÷ before) — the baseline is measured in the same run.
"""

import argparse
import asyncio
import concurrent.futures
import multiprocessing
import random
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx

from bench.checkin_load import (
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    LoadPlan,
    bearer,
    market_command,
    market_env,
    market_serve,
    run_load,
    set_up,
    sign_in,
)
from bench.common import PG_URL, median, percentile, pg_schema, pg_version, print_machine, table
from ledger import Ledger
from market.points.lots import to_us
from market.points.policy import CHINA

YEAR_END_2025 = "2026-01-01T00:00:00+08:00"
OLD_LOTS = 7  # per person, expiring when 2025 ends; the rest when 2026 ends


def expiry_us(text: str) -> int:
    from datetime import datetime

    return to_us(datetime.fromisoformat(text).astimezone(CHINA))


def people_numbers(people: int, lots_each: int, seed: int = 15) -> list[tuple[list[int], int]]:
    """Per person: the lots' amounts (hundredths) and the balance left after some spending."""
    rng = random.Random(seed)
    found = []
    for _ in range(people):
        amounts = [rng.randint(100, 900) for _ in range(lots_each)]
        total = sum(amounts)
        found.append((amounts, total - rng.randint(0, total // 2)))
    return found


def expected_expiry(numbers: list[tuple[list[int], int]]) -> int:
    """The lot rule (``market.points.lots``): the balance is its latest-expiring lots."""
    moved = 0
    for amounts, balance in numbers:
        total, alive = sum(amounts), sum(amounts[OLD_LOTS:])
        moved += max(0, min(balance, total) - alive)
    return moved


@asynccontextmanager
async def database(engine: str, pg_url: str):
    """(DATABASE_URL, schema or None, working directory) of a fresh database; removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="clearing-bench-"))
    try:
        if engine == "sqlite":
            yield f"sqlite:///{workdir}/market.db", None, workdir
        else:
            async with pg_schema(pg_url) as (schema, url):
                yield url, schema, workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def fill(url: str, schema: str | None, community: int, numbers: list[tuple[list[int], int]]) -> float:
    """Wallets credited through the ledger, lots written in bulk; returns the seconds it took."""
    started = time.perf_counter()
    owners = [str(1_000_000 + i) for i in range(len(numbers))]
    async with Ledger.from_url(url, sweep_every=None) as ledger:
        issuance = await ledger.account_id(community, "issuance")
        wallets = {}
        for start in range(0, len(owners), 5_000):
            wallets |= await ledger.open_accounts(community, "wallet", owners[start:start + 5_000])
        for start in range(0, len(owners), 5_000):
            await asyncio.gather(*(
                ledger.transfer(f"bench:{owner}", issuance, wallets[owner].id,
                                Decimal(numbers[i][1]) / 100, "checkin", ledger=community)
                for i, owner in enumerate(owners[start:start + 5_000], start=start)
            ))
    old_earned, new_earned = expiry_us("2025-06-01T10:00:00+08:00"), expiry_us("2026-03-01T10:00:00+08:00")
    old_expiry, new_expiry = expiry_us(YEAR_END_2025), expiry_us("2027-01-01T00:00:00+08:00")
    rows = [
        (f"bench:{owner}:{k}", 0, community, int(owner), "checkin", amount,
         old_earned if k < OLD_LOTS else new_earned, old_expiry if k < OLD_LOTS else new_expiry)
        for owner, (amounts, _) in zip(owners, numbers, strict=True) for k, amount in enumerate(amounts)
    ]
    columns = ["transfer_id", "part", "community", "person", "kind", "amount", "earned_us", "expires_us"]
    if schema is None:
        con = sqlite3.connect(url.removeprefix("sqlite:///"))
        with con:
            con.executemany(
                f"INSERT INTO points_lot ({', '.join(columns)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
        # The fill's writes out of the way before anything is measured: the WAL folded back.
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
    else:
        con = await asyncpg.connect(without_search_path(url))
        try:
            await con.copy_records_to_table("points_lot", records=rows, columns=columns, schema_name=schema)
            await con.execute(f"ANALYZE {schema}.points_lot")
            # The fill's WAL written out before anything is measured (not a checkpoint mid-run).
            await con.execute("CHECKPOINT")
        finally:
            await con.close()
    return time.perf_counter() - started


def without_search_path(url: str) -> str:
    """The URL as asyncpg takes it (``?search_path=`` is the market's own option)."""
    return re.sub(r"[?&]search_path=[^&]*", "", url)


def load(plan: LoadPlan) -> list:
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_load, plan).result().phases


def summary(phases: list, name: str) -> tuple[float, float, int, int]:
    latencies = [x for p in phases if p.name == name for x in p.latencies]
    bad = sum(n for p in phases if p.name == name for s, n in p.statuses.items() if not 200 <= s < 300)
    return median(latencies) * 1000, percentile(latencies, 99) * 1000, len(latencies), bad


async def main(args: argparse.Namespace) -> int:
    extra = {"engine": args.engine, "people": str(args.people), "lots": str(args.people * args.lots_each)}
    if args.engine == "postgres":
        extra["postgres"] = await pg_version(args.pg_url)
    print_machine(extra)
    numbers = people_numbers(args.people, args.lots_each)
    expected = expected_expiry(numbers)
    async with database(args.engine, args.pg_url) as (url, schema, workdir):
        with market_serve(url, workdir) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                admin = await sign_in(client, ADMIN_PHONE, ADMIN_PASSWORD)
                policy = await client.put("/api/points/policy", headers=bearer(admin),
                                          json={"expiry": "calendar_year"})
                assert policy.status_code == 200, policy.text
                community = (await client.get("/api/ledger/verify", headers=bearer(admin))).status_code
                assert community == 200
            setup = await set_up(server.url, args.residents, 6)
            community_id = 1  # the fresh database's one community, made by `market admin create`
            print(f"filling {args.people} wallets and {args.people * args.lots_each} lots …", flush=True)
            filled = await fill(url, schema, community_id, numbers)
            print(f"  filled in {filled:.1f} s", flush=True)

            def plan(activities: list[int]) -> LoadPlan:
                return LoadPlan(server.url, server.pid, setup.organizer, setup.residents, activities,
                                args.residents, 50, args.spread)

            before = await asyncio.to_thread(load, plan(setup.activities[:2]))
            env = market_env(url)
            command = [*market_command(), "points", "expire", "--at", YEAR_END_2025]
            during_load = asyncio.create_task(asyncio.to_thread(load, plan(setup.activities[2:])))
            await asyncio.sleep(args.spread / 2)  # the load is under way
            started = time.perf_counter()
            done = await asyncio.to_thread(subprocess.run, command, env=env, cwd=workdir,
                                           capture_output=True, text=True)
            clearing = time.perf_counter() - started
            during = await during_load
            if done.returncode != 0:
                raise SystemExit(f"market points expire failed:\n{done.stdout}\n{done.stderr}")
            print(done.stdout.strip())
            again = await asyncio.to_thread(subprocess.run, command, env=env, cwd=workdir,
                                            capture_output=True, text=True, check=True)
    moved = re.search(r"([\d.]+) points of (\d+) people", done.stdout)
    moved_again = re.search(r"([\d.]+) points of (\d+) people", again.stdout)
    assert moved and moved_again
    moved_hundredths = round(float(moved.group(1)) * 100)
    people_moved = int(moved.group(2))

    rows, ratios = [], {}
    for name in ("check-in", "check-out"):
        b50, b99, bn, bbad = summary(before, name)
        d50, d99, dn, dbad = summary(during, name)
        rows.append([name, bn, b50, b99, dn, d50, d99, d99 / b99, bbad + dbad])
        ratios[name] = d99 / b99
    print()
    print(table(["phase", "before n", "p50 ms", "p99 ms", "during n", "p50 ms", "p99 ms",
                 "p99 during/before", "errors"], rows))
    errors = sum(r[-1] for r in rows)
    aims = [
        ("clearing < 60 s", f"{clearing:.1f} s ({people_moved / clearing:,.0f} people/s)", clearing < 60),
        ("moved = the lot rule's expired points", f"{moved_hundredths} = {expected}",
         moved_hundredths == expected),
        ("a second run moves nothing", moved_again.group(0), moved_again.group(1) == "0.00"),
        ("every scan during the clearing answered 2xx", str(errors), errors == 0),
    ]
    print()
    print(table(["aim", "measured", "met"], [(a, m, "yes" if ok else "NO") for a, m, ok in aims]))
    print()
    print(f"clearing_seconds {clearing:.3f} s")
    print(f"clearing_people {people_moved} count")
    print(f"checkin_p99_during_over_before {ratios['check-in']:.3f} ratio")
    return 0 if all(ok for _, _, ok in aims) else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.clearing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--lots-each", type=int, default=10)
    parser.add_argument("--residents", type=int, default=100, help="residents scanning (default 100)")
    parser.add_argument("--spread", type=float, default=8.0,
                        help="seconds each scan phase is spread over (default 8)")
    parser.add_argument("--pg-url", default=PG_URL)
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
