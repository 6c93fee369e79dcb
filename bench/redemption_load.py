"""Redemptions over HTTP against ``market serve``: shop counters, closed-loop, and the same server's
trivial endpoint in the same run.

    python -m bench.redemption_load [--engine sqlite|postgres] [--counters 20] [--rounds 3]
                                    [--per-counter 40] [--health-requests 2000] [--residents 200]

A community shop serves a queue of residents on a festival day: each counter scans a resident's
member code and confirms a cart of 5 products; the next resident steps up when the answer is back.

1. Starts ``market serve`` (one worker, its own settings, access log on) exactly as
   ``bench.checkin_load`` does (its ``market_serve`` and ``database``): a fresh SQLite file or a
   fresh PostgreSQL schema, ``market admin create`` first.
2. Setup over the API (not timed): ``--counters`` shop keepers signed in (one per counter),
   ``--residents`` residents with a PIN, signed in and each given ``FUNDING`` points
   (``POST /api/adjustments``), 10 products at 2.50 points with 100,000 in stock.
3. A load generator in ANOTHER process (``bench.checkin_load.Connection``: one keep-alive
   connection per counter) runs, per round:
   - ``health``: ``--health-requests`` × ``GET /health`` over the same connections;
   - (not timed) every resident's current member code, ``GET /api/me/code`` as that resident —
     codes rotate every 30 s and are accepted for 30–60 s after they are fetched, so a round must
     stay short; a redemption answered 410 fetches the resident's new code and is sent again
     (counted separately, in ``410 refetched``);
   - ``redeem``: ``--counters`` counters at once, each with one request in flight (closed loop),
     ``--per-counter`` × ``--counters`` ``POST /api/redemptions`` in all, with a unique
     ``Idempotency-Key`` and a cart of 5 distinct products, quantities 1–2; counter k serves
     residents k, k + counters, … in turn (a resident queues at one counter only). The lines go
     in random order (as the goods come to the counter), or sorted by product with
     ``--sorted-carts``.
   A phase's rate is its requests over its wall time; latency is per request as the client sees
   it. Server CPU is read from ``/proc/<pid>/stat``.
4. Verification (not timed): every key was answered once, every 201 with its own redemption id;
   the first key of every counter sent again with the same body (its code expired by then) answers
   201 with the same redemption; ``GET /api/ledger/verify`` is ok with one entry per adjustment and
   per redemption; every product's stock is 100,000 minus the units redeemed; every resident's
   balance is the funding minus the totals of their redemptions, and equals the ``balance_after``
   of their last one.

Reported: per phase and round a table, the medians over rounds, the ratio redemptions/s ÷ health
requests/s, and the aim: p99 of a redemption < 100 ms with 20 counters at once. A warm-up round 0
(one redemption per counter) is verified with the rest but not reported. Setup and verification
use httpx. Client and server share this machine's CPUs.
"""

import argparse
import asyncio
import concurrent.futures
import json
import multiprocessing
import random
import shutil
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import httpx

from bench.checkin_load import (
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    HEADERS,
    SETUP_CONCURRENCY,
    Connection,
    Phase,
    SetupClient,
    _check,
    _phase,
    bearer,
    database,
    market_serve,
    no_cookies,
    resident_phone,
    sign_in,
)
from bench.common import PG_URL, median, percentile, pg_version, print_machine, table

PRICE = Decimal("2.50")
STOCK = 100_000
PRODUCTS = 10
CART = 5
FUNDING = Decimal("20000.00")
PINS = ("258036", "369147")
KEEPER_PASSWORD = "bench-keeper-password"
P99_AIM_MS = 100.0


def keeper_phone(k: int) -> str:
    return f"137{k:08d}"


def resident_pin(i: int) -> str:
    """A PIN the enrolment rules accept (not a run, not one digit, not the phone's last six)."""
    phone = resident_phone(i)
    return PINS[0] if phone[-6:] != PINS[0] else PINS[1]


def with_key(token: str, key: str) -> str:
    """``Connection.request`` sends one extra header only, ``Authorization: Bearer <token>``;
    this rides the Idempotency-Key on it (the line break closes the Authorization line)."""
    return f"{token}\r\nIdempotency-Key: {key}"


