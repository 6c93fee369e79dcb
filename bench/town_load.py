"""A town's mixed day against ``market serve --workers N``: does anything answer 5xx, is every
acknowledged write there afterwards, do the books add up?

    python -m bench.town_load [--engine sqlite|postgres] [--workers 1] [--communities 1]
                              [--seconds 60] [--clients 32] [--redis] [--database-url URL] [--keep]
                              [--residents 30] [--health-seconds 10] [--seed 1]

1. A database: the one ``--database-url`` names, or a fresh SQLite file, or a fresh PostgreSQL
   schema (in ``MARKET_TEST_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``), removed
   afterwards unless ``--keep``. ``market admin create --community NAME`` makes each of the
   ``--communities`` communities and its admin; then ``market serve --workers N`` starts on a free
   port (``bench.checkin_load.market_serve``; with ``--redis``, ``REDIS_URL`` set for it).
2. Set-up over the API (not timed), per community: an organizer, a shop keeper, ``--residents``
   residents with PINs, each funded by an adjustment; goods on the shelf (plenty of stock), one
   scarce good (40 in stock), one limited to 2 per person a day, one nobody can afford; two
   activities open now, the second requiring approval (more are created during the day, every
   third one requiring approval).
3. ``GET /health`` alone for ``--health-seconds`` by ``--clients`` clients: the baseline.
4. The mixed day (``bench.town_day``) for ``--seconds`` by ``--clients`` concurrent clients across
   the communities; every answer recorded.
5. The audit (``bench.town_audit``): every acknowledged write looked for, balances replayed,
   ``market ledger verify`` and ``market reports check``.

Prints per operation the answers by class, the rate and p50/p99 latency; every 5xx with its
``reason``, samples of the bodies and the errors the server logged; the ratio of all requests/s in
the mixed day to ``/health`` requests/s alone (same run, same clients); every check; and last a line
``RESULT ok`` or ``RESULT FAILED: …``. Exits 1 on any 5xx, any request left unanswered, any answer
the rules do not allow, or any failed check.
"""

import argparse
import asyncio
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.checkin_load import (
    SetupClient,
    market_command,
    market_env,
    market_serve,
    no_cookies,
)
from bench.common import PG_URL, median, percentile, pg_schema, pg_version, print_machine, table
from bench.town_answers import Recorder
from bench.town_audit import Check, audit
from bench.town_day import MIX, Day, activity_body
from bench.town_model import Activity, Community, Product, Resident
from ledger import to_hundredths

REDIS_URL = os.environ.get("MARKET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
STAFF_PASSWORD = "town-load-staff-password"
PINS = ("258036", "369147")
FUNDING = "3000.00"
SHELF = [("大米5kg", "6.50"), ("食用油", "5.00"), ("洗衣液", "4.00"), ("牙膏", "2.50"), ("毛巾", "1.50"),
         ("肥皂", "1.00")]
SHELF_STOCK = 1_000_000
SCARCE_STOCK = 40
MAX_COMMUNITIES = 99
MAX_RESIDENTS = 9999


@dataclass
class Options:
    engine: str = "sqlite"
    workers: int = 1
    communities: int = 1
    seconds: float = 60.0
    clients: int = 32
    redis: bool = False
    database_url: str | None = None
    keep: bool = False
    residents: int = 30
    health_seconds: float = 10.0
    seed: int = 1
    pg_url: str = PG_URL


@dataclass
class Trial:
    """What a run measured and found."""

    options: Options
    recorder: Recorder = field(default_factory=Recorder)
    health_requests: int = 0
    health_seconds: float = 0.0
    mix_seconds: float = 0.0
    checks: list[Check] = field(default_factory=list)
    #: Errors the server logged: "unhandled error on POST /api/orders" and exception lines.
    server_log: Counter = field(default_factory=Counter)
    communities: list[Community] = field(default_factory=list)
    resent: int = 0
    #: Writes without a clear answer found out after the day, those still not, and the requests made.
    settled: int = 0
    unsettled: int = 0
    settling: Recorder = field(default_factory=Recorder)
    load_before: str = ""
    load_after: str = ""
    database_url: str = ""

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]


