"""Redemptions in a subdistrict of many communities (通存通兑, issue 17): residents at their own
community's counter and at a neighbouring community's, against the same server's trivial endpoint,
all in one run.

    python -m bench.subdistrict_redemption [--engine sqlite|postgres] [--communities 10]
        [--counters 20] [--rounds 3] [--per-counter 30] [--residents 200] [--health-requests 2000]
        [--workers 1] [--pace SECONDS]

1. ``market serve`` (one worker) on a fresh database as ``bench.redemption_load`` starts it; then
   ``market admin create`` for each further community and ``market subdistrict create … --shared-
   redemption`` grouping them all (not timed).
2. Setup over the API (not timed): counter k is a shop keeper of community k mod N; resident i
   belongs to community i mod N and is funded with ``FUNDING`` points by that community's admin;
   every community has 10 products at 2.50 points with 100,000 in stock.
3. A load generator in ANOTHER process (one keep-alive connection per counter), per round:
   ``health`` (``GET /health``), then ``home``: each counter serves residents of its own community
   (one ledger), then ``visit``: each counter serves residents of the next community (two ledgers:
   the crossing through the pair's clearing accounts), each phase ``--per-counter`` × ``--counters``
   ``POST /api/redemptions``, closed loop (or with ``--pace P``: a sale due every P seconds at
   each counter, arrivals evenly spaced, each timed from when it was due), a cart of 5 products,
   quantities 1–2. Member codes are
   fetched before each phase (not timed); a 410 fetches the code again and re-sends.
4. Verification (not timed): every request answered 201 with its own redemption; ``market ledger
   verify`` (every chain and every clearing pair) says OK; every resident's balance is the funding
   minus their redemptions; every product's stock is 100,000 minus the units redeemed.

Reported: per phase and round a table; medians over rounds of each rate ÷ ``/health`` rate, the
visit ÷ home ratio, and the aim: a visitor's redemption p99 < 150 ms with 20 counters and 10
communities on PostgreSQL. Client and server share this machine's CPUs.
"""

import argparse
import asyncio
import concurrent.futures
import json
import multiprocessing
import random
import subprocess
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
    market_command,
    market_env,
    market_serve,
    no_cookies,
    resident_phone,
    sign_in,
)
from bench.common import PG_URL, median, percentile, pg_version, print_machine, table
from bench.redemption_load import (
    CART,
    FUNDING,
    KEEPER_PASSWORD,
    PRICE,
    PRODUCTS,
    STOCK,
    keeper_phone,
    resident_pin,
    with_key,
)

P99_AIM_MS = 150.0
HOME_COMMUNITY = "幸福里社区"


def community_name(c: int) -> str:
    return HOME_COMMUNITY if c == 0 else f"邻里社区{c}"


def admin_phone(c: int) -> str:
    return ADMIN_PHONE if c == 0 else f"1360000{c:04d}"


def group_communities(database_url: str, workdir, communities: int) -> None:
    """The other communities and their admins, and the subdistrict sharing its points (CLI)."""
    env = market_env(database_url)
    for c in range(1, communities):
        subprocess.run([*market_command(), "admin", "create", "--name", f"管理员{c}", "--phone",
                        admin_phone(c), "--password", ADMIN_PASSWORD, "--community", community_name(c)],
                       env=env, cwd=workdir, check=True, capture_output=True)
    names = [arg for c in range(communities) for arg in ("--community", community_name(c))]
    subprocess.run([*market_command(), "subdistrict", "create", "测试街道", *names, "--shared-redemption"],
                   env=env, cwd=workdir, check=True, capture_output=True)


@dataclass
class Setup:
    admins: list[str]
    keepers: list[str]  # counter k: a keeper of community k mod N
    residents: list[str]  # resident i: of community i mod N
    products: list[list[int]]  # per community