# -- setup over the API (not timed) ----------------------------------------------------------------


@dataclass
class Setup:
    admin: str
    keepers: list[str]
    residents: list[str]  # tokens
    resident_ids: list[int]
    products: list[int]


async def set_up(url: str, counters: int, residents: int) -> Setup:
    async with httpx.AsyncClient(base_url=url, timeout=120, cookies=no_cookies()) as client:
        admin = await sign_in(client, ADMIN_PHONE, ADMIN_PASSWORD)
        api = SetupClient(client)

        async def post(path: str, body: dict, key: str | None = None) -> dict:
            return await api.post(path, admin, body, key)

        signed_in = api.sign_in

        await asyncio.gather(*(post("/api/people", {
            "name": f"收银员{k}", "phone": keeper_phone(k), "roles": ["shopkeeper"],
            "password": KEEPER_PASSWORD,
        }) for k in range(counters)))
        people = await asyncio.gather(*(post("/api/people", {
            "name": f"居民{i}", "phone": resident_phone(i), "roles": ["resident"], "pin": resident_pin(i),
        }) for i in range(residents)))
        resident_ids = [person["id"] for person in people]
        await asyncio.gather(*(post("/api/adjustments", {
            "person_id": pid, "amount": str(FUNDING), "reason": "节日积分",
        }, key=f"fund-{pid}") for pid in resident_ids))
        products = [(await post("/api/products", {
            "name": f"商品{n}", "price": str(PRICE), "stock": STOCK,
        }))["id"] for n in range(PRODUCTS)]
        keepers = await asyncio.gather(*(signed_in(keeper_phone(k), KEEPER_PASSWORD)
                                         for k in range(counters)))
        tokens = await asyncio.gather(*(signed_in(resident_phone(i), resident_pin(i))
                                        for i in range(residents)))
    return Setup(admin, list(keepers), list(tokens), resident_ids, products)


# -- the load generator (runs in its own process) ------------------------------------------------


@dataclass
class LoadPlan:
    url: str
    server_pid: int
    keepers: list[str]
    residents: list[str]
    products: list[int]
    per_counter: int
    rounds: int
    health_requests: int
    seed: int
    sorted_carts: bool = False


@dataclass
class Sale:
    """One redemption as the counter saw it."""

    round: int
    counter: int
    key: str
    resident: int
    items: list[dict]
    code: str  # the code the answer is for (the last one sent)
    status: int
    reason: str = ""
    redemption_id: int | None = None
    total: str = ""
    balance_after: str = ""
    answered_items: list[tuple[int, int]] = field(default_factory=list)
    refetched: int = 0  # 410 answers before this one: the code was fetched again


@dataclass
class LoadResult:
    phases: list[Phase] = field(default_factory=list)
    sales: list[Sale] = field(default_factory=list)
    code_seconds: list[float] = field(default_factory=list)


def _reason(status: int, body: bytes) -> str:
    try:
        problem = json.loads(body)
        detail = problem.get("code") or problem.get("type") or problem.get("title") or problem.get("detail")
    except (ValueError, AttributeError):
        detail = body[:80].decode("utf-8", "replace")
    return f"{status} {detail}"


