"""The 民声 board over HTTP with one grid holding 10,000 requests, against a trivial endpoint of the
same server measured in the same run (issue 18: "the board for a grid with 10,000 requests answers
in under 100 ms at p95").

    python -m bench.help_board --engine sqlite|postgres [--requests 10000] [--rounds 200]

Why: the office's board (``GET /api/help-requests/board``) counts a community's requests by grid
and state and lists a page of them; the grid worker's list (``GET /api/help-requests/grid``)
reads the waiting requests of their grids. Both read ``help_request`` through the indexes of
migration ``market_2026_12_07t01_00_00`` (``help_request_board``: community, grid, state, id).
A big grid must not make them slow, and the machine is shared, so the figure that counts is
the ratio to a trivial endpoint timed in the same run, not the milliseconds alone.

What it does:

1. A fresh SQLite file, or a fresh PostgreSQL schema (``bench_help_…``, dropped afterwards).
   ``market admin create`` and a first ``market serve`` for the structure, over the API: a
   compound, 4 grids, buildings, an organizer (password) and a grid worker of the big grid (a
   resident with a PIN, in a household of it).
2. That server is stopped and the rest is written straight into the database with bulk SQL (it
   is a benchmark): households (800 in the big grid, 200 in each other grid), two residents per
   household and 100 without one, then ``--requests`` requests in the big grid, ``--other``
   in each other grid and 200 of no grid, with their claims (``help_claim``). The mix of states
   is a year's worth of a busy grid: 80 % done, 5 % closed, 5 % claimed, 3 % open, 3 % open
   and overdue (open for more than the 48 h escalation time, stamped ``escalated_us`` as the
   escalation job would), 2 % disputed, 2 % waiting for review (mediation). ``posted_us`` and
   ``done_us`` spread over the past year, ids in the order of posting, at most 10 waiting
   requests per resident (``rules.MAX_WAITING``), 5 % of the big grid's posted by the grid
   worker for an elder. Volunteers are residents of other households. The ledger is not
   written: the board does not read it (``points`` are set on the rows only).
   PostgreSQL: ``ANALYZE`` afterwards (autovacuum's job on a live database; it is off on this
   cluster); SQLite: no ``ANALYZE``, as the app never runs one (``--analyze`` to compare).
3. The plans: ``EXPLAIN QUERY PLAN`` (SQLite) or ``EXPLAIN ANALYZE`` (PostgreSQL,
   custom plans as the app's connections make them) of the board's count query (taken from
   ``market/help_requests/board.py`` itself), its list query for the big grid, the unfiltered
   list and the grid worker's list; and each of those queries timed alone on a direct
   connection (median and p95 of 50), to tell the database's share from the server's.
4. A second ``market serve`` (one worker, as deployed) on the seeded database; the organizer and
   the grid worker sign in. Then, one request at a time on one keep-alive connection, each
   endpoint once per round in turn (so a slow moment of the shared machine hits all alike),
   ``--warm-up`` rounds not counted and ``--rounds`` counted:
   ``/health`` (one-row query, no session) and ``/api/me`` (the organizer's session and one
   row: the baseline of the ratio), the board of the big grid, the board of the big grid's
   overdue requests, the unfiltered board, and the grid worker's list.
   The first answer of each is checked against the seeded rows (counts per state and overdue
   of every grid, page sizes, newest first, the grid's rows only).

Reported: p50/p95/p99/max in ms per endpoint, the ratio of each p95 to ``/api/me``'s and
``/health``'s, the aim (board of the big grid p95 < 100 ms) and ``metric value unit`` lines.
Exit 1 when an answer was not 200 or did not match the seeded rows; an unmet aim is reported,
not an error. Client and server share the machine's CPUs.

One module over 500 lines: the structure, the seeding, the plans and the measurement are the
steps of one run and are read together (as in ``bench.checkin_load``).
"""

import argparse
import ast
import asyncio
import inspect
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from bench.checkin_load import (
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    ORGANIZER_PASSWORD,
    ORGANIZER_PHONE,
    market_serve,
    no_cookies,
)
from bench.common import PG_URL, median, percentile, pg_version, print_machine, table
from market.db import PG_SERVER_SETTINGS
from market.help_requests import board as help_board
from market.help_requests import service
from market.help_requests.rules import CATEGORY_NAMES, DEFAULT_ESCALATE_HOURS, DEFAULT_RATE, MAX_WAITING
from market.people.rules import new_card_no

