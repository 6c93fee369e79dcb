"""PgBouncer in transaction-pooling mode (Debian's ``pgbouncer``, ``deploy/pgbouncer/pgbouncer.ini``)
between the app and PostgreSQL, with ``?pgbouncer=1`` on ``DATABASE_URL``
(``ledger.stores.pg_pool.asyncpg_arguments``).

PostgreSQL only: PgBouncer pools PostgreSQL's connections, there is nothing to put it in front of
with SQLite (``MARKET_TEST_DB=sqlite`` skips this module, saying so).

- asyncpg's pool with the option: statements with arguments, outside any transaction, from 24
  connections at once through 4 server connections — every answer right, no error, and one
  transaction a statement (no reset query on release). Without the option the same PgBouncer
  refuses ``plan_cache_mode`` at start-up, and with asyncpg's statement cache statements fail
  ("prepared statement … does not exist"): the option is what makes it work.
- Without ``plan_cache_mode`` the statements are still planned for their own arguments
  (auto_explain's plans show the values, never ``$1``), while the statement cache of a direct
  connection does switch to generic plans: the check sees one when there is one.
- The app: ``market migrate`` and ``market serve --workers 2`` through PgBouncer with 4 server
  connections, a mixed load for 12 s (check-ins, redemptions under an Idempotency-Key and some sent
  again, reservations cancelled or handed out, adjustments, stock, sign-ins, reads; every sweep
  each second, under its lease): no 5xx and nothing left unanswered, no sweep failed, every
  acknowledged write there, ``market ledger verify`` and ``market reports check`` pass through
  PgBouncer, and PostgreSQL never had more than 4 connections to the database
  (``pg_stat_activity``, and PgBouncer's ``SHOW POOLS``) while the workers had more open.
"""

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from bench.checkin_load import no_cookies
from ledger.stores.pg_pool import connect, open_pool
from tests.conftest import PG_URL, db_engine
from tests.deploy.pgbouncer import Bouncer, own_database, running_bouncer
from tests.market.outage import (
    ORGANIZER_PASSWORD,
    ORGANIZER_PHONE,
    Load,
    World,
    bearer,
    market,
    server_env,
    server_errors,
    serving,
    set_up,
)

pytestmark = pytest.mark.skipif(db_engine() != "postgres",
                                reason="PgBouncer stands in front of PostgreSQL; SQLite has no server")

#: PgBouncer's server connections to the database: fewer than the app's clients want at once.
POOL_SIZE = 4
CLIENTS = 24
ROUNDS = 30
#: What the app's pools ask for at start-up (``ledger.stores.postgres``, ``market.pg_writer``).
PLAN = {"plan_cache_mode": "force_custom_plan"}
LOAD_SECONDS = 12.0
SWEEPS = ("close_unfinished_stays", "expire_orders", "daily_checkpoints")


@dataclass
class Database:
    name: str
    bouncer: Bouncer


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    with own_database() as name, running_bouncer(name, POOL_SIZE) as bouncer:
        yield Database(name, bouncer)