async def set_up(url: str, communities: int, counters: int, residents: int) -> Setup:
    async with httpx.AsyncClient(base_url=url, timeout=120, cookies=no_cookies()) as client:
        api = SetupClient(client)
        admins = [await sign_in(client, admin_phone(c), ADMIN_PASSWORD) for c in range(communities)]
        await asyncio.gather(*(api.post("/api/people", admins[k % communities], {
            "name": f"收银员{k}", "phone": keeper_phone(k), "roles": ["shopkeeper"],
            "password": KEEPER_PASSWORD}) for k in range(counters)))
        people = await asyncio.gather(*(api.post("/api/people", admins[i % communities], {
            "name": f"居民{i}", "phone": resident_phone(i), "roles": ["resident"],
            "pin": resident_pin(i)}) for i in range(residents)))
        await asyncio.gather(*(api.post("/api/adjustments", admins[i % communities], {
            "person_id": person["id"], "amount": str(FUNDING), "reason": "节日积分"},
            key=f"fund-{person['id']}") for i, person in enumerate(people)))
        keepers = list(await asyncio.gather(*(api.sign_in(keeper_phone(k), KEEPER_PASSWORD)
                                              for k in range(counters))))
        products = []
        for c in range(communities):
            keeper = keepers[c]  # counter c is a keeper of community c
            products.append([(await api.post("/api/products", keeper, {
                "name": f"商品{n}", "price": str(PRICE), "stock": STOCK}))["id"] for n in range(PRODUCTS)])
        tokens = await asyncio.gather(*(api.sign_in(resident_phone(i), resident_pin(i))
                                        for i in range(residents)))
    return Setup(admins, keepers, list(tokens), products)


@dataclass
class Plan:
    url: str
    server_pid: int
    communities: int
    keepers: list[str]
    residents: list[str]
    products: list[list[int]]
    per_counter: int
    rounds: int
    health_requests: int
    seed: int
    pace: float = 0.0


@dataclass
class Sale:
    phase: str
    round: int
    counter: int
    key: str
    resident: int
    items: list[dict]
    status: int = 0
    total: str = ""
    balance_after: str = ""
    redemption_id: int | None = None
    reason: str = ""


@dataclass
class Result:
    phases: list[Phase] = field(default_factory=list)
    sales: list[Sale] = field(default_factory=list)


async def _load(plan: Plan) -> Result:
    address = httpx.URL(plan.url)
    counters = len(plan.keepers)
    n = plan.communities
    connections = [Connection(address.host, address.port or 80) for _ in range(counters)]
    counter_of = {id(c): k for k, c in enumerate(connections)}
    rng = random.Random(plan.seed)
    run = uuid.uuid4().hex[:8]
    result = Result()
    codes = [""] * len(plan.residents)

    def queues(shift: int) -> list[list[int]]:
        """Counter k serves residents of community (k + shift) mod N, shared out among that
        community's counters so that a resident queues at one counter only."""
        mates = defaultdict(list)
        for k in range(counters):
            mates[k % n].append(k)
        out = []
        for k in range(counters):
            serves = (k + shift) % n
            mine = mates[k % n]
            of_community = [i for i in range(len(plan.residents)) if i % n == serves]
            out.append(of_community[mine.index(k)::len(mine)])
        return out

    async def fetch_code(connection: Connection, i: int) -> int:
        status, body = await connection.request("GET", "/api/me/code", plan.residents[i])
        if status != 200:
            raise SystemExit(f"GET /api/me/code (resident {i}): {status} {body[:300]!r}")
        codes[i] = json.loads(body)["code"]
        return status

    async def health(connection: Connection, _: int) -> int:
        return (await connection.request("GET", "/health"))[0]

    def redeem(name: str, round_: int, shift: int):
        lines = queues(shift)
        served = [0] * counters

        async def sell(connection: Connection, i: int) -> int:
            k = counter_of[id(connection)]
            resident = lines[k][served[k] % len(lines[k])]
            served[k] += 1
            chosen = rng.sample(plan.products[k % n], CART)
            items = [{"product_id": p, "quantity": rng.randint(1, 2)} for p in chosen]
            sale = Sale(name, round_, k, f"bench-{run}-{name}-{round_}-{i}", resident, items)
            for _attempt in range(4):
                body = json.dumps({"member_code": codes[resident], "items": items}).encode()
                status, answer = await connection.request(
                    "POST", "/api/redemptions", with_key(plan.keepers[k], sale.key), body)
                if status != 410:
                    break
                await fetch_code(connection, resident)  # the code went stale: show the new one
            sale.status = status
            if status == 201:
                view = json.loads(answer)
                sale.redemption_id, sale.total, sale.balance_after = view["id"], view["total"], view[
                    "balance_after"]
            else:
                sale.reason = f"{status} {answer[:120]!r}"
            result.sales.append(sale)
            return status

        return sell

    async def codes_now() -> None:
        await _phase(0, "codes", len(plan.residents), connections, plan.server_pid, fetch_code)

    await _phase(0, "warm-up", counters * 10, connections, plan.server_pid, health)
    for name, shift in (("home", 0), ("visit", 1)):
        await codes_now()
        await _phase(0, "warm-up", counters, connections, plan.server_pid, redeem(name, 0, shift))
    for round_ in range(1, plan.rounds + 1):
        result.phases.append(await _phase(round_, "health", plan.health_requests, connections,
                                          plan.server_pid, health))
        for name, shift in (("home", 0), ("visit", 1)):
            await codes_now()
            result.phases.append(await _phase(
                round_, name, plan.per_counter * counters, connections, plan.server_pid,
                redeem(name, round_, shift), spread=plan.per_counter * plan.pace, from_schedule=True))
    for connection in connections:
        connection.close()
    return result


