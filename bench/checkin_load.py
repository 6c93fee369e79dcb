"""Check-ins over HTTP against ``market serve``, and the same server's trivial endpoint in the same run.

    python -m bench.checkin_load [--engine sqlite|postgres] [--residents 200] [--concurrency 200]
                                 [--rounds 3] [--health-requests 4000] [--spread SECONDS]

What it does:

1. Starts ``market serve`` (one worker, its own settings: access log on) in a separate process on a
   free port, on a fresh SQLite file (or a fresh PostgreSQL schema selected with ``?search_path=``).
   ``market admin create`` makes the community and its admin first.
2. Setup over the API (not timed): an organizer, ``--residents`` residents (``POST /api/people``
   with a PIN), one activity per round, open now (started 5 min ago, ends in 3 h), and a bearer
   token for everybody (``POST /api/session``).
3. A load generator in ANOTHER process (``multiprocessing``, spawn; a minimal asyncio HTTP/1.1
   client, ``Connection``, one keep-alive connection per concurrent client — httpx spent ~10 ms of
   client CPU per request with 200 pooled connections and measured itself) runs, per round:
   - ``health``: ``--health-requests`` × ``GET /health`` (a real one-row query) by ``--concurrency``
     clients — the trivial endpoint, same client, same concurrency;
   - ``check-in``: the organizer fetches the current code (``GET /api/activities/{id}/code``, not
     timed), then every resident ``POST /api/checkins {"token", "direction": "in"}``, ``--concurrency``
     at a time (with concurrency = residents: all at once);
   - ``check-out``: the same with ``"direction": "out"``.
   With ``--spread S`` the scans of a phase are sent evenly over S seconds instead of at once.
   A phase's rate is its requests over its wall time (first request sent to last answer);
   latency is per request as the client sees it. Server CPU is read from ``/proc/<pid>/stat``.
4. Verification (not timed): every check-in answered 201 and every check-out 201; the ledger
   verifies (``GET /api/ledger/verify``) with exactly one entry per credited scan; every resident's
   ``/api/me/balance`` equals rounds × points per check-in plus the check-out points the server
   reported for them (stays of seconds earn 0.00 for hours).

Reported: per phase and round a table, then the medians over rounds, the ratio check-ins/s ÷
health requests/s (aim ≥ 0.3) and the p99 of check-in latency (aim < 100 ms with 200 concurrent
clients on SQLite). Client and server share this machine's CPUs. Setup and verification use httpx.
"""

import argparse
import asyncio
import concurrent.futures
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import httpx

from bench.common import PG_URL, median, percentile, pg_schema, pg_version, print_machine, table

SECRET_KEY = "checkin-load-benchmark-secret-key"
BASE_URL = "HTTPS://JIFEN.EXAMPLE-COMMUNITY.CN"
ADMIN_PHONE, ADMIN_PASSWORD = "13800000000", "bench-admin-password"
ORGANIZER_PHONE, ORGANIZER_PASSWORD = "13800000001", "bench-organizer-password"
PINS = ("258036", "369147")
POINTS_PER_CHECKIN = Decimal("2.00")
POINTS_PER_HOUR = Decimal("10.00")
SETUP_CONCURRENCY = 8
CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parents[1]