def server_connections(pool: dict[str, str]) -> int:
    """PgBouncer's connections to PostgreSQL for one pool, in any state (``SHOW POOLS``)."""
    return sum(int(pool[column]) for column in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"))


def client_connections(pool: dict[str, str]) -> int:
    return int(pool["cl_active"]) + int(pool["cl_waiting"])


# -- asyncpg through transaction pooling ----------------------------------------------------------


def statement(i: int, value: int) -> tuple[str, object]:
    """One of three statements of different argument types, and the argument that tells whose it is:
    a Bind that reached another client's statement would answer wrongly or fail."""
    if i % 3 == 0:
        return "SELECT $1::int + 0", value
    if i % 3 == 1:
        return "SELECT $1::text || ''", f"answer {value}"
    return "SELECT $1::bigint * 1 FROM pg_sleep(0.001)", value


async def ask_at_once(pool: asyncpg.Pool) -> tuple[list[str], list[str]]:
    """``CLIENTS`` tasks each sending ``ROUNDS`` statements through ``pool``, none in a transaction:
    (the errors, the wrong answers)."""
    errors: list[str] = []
    wrong: list[str] = []

    async def client(n: int) -> None:
        for i in range(ROUNDS):
            sql, argument = statement(i, n * 1000 + i)
            try:
                answer = await pool.fetchval(sql, argument)
            except asyncpg.PostgresError as error:
                errors.append(f"{type(error).__name__}: {error}")
                continue
            if answer != argument:
                wrong.append(f"{sql} with {argument!r} answered {answer!r}")

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return errors, wrong


async def test_statements_outside_transactions_share_few_server_connections(database: Database) -> None:
    bouncer = database.bouncer
    pool = await open_pool(bouncer.url(), min_size=CLIENTS, max_size=CLIENTS, server_settings=PLAN)
    try:
        before = await asyncio.to_thread(bouncer.stats)
        errors, wrong = await ask_at_once(pool)
        after = await asyncio.to_thread(bouncer.stats)
        shared = await asyncio.to_thread(bouncer.pool)
    finally:
        await pool.close()
    assert errors == [] and wrong == [], (errors[:5], wrong[:5])
    assert client_connections(shared) >= CLIENTS and server_connections(shared) <= POOL_SIZE, shared
    # One transaction a statement: no reset query when a connection goes back to asyncpg's pool.
    assert int(after["total_xact_count"]) - int(before["total_xact_count"]) == CLIENTS * ROUNDS

    # Without the option, as asyncpg connects to PostgreSQL itself: refused at start-up ...
    refused = "unsupported startup parameter: plan_cache_mode"
    with pytest.raises(asyncpg.ProtocolViolationError, match=refused):
        await open_pool(bouncer.url(pgbouncer=False), min_size=1, max_size=1, server_settings=PLAN)
    # ... and, without that setting, statements prepared on one server connection run on another.
    pool = await open_pool(bouncer.url(pgbouncer=False), min_size=CLIENTS, max_size=CLIENTS)
    try:
        errors, _ = await ask_at_once(pool)
    finally:
        await pool.close()
    assert errors, "the statement cache worked through transaction pooling: the test proves nothing"
    assert all("prepared statement" in error for error in errors), errors[:5]


async def generic_plans(connection: asyncpg.Connection, runs: int = 10) -> int:
    """How many of ``runs`` executions of one statement PostgreSQL ran on a generic plan (``$1`` in
    the plan rather than the value), as auto_explain reports each plan back to the client."""
    plans: list[str] = []
    connection.add_log_listener(lambda _, message: plans.append(message.message))
    async with connection.transaction():  # one server connection for the settings and the runs
        await connection.execute("LOAD 'auto_explain'; SET LOCAL auto_explain.log_min_duration = 0;"
                                 " SET LOCAL auto_explain.log_level = notice")
        for oid in range(1259, 1259 + runs):
            await connection.fetch("SELECT relname FROM pg_class WHERE oid = $1", oid)
    conditions = [line for plan in plans for line in plan.splitlines() if "Index Cond" in line]
    assert len(conditions) == runs, plans
    return sum("$1" in line for line in conditions)


async def test_statements_are_planned_for_their_arguments_without_plan_cache_mode(database: Database) -> None:
    through = await connect(database.bouncer.url(), server_settings=PLAN)  # the setting dropped
    direct = await asyncpg.connect(PG_URL)  # the statement cache, plan_cache_mode left to PostgreSQL
    try:
        assert await through.fetchval("SHOW plan_cache_mode") == "auto"
        assert await generic_plans(through) == 0
        assert await generic_plans(direct) > 0
    finally:
        await through.close()
        await direct.close()


# -- the app through PgBouncer under load ---------------------------------------------------------


@dataclass
class ShopLoad(Load):
    """``tests.market.outage.Load`` (adjustments, stock, check-ins, reads) and the shop besides:
    redemptions at the counter, reservations cancelled or handed out, sign-ins, the catalogue."""

    keeper: str = ""
    product: int = 0
    #: Idempotency-Key → the id of a redemption answered 201
    sales: dict[str, int] = field(default_factory=dict)
    #: a redemption sent again with its key that did not come back the same
    replays_wrong: list[str] = field(default_factory=list)
    #: order id → its status as last acknowledged
    orders: dict[int, str] = field(default_factory=dict)
    _open_orders: list[tuple[int, str]] = field(default_factory=list)

    async def run(self) -> None:
        self._buyers = itertools.cycle(self.world.residents[1:])
        async with httpx.AsyncClient(base_url=self.world.url, timeout=60, cookies=no_cookies()) as client:
            await asyncio.gather(
                super().run(),
                self._loop(client, "redemption", self._redeem),
                self._loop(client, "redemption", self._redeem),
                self._loop(client, "reservation", self._reserve),
                self._loop(client, "order closed", self._close_order),
                self._loop(client, "sign-in", self._sign_in),
                self._loop(client, "products", self._products),
            )

    async def _redeem(self, client: httpx.AsyncClient) -> httpx.Response:
        _, token = next(self._buyers)
        shown = await client.get("/api/me/code", headers=bearer(token))
        if shown.status_code != 200:
            return shown
        key = uuid.uuid4().hex
        body = {"member_code": shown.json()["code"], "items": [{"product_id": self.product, "quantity": 1}]}
        headers = bearer(self.keeper) | {"Idempotency-Key": key}
        response = await client.post("/api/redemptions", json=body, headers=headers)
        if response.status_code == 201:
            self.sales[key] = response.json()["id"]
            if len(self.sales) % 4 == 0:  # the counter did not hear the answer and sends it again
                again = await client.post("/api/redemptions", json=body, headers=headers)
                if again.status_code != 201 or again.json()["id"] != self.sales[key]:
                    self.replays_wrong.append(f"{key} sent again: {again.status_code} {again.text[:200]}")
        return response

    async def _reserve(self, client: httpx.AsyncClient) -> httpx.Response:
        _, token = next(self._buyers)
        response = await client.post("/api/orders", headers=bearer(token),
                                     json={"items": [{"product_id": self.product, "quantity": 1}]})
        if response.status_code == 201:
            order = response.json()["id"]
            self.orders[order] = "reserved"
            self._open_orders.append((order, token))
        return response

    async def _close_order(self, client: httpx.AsyncClient) -> httpx.Response:
        """The oldest open order: every other one cancelled by its resident, the rest handed out
        by the shop keeper; the shop's list of orders while none is open."""
        if not self._open_orders:
            return await client.get("/api/orders", headers=bearer(self.keeper))
        order, token = self._open_orders.pop(0)
        if order % 2:
            response = await client.post(f"/api/orders/{order}/cancel", headers=bearer(token))
        else:
            response = await client.post(f"/api/orders/{order}/fulfil", headers=bearer(self.keeper))
        if response.status_code == 200:
            self.orders[order] = "cancelled" if order % 2 else "fulfilled"
        return response

    async def _sign_in(self, client: httpx.AsyncClient) -> httpx.Response:
        await asyncio.sleep(0.3)  # argon2 is slow on purpose: a few sign-ins a second
        return await client.post("/api/session",
                                 json={"login": ORGANIZER_PHONE, "secret": ORGANIZER_PASSWORD})

    async def _products(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/api/products", headers=bearer(self.world.residents[2][1]))


KEEPER_PHONE, KEEPER_PASSWORD = "13700000001", "pgbouncer-keeper-password"
FUNDS = "1000"


async def open_shop(world: World) -> ShopLoad:
    """A shop keeper, goods in plenty, and points for every resident; the load that uses them."""
    async with httpx.AsyncClient(base_url=world.url, timeout=30, cookies=no_cookies()) as client:
        async def made(response: httpx.Response, status: int = 201) -> dict:
            assert response.status_code == status, f"{response.request.url.path}: {response.text}"
            return response.json()

        admin = bearer(world.admin)
        await made(await client.post("/api/people", headers=admin, json={
            "name": "张店长", "phone": KEEPER_PHONE, "roles": ["shopkeeper"], "password": KEEPER_PASSWORD}))
        keeper = (await made(await client.post("/api/session", json={
            "login": KEEPER_PHONE, "secret": KEEPER_PASSWORD}), 200))["token"]
        product = (await made(await client.post("/api/products", headers=admin, json={
            "name": "肥皂", "price": "1", "stock": 100_000})))["id"]
        for person, _ in world.residents:
            keyed = admin | {"Idempotency-Key": f"fund-{person}"}
            await made(await client.post("/api/adjustments", headers=keyed,
                                         json={"person_id": person, "amount": FUNDS, "reason": "积分启动"}))
    return ShopLoad(world, keeper=keeper, product=product)


@dataclass
class Watch:
    """PgBouncer's pool and PostgreSQL's own count of connections to the database, sampled."""

    server: list[int] = field(default_factory=list)  # PgBouncer's connections to PostgreSQL
    clients: list[int] = field(default_factory=list)  # the app's connections to PgBouncer
    waiting: list[int] = field(default_factory=list)  # of them, waiting for a server connection
    backends: list[int] = field(default_factory=list)  # pg_stat_activity for the database


async def watch(database: Database, until: asyncio.Event, watched: Watch) -> None:
    admin = await asyncpg.connect(PG_URL)
    try:
        while not until.is_set():
            pool = await asyncio.to_thread(database.bouncer.pool)
            watched.server.append(server_connections(pool))
            watched.clients.append(client_connections(pool))
            watched.waiting.append(int(pool["cl_waiting"]))
            watched.backends.append(await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database.name))
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def rows_of(database: str, sql: str) -> list[dict]:
    """Rows read from the database past the app and PgBouncer."""
    connection = await asyncpg.connect(PG_URL.rsplit("/", 1)[0] + f"/{database}")
    try:
        return [dict(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


async def test_market_serve_with_two_workers_through_four_server_connections(
    database: Database, tmp_path: Path
) -> None:
    # Every sweep each second: their leases are taken and given back through PgBouncer too.
    env = server_env(database.bouncer.url(), MARKET_SWEEP_SECONDS="1")
    migrated = market(env, tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    with serving(env, tmp_path, workers=2) as url:
        load = await open_shop(await set_up(url))
        before = await asyncio.to_thread(database.bouncer.stats)
        stop, watched = asyncio.Event(), Watch()
        watching = asyncio.create_task(watch(database, stop, watched))
        running = asyncio.create_task(load.run())
        try:
            await asyncio.sleep(LOAD_SECONDS)
        finally:
            load.stop()
            await running
            stop.set()
            await watching
        after = await asyncio.to_thread(database.bouncer.stats)
        verify = market(env, tmp_path, "ledger", "verify")
        check = market(env, tmp_path, "reports", "check")

    answers = load.answers
    kinds = {a.kind for a in answers}
    print(summary(load, watched, before, after))
    # No 5xx, nothing unanswered; every kind of request was made and answered.
    assert [str(a) for a in answers if a.status not in (200, 201)] == []
    assert kinds >= {"adjustment", "stock", "checkin", "redemption", "reservation", "order closed",
                     "sign-in", "balance", "products", "page", "health"}, kinds
    assert load.replays_wrong == []
    assert server_errors(tmp_path) == []
    assert "background job" not in (tmp_path / "server.log").read_text()  # no sweep failed
    leases = await rows_of(database.name, "SELECT name, runs FROM background_lease")
    runs = {r["name"]: r["runs"] for r in leases}
    assert all(runs.get(job, 0) >= 2 for job in SWEEPS), runs
    # Every acknowledged write is there.
    transfers = {r["id"] for r in await rows_of(database.name, "SELECT id FROM ledger_transfer")}
    assert set(load.adjustments) <= transfers
    stays = {(r["activity"], r["person"]) for r in await rows_of(
        database.name, "SELECT activity, person FROM activity_stay")}
    assert set(load.checkins) <= stays
    sales = [(r["key"], r["id"]) for r in await rows_of(database.name, "SELECT key, id FROM redemption")
             if r["key"] in load.sales]  # (fulfilled orders have redemptions too)
    assert sorted(sales) == sorted(load.sales.items())  # and a sale sent again made no second one
    orders = {r["id"]: r["status"] for r in await rows_of(database.name, "SELECT id, status FROM shop_order")}
    assert {order: orders.get(order) for order in load.orders} == load.orders
    assert len(load.sales) > 10 and len(load.orders) > 10 and load.checkins and load.adjustments
    # The books check out, read through PgBouncer.
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert check.returncode == 0, check.stdout + check.stderr
    # The workers had more connections open than PostgreSQL ever saw.
    assert max(watched.backends) <= POOL_SIZE and max(watched.server) <= POOL_SIZE, watched
    assert max(watched.clients) > POOL_SIZE, watched
    assert int(after["total_xact_count"]) - int(before["total_xact_count"]) > len(answers)


def summary(load: ShopLoad, watched: Watch, before: dict[str, str], after: dict[str, str]) -> str:
    """What the run did and used, for the report (pytest -s)."""
    lines = [f"{len(load.answers)} requests in {LOAD_SECONDS:g} s"]
    for kind in sorted({a.kind for a in load.answers}):
        seconds = sorted(a.seconds for a in load.answers if a.kind == kind)
        lines.append(f"  {kind:<13} {len(seconds):>5}  p50 {seconds[len(seconds) // 2] * 1000:6.1f} ms"
                     f"  p99 {seconds[int(len(seconds) * 0.99)] * 1000:6.1f} ms")
    transactions = int(after["total_xact_count"]) - int(before["total_xact_count"])
    statements = int(after["total_query_count"]) - int(before["total_query_count"])
    waited = int(after["total_wait_time"]) - int(before["total_wait_time"])
    lines.append(f"PgBouncer: {transactions} transactions, {statements} statements, clients waited "
                 f"{waited / 1e6:.2f} s in all for a server connection")
    lines.append(f"server connections at most {max(watched.server)} (PostgreSQL counted "
                 f"{max(watched.backends)}); client connections at most {max(watched.clients)}, "
                 f"waiting at most {max(watched.waiting)}; {len(watched.server)} samples")
    return "\n".join(lines)