WORKER_PHONE, WORKER_PIN = "13700000001", "258036"
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
YEAR_US = 365 * DAY_US
ESCALATE_US = DEFAULT_ESCALATE_HOURS * HOUR_US
BOARD_LIMIT, GRID_LIMIT = 50, 20  # the endpoints' defaults
GRIDS = ("第1网格", "第2网格", "第3网格", "第4网格")
BIG_BUILDINGS, HOUSEHOLDS_BIG, HOUSEHOLDS_OTHER, PER_HOUSEHOLD, HOMELESS, NO_GRID = 4, 800, 200, 2, 100, 200
#: The share of each kind of request: (state, overdue?), of a year's requests of a busy grid.
MIX = (("done", False, 0.80), ("closed", False, 0.05), ("claimed", False, 0.05), ("open", False, 0.03),
       ("open", True, 0.03), ("disputed", False, 0.02), ("review", False, 0.02))
WAITING = frozenset(service.WAITING)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅"
ASKS = {
    "elder_care": ("帮忙陪老人去社区医院复诊", "代买一周的菜和药", "周末上门陪老人聊聊天"),
    "repair": ("厨房水龙头漏水，需要换阀芯", "楼道灯坏了，晚上看不清台阶", "防盗门锁有点卡"),
    "mediation": ("楼上漏水到我家天花板，协商未果", "邻居在楼道堆放杂物", "晚上装修噪音太大"),
    "environment": ("单元门口的垃圾没人清理", "绿化带里有碎玻璃", "楼下自行车乱停挡住通道"),
    "other": ("想找人教老人用智能手机", "帮忙搬一下旧家具", "孩子放学后需要有人照看一小时"),
}


# -- the database, either engine ---------------------------------------------------------------------


class Database:
    """Direct SQL on the benchmark's database: SQLite (stdlib) or PostgreSQL (asyncpg, the
    app's server settings). ``{}`` marks each argument, as in ``market.db.fetch``."""

    def __init__(self, engine: str, url: str, schema: str | None = None) -> None:
        self.engine, self.url, self.schema = engine, url, schema
        self.sqlite: sqlite3.Connection | None = None
        self.pg: asyncpg.Connection | None = None

    async def open(self) -> None:
        if self.engine == "sqlite":
            self.sqlite = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            self.sqlite.row_factory = sqlite3.Row
            self.sqlite.execute("PRAGMA busy_timeout = 30000")
        else:
            self.pg = await asyncpg.connect(
                self.url, server_settings={**PG_SERVER_SETTINGS, "search_path": self.schema or "public"})

    async def close(self) -> None:
        if self.sqlite is not None:
            self.sqlite.close()
        if self.pg is not None:
            await self.pg.close()

    def sql(self, text: str) -> str:
        if self.engine == "sqlite":
            return text.replace("{}", "?")
        parts = text.split("{}")
        return "".join(p + (f"${i}" if i < len(parts) else "") for i, p in enumerate(parts, start=1))

    async def fetch(self, text: str, *args: object) -> list[dict]:
        if self.sqlite is not None:
            return [dict(r) for r in self.sqlite.execute(self.sql(text), args).fetchall()]
        assert self.pg is not None
        return [dict(r) for r in await self.pg.fetch(self.sql(text), *args)]

    async def execute(self, text: str, *args: object) -> None:
        if self.sqlite is not None:
            self.sqlite.execute(self.sql(text), args)
        else:
            assert self.pg is not None
            await self.pg.execute(self.sql(text), *args)

    async def insert(self, name: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        """Many rows at once: ``executemany`` (SQLite) or ``COPY`` (PostgreSQL)."""
        if self.sqlite is not None:
            marks = ", ".join("?" for _ in columns)
            self.sqlite.executemany(f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})", rows)
        else:
            assert self.pg is not None
            await self.pg.copy_records_to_table(name, records=rows, columns=list(columns),
                                                schema_name=self.schema)

    @asynccontextmanager
    async def transaction(self):
        if self.sqlite is not None:
            self.sqlite.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.sqlite.execute("ROLLBACK")
                raise
            self.sqlite.execute("COMMIT")
        else:
            assert self.pg is not None
            async with self.pg.transaction():
                yield

    def timestamp(self, at: datetime) -> object:
        """A TIMESTAMPTZ as Piccolo stores it: str() of the UTC datetime on SQLite."""
        return str(at.astimezone(UTC)) if self.engine == "sqlite" else at

    async def plan(self, text: str, *args: object) -> list[str]:
        if self.sqlite is not None:
            rows = self.sqlite.execute("EXPLAIN QUERY PLAN " + self.sql(text), args).fetchall()
            depth: dict[int, int] = {0: 0}
            lines = []
            for node, parent, _, detail in rows:
                depth[node] = depth.get(parent, 0) + 1
                lines.append("  " * (depth[node] - 1) + detail)
            return lines
        assert self.pg is not None
        rows = await self.pg.fetch("EXPLAIN (ANALYZE) " + self.sql(text), *args)
        return [r[0] for r in rows]

    async def timed(self, text: str, *args: object, n: int = 50) -> list[float]:
        """Seconds per run of the query alone, rows fetched, ``n`` runs after 5 not counted."""
        times = []
        for i in range(n + 5):
            started = time.perf_counter()
            await self.fetch(text, *args)
            if i >= 5:
                times.append(time.perf_counter() - started)
        return times


