"""Transfers per second through ``Ledger.transfer``, against baselines measured in the same run.

    python -m bench.ledger_throughput [--engine sqlite|postgres|both] [--transfers N] [--producers 100]

Every transfer moves 1.00 point from the community's issuance account to one of
1,000 wallets. ``--producers`` asyncio tasks each await their transfers one after
another (so at most that many transfers are ever waiting for the writer).

SQLite (a file in WAL, ``synchronous=FULL``, the store's own settings):

- ledger: the public API, group commit by the ledger's writer;
- raw: stdlib ``sqlite3`` with the same schema, 1,000 transfers per transaction,
  per transfer two ``UPDATE … RETURNING balance`` and one ``INSERT`` carrying the
  real SHA-256 chain hash (``ledger.chain.link``), and the chain's head once per
  transaction — the physical ceiling of this row shape;
- naive: one Piccolo ``SQLiteEngine`` transaction (``BEGIN IMMEDIATE``) per
  transfer: read head and balances, update both accounts, insert the row.

PostgreSQL (fresh schemas in the ``test`` database):

- ledger: the public API, on a fresh schema as it comes;
- ledger, ANALYZE after warm-up: the same after ``ANALYZE`` of the fresh tables
  (what autovacuum does on its own on a live database; the development cluster
  here runs with autovacuum off), so the writer's cached query plans use the indexes;
- raw: asyncpg, same schema, 1,000 transfers per transaction: lock the chain and read its
  head, read the touched accounts, ``executemany`` the 1,000 chained rows, ``executemany``
  the balances, update the chain's head.
"""

import argparse
import asyncio
import itertools
import os
import sqlite3
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
from ledger.chain import genesis_of, link, new_origin
from ledger.model import ROW_COLUMNS, Row
from ledger.schema import INSERT_CHAIN, install_steps
from ledger.stores.postgres import run_upgrade as install_on_postgres
from ledger.stores.sqlite import run_upgrade as install_on_sqlite

WALLETS = 1000
AMOUNT = Decimal("1.00")
HUNDREDTHS = 100
PER_TXN = 1000


class Result:
    def __init__(self, name: str, n: int, seconds: float, latencies: list[float] | None = None,
                 batches: list[int] | None = None) -> None:
        self.name, self.n, self.seconds = name, n, seconds
        self.latencies = latencies or []
        self.batches = batches or []

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    def row(self) -> list[object]:
        lat = self.latencies
        mean_batch = sum(self.batches) / len(self.batches) if self.batches else float("nan")
        return [
            self.name, self.n, self.seconds, self.rate,
            median(lat) * 1000 if lat else float("nan"),
            percentile(lat, 99) * 1000 if lat else float("nan"),
            mean_batch,
        ]


HEADERS = ["case", "transfers", "seconds", "transfers/s", "p50 ms", "p99 ms", "mean batch"]


# -- the ledger through its public API -------------------------------------------


async def _produce(
    ledger: Ledger, issuance: int, wallets: list[int], prefix: str, n: int, producers: int
) -> list[float]:
    counter = itertools.count()
    latencies: list[float] = []

    async def producer() -> None:
        while (i := next(counter)) < n:
            started = time.perf_counter()
            await ledger.transfer(f"{prefix}{i}", issuance, wallets[i % len(wallets)], AMOUNT, "earn")
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(producer() for _ in range(producers)))
    return latencies


async def ledger_case(
    name: str, url: str, n: int, producers: int, check: bool, after_warmup=None
) -> Result:
    ledger = await installed_ledger(url)
    try:
        issuance = (await ledger.open_account(1, "issuance")).id
        wallets = [(await ledger.open_account(1, "wallet", f"w{i}")).id for i in range(WALLETS)]
        await _produce(ledger, issuance, wallets, "warm", min(2000, n), producers)
        if after_warmup is not None:
            await after_warmup()

        batches: list[int] = []
        apply = ledger.store.apply

        async def counting_apply(requests, now_us):
            batches.append(len(requests))
            return await apply(requests, now_us)

        ledger.store.apply = counting_apply  # type: ignore[method-assign]
        started = time.perf_counter()
        latencies = await _produce(ledger, issuance, wallets, "t", n, producers)
        seconds = time.perf_counter() - started
        ledger.store.apply = apply  # type: ignore[method-assign]
        if check:
            report = await ledger.verify()
            expected = n + min(2000, n)
            if not (report.ok and report.entries == expected and report.total == 0):
                raise SystemExit(f"{name}: verify failed: {report}")
        return Result(name, n, seconds, latencies, batches)
    finally:
        await ledger.close()


# -- raw sqlite3 group commit ------------------------------------------------------