# -- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def market_command() -> list[str]:
    script = Path(sys.executable).with_name("market")
    return [str(script)] if script.exists() else [sys.executable, "-m", "market.cli"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (its threads included)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Server:
    url: str
    pid: int
    log: Path


def market_env(database_url: str) -> dict[str, str]:
    """The environment of a ``market`` command on ``database_url`` (no Redis unless asked for)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MARKET_BASE_URL")}
    env |= {"DATABASE_URL": database_url, "MARKET_SECRET_KEY": SECRET_KEY, "LANG": "en_US.UTF-8"}
    # The repository first on the path: an editable install made before qr/ had an __init__.py
    # maps ``qr`` as a namespace package, and ``market`` then fails to import it from elsewhere.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@contextmanager
def market_serve(database_url: str, workdir: Path, create_admin: bool = True, workers: int = 1,
                 redis_url: str | None = None, environment: Mapping[str, str | None] | None = None):
    """``market admin create`` (unless the database has its admin), then ``market serve
    --workers N`` on a free port (with ``REDIS_URL`` when given); stopped (SIGINT) afterwards.
    ``environment`` overrides the server's variables; ``None`` unsets one (without
    ``MARKET_SECRET_KEY`` an SQLite server keeps its key beside the database)."""
    env = market_env(database_url)
    env["MARKET_BASE_URL"] = BASE_URL
    if redis_url:
        env["REDIS_URL"] = redis_url
    for name, value in (environment or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    if create_admin:
        subprocess.run(
            [*market_command(), "admin", "create", "--name", "管理员", "--phone", ADMIN_PHONE,
             "--password", ADMIN_PASSWORD, "--community", "幸福里社区"],
            env=env, cwd=workdir, check=True, capture_output=True,
        )
    port = free_port()
    log = workdir / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*market_command(), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
            env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process.pid, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"market serve exited ({process.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(server.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"market serve did not answer /health in 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield server
    finally:
        stop_server(process)


def stop_server(process: subprocess.Popen, grace: float = 15) -> None:
    """SIGINT (uvicorn finishes what it is answering and stops its workers), SIGKILL after
    ``grace`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- setup over the API (not timed) ----------------------------------------------------------------


def no_cookies() -> CookieJar:
    """A jar that keeps nothing: a client signing in many people must not send the last one's cookie
    (signing in with a session cookie ends that session)."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def _check(response: httpx.Response, *expected: int) -> dict:
    if response.status_code not in expected:
        raise SystemExit(f"{response.request.method} {response.request.url.path}: "
                         f"{response.status_code} {response.text[:500]}")
    return response.json() if response.content else {}


async def sign_in(client: httpx.AsyncClient, login: str, secret: str) -> str:
    body = _check(await client.post("/api/session", json={"login": login, "secret": secret}), 200)
    return body["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class SetupClient:
    """Set-up requests (not timed): at most ``SETUP_CONCURRENCY`` at once; an answer other than
    the expected one stops the run."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.slots = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def post(self, path: str, token: str, body: dict, key: str | None = None) -> dict:
        headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
        async with self.slots:
            return _check(await self.client.post(path, headers=headers, json=body), 201)

    async def sign_in(self, login: str, secret: str) -> str:
        async with self.slots:
            return await sign_in(self.client, login, secret)


def resident_phone(i: int) -> str:
    return f"139{i:08d}"


@dataclass
class Setup:
    admin: str
    organizer: str
    residents: list[str]
    activities: list[int]


async def set_up(url: str, residents: int, rounds: int) -> Setup:
    async with httpx.AsyncClient(base_url=url, timeout=120, cookies=no_cookies()) as client:
        admin = await sign_in(client, ADMIN_PHONE, ADMIN_PASSWORD)
        _check(await client.post("/api/people", headers=bearer(admin), json={
            "name": "组织者", "phone": ORGANIZER_PHONE, "roles": ["organizer"],
            "password": ORGANIZER_PASSWORD,
        }), 201)
        slots = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def enrol(i: int) -> None:
            phone = resident_phone(i)
            pin = PINS[0] if phone[-6:] != PINS[0] else PINS[1]
            async with slots:
                _check(await client.post("/api/people", headers=bearer(admin), json={
                    "name": f"居民{i}", "phone": phone, "roles": ["resident"], "pin": pin,
                }), 201)

        async def resident_token(i: int) -> str:
            phone = resident_phone(i)
            async with slots:
                return await sign_in(client, phone, PINS[0] if phone[-6:] != PINS[0] else PINS[1])

        await asyncio.gather(*(enrol(i) for i in range(residents)))
        organizer = await sign_in(client, ORGANIZER_PHONE, ORGANIZER_PASSWORD)
        now = datetime.now(UTC).replace(microsecond=0)
        activities = []
        for r in range(rounds):
            body = _check(await client.post("/api/activities", headers=bearer(organizer), json={
                "title": f"楼道清扫 第{r + 1}轮", "category": "collective_labour",
                "location": "3号楼", "starts_at": (now - timedelta(minutes=5)).isoformat(),
                "ends_at": (now + timedelta(hours=3)).isoformat(),
                "points_per_checkin": str(POINTS_PER_CHECKIN), "points_per_hour": str(POINTS_PER_HOUR),
                "max_hours": "3.00", "requires_approval": False,
            }), 201)
            activities.append(body["id"])
        tokens = await asyncio.gather(*(resident_token(i) for i in range(residents)))
    return Setup(admin, organizer, list(tokens), activities)


# -- the load generator (runs in its own process) ------------------------------------------------


class Connection:
    """A minimal HTTP/1.1 keep-alive client: one connection, one request at a time.

    httpx was the bottleneck here: with 200 pooled connections it spent ~10 ms of client CPU per
    request (the pool is scanned per request), so it measured itself, not the server. This costs
    ~0.1 ms. It lets go of a connection idle for ``IDLE`` seconds (uvicorn closes them after 5 s)
    and resends once if the server closed a reused connection before answering.
    """

    IDLE = 4.0

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0
        self.resent = 0

    async def request(self, method: str, path: str, token: str | None = None,
                      body: bytes = b"", headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
        if body or method == "POST":
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        message = (head + "\r\n").encode("ascii") + body
        for attempt in range(2):
            if self.writer is not None and time.monotonic() - self.last_used > self.IDLE:
                self.close()
            reused = self.writer is not None
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            try:
                self.writer.write(message)
                status, payload, keep = await self._response(self.reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if reused and attempt == 0:
                    self.resent += 1
                    continue
                raise
            self.last_used = time.monotonic()
            if not keep:
                self.close()
            return status, payload
        raise AssertionError("unreachable")

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            payload = b""
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                payload += (await reader.readexactly(size + 2))[:-2]
            await reader.readuntil(b"\r\n")
        else:
            payload = await reader.readexactly(int(headers.get("content-length", "0")))
        return status, payload, headers.get("connection", "").lower() != "close"

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Phase:
    round: int
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    statuses: Counter
    server_cpu: float
    client_cpu: float
    resent: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def row(self) -> list[object]:
        bad = sum(n for status, n in self.statuses.items() if not 200 <= status < 300)
        return [
            f"{self.name} #{self.round}", self.requests, self.seconds, self.rate,
            median(self.latencies) * 1000, percentile(self.latencies, 99) * 1000,
            max(self.latencies) * 1000, self.server_cpu / self.requests * 1000,
            self.client_cpu / self.requests * 1000, bad, self.resent,
        ]


HEADERS = ["phase", "requests", "seconds", "req/s", "p50 ms", "p99 ms", "max ms",
           "server CPU ms/req", "client CPU ms/req", "errors", "resent"]


@dataclass
class LoadPlan:
    url: str
    server_pid: int
    organizer: str
    residents: list[str]
    activities: list[int]
    concurrency: int
    health_requests: int
    spread: float = 0.0


@dataclass
class LoadResult:
    phases: list[Phase] = field(default_factory=list)
    #: Per resident, the check-out points the server reported, summed over rounds.
    checkout_points: list[Decimal] = field(default_factory=list)
    checkin_created: int = 0
    checkout_created: int = 0


async def _phase(round_: int, name: str, n: int, connections: list[Connection], server_pid: int,
                 request, spread: float = 0.0, from_schedule: bool = False) -> Phase:
    """``await request(connection, i)`` → status, for i in 0..n-1, one worker per connection.

    ``spread``: request i is not sent before ``i × spread / n`` seconds into the phase (arrivals
    evenly spaced over ``spread`` seconds); 0 sends as fast as the workers can. ``from_schedule``
    times each request from when it was due, not from when a free worker sent it: a request kept
    waiting because every connection was busy counts its wait (no coordinated omission)."""
    latencies: list[float] = []
    statuses: Counter = Counter()
    next_index = iter(range(n))
    resent_before = sum(c.resent for c in connections)
    phase_start = time.perf_counter()

    async def worker(connection: Connection) -> None:
        for i in next_index:
            due = phase_start + i * spread / n
            if spread and (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            started = due if spread and from_schedule else time.perf_counter()
            try:
                status = await request(connection, i)
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                connection.close()
                status = 0
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1

    server_before, client_before = cpu_seconds(server_pid), time.process_time()
    phase_start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections[:n]))
    seconds = time.perf_counter() - phase_start
    server_cpu = cpu_seconds(server_pid) - server_before
    return Phase(round_, name, n, seconds, latencies, statuses, server_cpu,
                 time.process_time() - client_before, sum(c.resent for c in connections) - resent_before)


async def _load(plan: LoadPlan) -> LoadResult:
    address = httpx.URL(plan.url)
    connections = [Connection(address.host, address.port or 80) for _ in range(plan.concurrency)]
    result = LoadResult(checkout_points=[Decimal("0.00")] * len(plan.residents))
    n = len(plan.residents)

    async def health(connection: Connection, _: int) -> int:
        return (await connection.request("GET", "/health"))[0]

    async def touch(connection: Connection, i: int) -> int:
        return (await connection.request("GET", f"/api/activities/{plan.activities[0]}",
                                         plan.residents[i]))[0]

    # Warm-up: open every connection, touch the session path of every resident.
    await _phase(0, "warm-up", plan.concurrency * 2, connections, plan.server_pid, health)
    await _phase(0, "warm-up", n, connections, plan.server_pid, touch)

    for round_, activity in enumerate(plan.activities, start=1):
        result.phases.append(await _phase(round_, "health", plan.health_requests, connections,
                                          plan.server_pid, health))
        for direction in ("in", "out"):
            code: dict[str, str] = {}

            async def fetch_code(activity: int = activity, code: dict[str, str] = code) -> None:
                status, body = await connections[0].request(
                    "GET", f"/api/activities/{activity}/code", plan.organizer)
                if status != 200:
                    raise SystemExit(f"GET /api/activities/{activity}/code: {status} {body[:300]!r}")
                code["token"] = json.loads(body)["token"]

            await fetch_code()

            async def scan(connection: Connection, i: int, direction: str = direction,
                           fetch_code=fetch_code, code: dict[str, str] = code) -> int:
                for _ in range(3):
                    body = json.dumps({"token": code["token"], "direction": direction}).encode()
                    status, answer = await connection.request("POST", "/api/checkins",
                                                              plan.residents[i], body)
                    if status != 410:
                        break
                    await fetch_code()  # the code went stale: the phone scans the new one
                if status in (200, 201) and direction == "out":
                    result.checkout_points[i] += Decimal(json.loads(answer)["points"])
                return status

            phase = await _phase(round_, f"check-{direction}", n, connections, plan.server_pid, scan,
                                 plan.spread)
            result.phases.append(phase)
            # A scan resent after a dropped connection may find its first copy done (200).
            done = phase.statuses[201] + phase.statuses[200]
            if direction == "in":
                result.checkin_created += done
            else:
                result.checkout_created += done
    for connection in connections:
        connection.close()
    return result


def run_load(plan: LoadPlan) -> LoadResult:
    """The entry point of the load-generator process."""
    return asyncio.run(_load(plan))


# -- verification (not timed) ----------------------------------------------------------------------


async def verify(url: str, setup: Setup, result: LoadResult, rounds: int) -> list[str]:
    """What is wrong after the run; [] when every credit is exactly right."""
    problems = []
    n = len(setup.residents)
    if result.checkin_created != n * rounds:
        problems.append(f"{result.checkin_created} check-ins answered 201, expected {n * rounds}")
    if result.checkout_created != n * rounds:
        problems.append(f"{result.checkout_created} check-outs answered 201, expected {n * rounds}")
    async with httpx.AsyncClient(base_url=url, timeout=120, cookies=no_cookies()) as client:
        report = _check(await client.get("/api/ledger/verify", headers=bearer(setup.admin)), 200)
        paid_checkouts = sum(1 for p in result.checkout_points if p > 0)  # at most one per round
        expected_entries = n * rounds + paid_checkouts
        if not report.get("ok") or report.get("entries") != expected_entries:
            problems.append(f"ledger verify: {report} (expected ok and {expected_entries} entries; "
                            f"check-out credits may be more than one per resident: see balances)")
        slots = asyncio.Semaphore(SETUP_CONCURRENCY * 2)

        async def balance(i: int) -> None:
            async with slots:
                found = _check(await client.get("/api/me/balance", headers=bearer(setup.residents[i])), 200)
            expected = POINTS_PER_CHECKIN * rounds + result.checkout_points[i]
            if Decimal(found["balance"]) != expected:
                problems.append(f"resident {i}: balance {found['balance']}, expected {expected}")

        await asyncio.gather(*(balance(i) for i in range(n)))
    print(f"  verified: {result.checkin_created} check-ins, {result.checkout_created} check-outs, "
          f"ledger ok={report.get('ok')} with {report.get('entries')} entries (expected "
          f"{expected_entries}), check-out points {sum(result.checkout_points)}, "
          f"{n - sum(1 for p in problems if p.startswith('resident'))}/{n} balances exact", flush=True)
    return problems


# -- main ------------------------------------------------------------------------------------------


@asynccontextmanager
async def database(args: argparse.Namespace):
    """(DATABASE_URL, working directory) of a fresh database; removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="checkin-bench-"))
    try:
        if args.engine == "sqlite":
            yield f"sqlite:///{workdir}/market.db", workdir
        else:
            async with pg_schema(args.pg_url) as (_, url):
                yield url, workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def main(args: argparse.Namespace) -> int:
    extra = {"engine": args.engine, "residents": str(args.residents), "concurrency": str(args.concurrency),
             "rounds": str(args.rounds), "spread": f"{args.spread:g} s"}
    if args.engine == "postgres":
        extra["postgres"] = await pg_version(args.pg_url)
    print_machine(extra)
    async with database(args) as (database_url, workdir):
        with market_serve(database_url, workdir) as server:
            print(f"market serve on {server.url} (pid {server.pid}); setting up …", flush=True)
            started = time.perf_counter()
            setup = await set_up(server.url, args.residents, args.rounds)
            print(f"  set up {args.residents} residents, {args.rounds} activities in "
                  f"{time.perf_counter() - started:.1f} s; load …", flush=True)
            plan = LoadPlan(server.url, server.pid, setup.organizer, setup.residents, setup.activities,
                            args.concurrency, args.health_requests, args.spread)
            context = multiprocessing.get_context("spawn")
            try:
                with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                    result = await asyncio.get_running_loop().run_in_executor(pool, run_load, plan)
                problems = await verify(server.url, setup, result, args.rounds)
            finally:
                if args.keep_log:
                    shutil.copy(server.log, args.keep_log)

    phases = result.phases
    print()
    print(table(HEADERS, [p.row() for p in phases]))

    def of(name: str) -> list[Phase]:
        return [p for p in phases if p.name == name]

    health_rate = median([p.rate for p in of("health")])
    in_rate = median([p.rate for p in of("check-in")])
    out_rate = median([p.rate for p in of("check-out")])
    in_latencies = [x for p in of("check-in") for x in p.latencies]
    out_latencies = [x for p in of("check-out") for x in p.latencies]
    health_latencies = [x for p in of("health") for x in p.latencies]
    ratio = in_rate / health_rate
    p99 = percentile(in_latencies, 99) * 1000
    arrivals = (f"{args.residents} over {args.spread:g} s" if args.spread
                else f"{min(args.concurrency, args.residents)} concurrent")
    aims = [
        ("check-ins/s >= 0.3 x GET /health req/s", f"{ratio:.3f}",
         "n/a (--spread)" if args.spread else ratio >= 0.3),
        (f"check-in p99 < 100 ms ({arrivals})", f"{p99:.0f} ms", p99 < 100),
        ("exactly one credit per check-in, ledger verifies", "; ".join(problems) or "ok", not problems),
    ]
    print()
    print(table(["aim", "measured", "met"],
                [(a, m, ok if isinstance(ok, str) else "yes" if ok else "NO") for a, m, ok in aims]))
    print()
    lines = [
        ("checkin_per_s", in_rate, "1/s"),
        ("checkout_per_s", out_rate, "1/s"),
        ("health_per_s", health_rate, "1/s"),
        ("checkin_over_health", ratio, "ratio"),
        ("checkout_over_health", out_rate / health_rate, "ratio"),
        ("checkin_latency_p50", median(in_latencies) * 1000, "ms"),
        ("checkin_latency_p99", p99, "ms"),
        ("checkout_latency_p50", median(out_latencies) * 1000, "ms"),
        ("checkout_latency_p99", percentile(out_latencies, 99) * 1000, "ms"),
        ("health_latency_p50", median(health_latencies) * 1000, "ms"),
        ("health_latency_p99", percentile(health_latencies, 99) * 1000, "ms"),
        ("checkin_server_cpu", median([p.server_cpu / p.requests * 1000 for p in of("check-in")]), "ms"),
        ("health_server_cpu", median([p.server_cpu / p.requests * 1000 for p in of("health")]), "ms"),
        ("credit_errors", float(len(problems)), "count"),
    ]
    for metric, value, unit in lines:
        print(f"{metric} {value:.3f} {unit}" if unit in ("ratio", "ms") else f"{metric} {value:.0f} {unit}")
    return 1 if problems else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.checkin_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=200,
                        help="concurrent clients, one keep-alive connection each (default 200)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of health / check-in / check-out, one activity each (default 3)")
    parser.add_argument("--health-requests", type=int, default=4000,
                        help="GET /health requests per round (default 4,000)")
    parser.add_argument("--spread", type=float, default=0.0, metavar="SECONDS",
                        help="space the residents' scans evenly over this many seconds per phase "
                             "(default 0: all at once); latency under a steady arrival rate, the "
                             "throughput ratio is then meaningless")
    parser.add_argument("--pg-url", default=PG_URL, help="a database to create a throwaway schema in")
    parser.add_argument("--keep-log", metavar="FILE", help="copy the server's log here")
    args = parser.parse_args(argv)
    if args.residents < 1 or args.concurrency < 1 or args.rounds < 1:
        parser.error("--residents, --concurrency and --rounds must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