@asynccontextmanager
async def fresh_database(args: argparse.Namespace):
    """(DATABASE_URL, working directory, schema or None) of a fresh database; removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="help-board-bench-"))
    try:
        if args.engine == "sqlite":
            yield f"sqlite:///{workdir}/market.db", workdir, None
            return
        schema = f"bench_help_{uuid.uuid4().hex[:10]}"
        con = await asyncpg.connect(args.pg_url)
        try:
            await con.execute(f"CREATE SCHEMA {schema}")
        finally:
            await con.close()
        try:
            joiner = "&" if "?" in args.pg_url else "?"
            yield f"{args.pg_url}{joiner}search_path={schema}", workdir, schema
        finally:
            con = await asyncpg.connect(args.pg_url)
            try:
                await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            finally:
                await con.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# -- the structure, over the API (not timed) ----------------------------------------------------------


@dataclass
class Structure:
    community: int  # read from the database (the one ``market admin create`` made)
    compound: int
    grids: list[int]  # the big grid first
    buildings: dict[int, list[int]]  # per grid
    worker: int
    worker_household: int


def _ok(response: httpx.Response, *expected: int) -> dict:
    if response.status_code not in expected:
        raise SystemExit(f"{response.request.method} {response.request.url.path}: "
                         f"{response.status_code} {response.text[:500]}")
    return response.json() if response.content else {}


def sign_in(client: httpx.Client, login: str, secret: str) -> dict[str, str]:
    body = _ok(client.post("/api/session", json={"login": login, "secret": secret}), 200)
    return {"Authorization": f"Bearer {body['token']}"}


def build_structure(url: str) -> Structure:
    with httpx.Client(base_url=url, timeout=60, cookies=no_cookies()) as client:
        admin = sign_in(client, ADMIN_PHONE, ADMIN_PASSWORD)

        def post(path: str, body: dict) -> dict:
            return _ok(client.post(path, headers=admin, json=body), 200, 201)

        compound = post("/api/compounds", {"name": "幸福里"})["id"]
        grids = [post("/api/grids", {"name": name})["id"] for name in GRIDS]
        buildings: dict[int, list[int]] = {}
        number = 0
        for grid in grids:
            for _ in range(BIG_BUILDINGS if grid == grids[0] else 1):
                number += 1
                buildings.setdefault(grid, []).append(
                    post("/api/buildings", {"compound_id": compound, "name": f"{number}号楼"})["id"])
        post("/api/people", {"name": "组织者", "phone": ORGANIZER_PHONE, "roles": ["organizer"],
                             "password": ORGANIZER_PASSWORD})
        home = post("/api/households", {"building_id": buildings[grids[0]][0], "unit": "9", "room": "901",
                                        "grid_id": grids[0]})["id"]
        worker = post("/api/people", {"name": "网格员李芳", "phone": WORKER_PHONE, "roles": ["resident"],
                                      "pin": WORKER_PIN, "household_id": home})["id"]
        post(f"/api/grids/{grids[0]}/workers", {"person_id": worker})
    return Structure(0, compound, grids, buildings, worker, home)


# -- the requests, straight into the database ----------------------------------------------------------


@dataclass
class Seeded:
    now_us: int
    requests: int = 0
    #: Per grid (None: no grid): requests per state, and open ones past the escalation time.
    counts: dict[int | None, Counter] = field(default_factory=dict)
    overdue: Counter = field(default_factory=Counter)
    max_id: dict[int | None, int] = field(default_factory=dict)
    claims: int = 0
    people: int = 0
    households: int = 0
    seconds: float = 0.0


@dataclass
class Home:
    household: int | None
    building: int | None
    grid: int | None
    people: list[int]


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


async def seed(db: Database, s: Structure, args: argparse.Namespace) -> Seeded:
    """Households, residents, requests and their claims in one transaction (see the docstring)."""
    rng = random.Random(args.seed)
    started = time.perf_counter()
    now_us = int(time.time() * 1_000_000)
    out = Seeded(now_us)
    created = db.timestamp(datetime.fromtimestamp((now_us - YEAR_US - 30 * DAY_US) / 1e6, UTC))
    next_household = (await db.fetch("SELECT MAX(id) AS n FROM household"))[0]["n"] + 1
    next_person = (await db.fetch("SELECT MAX(id) AS n FROM person"))[0]["n"] + 1
    households, people, homes = [], [], {}
    cards = {r["card_no"] for r in await db.fetch("SELECT card_no FROM person")}

    def person(household: int | None) -> int:
        nonlocal next_person
        card = new_card_no()
        while card in cards:
            card = new_card_no()
        cards.add(card)
        people.append((next_person, s.community, _name(rng), f"136{next_person:08d}", "resident", card,
                       created, household))
        next_person += 1
        return next_person - 1

    for grid in s.grids:
        homes[grid] = []
        count = HOUSEHOLDS_BIG if grid == s.grids[0] else HOUSEHOLDS_OTHER
        for n in range(count):
            building = s.buildings[grid][n % len(s.buildings[grid])]
            k = n // len(s.buildings[grid])
            households.append((next_household, s.community, building, str(k % 6 + 1), f"{k // 6 + 1:03d}",
                               grid))
            homes[grid].append(Home(next_household, building, grid,
                                    [person(next_household) for _ in range(PER_HOUSEHOLD)]))
            next_household += 1
    homes[None] = [Home(None, None, None, [person(None)]) for _ in range(HOMELESS)]
    volunteers = [(h.household, p) for grid in s.grids for h in homes[grid] for p in h.people]

    plan = [(grid, args.requests if grid == s.grids[0] else args.other) for grid in s.grids]
    plan.append((None, NO_GRID))
    rows = []
    waiting: Counter = Counter()
    for grid, total in plan:
        kinds = [(state, late) for state, late, share in MIX for _ in range(round(total * share))]
        kinds += [("done", False)] * (total - len(kinds))
        for state, late in kinds:
            home = rng.choice(homes[grid])
            requester = rng.choice(home.people)
            while state in WAITING and waiting[requester] >= MAX_WAITING:
                home = rng.choice(homes[grid])
                requester = rng.choice(home.people)
            if state in WAITING:
                waiting[requester] += 1
            row = _request(rng, now_us, grid, home, requester, state, late, volunteers,
                           s.worker if grid == s.grids[0] and rng.random() < 0.05 else requester)
            row["community"] = s.community
            rows.append(row)
    rows.sort(key=lambda r: r["posted_us"])
    requests, claims = [], []
    first_id = 1
    for number, row in enumerate(rows, start=first_id):
        row["id"] = number
        grid = row["grid"]
        out.counts.setdefault(grid, Counter())[row["state"]] += 1
        if row["state"] == "open" and row["open_since_us"] < now_us - ESCALATE_US:
            out.overdue[grid] += 1
        out.max_id[grid] = number
        requests.append(tuple(row[c] for c in REQUEST_COLUMNS))
        if row["volunteer"] is not None:
            ended = row["done_us"] if row["state"] == "done" else None
            claims.append((number, s.community, row["volunteer"], row["claimed_us"], ended,
                           "done" if ended else None))
    async with db.transaction():
        await db.insert("household", ("id", "community", "building", "unit", "room", "grid"), households)
        await db.insert("person", ("id", "community", "name", "phone", "roles", "card_no", "created_at",
                                   "household"), people)
        await db.insert("help_request", REQUEST_COLUMNS, requests)
        await db.insert("help_claim", ("request", "community", "volunteer", "claimed_us", "ended_us",
                                       "outcome"), claims)
        if db.engine == "postgres":
            for name in ("household", "person", "help_request", "help_claim"):
                await db.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
                                 f" (SELECT MAX(id) FROM {name}))")
    out.requests, out.claims = len(requests), len(claims)
    out.people, out.households = len(people), len(households)
    out.seconds = time.perf_counter() - started
    return out


REQUEST_COLUMNS = ("id", "community", "requester", "posted_by", "household", "building", "grid", "category",
                   "visibility", "body", "state", "volunteer", "posted_us", "open_since_us", "claimed_us",
                   "escalated_us", "done_us", "hours", "points", "confirmed_by", "note", "has_photo")


def _request(rng: random.Random, now_us: int, grid: int | None, home: Home, requester: int, state: str,
             late: bool, volunteers: list[tuple[int, int]], posted_by: int) -> dict:
    """One request as the app would have left it in ``state``; times in the past year."""
    def within(days_from: float, days_to: float) -> int:
        return now_us - int(rng.uniform(days_from, days_to) * DAY_US)

    category = "mediation" if state == "review" else rng.choice(
        ("elder_care", "elder_care", "repair", "repair", "environment", "other", "mediation"))
    row = {"community": None, "requester": requester, "posted_by": posted_by, "household": home.household,
           "building": home.building, "grid": grid, "category": category,
           "visibility": rng.choice(("building", "grid", "grid", "community")) if grid else "community",
           "body": (f"{CATEGORY_NAMES[category]}：{rng.choice(ASKS[category])}。"
                    + "麻烦了，谢谢！" * rng.randrange(4)),
           "state": state, "volunteer": None, "open_since_us": None, "claimed_us": None, "escalated_us": None,
           "done_us": None, "hours": 0, "points": 0, "confirmed_by": None, "note": None, "has_photo": False}
    if state == "review":
        row["posted_us"] = within(0.1, 7)
    elif state == "open":
        row["posted_us"] = within(2.2, 30) if late else within(0.01, 1.9)
        row["open_since_us"] = row["posted_us"]
        if late:
            row["escalated_us"] = row["open_since_us"] + ESCALATE_US + int(rng.uniform(0, 300e6))
    elif state == "closed":
        row["posted_us"] = within(1, 365)
        row["note"] = rng.choice((None, "已电话联系，居民自行解决", "不属于社区受理范围"))
    else:
        row["posted_us"] = within(0.2, 14) if state == "claimed" else within(1, 30) if state == "disputed" \
            else within(0.5, 365)
        row["claimed_us"] = min(row["posted_us"] + int(rng.uniform(0.1, 24) * HOUR_US), now_us - 60_000_000)
        volunteer_home, volunteer = rng.choice(volunteers)
        while volunteer_home == home.household:
            volunteer_home, volunteer = rng.choice(volunteers)
        row["volunteer"] = volunteer
        if state == "disputed":
            row["note"] = "志愿者没有上门，但显示已完成"
        if state == "done":
            row["done_us"] = min(row["claimed_us"] + int(rng.uniform(1, 72) * HOUR_US), now_us - 60_000_000)
            row["hours"] = rng.choice((50, 100, 100, 150, 200, 300))
            row["points"] = DEFAULT_RATE.per_request + DEFAULT_RATE.per_hour * row["hours"] // 100
            row["confirmed_by"] = posted_by
    return row


# -- the queries the endpoints run, for their plans -----------------------------------------------------


def count_sql() -> str:
    """The board's grouped count, as ``market.help_requests.board.board`` states it (its first
    ``fetch`` with a literal query): what is explained is what the server runs."""
    tree = ast.parse(inspect.getsource(help_board.board).lstrip())
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "fetch" and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            return node.args[0].value
    raise SystemExit("the board's count query is no longer a literal in board.board: update the benchmark")


def queries(s: Structure, before_us: int) -> list[tuple[str, str, tuple]]:
    """(name, SQL, arguments) of the board's and the grid list's queries, as board.py builds them."""
    states = ", ".join(repr(x) for x in service.WAITING)
    big = s.grids[0]
    return [
        ("board: counts (whole community)", count_sql(), (before_us, s.community)),
        ("board: list, grid=big", service.ROW_SQL + " WHERE r.community = {} AND r.grid = {}"
         f" ORDER BY r.id DESC LIMIT {BOARD_LIMIT + 1}", (s.community, big)),
        ("board: list, grid=big&overdue", service.ROW_SQL + " WHERE r.community = {} AND r.grid = {}"
         f" AND r.state = 'open' AND r.open_since_us < {{}} ORDER BY r.id DESC LIMIT {BOARD_LIMIT + 1}",
         (s.community, big, before_us)),
        ("board: list, unfiltered", service.ROW_SQL + " WHERE r.community = {}"
         f" ORDER BY r.id DESC LIMIT {BOARD_LIMIT + 1}", (s.community,)),
        ("grid worker: list", service.ROW_SQL + " WHERE r.community = {} AND r.grid IN ({})"
         f" AND r.state IN ({states}) ORDER BY {help_board._LATE_LAST}, r.id DESC LIMIT {GRID_LIMIT + 1}",
         (s.community, big)),
    ]


async def explain(db: Database, s: Structure, seeded: Seeded) -> dict[str, list[float]]:
    """Print each query's plan; time each alone. Returns seconds per run, per query."""
    before_us = int(time.time() * 1_000_000) - ESCALATE_US
    timings = {}
    for name, text, args in queries(s, before_us):
        print(f"\n-- {name}\n{db.sql(text)}\n   args {args}")
        for line in await db.plan(text, *args):
            print("   " + line)
        timings[name] = await db.timed(text, *args)
    return timings


