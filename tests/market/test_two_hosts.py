"""Two ``market serve`` processes on different ports sharing one database: two hosts behind a
proxy (issue 13). Nothing a request needs may live in one of them.

- A roster uploaded on one host is polled and shown on the other, confirmed there (a second
  confirmation at the same moment on the first host imports nothing more), and its people exist.
- Without ``REDIS_URL`` the lock-out holds at five wrong PINs across both.
- Each sweep runs on one host at a time: while a third party (this test) holds the order
  sweep's lease, neither server expires an overdue order; once it lets go, one of them expires
  it, once; and no sweep ran more often than its interval allows with both looking.

Both servers run every sweep each second (``MARKET_SWEEP_SECONDS=1``) so that a test sees
several runs. The database is the test's own (a fresh SQLite file, or a fresh PostgreSQL schema
with ``MARKET_TEST_DB=postgres``), dropped afterwards.
"""

import asyncio
import concurrent.futures
import contextlib
import csv
import io
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from bench.checkin_load import ADMIN_PASSWORD, ADMIN_PHONE, Server, market_serve
from market.background import Lease
from tests.conftest import PG_URL, db_engine, run_on_postgres
from tests.market.connections import numbered
from tests.market.support import good_pin, random_phone

SWEEP_SECONDS = 1.0
SWEEPS = ("close_unfinished_stays", "expire_orders", "daily_checkpoints")