#: Every column but ``seq``, which the table gives.
_WRITTEN = [c for c in ROW_COLUMNS if c != "seq"]
_INSERT_SQLITE = (
    f"INSERT INTO ledger_transfer ({', '.join(_WRITTEN)}) VALUES ({','.join('?' * len(_WRITTEN))})"
)
GENESIS_1 = genesis_of(new_origin(1))


def _sqlite_setup(path: str) -> tuple[sqlite3.Connection, int, list[int]]:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    install_on_sqlite(con, install_steps("sqlite"))
    con.execute("BEGIN")
    con.execute(INSERT_CHAIN.format(p1="?1", p2="?2", p3="?3", p4="0"), (1, GENESIS_1, new_origin(1)))
    issuance = con.execute(
        "INSERT INTO ledger_account (ledger, kind, owner, allow_negative) VALUES (1, 'issuance', '', 1)"
        " RETURNING id"
    ).fetchone()[0]
    wallets = [
        con.execute(
            "INSERT INTO ledger_account (ledger, kind, owner) VALUES (1, 'wallet', ?) RETURNING id",
            (f"w{i}",),
        ).fetchone()[0]
        for i in range(WALLETS)
    ]
    con.execute("COMMIT")
    return con, issuance, wallets


def raw_sqlite_case(path: str, n: int) -> Result:
    con, issuance, wallets = _sqlite_setup(path)
    debit_sql = "UPDATE ledger_account SET balance = balance - ? WHERE id = ? RETURNING balance"
    credit_sql = "UPDATE ledger_account SET balance = balance + ? WHERE id = ? RETURNING balance"
    try:
        previous, number = GENESIS_1, 0
        started = time.perf_counter()
        for start in range(0, n, PER_TXN):
            con.execute("BEGIN IMMEDIATE")
            now_us = time.time_ns() // 1000
            for i in range(start, min(n, start + PER_TXN)):
                wallet = wallets[i % WALLETS]
                debit_after = con.execute(debit_sql, (HUNDREDTHS, issuance)).fetchone()[0]
                credit_after = con.execute(credit_sql, (HUNDREDTHS, wallet)).fetchone()[0]
                number += 1
                row = Row(0, f"t{i}", 1, "earn", "single", issuance, wallet, HUNDREDTHS, "", None, None,
                          None, None, now_us, debit_after, credit_after, "", number)
                row.hash = previous = link(previous, row)
                con.execute(_INSERT_SQLITE, row.values()[1:])
            con.execute(
                "UPDATE ledger_chain SET head_seq = ?, head_hash = ?, head_at_us = ? WHERE ledger = 1",
                (number, previous, now_us),
            )
            con.execute("COMMIT")
        seconds = time.perf_counter() - started
    finally:
        con.close()
    return Result("raw sqlite3, 1000/txn", n, seconds)


# -- naive: one Piccolo transaction per transfer -------------------------------------


async def naive_piccolo_case(path: str, n: int, producers: int) -> Result:
    from piccolo.engine.sqlite import SQLiteEngine, TransactionType
    from piccolo.querystring import QueryString

    con, issuance, wallets = _sqlite_setup(path)
    con.close()
    db = SQLiteEngine(path=path, timeout=30)

    async def query(sql: str, *args):
        return await db.run_querystring(QueryString(sql, *args))

    insert = (f"INSERT INTO ledger_transfer ({', '.join(_WRITTEN)})"
              f" VALUES ({', '.join(['{}'] * len(_WRITTEN))})")

    async def transfer(i: int) -> None:
        wallet = wallets[i % WALLETS]
        async with db.transaction(transaction_type=TransactionType.immediate):
            (head,) = await query("SELECT head_seq, head_hash FROM ledger_chain WHERE ledger = 1")
            number, previous = head["head_seq"], head["head_hash"]
            found = await query(
                "SELECT id, balance, held, allow_negative FROM ledger_account WHERE id IN ({}, {})",
                issuance, wallet,
            )
            balances = {a["id"]: a for a in found}
            debit, credit = balances[issuance], balances[wallet]
            if not debit["allow_negative"] and debit["balance"] - debit["held"] < HUNDREDTHS:
                raise RuntimeError("insufficient funds")
            debit_after, credit_after = debit["balance"] - HUNDREDTHS, credit["balance"] + HUNDREDTHS
            await query("UPDATE ledger_account SET balance = {} WHERE id = {}", debit_after, issuance)
            await query("UPDATE ledger_account SET balance = {} WHERE id = {}", credit_after, wallet)
            row = Row(0, f"t{i}", 1, "earn", "single", issuance, wallet, HUNDREDTHS, "", None, None,
                      None, None, time.time_ns() // 1000, debit_after, credit_after, "", number + 1)
            row.hash = link(previous, row)
            await query(insert, *row.values()[1:])
            await query("UPDATE ledger_chain SET head_seq = {}, head_hash = {} WHERE ledger = 1",
                        row.number, row.hash)

    counter = itertools.count()
    latencies: list[float] = []

    async def producer() -> None:
        while (i := next(counter)) < n:
            started = time.perf_counter()
            await transfer(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(producers)))
    seconds = time.perf_counter() - started
    check = sqlite3.connect(path)
    try:
        count, total = check.execute("SELECT COUNT(*), (SELECT SUM(balance) FROM ledger_account)"
                                     " FROM ledger_transfer").fetchone()
    finally:
        check.close()
    if count != n or total != 0:
        raise SystemExit(f"naive: {count} rows, balances sum {total}")
    return Result("naive Piccolo, 1 txn/transfer", n, seconds, latencies)