# -- people and places -----------------------------------------------------------------------------


def phone(role: str, run: int, community: int, n: int = 0) -> str:
    """A phone of this run: 1, a digit per role, the run, the community, a number."""
    digit = {"resident": "3", "admin": "5", "organizer": "6", "keeper": "7"}[role]
    return f"1{digit}{run:03d}{community:02d}{n:04d}"


def pin_for(phone_number: str) -> str:
    """A PIN the enrolment rules accept (not a run, not one digit, not the phone's last six)."""
    return PINS[0] if phone_number[-6:] != PINS[0] else PINS[1]


def community_name(run: int, m: int) -> str:
    return f"城南{m + 1:02d}社区·{run:03d}"


def create_admins(communities: list[Community], run: int, database_url: str, workdir: Path) -> None:
    """``market admin create --community NAME``: each community and its admin, as an operator would."""
    for c in communities:
        subprocess.run(
            [*market_command(), "admin", "create", "--name", f"管理员{c.index + 1}",
             "--phone", phone("admin", run, c.index), "--password", STAFF_PASSWORD, "--community", c.name],
            env=market_env(database_url), cwd=workdir, check=True, capture_output=True,
        )


async def set_up(url: str, communities: list[Community], run: int, residents: int) -> None:
    """Each community's staff, residents (funded), goods and first activities, over the API."""
    async with httpx.AsyncClient(base_url=url, timeout=120, cookies=no_cookies()) as client:
        api = SetupClient(client)
        post, signed_in = api.post, api.sign_in

        async def product(c: Community, name: str, price: str, stock: int, kind: str, **limits) -> None:
            made = await post("/api/products", c.admin,
                              {"name": name, "price": price, "stock": stock, **limits})
            c.products[made["id"]] = Product(made["id"], name, to_hundredths(price), stock, kind)

        async def resident(c: Community, n: int) -> Resident:
            number = phone("resident", run, c.index, n)
            person = await post("/api/people", c.admin, {
                "name": f"居民{c.index + 1}-{n}", "phone": number, "roles": ["resident"],
                "pin": pin_for(number),
            })
            funded = await post("/api/adjustments", c.admin, {
                "person_id": person["id"], "amount": FUNDING, "reason": "社区积分启动",
            }, key=f"fund-{run}-{person['id']}")
            token = await signed_in(number, pin_for(number))
            return Resident(person["id"], number, token,
                            adjustments={funded["id"]: to_hundredths(FUNDING)})

        async def furnish(c: Community) -> None:
            c.admin = await signed_in(phone("admin", run, c.index), STAFF_PASSWORD)
            for role, roles in (("organizer", ["organizer"]), ("keeper", ["shopkeeper"])):
                await post("/api/people", c.admin, {
                    "name": f"{'组织者' if role == 'organizer' else '店员'}{c.index + 1}",
                    "phone": phone(role, run, c.index), "roles": roles, "password": STAFF_PASSWORD,
                })
            c.organizer = await signed_in(phone("organizer", run, c.index), STAFF_PASSWORD)
            c.keeper = await signed_in(phone("keeper", run, c.index), STAFF_PASSWORD)
            await asyncio.gather(
                *(product(c, name, price, SHELF_STOCK, "shelf") for name, price in SHELF),
                product(c, "鸡蛋(限量)", "2.00", SCARCE_STOCK, "scarce"),
                product(c, "特价牛奶", "3.00", SHELF_STOCK, "limited",
                        limit_per_person=2, limit_period="day"),
                product(c, "电动自行车", "99999.00", 10, "dear"),
            )
            c.residents = list(await asyncio.gather(*(resident(c, n) for n in range(residents))))
            for n, requires_approval in enumerate((False, True)):
                made = await post("/api/activities", c.organizer,
                                  activity_body(f"楼道清扫 第{n + 1}场", requires_approval))
                c.activities.append(Activity(made["id"], made["title"], made["requires_approval"]))

        await asyncio.gather(*(furnish(c) for c in communities))


