"""Read latency for a wallet with a long history against wallets with short ones.

    python -m bench.ledger_reads [--engine sqlite|postgres|both] [--big 1000000] [--calls 2000]

Builds, through ``Ledger.transfer`` itself (``--chunk`` transfers at a time with
asyncio.gather), one wallet with ``--big`` transfers (three in four earn points
from issuance, one in four spends at the shop, so both of the account's indexes
grow), one wallet with 10 transfers ("small", the one the aim is about) and one
with 30 ("page": a full first page, so big/page compares equal page sizes); the
quiet wallets' transfers are spread over the whole log. Then it times
``ledger.balance(acct)`` and ``ledger.entries(acct, limit=20)`` ``--calls`` times
per wallet, the wallets taking turns in a rotating order so drift hits all alike,
and prints median and p99 latency and the ratios. Aim: big/small ≤ 1.2.

On PostgreSQL the tables are ANALYZEd after the first ``--chunk`` transfers and
again after the build — what autovacuum does on a live database (this machine's
cluster runs with autovacuum off; see docs/PERFORMANCE.md). Without it the
writer's cached plans scan the whole table on every batch.
"""

import argparse
import asyncio
import time
from decimal import Decimal

import asyncpg

from bench.common import (
    PG_URL,
    installed_ledger,
    median,
    percentile,
    pg_schema,
    pg_version,
    print_machine,
    sqlite_dir,
    table,
)
from ledger import Ledger

#: The quiet wallets and their number of transfers: "small" is the one the aim is
#: about; "page" has a full first page (20 of 30), so big/page compares equal page sizes.
QUIET = {"small": 10, "page": 30}
SMALL = QUIET["small"]
OPS = ("balance", "entries")