# -- the measurement ----------------------------------------------------------------------------------


@dataclass
class Endpoint:
    name: str
    path: str
    params: dict[str, object]
    who: str  # "none", "organizer" or "worker"


def endpoints(s: Structure) -> list[Endpoint]:
    big = s.grids[0]
    return [
        Endpoint("/health", "/health", {}, "none"),
        Endpoint("/api/me (baseline)", "/api/me", {}, "organizer"),
        Endpoint("board ?grid=big", "/api/help-requests/board", {"grid": big}, "organizer"),
        Endpoint("board ?grid=big&overdue", "/api/help-requests/board", {"grid": big, "overdue": "true"},
                 "organizer"),
        Endpoint("board (unfiltered)", "/api/help-requests/board", {}, "organizer"),
        Endpoint("grid worker's list", "/api/help-requests/grid", {}, "worker"),
    ]


def check(endpoint: Endpoint, body: dict, s: Structure, seeded: Seeded) -> list[str]:
    """What is wrong with an answer, against the seeded rows; [] when it is right."""
    problems = []
    big = s.grids[0]
    if endpoint.path.endswith("/board"):
        found = {c["grid_id"]: c for c in body["grids"]}
        for grid, counts in seeded.counts.items():
            got = found.get(grid)
            expected = {state: counts[state] for state in ("review", "open", "claimed", "disputed", "done")}
            expected["overdue"] = seeded.overdue[grid]
            if got is None or any(got[k] != v for k, v in expected.items()):
                problems.append(f"{endpoint.name}: grid {grid} counts {got}, expected {expected}")
        items = body["items"]
        ids = [item["id"] for item in items]
        if ids != sorted(ids, reverse=True):
            problems.append(f"{endpoint.name}: not newest first")
        if endpoint.params.get("overdue"):
            expected_n = min(BOARD_LIMIT, seeded.overdue[big])
            if len(items) != expected_n or any(item["state"] != "open" for item in items):
                problems.append(f"{endpoint.name}: {len(items)} items, expected {expected_n} open ones")
        else:
            top = seeded.max_id[big] if "grid" in endpoint.params else max(seeded.max_id.values())
            if len(items) != BOARD_LIMIT or not body["next_cursor"] or not ids or ids[0] != top:
                problems.append(f"{endpoint.name}: {len(items)} items from id {ids[:1]}, expected "
                                f"{BOARD_LIMIT} from {top} and a next page")
        if "grid" in endpoint.params and any(item["grid"] != GRIDS[0] for item in items):
            problems.append(f"{endpoint.name}: an item of another grid")
    elif endpoint.path.endswith("/grid"):
        items = body["items"]
        if len(items) != GRID_LIMIT or any(item["state"] not in WAITING or item["grid"] != GRIDS[0]
                                           for item in items):
            problems.append(f"{endpoint.name}: {len(items)} items, expected {GRID_LIMIT} waiting ones"
                            " of the grid")
        if not all(item["escalated"] for item in items[:min(GRID_LIMIT, seeded.overdue[big])]):
            problems.append(f"{endpoint.name}: escalated requests are not first")
    return problems