# -- the run -----------------------------------------------------------------------------------------


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@asynccontextmanager
async def town_database(options: Options):
    """(DATABASE_URL, working directory): the given database, or a fresh one removed afterwards
    unless ``keep``."""
    workdir = Path(tempfile.mkdtemp(prefix="town-load-"))
    try:
        if options.database_url:
            yield options.database_url, workdir
        elif options.engine == "sqlite":
            yield f"sqlite:///{workdir}/market.db", workdir
        else:
            async with pg_schema(options.pg_url, keep=options.keep) as (_, url):
                yield url, workdir
    finally:
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)


async def run_trial(options: Options, say=print) -> Trial:
    """Set up the town, measure ``/health`` alone, run the mixed day, audit. ``say`` gets the progress."""
    trial = Trial(options)
    run = secrets.randbelow(1000)
    trial.communities = [Community(m, community_name(run, m)) for m in range(options.communities)]
    async with town_database(options) as (database_url, workdir):
        trial.database_url = database_url
        started = time.perf_counter()
        create_admins(trial.communities, run, database_url, workdir)
        redis_url = (os.environ.get("REDIS_URL") or REDIS_URL) if options.redis else None
        with market_serve(database_url, workdir, create_admin=False, workers=options.workers,
                          redis_url=redis_url) as server:
            say(f"market serve --workers {options.workers} on {server.url} (pid {server.pid}, "
                f"REDIS_URL {'set' if redis_url else 'unset'}); setting up …")
            try:
                await set_up(server.url, trial.communities, run, options.residents)
            except SystemExit as error:
                trial.checks.append(Check("set-up over the API", False, str(error)[:600]))
            else:
                say(f"  set up {options.communities} communities × {options.residents} residents in "
                    f"{time.perf_counter() - started:.1f} s; "
                    f"/health alone for {options.health_seconds:g} s …")
                day = Day(server.url, trial.communities, f"{run:03d}", options.seed)
                trial.recorder = day.recorder
                trial.load_before = load_average()
                trial.health_requests, trial.health_seconds = await day.health_alone(
                    options.clients, options.health_seconds)
                say(f"  the mixed day: {options.clients} clients for {options.seconds:g} s …")
                trial.mix_seconds = await day.mix(options.clients, options.seconds)
                trial.load_after = load_average()
                trial.resent = day.resent
                if day.unsettled:
                    say(f"  settling {len(day.unsettled)} writes without a clear answer …")
                    trial.settling, trial.unsettled = await day.settle()
                trial.settled = sum(write.settled for write in day.unsettled)
                say("  auditing …")
                trial.checks = _answer_checks(day.recorder)
                try:
                    trial.checks += await audit(server.url, trial.communities, database_url, workdir)
                except (httpx.HTTPError, OSError, subprocess.SubprocessError) as error:
                    trial.checks.append(Check("the audit could run", False, repr(error)[:600]))
        trial.server_log = server_log_errors(server.log)
        if options.keep:
            say(f"kept: DATABASE_URL={database_url}  server log {server.log}")
    return trial


def _answer_checks(recorder: Recorder) -> list[Check]:
    by_op = Counter(fault.op for fault in recorder.server_errors)
    silent = Counter(fault.op for fault in recorder.no_answers)
    wrong = Counter(f"{fault.op}: {fault.what}" for fault in recorder.unexpected)
    return [
        Check("no 5xx answers", not by_op, f"{sum(by_op.values())} ({dict(by_op)})" if by_op else "0"),
        Check("every request answered", not silent,
              f"{sum(silent.values())} without an answer ({dict(silent)})" if silent else "all"),
        Check("no answers the rules do not allow", not wrong,
              f"{sum(wrong.values())}: {dict(wrong.most_common(5))}" if wrong else "none"),
    ]


_LOGGED = re.compile(r"unhandled error on (\S+) (\S+)|^(\w+(?:\.\w+)*(?:Error|Exception)\b.*)$")