async def build(ledger: Ledger, big: int, chunk: int, after_first_chunk=None) -> tuple[dict[str, int], float]:
    """Open the accounts and write the histories; returns ({wallet: account id}, build seconds)."""
    issuance = (await ledger.open_account(1, "issuance")).id
    shop = (await ledger.open_account(1, "shop")).id
    ids = {name: (await ledger.open_account(1, "wallet", name)).id for name in ("big", *QUIET)}
    # The quiet wallets' transfers are spread over the whole log; every third one spends.
    due: dict[int, list[str]] = {}
    for name, count in QUIET.items():
        for k in range(count):
            due.setdefault(k * big // count, []).append(name)
    written = dict.fromkeys(QUIET, 0)
    started = time.perf_counter()
    last_report = started
    for start in range(0, big, chunk):
        calls = []
        for i in range(start, min(big, start + chunk)):
            if i % 4 == 3:
                calls.append(ledger.transfer(f"b{i}", ids["big"], shop, Decimal("0.50"), "spend"))
            else:
                calls.append(ledger.transfer(f"b{i}", issuance, ids["big"], Decimal("1.00"), "earn"))
            for name in due.get(i, ()):
                k = written[name]
                written[name] += 1
                if k % 3 == 2:
                    calls.append(ledger.transfer(f"{name}{k}", ids[name], shop, Decimal("0.50"), "spend"))
                else:
                    calls.append(ledger.transfer(f"{name}{k}", issuance, ids[name], Decimal("1.00"), "earn"))
        await asyncio.gather(*calls)
        if start == 0 and after_first_chunk is not None:
            await after_first_chunk()
        now = time.perf_counter()
        if now - last_report > 5:
            done = min(big, start + chunk)
            print(f"  built {done:,} of {big:,} ({done / (now - started):,.0f}/s)", flush=True)
            last_report = now
    return ids, time.perf_counter() - started


async def measure(ledger: Ledger, ids: dict[str, int], calls: int) -> dict[tuple[str, str], list[float]]:
    """Latencies per (operation, wallet); the wallets take turns, in a rotating order."""
    names = list(ids)
    timings: dict[tuple[str, str], list[float]] = {(op, n): [] for op in OPS for n in names}
    for _ in range(50):  # warm up the reader thread / pool, prepared statements and the page cache
        for name in names:
            await ledger.balance(ids[name])
            await ledger.entries(ids[name], limit=20)
    for i in range(calls):
        order = names[i % len(names):] + names[: i % len(names)]
        if i % 2:
            order.reverse()
        for op in OPS:
            for name in order:
                account = ids[name]
                started = time.perf_counter()
                if op == "balance":
                    await ledger.balance(account)
                else:
                    await ledger.entries(account, limit=20)
                timings[op, name].append(time.perf_counter() - started)
    return timings


async def check(ledger: Ledger, ids: dict[str, int], big: int) -> None:
    """The histories are what was written (so the timings read real data)."""
    for name, (size, more) in {"big": (20, True), "small": (SMALL, False), "page": (20, True)}.items():
        page, cursor = await ledger.entries(ids[name], limit=20)
        if len(page) != size or (cursor is not None) != more:
            raise SystemExit(f"{name} wallet: first page has {len(page)} entries, expected {size}")
    earned, spent = big - big // 4, big // 4
    if (await ledger.balance(ids["big"])).balance != Decimal(earned) - Decimal(spent) * Decimal("0.50"):
        raise SystemExit("big wallet: wrong balance")


async def run_engine(
    engine: str, url: str, args: argparse.Namespace, analyze=None
) -> tuple[list[tuple], tuple[int, int]]:
    big, calls = args.big, args.calls
    ledger = await installed_ledger(url)
    try:
        ids, seconds = await build(ledger, big, args.chunk, analyze)
        if analyze is not None:
            await analyze()  # the statistics autovacuum would have gathered by now
        print(f"  built {big:,} transfers in {seconds:.1f} s ({big / seconds:,.0f}/s); "
              f"timing {calls:,} calls per wallet and operation", flush=True)
        await check(ledger, ids, big)
        timings = await measure(ledger, ids, calls)
    finally:
        await ledger.close()
    rows = []
    for op in OPS:
        big_times = timings[op, "big"]
        for other in QUIET:
            small = timings[op, other]
            rows.append((
                engine, op, f"big/{other}", median(big_times) * 1e6, percentile(big_times, 99) * 1e6,
                median(small) * 1e6, percentile(small, 99) * 1e6,
                median(big_times) / median(small), percentile(big_times, 99) / percentile(small, 99),
            ))
    return rows, (big, calls)


async def main(args: argparse.Namespace) -> None:
    extra: dict[str, str] = {}
    if args.engine in ("postgres", "both"):
        extra["postgres"] = await pg_version(args.pg_url)
    print_machine(extra)
    rows: list[tuple] = []
    sizes: dict[str, tuple[int, int]] = {}
    if args.engine in ("sqlite", "both"):
        print("SQLite …", flush=True)
        async with sqlite_dir() as directory:
            found, sizes["sqlite"] = await run_engine("sqlite", f"sqlite:///{directory}/ledger.db", args)
            rows += found
    if args.engine in ("postgres", "both"):
        print("PostgreSQL …", flush=True)
        async with pg_schema(args.pg_url) as (schema, url):

            async def analyze() -> None:
                con = await asyncpg.connect(args.pg_url)
                try:
                    for name in ("ledger_transfer", "ledger_account", "ledger_hold"):
                        await con.execute(f"ANALYZE {schema}.{name}")
                finally:
                    await con.close()

            found, sizes["postgres"] = await run_engine("postgres", url, args, analyze)
            rows += found

    print()
    for engine, (big, calls) in sizes.items():
        print(f"{engine}: big wallet {big:,} transfers, small {QUIET['small']}, page {QUIET['page']}; "
              f"{calls:,} calls per wallet and operation, interleaved; latency in µs")
    print(table(["engine", "op", "pair", "big p50", "big p99", "other p50", "other p99", "ratio p50",
                 "ratio p99"], rows))
    print()
    aims = [(f"{e} {op} p50 big/small <= 1.2", f"{r50:.2f}", _verdict(r50))
            for e, op, pair, _, _, _, _, r50, _ in rows if pair == "big/small"]
    print(table(["aim", "measured", "met"], aims))
    print()
    for engine, (big, calls) in sizes.items():
        print(f"{engine}_big_wallet_transfers {big} transfers")
        print(f"{engine}_calls_per_wallet {calls} calls")
    done = set()
    for e, op, pair, b50, b99, s50, s99, r50, r99 in rows:
        other = pair.split("/")[1]
        if (e, op) not in done:
            done.add((e, op))
            print(f"{e}_{op}_big_p50 {b50:.0f} us")
            print(f"{e}_{op}_big_p99 {b99:.0f} us")
        print(f"{e}_{op}_{other}_p50 {s50:.0f} us")
        print(f"{e}_{op}_{other}_p99 {s99:.0f} us")
        print(f"{e}_{op}_big_over_{other}_p50 {r50:.3f} ratio")
        print(f"{e}_{op}_big_over_{other}_p99 {r99:.3f} ratio")


def _verdict(ratio: float) -> str:
    if ratio > 1.2:
        return "NO"
    if ratio < 1 / 1.2:
        return "yes, but the SMALL wallet is the slow one"
    return "yes"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger_reads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--big", type=int, default=1_000_000, help="the big wallet's transfers")
    parser.add_argument("--chunk", type=int, default=2_000, help="transfers gathered at once while building")
    parser.add_argument("--calls", type=int, default=2_000, help="timed calls per wallet and operation")
    parser.add_argument("--pg-url", default=PG_URL, help="a database to create a throwaway schema in")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