@dataclass
class Measured:
    samples: dict[str, list[float]]
    statuses: dict[str, Counter]
    problems: list[str]
    escalated_on_first_page: int


def measure(url: str, s: Structure, seeded: Seeded, rounds: int, warm_up: int) -> Measured:
    """Each endpoint once per round, in turn, one request at a time; ms per answer."""
    points = endpoints(s)
    samples: dict[str, list[float]] = {e.name: [] for e in points}
    statuses: dict[str, Counter] = {e.name: Counter() for e in points}
    problems: list[str] = []
    checked: set[str] = set()
    escalated = 0
    with httpx.Client(base_url=url, timeout=60, cookies=no_cookies()) as client:
        headers = {"none": {}, "organizer": sign_in(client, ORGANIZER_PHONE, ORGANIZER_PASSWORD),
                   "worker": sign_in(client, WORKER_PHONE, WORKER_PIN)}
        for round_no in range(warm_up + rounds):
            for endpoint in points:
                started = time.perf_counter()
                response = client.get(endpoint.path, params=endpoint.params, headers=headers[endpoint.who])
                elapsed = (time.perf_counter() - started) * 1000
                statuses[endpoint.name][response.status_code] += 1
                if response.status_code != 200:
                    problems.append(f"{endpoint.name}: {response.status_code} {response.text[:300]}")
                    continue
                if endpoint.name not in checked:
                    checked.add(endpoint.name)
                    body = response.json()
                    problems += check(endpoint, body, s, seeded)
                    if endpoint.path.endswith("/grid"):
                        escalated = sum(1 for item in body["items"] if item["escalated"])
                if round_no >= warm_up:
                    samples[endpoint.name].append(elapsed)
    return Measured(samples, statuses, problems, escalated)