def server_log_errors(log: Path) -> Counter:
    """The errors the server logged: the failing request (ids as ``{id}``) and the exception lines."""
    found: Counter = Counter()
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return found
    for line in text.splitlines():
        match = _LOGGED.search(line.strip())
        if match and match.group(1):
            found[f"unhandled error on {match.group(1)} {re.sub(r'/[0-9]+', '/{id}', match.group(2))}"] += 1
        elif match:
            found[match.group(3)[:160]] += 1
    return found


# -- the report --------------------------------------------------------------------------------------


def report(trial: Trial) -> str:
    recorder = trial.recorder
    lines: list[str] = []
    seconds = trial.mix_seconds or float("nan")
    rows = []
    total = Counter()
    for op, tally in recorder.tallies.items():
        n = sum(tally.statuses.values())
        by_class = Counter()
        for status, count in tally.statuses.items():
            by_class["none" if status == 0 else f"{status // 100}xx"] += count
        total.update(by_class)
        total["requests"] += n
        rows.append([op, n, n / seconds, by_class["2xx"], by_class["4xx"], by_class["5xx"], by_class["none"],
                     median(tally.latencies) * 1000, percentile(tally.latencies, 99) * 1000])
    every = [x for tally in recorder.tallies.values() for x in tally.latencies]
    rows.append(["all", total["requests"], total["requests"] / seconds, total["2xx"], total["4xx"],
                 total["5xx"], total["none"], median(every) * 1000, percentile(every, 99) * 1000])
    lines.append("the mix (weights): " + ", ".join(f"{name} {weight}" for name, weight in MIX.items()))
    lines.append(f"the mixed day: {trial.mix_seconds:.1f} s, {trial.options.clients} clients, "
                 f"{trial.options.communities} communities, load average {trial.load_before} before, "
                 f"{trial.load_after} after")
    lines.append(table(["operation", "requests", "per s", "2xx", "4xx", "5xx", "no answer", "p50 ms",
                        "p99 ms"], rows))
    refusals = [f"{op}: " + ", ".join(f"{reason} ×{n}" for reason, n in tally.reasons.most_common())
                for op, tally in recorder.tallies.items() if tally.reasons]
    if refusals:
        lines += ["", "answers other than 2xx:", *("  " + r for r in refusals)]
    if recorder.server_errors:
        lines += ["", f"5xx answers: {len(recorder.server_errors)}"]
        kinds = Counter((f.op, f.status, f.reason) for f in recorder.server_errors)
        lines += [f"  {op}: {status} reason={reason or '-'} ×{n}"
                  for (op, status, reason), n in kinds.most_common()]
        lines += ["  samples:", *(f"    {f.op}: {f.body[:300]}" for f in recorder.server_errors[:5])]
    if recorder.no_answers:
        lines += ["", f"requests without an answer: {len(recorder.no_answers)}",
                  *(f"    {f.op}: {f.reason[:200]}" for f in recorder.no_answers[:5])]
    if recorder.unexpected:
        lines += ["", f"answers the rules do not allow: {len(recorder.unexpected)}",
                  *(f"    {f.op}: {f.status} {f.reason} — {f.what}: {f.body[:200]}"
                    for f in recorder.unexpected[:5])]
    if trial.server_log:
        lines += ["", "errors in the server's log:",
                  *(f"  {n:>5} × {text}" for text, n in trial.server_log.most_common(10))]
    health_rate = trial.health_requests / trial.health_seconds if trial.health_seconds else float("nan")
    rate = total["requests"] / seconds
    lines += ["", f"GET /health alone: {trial.health_requests} requests in {trial.health_seconds:.1f} s = "
              f"{health_rate:,.0f}/s; the mixed day: {rate:,.0f} requests/s = "
              f"{rate / health_rate:.3f} × /health"]
    acknowledged = _acknowledged(trial.communities)
    lines += ["", "acknowledged writes: " + ", ".join(f"{n} {what}" for what, n in acknowledged.items())]
    if trial.settled or trial.unsettled:
        asked = sum(sum(t.statuses.values()) for t in trial.settling.tallies.values())
        lines.append(f"writes without a clear answer: {trial.settled + trial.unsettled}; found out after the "
                     f"day (the same key sent again, or read back; {asked} requests): {trial.settled}; "
                     f"still unknown: {trial.unsettled} (their wallets and goods are not compared)")
    if trial.resent:
        lines.append(f"requests sent again on a fresh connection (the server had closed an idle one): "
                     f"{trial.resent}")
    width = max((len(c.name) for c in trial.checks), default=0)
    lines += ["", "checks:", *(f"  {'ok    ' if c.ok else 'FAILED'}  {c.name.ljust(width)}  {c.detail}"
                               for c in trial.checks)]
    lines += ["", f"requests_per_s {rate:.0f} 1/s", f"health_per_s {health_rate:.0f} 1/s",
              f"mix_over_health {rate / health_rate:.3f} ratio", f"server_errors {total['5xx']} count"]
    failed = trial.failed
    lines.append("RESULT ok" if not failed else
                 "RESULT FAILED: " + "; ".join(f"{c.name}: {c.detail[:200]}" for c in failed))
    return "\n".join(lines)