async def _load(plan: LoadPlan) -> LoadResult:
    address = httpx.URL(plan.url)
    counters = len(plan.keepers)
    connections = [Connection(address.host, address.port or 80) for _ in range(counters)]
    counter_of = {id(c): k for k, c in enumerate(connections)}
    rng = random.Random(plan.seed)
    run = uuid.uuid4().hex[:8]
    result = LoadResult()
    codes: list[str] = [""] * len(plan.residents)
    # Counter k serves its own residents in turn: k, k + counters, …
    queues = [list(range(k, len(plan.residents), counters)) for k in range(counters)]
    served = [0] * counters

    async def health(connection: Connection, _: int) -> int:
        return (await connection.request("GET", "/health"))[0]

    async def fetch_code(connection: Connection, i: int) -> int:
        status, body = await connection.request("GET", "/api/me/code", plan.residents[i])
        if status != 200:
            raise SystemExit(f"GET /api/me/code (resident {i}): {status} {body[:300]!r}")
        codes[i] = json.loads(body)["code"]
        return status

    async def fetch_codes() -> None:
        started = time.perf_counter()
        await _phase(0, "codes", len(plan.residents), connections, plan.server_pid, fetch_code)
        result.code_seconds.append(time.perf_counter() - started)

    def redeem(round_: int):
        async def sell(connection: Connection, i: int) -> int:
            k = counter_of[id(connection)]
            queue = queues[k]
            resident = queue[served[k] % len(queue)]
            served[k] += 1
            chosen = rng.sample(plan.products, CART)
            items = [{"product_id": p, "quantity": rng.randint(1, 2)}
                     for p in (sorted(chosen) if plan.sorted_carts else chosen)]
            key = f"bench-{run}-{round_}-{i}"
            sale = Sale(round_, k, key, resident, items, codes[resident], 0)
            while True:
                sale.code = codes[resident]
                body = json.dumps({"member_code": sale.code, "items": items}).encode()
                status, answer = await connection.request(
                    "POST", "/api/redemptions", with_key(plan.keepers[k], key), body)
                if status == 410 and sale.refetched < 3:
                    sale.refetched += 1  # the code went stale: the resident shows the new one
                    await fetch_code(connection, resident)
                    continue
                break
            sale.status = status
            if status == 201:
                view = json.loads(answer)
                sale.redemption_id, sale.total = view["id"], view["total"]
                sale.balance_after = view["balance_after"]
                sale.answered_items = sorted((x["product_id"], x["quantity"]) for x in view["items"])
            else:
                sale.reason = _reason(status, answer)
            result.sales.append(sale)
            return status

        return sell

    # Warm-up: open every connection, then one redemption per counter (verified, not reported).
    await _phase(0, "warm-up", counters * 10, connections, plan.server_pid, health)
    await fetch_codes()
    await _phase(0, "warm-up", counters, connections, plan.server_pid, redeem(0))

    for round_ in range(1, plan.rounds + 1):
        result.phases.append(await _phase(round_, "health", plan.health_requests, connections,
                                          plan.server_pid, health))
        await fetch_codes()
        result.phases.append(await _phase(round_, "redeem", plan.per_counter * counters, connections,
                                          plan.server_pid, redeem(round_)))
    for connection in connections:
        connection.close()
    return result


def run_load(plan: LoadPlan) -> LoadResult:
    """The entry point of the load-generator process."""
    return asyncio.run(_load(plan))


# -- verification (not timed) ----------------------------------------------------------------------