# -- main ----------------------------------------------------------------------------------------------


async def prepare(args: argparse.Namespace, database_url: str, schema: str | None, s: Structure,
                  analyze: bool) -> tuple[Seeded, dict[str, list[float]]]:
    db = Database(args.engine, args.pg_url if args.engine == "postgres" else database_url, schema)
    await db.open()
    try:
        s.community = (await db.fetch("SELECT id FROM community"))[0]["id"]
        seeded = await seed(db, s, args)
        print(f"  seeded {seeded.households:,} households, {seeded.people:,} residents, "
              f"{seeded.requests:,} requests ({seeded.claims:,} claims) in {seeded.seconds:.1f} s")
        for grid, counts in seeded.counts.items():
            name = GRIDS[s.grids.index(grid)] if grid in s.grids else "no grid"
            print(f"    {name} ({grid}): {sum(counts.values()):,} = "
                  + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
                  + f"; overdue {seeded.overdue[grid]:,}")
        if analyze:
            started = time.perf_counter()
            await db.execute("ANALYZE")
            print(f"  ANALYZE in {time.perf_counter() - started:.1f} s")
        else:
            print("  no ANALYZE" + (" (the app never runs one on SQLite)" if db.engine == "sqlite" else ""))
        print("\nquery plans (and each query alone on a direct connection)")
        timings = await explain(db, s, seeded)
    finally:
        await db.close()
    return seeded, timings