def run_load(plan: Plan) -> Result:
    return asyncio.run(_load(plan))


async def verify(url: str, database_url: str, workdir, setup: Setup, result: Result, n: int) -> list[str]:
    problems = []
    done = [s for s in result.sales if s.status == 201]
    if len({s.redemption_id for s in done}) != len(done):
        problems.append("a redemption id was answered for two keys")
    for s in done:
        expected = PRICE * sum(x["quantity"] for x in s.items)
        if Decimal(s.total) != expected:
            problems.append(f"{s.key}: total {s.total}, expected {expected}")
    checked = await asyncio.to_thread(
        subprocess.run, [*market_command(), "ledger", "verify"], env=market_env(database_url), cwd=workdir,
        capture_output=True, text=True)
    if checked.returncode != 0 or "ledger OK" not in checked.stdout:
        problems.append(f"market ledger verify: {checked.stdout[-500:]} {checked.stderr[-500:]}")
    pairs = next((line for line in checked.stdout.splitlines() if line.startswith("clearing:")), "")
    spent: defaultdict[int, Decimal] = defaultdict(Decimal)
    units: Counter = Counter()
    for s in done:
        spent[s.resident] += Decimal(s.total)
        for x in s.items:
            units[x["product_id"]] += x["quantity"]
    async with httpx.AsyncClient(base_url=url, timeout=120, cookies=no_cookies()) as client:
        slots = asyncio.Semaphore(SETUP_CONCURRENCY * 2)

        async def balance(i: int) -> None:
            async with slots:
                found = _check(await client.get("/api/me/balance", headers=bearer(setup.residents[i])), 200)
            if Decimal(found["balance"]) != FUNDING - spent[i]:
                problems.append(f"resident {i}: balance {found['balance']}, expected {FUNDING - spent[i]}")

        await asyncio.gather(*(balance(i) for i in range(len(setup.residents))))
        for c in range(n):
            listed = _check(await client.get("/api/products", headers=bearer(setup.admins[c])), 200)["items"]
            for product in listed:
                if product["stock"] != STOCK - units[product["id"]]:
                    problems.append(f"product {product['id']}: stock {product['stock']}, "
                                    f"expected {STOCK - units[product['id']]}")
    print(f"  verified: {len(done)} redemptions 201 of {len(result.sales)}; {pairs}; "
          f"ledger {'OK' if checked.returncode == 0 else 'BROKEN'}", flush=True)
    return problems