async def verify(url: str, setup: Setup, result: LoadResult) -> tuple[list[str], str]:
    """What is wrong after the run ([] when every redemption is exactly right), and a summary."""
    problems: list[str] = []
    sales = result.sales
    keys = Counter(s.key for s in sales)
    if twice := [k for k, n in keys.items() if n > 1]:
        problems.append(f"{len(twice)} keys answered more than once, e.g. {twice[0]}")
    done = [s for s in sales if s.status == 201]
    ids = Counter(s.redemption_id for s in done)
    if shared := [r for r, n in ids.items() if n > 1]:
        problems.append(f"{len(shared)} redemption ids answered for more than one key, e.g. {shared[0]}")
    for s in done:
        asked = sorted((x["product_id"], x["quantity"]) for x in s.items)
        if s.answered_items != asked:
            problems.append(f"{s.key}: answered items {s.answered_items}, asked {asked}")
        expected = PRICE * sum(q for _, q in asked)
        if Decimal(s.total) != expected:
            problems.append(f"{s.key}: total {s.total}, expected {expected}")

    async with httpx.AsyncClient(base_url=url, timeout=120, cookies=no_cookies()) as client:
        # The same key and body again, long after the code expired: the first redemption, 201.
        first: dict[int, Sale] = {}
        for s in done:
            first.setdefault(s.counter, s)
        replayed = 0
        for s in first.values():
            headers = bearer(setup.keepers[s.counter]) | {"Idempotency-Key": s.key}
            answer = await client.post("/api/redemptions", headers=headers,
                                       json={"member_code": s.code, "items": s.items})
            if answer.status_code != 201 or answer.json().get("id") != s.redemption_id:
                problems.append(f"replay of {s.key}: {answer.status_code} {answer.text[:200]} "
                                f"(expected 201 with redemption {s.redemption_id})")
            else:
                replayed += 1

        report = _check(await client.get("/api/ledger/verify", headers=bearer(setup.admin)), 200)
        expected_entries = len(setup.resident_ids) + len(done)
        if not report.get("ok") or report.get("entries") != expected_entries:
            problems.append(f"ledger verify: {report} (expected ok and {expected_entries} entries: "
                            f"{len(setup.resident_ids)} adjustments + {len(done)} redemptions)")

        units: Counter = Counter()
        for s in done:
            for x in s.items:
                units[x["product_id"]] += x["quantity"]
        listed = _check(await client.get("/api/products", headers=bearer(setup.admin)), 200)["items"]
        stock = {p["id"]: p["stock"] for p in listed}
        for product in setup.products:
            if stock.get(product) != STOCK - units[product]:
                problems.append(f"product {product}: stock {stock.get(product)}, "
                                f"expected {STOCK - units[product]}")

        spent: defaultdict[int, Decimal] = defaultdict(Decimal)
        last: dict[int, Sale] = {}
        for s in done:
            spent[s.resident] += Decimal(s.total)
            if s.resident not in last or s.redemption_id > last[s.resident].redemption_id:
                last[s.resident] = s
        slots = asyncio.Semaphore(SETUP_CONCURRENCY * 2)
        wrong = 0

        async def balance(i: int) -> None:
            nonlocal wrong
            async with slots:
                found = _check(await client.get("/api/me/balance", headers=bearer(setup.residents[i])), 200)
            expected = FUNDING - spent[i]
            if Decimal(found["balance"]) != expected:
                wrong += 1
                problems.append(f"resident {i}: balance {found['balance']}, expected {expected}")
            elif i in last and Decimal(last[i].balance_after) != expected:
                wrong += 1
                problems.append(f"resident {i}: last balance_after {last[i].balance_after}, "
                                f"balance {expected}")

        await asyncio.gather(*(balance(i) for i in range(len(setup.residents))))
    n = len(setup.residents)
    summary = (f"{len(sales)} redemptions sent, {len(done)} answered 201 ({len(ids)} distinct ids), "
               f"{replayed}/{len(first)} replays gave the first redemption, ledger ok={report.get('ok')} "
               f"with {report.get('entries')} entries (expected {expected_entries}), "
               f"{sum(units.values())} units taken, stock exact for "
               f"{sum(stock.get(p) == STOCK - units[p] for p in setup.products)}/{len(setup.products)} "
               f"products, {n - wrong}/{n} balances exact")
    return problems, summary