async def main(args: argparse.Namespace) -> int:
    analyze = args.analyze if args.analyze is not None else args.engine == "postgres"
    extra = {"engine": args.engine, "requests": f"{args.requests:,}", "other": f"{args.other:,}",
             "rounds": str(args.rounds), "analyze": "yes" if analyze else "no"}
    if args.engine == "postgres":
        extra["postgres"] = await pg_version(args.pg_url)
    print_machine(extra)
    async with fresh_database(args) as (database_url, workdir, schema):
        with market_serve(database_url, workdir) as server:
            print(f"market serve on {server.url} (pid {server.pid}): the structure over the API …",
                  flush=True)
            s = await asyncio.to_thread(build_structure, server.url)
        seeded, timings = await prepare(args, database_url, schema, s, analyze)
        with market_serve(database_url, workdir, create_admin=False) as server:
            print(f"\nmarket serve on {server.url} (pid {server.pid}): {args.warm_up} warm-up rounds, "
                  f"{args.rounds} rounds …", flush=True)
            result = await asyncio.to_thread(measure, server.url, s, seeded, args.rounds, args.warm_up)
            if args.keep_log:
                shutil.copy(server.log, args.keep_log)

    print("\nqueries alone (direct connection, ms)")
    print(table(["query", "n", "p50 ms", "p95 ms"],
                [(name, len(t), median(t) * 1000, percentile(t, 95) * 1000) for name, t in timings.items()]))
    samples = result.samples
    base, health = percentile(samples["/api/me (baseline)"], 95), percentile(samples["/health"], 95)
    rows = []
    for name, values in samples.items():
        p95 = percentile(values, 95)
        bad = sum(n for status, n in result.statuses[name].items() if status != 200)
        rows.append((name, len(values), median(values), p95, percentile(values, 99), max(values or [0.0]),
                     p95 / base, p95 / health, bad))
    print("\nover HTTP, one request at a time (ms)")
    print(table(["endpoint", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "p95 / me", "p95 / health",
                 "not 200"], rows))
    board_p95 = percentile(samples["board ?grid=big"], 95)
    big_waiting = sum(seeded.counts[s.grids[0]][x] for x in WAITING)
    print(f"\nthe grid worker's first page: {result.escalated_on_first_page} of {GRID_LIMIT} escalated "
          f"(the grid has {seeded.overdue[s.grids[0]]:,} escalated among {big_waiting:,} waiting)")
    aims = [
        (f"board ?grid=big p95 < 100 ms ({args.requests:,} requests in the grid)", f"{board_p95:.1f} ms",
         board_p95 < 100),
        ("every answer 200 and as seeded", f"{len(result.problems)} wrong, first: {result.problems[0][:100]}"
         if result.problems else "ok", not result.problems),
    ]
    print()
    print(table(["aim", "measured", "met"], [(a, m, "yes" if ok else "NO") for a, m, ok in aims]))
    print()
    keys = {"/health": "health", "/api/me (baseline)": "me", "board ?grid=big": "board_grid",
            "board ?grid=big&overdue": "board_grid_overdue", "board (unfiltered)": "board_all",
            "grid worker's list": "grid_list"}
    for name, key in keys.items():
        for p in (50, 95, 99):
            print(f"{key}_p{p} {percentile(samples[name], p):.3f} ms")
        if key not in ("health", "me"):
            print(f"{key}_p95_over_me {percentile(samples[name], 95) / base:.3f} ratio")
    print(f"board_grid_p95_over_health {board_p95 / health:.3f} ratio")
    print(f"answer_errors {len(result.problems)} count")
    summary = {keys[n]: {f"p{p}": round(percentile(v, p), 2) for p in (50, 95, 99)}
               for n, v in samples.items()}
    print(json.dumps({"engine": args.engine, **summary,
                      "ratio_board_grid_over_me": round(board_p95 / base, 2)}, ensure_ascii=False))
    return 1 if result.problems else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.help_board", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=10_000,
                        help="requests in the big grid (default 10,000)")
    parser.add_argument("--other", type=int, default=1_000,
                        help="requests in each other grid (default 1,000)")
    parser.add_argument("--rounds", type=int, default=200,
                        help="counted rounds of every endpoint (default 200)")
    parser.add_argument("--warm-up", type=int, default=20, help="rounds not counted first (default 20)")
    parser.add_argument("--analyze", action=argparse.BooleanOptionalAction, default=None,
                        help="ANALYZE after seeding (default: on PostgreSQL only)")
    parser.add_argument("--seed", type=int, default=18, help="of the random mix (default 18)")
    parser.add_argument("--pg-url", default=PG_URL, help="a database to create a throwaway schema in")
    parser.add_argument("--keep-log", metavar="FILE", help="copy the measured server's log here")
    args = parser.parse_args(argv)
    if args.requests < 1000 or args.other < 100 or args.rounds < 1 or args.warm_up < 0:
        parser.error("--requests at least 1,000, --other at least 100, --rounds at least 1")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