async def main(args: argparse.Namespace) -> int:
    extra = {"engine": args.engine, "workers": str(args.workers), "communities": str(args.communities),
             "counters": str(args.counters),
             "residents": str(args.residents), "rounds": str(args.rounds),
             "per-counter": str(args.per_counter),
             "pace": f"{args.pace:g} s per counter" if args.pace else "closed loop"}
    if args.engine == "postgres":
        extra["postgres"] = await pg_version(args.pg_url)
    print_machine(extra)
    async with database(args) as (database_url, workdir):
        with market_serve(database_url, workdir, workers=args.workers) as server:
            print(f"market serve on {server.url} (pid {server.pid}); setting up …", flush=True)
            started = time.perf_counter()
            group_communities(database_url, workdir, args.communities)
            setup = await set_up(server.url, args.communities, args.counters, args.residents)
            print(f"  set up {args.communities} communities, {args.counters} counters, {args.residents} "
                  f"residents in {time.perf_counter() - started:.1f} s; load …", flush=True)
            plan = Plan(server.url, server.pid, args.communities, setup.keepers, setup.residents,
                        setup.products, args.per_counter, args.rounds, args.health_requests, args.seed,
                        args.pace)
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                result = await asyncio.get_running_loop().run_in_executor(pool, run_load, plan)
            problems = await verify(server.url, database_url, workdir, setup, result, args.communities)

    print()
    print(table(HEADERS, [p.row() for p in result.phases]))

    def of(name: str) -> list[Phase]:
        return [p for p in result.phases if p.name == name]

    health_rate = median([p.rate for p in of("health")])
    rate = {name: median([p.rate for p in of(name)]) for name in ("home", "visit")}
    p99 = {name: percentile([x for p in of(name) for x in p.latencies], 99) * 1000
           for name in ("home", "visit")}
    pace = f"a sale every {args.pace:g} s per counter" if args.pace else "closed loop"
    timed = [s for s in result.sales if s.round > 0]
    reasons = Counter(s.reason for s in timed if s.status != 201)
    # Paced, the rates are the offered ones: their ratios say nothing of the server.
    rates = [] if args.pace else [
        ("home redemptions/s ÷ GET /health req/s, same run", f"{rate['home'] / health_rate:.3f}",
         "(reported)"),
        ("visit redemptions/s ÷ GET /health req/s, same run", f"{rate['visit'] / health_rate:.3f}",
         "(reported)"),
        ("visit ÷ home redemptions/s, same run", f"{rate['visit'] / rate['home']:.3f}", "(reported)"),
    ]
    aims = [
        *rates,
        (f"home redemption p99 ({args.counters} counters)", f"{p99['home']:.0f} ms", "(reported)"),
        (f"visit redemption p99 < {P99_AIM_MS:.0f} ms, {args.counters} counters, {args.communities} "
         f"communities, {pace}", f"{p99['visit']:.0f} ms", p99["visit"] < P99_AIM_MS),
        ("every redemption once, balances and stock exact, every chain and clearing pair verifies",
         "; ".join(problems[:3]) or "ok", not problems),
        ("every redemption answered 201", f"{sum(s.status == 201 for s in timed)}/{len(timed)}", not reasons),
    ]
    print()
    print(table(["aim", "measured", "met"],
                [(a, m, ok if isinstance(ok, str) else "yes" if ok else "NO") for a, m, ok in aims]))
    if reasons:
        print(f"errors: {dict(reasons)}")
    return 1 if problems or reasons else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.subdistrict_redemption", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--communities", type=int, default=10)
    parser.add_argument("--counters", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-counter", type=int, default=30)
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--health-requests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pace", type=float, default=0.0, metavar="SECONDS",
                        help="each counter starts a sale every SECONDS on average (arrivals evenly "
                             "spaced, latency from when a sale was due); 0 (default): closed loop, "
                             "each counter's next sale as soon as the last is answered")
    parser.add_argument("--workers", type=int, default=1,
                        help="market serve --workers (default 1; the server CPU column counts the first)")
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args(argv)
    if args.communities < 2 or args.counters < args.communities:
        parser.error("--communities must be at least 2 and --counters at least --communities")
    if args.residents < args.counters:
        parser.error("--residents must be at least --counters")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