# -- main ------------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    extra = {"engine": args.engine, "counters": str(args.counters), "residents": str(args.residents),
             "rounds": str(args.rounds), "per-counter": str(args.per_counter),
             "carts": "sorted by product" if args.sorted_carts else "random order"}
    if args.engine == "postgres":
        extra["postgres"] = await pg_version(args.pg_url)
    print_machine(extra)
    async with database(args) as (database_url, workdir):
        with market_serve(database_url, workdir) as server:
            print(f"market serve on {server.url} (pid {server.pid}); setting up …", flush=True)
            started = time.perf_counter()
            setup = await set_up(server.url, args.counters, args.residents)
            print(f"  set up {args.counters} shop keepers, {args.residents} residents, {PRODUCTS} products "
                  f"in {time.perf_counter() - started:.1f} s; load …", flush=True)
            plan = LoadPlan(server.url, server.pid, setup.keepers, setup.residents, setup.products,
                            args.per_counter, args.rounds, args.health_requests, args.seed,
                            args.sorted_carts)
            context = multiprocessing.get_context("spawn")
            try:
                with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                    result = await asyncio.get_running_loop().run_in_executor(pool, run_load, plan)
                problems, summary = await verify(server.url, setup, result)
                print(f"  verified: {summary}", flush=True)
            finally:
                if args.keep_log:
                    shutil.copy(server.log, args.keep_log)

    phases = result.phases
    print()
    print(table(HEADERS, [p.row() for p in phases]))

    def of(name: str) -> list[Phase]:
        return [p for p in phases if p.name == name]

    timed = [s for s in result.sales if s.round > 0]
    reasons = Counter(s.reason for s in timed if s.status != 201)
    refetched = sum(s.refetched for s in timed)
    print()
    print(f"errors: {dict(reasons) or 'none'}; 410 refetched: {refetched}; member codes fetched in "
          f"{', '.join(f'{x:.1f}' for x in result.code_seconds)} s (not timed)")

    health_rate = median([p.rate for p in of("health")])
    redeem_rate = median([p.rate for p in of("redeem")])
    latencies = [x for p in of("redeem") for x in p.latencies]
    health_latencies = [x for p in of("health") for x in p.latencies]
    ratio = redeem_rate / health_rate
    p99 = percentile(latencies, 99) * 1000
    aims = [
        ("redemptions/s ÷ GET /health req/s, same run", f"{ratio:.3f}", "(reported)"),
        (f"redemption p99 < {P99_AIM_MS:.0f} ms, {args.counters} counters at once, cart of {CART}",
         f"{p99:.0f} ms", p99 < P99_AIM_MS),
        ("every redemption once, stock and balances exact, ledger verifies",
         "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "") or "ok",
         not problems),
        ("every redemption answered 201", f"{sum(s.status == 201 for s in timed)}/{len(timed)}",
         not reasons),
    ]
    print()
    print(table(["aim", "measured", "met"],
                [(a, m, ok if isinstance(ok, str) else "yes" if ok else "NO") for a, m, ok in aims]))
    print()
    lines = [
        ("redemptions_per_s", redeem_rate, "1/s"),
        ("health_per_s", health_rate, "1/s"),
        ("redemptions_over_health", ratio, "ratio"),
        ("redemption_latency_p50", median(latencies) * 1000, "ms"),
        ("redemption_latency_p99", p99, "ms"),
        ("redemption_latency_max", max(latencies) * 1000, "ms"),
        ("health_latency_p50", median(health_latencies) * 1000, "ms"),
        ("health_latency_p99", percentile(health_latencies, 99) * 1000, "ms"),
        ("redemption_server_cpu", median([p.server_cpu / p.requests * 1000 for p in of("redeem")]), "ms"),
        ("health_server_cpu", median([p.server_cpu / p.requests * 1000 for p in of("health")]), "ms"),
        ("redemption_client_cpu", median([p.client_cpu / p.requests * 1000 for p in of("redeem")]), "ms"),
        ("redemption_errors", float(sum(reasons.values())), "count"),
        ("code_refetches", float(refetched), "count"),
        ("consistency_errors", float(len(problems)), "count"),
    ]
    for metric, value, unit in lines:
        print(f"{metric} {value:.3f} {unit}" if unit in ("ratio", "ms") else f"{metric} {value:.0f} {unit}")
    return 1 if problems or reasons else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.redemption_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--counters", type=int, default=20,
                        help="shop counters at once, one keeper and one keep-alive connection each "
                             "(default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of health / redeem (default 3)")
    parser.add_argument("--per-counter", type=int, default=40,
                        help="redemptions per counter per round (default 40); keep a round under ~30 s, "
                             "or member codes expire mid-round and are fetched again")
    parser.add_argument("--health-requests", type=int, default=2000,
                        help="GET /health requests per round (default 2,000)")
    parser.add_argument("--residents", type=int, default=200,
                        help=f"residents, each funded with {FUNDING} points (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the carts (default 1)")
    parser.add_argument("--sorted-carts", action="store_true",
                        help="send every cart's lines in product id order (default: random order, as "
                             "goods come to the counter); a server that locks the products in the "
                             "order sent deadlocks on PostgreSQL with random order")
    parser.add_argument("--pg-url", default=PG_URL, help="a database to create a throwaway schema in")
    parser.add_argument("--keep-log", metavar="FILE", help="copy the server's log here")
    args = parser.parse_args(argv)
    if min(args.counters, args.rounds, args.per_counter, args.health_requests) < 1:
        parser.error("--counters, --rounds, --per-counter and --health-requests must be at least 1")
    if args.residents < args.counters:
        parser.error("--residents must be at least --counters (every counter has its own queue)")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