def _acknowledged(communities: list[Community]) -> dict[str, int]:
    stays = [s for c in communities for s in c.stays.values()]
    return {
        "check-ins": len(stays),
        "check-outs": sum(s.out for s in stays),
        "approvals": sum(s.approved for s in stays),
        "redemptions": sum(len(c.sales) for c in communities),
        "refunds (points)": sum(s.refunded > 0 for c in communities for s in c.sales),
        "reservations": sum(len(c.orders) for c in communities),
        "cancelled": sum(o.status == "cancelled" for c in communities for o in c.orders),
        "fulfilled": sum(o.status == "fulfilled" for c in communities for o in c.orders),
        "adjustments": sum(len(r.adjustments) - 1 for c in communities for r in c.residents),
        "activities": sum(len(c.activities) for c in communities),
    }


async def main(options: Options) -> int:
    extra = {"engine": options.engine, "workers": str(options.workers),
             "communities": str(options.communities),
             "residents": f"{options.residents} per community", "clients": str(options.clients),
             "seconds": f"{options.seconds:g}", "redis": "yes" if options.redis else "no"}
    if options.engine == "postgres":
        extra["postgres"] = await pg_version(options.database_url or options.pg_url)
    print_machine(extra)
    trial = await run_trial(options, say=lambda text: print(text, flush=True))
    print()
    print(report(trial))
    return 1 if trial.failed else 0


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.town_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--workers", type=int, default=1, help="market serve --workers (default 1)")
    parser.add_argument("--communities", type=int, default=1, help=f"communities (default 1, at most "
                        f"{MAX_COMMUNITIES})")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the mixed day (default 60)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--redis", action="store_true",
                        help=f"set REDIS_URL for the server (REDIS_URL, else {REDIS_URL})")
    parser.add_argument("--database-url", help="use this database (default: a fresh SQLite file or "
                        "PostgreSQL schema, removed afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep the database and the server's log")
    parser.add_argument("--residents", type=int, default=30, help="residents per community (default 30)")
    parser.add_argument("--health-seconds", type=float, default=10.0,
                        help="GET /health alone before the day, the baseline (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the clients' choices (default 1)")
    parser.add_argument("--pg-url", default=PG_URL, help="a database to create the throwaway schema in")
    args = parser.parse_args(argv)
    if not 1 <= args.communities <= MAX_COMMUNITIES or not 1 <= args.residents <= MAX_RESIDENTS:
        parser.error(f"--communities must be 1..{MAX_COMMUNITIES} and --residents 1..{MAX_RESIDENTS}")
    if min(args.workers, args.clients) < 1 or min(args.seconds, args.health_seconds) <= 0:
        parser.error("--workers, --clients, --seconds and --health-seconds must be positive")
    if args.database_url and args.engine != ("postgres" if args.database_url.startswith("postgres")
                                              else "sqlite"):
        parser.error("--engine does not match --database-url")
    return Options(engine=args.engine, workers=args.workers, communities=args.communities,
                   seconds=args.seconds, clients=args.clients, redis=args.redis,
                   database_url=args.database_url, keep=args.keep, residents=args.residents,
                   health_seconds=args.health_seconds, seed=args.seed, pg_url=args.pg_url)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