# -- raw asyncpg group commit ----------------------------------------------------------


async def raw_pg_case(url: str, n: int) -> Result:
    con = await asyncpg.connect(url)
    try:
        async with con.transaction():
            await install_on_postgres(con, install_steps("postgres"))
            await con.execute(INSERT_CHAIN.format(p1="$1", p2="$2", p3="$3", p4="0"), 1, GENESIS_1,
                              new_origin(1))
        issuance = await con.fetchval(
            "INSERT INTO ledger_account (ledger, kind, owner, allow_negative)"
            " VALUES (1, 'issuance', '', TRUE) RETURNING id"
        )
        wallets = [r["id"] for r in await con.fetch(
            "INSERT INTO ledger_account (ledger, kind, owner) SELECT 1, 'wallet', 'w' || g"
            " FROM generate_series(0, $1 - 1) AS g ORDER BY g RETURNING id", WALLETS,
        )]
        insert = f"INSERT INTO ledger_transfer ({', '.join(_WRITTEN)}) VALUES " \
                 f"({', '.join(f'${i}' for i in range(1, len(_WRITTEN) + 1))})"
        started = time.perf_counter()
        for start in range(0, n, PER_TXN):
            async with con.transaction():
                number, previous = await con.fetchrow(
                    "SELECT head_seq, head_hash FROM ledger_chain WHERE ledger = 1 FOR UPDATE")
                now_us = time.time_ns() // 1000
                chunk = range(start, min(n, start + PER_TXN))
                ids = sorted({issuance} | {wallets[i % WALLETS] for i in chunk})
                balances = dict(await con.fetch(
                    "SELECT id, balance FROM ledger_account WHERE id = ANY($1::bigint[])", ids
                ))
                rows = []
                for i in chunk:
                    wallet = wallets[i % WALLETS]
                    balances[issuance] -= HUNDREDTHS
                    balances[wallet] += HUNDREDTHS
                    number += 1
                    row = Row(0, f"t{i}", 1, "earn", "single", issuance, wallet, HUNDREDTHS, "", None,
                              None, None, None, now_us, balances[issuance], balances[wallet], "", number)
                    row.hash = previous = link(previous, row)
                    rows.append(row.values()[1:])
                await con.executemany(insert, rows)
                await con.executemany(
                    "UPDATE ledger_account SET balance = $1 WHERE id = $2",
                    [(balances[i], i) for i in ids],
                )
                await con.execute("UPDATE ledger_chain SET head_seq = $1, head_hash = $2, head_at_us = $3"
                                  " WHERE ledger = 1", number, previous, now_us)
        seconds = time.perf_counter() - started
    finally:
        await con.close()
    return Result("raw asyncpg, 1000/txn", n, seconds)


# -- main ----------------------------------------------------------------------------------


async def run_sqlite(args: argparse.Namespace) -> list[Result]:
    async with sqlite_dir() as directory:
        raw = raw_sqlite_case(os.path.join(directory, "raw.db"), args.transfers)
        print(f"  {raw.name}: {raw.rate:,.0f}/s", flush=True)
        led = await ledger_case("ledger (SQLite)", f"sqlite:///{directory}/ledger.db", args.transfers,
                                args.producers, args.verify)
        print(f"  {led.name}: {led.rate:,.0f}/s", flush=True)
        naive = await naive_piccolo_case(os.path.join(directory, "naive.db"), args.naive_transfers,
                                         args.producers)
        print(f"  {naive.name}: {naive.rate:,.0f}/s", flush=True)
    return [led, raw, naive]