@dataclass
class Hosts:
    database_url: str
    first: Server
    second: Server
    started: float
    """``time.monotonic()`` before the first server started."""

    async def fetch(self, sql: str, *args: Any) -> list[dict]:
        """Hand-written SQL on the servers' database (``{}`` for each argument)."""
        if self.database_url.startswith("sqlite:///"):
            with contextlib.closing(sqlite3.connect(self.database_url.removeprefix("sqlite:///"),
                                                    timeout=30)) as con:
                con.row_factory = sqlite3.Row
                with con:
                    return [dict(row) for row in con.execute(sql.replace("{}", "?"), args)]
        con = await asyncpg.connect(self.database_url)
        try:
            return [dict(row) for row in await con.fetch(numbered(sql), *args)]
        finally:
            await con.close()

    def query(self, sql: str, *args: Any) -> list[dict]:
        return asyncio.run(self.fetch(sql, *args))


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    workdir = tmp_path_factory.mktemp("two-hosts")
    schema = f"h_{secrets.token_hex(6)}" if db_engine() == "postgres" else None
    if schema:
        asyncio.run(run_on_postgres(f'CREATE SCHEMA "{schema}"'))
        database = f"{PG_URL}{'&' if '?' in PG_URL else '?'}search_path={schema}"
    else:
        database = f"sqlite:///{workdir}/market.db"
    for host in ("a", "b"):  # each server runs in a directory of its own
        (workdir / host).mkdir()
    environment = pytest.MonkeyPatch()
    environment.setenv("MARKET_SWEEP_SECONDS", str(SWEEP_SECONDS))  # market_serve passes it on
    try:
        started = time.monotonic()
        with market_serve(database, (workdir / "a").resolve(), create_admin=True) as first, \
                market_serve(database, (workdir / "b").resolve(), create_admin=False) as second:
            yield Hosts(database, first, second, started)
    finally:
        environment.undo()
        if schema:
            asyncio.run(run_on_postgres(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def sign_in(client: httpx.Client, base: str, login: str, secret: str) -> httpx.Response:
    return client.post(base + "/api/session", json={"login": login, "secret": secret})


def roster(count: int) -> tuple[bytes, list[str]]:
    phones = [random_phone() for _ in range(count)]
    while len(set(phones)) < count:
        phones = [random_phone() for _ in range(count)]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["姓名", "手机号", "小区", "楼栋", "单元", "房号", "网格", "志愿服务队"])
    for n, phone in enumerate(phones):
        writer.writerow([f"居民{n}", phone, "大院", f"{n % 9 + 1}号楼", "", str(100 + n), "", ""])
    return out.getvalue().encode("utf-8-sig"), phones


def poll_until(client: httpx.Client, url: str, ends: set[str], seconds: float = 120) -> list[dict]:
    """Every status answer until the job's state is one of ``ends`` (each must be a 200)."""
    seen, deadline = [], time.monotonic() + seconds
    while True:
        response = client.get(url)
        assert response.status_code == 200, (response.status_code, response.text[:300])
        seen.append(response.json())
        if seen[-1]["state"] in ends:
            return seen
        assert time.monotonic() < deadline, seen[-1]
        time.sleep(0.1)


def test_an_import_uploaded_on_one_host_is_confirmed_on_the_other(hosts: Hosts) -> None:
    one, other = hosts.first.url, hosts.second.url
    content, phones = roster(6000)
    # One client for both hosts: its session cookie is good on either (same address, another
    # port), as sessions live in the database.
    with httpx.Client(timeout=120) as admin:
        signed = sign_in(admin, one, ADMIN_PHONE, ADMIN_PASSWORD)
        assert signed.status_code == 200, signed.text
        csrf, token = signed.json()["csrf_token"], signed.json()["token"]
        uploaded = admin.post(one + "/admin/import", data={"csrf": csrf},
                              files={"file": ("台账.csv", content, "text/csv")})
        assert uploaded.status_code == 303, uploaded.text[:500]
        job = uploaded.headers["location"]

        # The other host answers the poll while the first one checks, then shows the result.
        checking = poll_until(admin, other + job + "/status", {"ready", "bad", "failed"})
        assert checking[-1]["state"] == "ready", checking[-1]
        page = admin.get(other + job)
        assert page.status_code == 200 and 'id="import-button"' in page.text
        assert 'id="will-create">6000<' in page.text

        # Confirmed on the other host; while it imports, the first host follows the progress the
        # other one writes; then the same confirmation reaches the first host too (a double tap
        # that reached two hosts) and changes nothing. The first host's poll goes before its own
        # confirmation: on SQLite that confirmation waits for the import's one write transaction,
        # and a poll answered after it saw only the end (seen once in a full parallel run).
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(admin.post, other + job, data={"csrf": csrf})
            following = poll_until(admin, one + job + "/status", {"importing", "done", "failed"})
            second = pool.submit(admin.post, one + job, data={"csrf": csrf})
            assert [first.result().status_code, second.result().status_code] == [303, 303]
        states = following + poll_until(admin, one + job + "/status", {"done", "failed"})
        # The first host followed the import, from the progress written by whichever ran it.
        assert "importing" in {s["state"] for s in states}
        assert states[-1] == {"state": "done", "stage": "wallets", "done": 6000, "total": 6000,
                              "percent": 100}
        done = admin.get(one + job)
        assert 'id="imported"' in done.text and "新增 6000 人" in done.text  # created once

        admin.headers["Authorization"] = f"Bearer {token}"
        for phone in secrets.SystemRandom().sample(phones, 5):
            found = admin.get(other + "/api/people", params={"q": phone}).json()["items"]
            assert [p["name"] for p in found] == [f"居民{phones.index(phone)}"]
    assert hosts.query("SELECT COUNT(*) AS n FROM person")[0]["n"] == 6000 + 1  # and the admin
    row = hosts.query("SELECT state, content FROM roster_import WHERE id = {}", job.rsplit("/", 1)[1])
    assert row == [{"state": "done", "content": None}]  # the file is not kept once imported


def test_the_lock_out_holds_at_five_across_hosts_without_redis(hosts: Hosts) -> None:
    one, other = hosts.first.url, hosts.second.url
    with httpx.Client(timeout=60) as admin:
        token = sign_in(admin, one, ADMIN_PHONE, ADMIN_PASSWORD).json()["token"]
        residents = []
        for _ in range(2):
            phone = random_phone()
            pin = good_pin(phone)
            made = admin.post(other + "/api/people", headers={"Authorization": f"Bearer {token}"},
                              json={"name": "王大爷", "phone": phone, "roles": ["resident"], "pin": pin})
            assert made.status_code == 201, made.text
            residents.append((made.json()["card_no"], pin))

    def wrong(pin: str) -> str:
        while (guess := f"{secrets.randbelow(10**6):06d}") == pin:
            pass
        return guess

    card, pin = residents[0]
    with httpx.Client(timeout=60) as client:
        answers = [sign_in(client, (one, other)[n % 2], card, wrong(pin)).status_code for n in range(5)]
        assert answers == [401] * 5
        for base in (one, other):
            locked = sign_in(client, base, card, pin)  # the right PIN, on either host
            assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0

    # A burst of guesses spread over both hosts at once: five are checked, no more.
    card, pin = residents[1]

    def guess(n: int) -> int:
        with httpx.Client(timeout=60) as client:
            return sign_in(client, (one, other)[n % 2], card, wrong(pin)).status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(guess, range(80)))
    assert statuses.count(401) == 5 and statuses.count(429) == 75, statuses


def test_each_sweep_runs_on_one_host_at_a_time(hosts: Hosts) -> None:
    one, other = hosts.first.url, hosts.second.url
    with httpx.Client(timeout=60) as staff:
        token = sign_in(staff, one, ADMIN_PHONE, ADMIN_PASSWORD).json()["token"]
        staff.headers["Authorization"] = f"Bearer {token}"
        rice = staff.post(one + "/api/products", json={"name": "大米", "price": "5.00", "stock": 10})
        assert rice.status_code == 201, rice.text
        rice_id = rice.json()["id"]
        phone = random_phone()
        pin = good_pin(phone)
        person = staff.post(one + "/api/people", json={
            "name": "李阿姨", "phone": phone, "roles": ["resident"], "pin": pin}).json()
        credited = staff.post(one + "/api/adjustments", headers={"Idempotency-Key": secrets.token_hex(8)},
                              json={"person_id": person["id"], "amount": "20", "reason": "志愿服务"})
        assert credited.status_code == 201, credited.text
    with httpx.Client(timeout=60) as resident:
        resident.headers["Authorization"] = "Bearer " + sign_in(resident, other, phone, pin).json()["token"]
        order = resident.post(other + "/api/orders", json={"items": [{"product_id": rice_id, "quantity": 2}]})
        assert order.status_code == 201, order.text
        order_id = order.json()["id"]
        assert resident.get(other + "/api/me/balance").json()["held"] == "10.00"
        # This test takes the sweep's lease, as a third host would, and its deadline passes:
        # neither server may expire the order while the lease is held elsewhere.
        lease = Lease("expire_orders", "the-test", fetch=hosts.fetch)
        deadline = time.monotonic() + 30
        while not asyncio.run(lease.take()):  # due every second, between the servers' runs
            assert time.monotonic() < deadline, "the test never got the lease"
            time.sleep(0.05)
        hosts.query("UPDATE shop_order SET expires_at = created_at WHERE id = {}", order_id)
        time.sleep(3 * SWEEP_SECONDS)
        assert resident.get(one + f"/api/orders/{order_id}").json()["status"] == "reserved"
        # Let go, the run due now: whichever server takes it next expires the order.
        assert asyncio.run(lease.release(int(time.time() * 1000)))
        deadline = time.monotonic() + 30
        while (status := resident.get(one + f"/api/orders/{order_id}").json()["status"]) == "reserved":
            assert time.monotonic() < deadline, "the order was not expired"
            time.sleep(0.2)
        assert status == "expired"
        time.sleep(3 * SWEEP_SECONDS)  # more sweeps by both hosts: nothing more may happen
        points = resident.get(one + "/api/me/balance").json()
        assert (points["balance"], points["held"]) == ("20.00", "0.00")
    released = hosts.query("SELECT delta FROM stock_movement WHERE ref = {} AND kind = 'release'",
                           f"order:{order_id}")
    assert released == [{"delta": 2}]  # the goods went back once
    assert hosts.query("SELECT stock FROM product WHERE id = {}", rice_id) == [{"stock": 10}]

    # Each sweep ran about once a second in all, not once a second on each host.
    elapsed = time.monotonic() - hosts.started
    leases = {row["name"]: row for row in hosts.query("SELECT * FROM background_lease")}
    for name in SWEEPS:
        runs = leases[name]["runs"]
        assert 3 <= runs <= elapsed / SWEEP_SECONDS + 1, (name, runs, elapsed)