async def run_postgres(args: argparse.Namespace) -> list[Result]:
    async with pg_schema(args.pg_url) as (_, url):
        raw = await raw_pg_case(url, args.pg_raw_transfers)
    print(f"  {raw.name}: {raw.rate:,.0f}/s", flush=True)
    async with pg_schema(args.pg_url) as (_, url):
        led = await ledger_case("ledger (PostgreSQL)", url, args.pg_transfers, args.producers, args.verify)
    print(f"  {led.name}: {led.rate:,.0f}/s", flush=True)
    async with pg_schema(args.pg_url) as (schema, url):

        async def analyze() -> None:
            con = await asyncpg.connect(args.pg_url)
            try:
                for table_name in ("ledger_transfer", "ledger_account", "ledger_hold"):
                    await con.execute(f"ANALYZE {schema}.{table_name}")
            finally:
                await con.close()

        analyzed = await ledger_case("ledger (PostgreSQL, ANALYZE after warm-up)", url, args.pg_transfers,
                                     args.producers, args.verify, analyze)
    print(f"  {analyzed.name}: {analyzed.rate:,.0f}/s", flush=True)
    return [led, raw, analyzed]


async def main(args: argparse.Namespace) -> None:
    extra = {"producers": str(args.producers)}
    if args.engine in ("postgres", "both"):
        extra["postgres"] = await pg_version(args.pg_url)
    print_machine(extra)
    results: list[Result] = []
    lines: list[tuple[str, float, str]] = []
    aims: list[tuple[str, str, bool]] = []
    if args.engine in ("sqlite", "both"):
        print("SQLite …", flush=True)
        led, raw, naive = await run_sqlite(args)
        results += [led, raw, naive]
        lines += [
            ("ledger_sqlite_transfers_per_s", led.rate, "transfers/s"),
            ("raw_sqlite_transfers_per_s", raw.rate, "transfers/s"),
            ("naive_piccolo_sqlite_transfers_per_s", naive.rate, "transfers/s"),
            ("ledger_sqlite_over_raw", led.rate / raw.rate, "ratio"),
            ("ledger_sqlite_over_naive", led.rate / naive.rate, "ratio"),
            ("ledger_sqlite_latency_p50", median(led.latencies) * 1000, "ms"),
            ("ledger_sqlite_latency_p99", percentile(led.latencies, 99) * 1000, "ms"),
        ]
        aims += [
            ("SQLite ledger >= 10,000 transfers/s", f"{led.rate:,.0f}/s", led.rate >= 10_000),
            ("SQLite ledger >= 0.2 x raw", f"{led.rate / raw.rate:.3f}", led.rate / raw.rate >= 0.2),
        ]
    if args.engine in ("postgres", "both"):
        print("PostgreSQL …", flush=True)
        led, raw, analyzed = await run_postgres(args)
        results += [led, analyzed, raw]
        lines += [
            ("ledger_postgres_transfers_per_s", led.rate, "transfers/s"),
            ("ledger_postgres_analyzed_transfers_per_s", analyzed.rate, "transfers/s"),
            ("raw_postgres_transfers_per_s", raw.rate, "transfers/s"),
            ("ledger_postgres_over_raw", led.rate / raw.rate, "ratio"),
            ("ledger_postgres_analyzed_over_raw", analyzed.rate / raw.rate, "ratio"),
            ("ledger_postgres_latency_p50", median(led.latencies) * 1000, "ms"),
            ("ledger_postgres_latency_p99", percentile(led.latencies, 99) * 1000, "ms"),
        ]
        aims += [
            ("PostgreSQL ledger >= 3,000 transfers/s", f"{led.rate:,.0f}/s", led.rate >= 3_000),
            ("PostgreSQL ledger >= 0.5 x raw asyncpg", f"{led.rate / raw.rate:.3f}",
             led.rate / raw.rate >= 0.5),
        ]

    print()
    print(table(HEADERS, [r.row() for r in results]))
    print()
    print(table(["aim", "measured", "met"], [(a, m, "yes" if ok else "NO") for a, m, ok in aims]))
    print()
    for metric, value, unit in lines:
        print(f"{metric} {value:.3f} {unit}" if unit in ("ratio", "ms") else f"{metric} {value:.0f} {unit}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--transfers", type=int, default=100_000,
                        help="SQLite ledger and raw baseline (default 100,000)")
    parser.add_argument("--naive-transfers", type=int, default=3_000, help="naive Piccolo (default 3,000)")
    parser.add_argument("--pg-transfers", type=int, default=30_000, help="PostgreSQL ledger (default 30,000)")
    parser.add_argument("--pg-raw-transfers", type=int, default=100_000,
                        help="PostgreSQL raw baseline (default 100,000)")
    parser.add_argument("--producers", type=int, default=100)
    parser.add_argument("--pg-url", default=PG_URL, help="a database to create throwaway schemas in")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="skip ledger.verify() after each ledger run (not timed either way)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
