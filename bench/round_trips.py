"""How many statements reach PostgreSQL for one check-in, check-out and redemption, and how many
of them run while the request holds a lock that others of its community wait for.

    DATABASE_URL=postgresql://…?search_path=… MARKET_SECRET_KEY=… python -m bench.round_trips

It counts at asyncpg's connection (every ``fetch``/``execute``/``executemany``, the
transactions' ``BEGIN``/``COMMIT`` and the pool's reset script on release: each is one round trip),
from every thread, while exactly one request is in flight, so each request's statements are
its own. A request is timed after a warm-up (the first of each kind also opens accounts).
"While a lock is held" counts from the first statement that takes a lock other requests of
the community queue on — ``FOR UPDATE`` or ``FOR NO KEY UPDATE`` (not ``FOR KEY SHARE``, which
scans share), an ``UPDATE`` of a product's stock, the write of a stay (its trigger updates the
activity's tally row), ``pg_advisory_xact_lock`` — to the ``COMMIT``, inclusive; and apart,
from the statement that takes the ledger's lock (the community's chain; before, the one
advisory lock of the installation) to the ``COMMIT``, with how long that took.

It talks to the app only through its HTTP API (in-process, ``httpx.ASGITransport``), so the
same script measures an older release: run it with that release's code first on
``PYTHONPATH`` (docs/PERFORMANCE.md has both).
"""

import asyncio
import os
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from bench.checkin_load import no_cookies
from bench.common import pg_schema, table

#: What takes a lock that others queue on (see the module's docstring): a row lock, the old global
#: advisory lock, a product's stock, a capped activity's places, and a stay's write (its trigger
#: updates the activity's one tally row, which every scan of the activity updates too).
LOCKING = re.compile(
    r"FOR (NO KEY )?UPDATE|pg_advisory_xact_lock|UPDATE product SET stock|UPDATE activity SET taken"
    r"|INSERT INTO activity_stay|UPDATE activity_stay",
    re.I,
)
#: What takes the lock every points movement of the community (before: of the installation) waits for.
LEDGER_LOCK = re.compile(r"pg_advisory_xact_lock|FROM ledger_chain c .* FOR UPDATE", re.I)
BASKET = 5
REPEATS = 5

_seen: list[tuple[str, float, float]] = []
_guard = threading.Lock()


def _record(sql: str, started: float) -> None:
    with _guard:
        _seen.append((" ".join(sql.split()), started, time.perf_counter()))


def _count_statements() -> None:
    """Wrap asyncpg's connection so every round trip is recorded (all threads, all loops)."""
    connection = asyncpg.connection.Connection
    execute, inner, many = connection.execute, connection._execute, connection.executemany

    async def counted_execute(self, query, *args, **kwargs):
        started = time.perf_counter()
        try:
            return await execute(self, query, *args, **kwargs)
        finally:
            if not args:  # with arguments it goes through _execute, counted there
                _record(query, started)

    async def counted_inner(self, query, *args, **kwargs):
        started = time.perf_counter()
        try:
            return await inner(self, query, *args, **kwargs)
        finally:
            _record(query, started)

    async def counted_many(self, command, args, **kwargs):
        started = time.perf_counter()
        try:
            return await many(self, command, args, **kwargs)
        finally:
            _record(command, started)

    connection.execute, connection._execute = counted_execute, counted_inner
    connection.executemany = counted_many


def _held(statements: list[tuple[str, float, float]], lock: re.Pattern) -> tuple[int, float]:
    """(round trips, milliseconds) from the first statement matching ``lock`` to the commit."""
    total = len(statements)
    for i, (sql, started, _) in enumerate(statements):
        if lock.search(sql):
            end = next((j for j in range(i, total) if statements[j][0].upper().startswith("COMMIT")),
                       total - 1)
            return end - i + 1, (statements[end][2] - started) * 1000
    return 0, 0.0


async def measure(client: httpx.AsyncClient, request) -> tuple[int, int, int, float, list[str]]:
    await asyncio.sleep(0.05)  # nothing else in flight (the app's sweepers sleep)
    with _guard:
        _seen.clear()
    response = await request()
    assert response.status_code in (200, 201), response.text
    await asyncio.sleep(0.05)  # the pool's release and reset finish after the answer
    with _guard:
        statements = list(_seen)
    locked, _ = _held(statements, LOCKING)
    ledger_trips, ledger_ms = _held(statements, LEDGER_LOCK)
    return len(statements), locked, ledger_trips, ledger_ms, [
        f"{(end - started) * 1000:6.2f} ms  {sql}" for sql, started, end in statements]


async def main() -> None:
    _count_statements()
    from market import clock  # after the environment is set
    from market.app import create_app

    app = create_app()
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        # No cookie jar: each request is signed in by its bearer token alone.
        http = httpx.AsyncClient(transport=transport, base_url="http://bench", cookies=no_cookies())
        from market.auth.hashing import SecretHasher
        from market.community import service as communities
        from market.people.service import NewPerson, create_person

        community = await communities.get_or_create(app.state.ledger, "往返社区")
        await create_person(community.id, NewPerson(
            name="主任", phone="13800000000", roles=["admin", "organizer", "shopkeeper"],
            password="a-long-admin-password"), hasher=SecretHasher(), ledger=app.state.ledger)
        token = (await http.post("/api/session", json={"login": "13800000000",
                                                        "secret": "a-long-admin-password"})).json()["token"]
        staff = {"Authorization": f"Bearer {token}"}
        residents = []
        for i in range(REPEATS + 1):
            phone = f"1370000{i:04d}"
            made = await http.post("/api/people", headers=staff, json={
                "name": f"居民{i}", "phone": phone, "roles": ["resident"], "pin": "258036"})
            assert made.status_code == 201, made.text
            signed = await http.post("/api/session", json={"login": phone, "secret": "258036"})
            assert signed.status_code == 200, signed.text
            resident_token = signed.json()["token"]
            await http.post("/api/adjustments", headers=staff | {"Idempotency-Key": f"fund-{i}"}, json={
                "person_id": made.json()["id"], "amount": "500", "reason": "开户"})
            residents.append({"Authorization": f"Bearer {resident_token}"})
        now = datetime.now(UTC)
        activity = (await http.post("/api/activities", headers=staff, json={
            "title": "清扫", "category": "collective_labour",
            "starts_at": (now - timedelta(minutes=5)).isoformat(),
            "ends_at": (now + timedelta(hours=3)).isoformat(),
            "points_per_checkin": "2", "points_per_hour": "10"})).json()
        products = [(await http.post("/api/products", headers=staff, json={
            "name": f"商品{n}", "price": "1.00", "stock": 1000})).json()["id"] for n in range(BASKET)]
        # A neighbouring community of the same subdistrict, sharing points (通存通兑): its shop
        # keeper serves the residents above (``visit``: the points cross between two chains).
        from market.subdistricts import service as subdistricts

        neighbour = await communities.get_or_create(app.state.ledger, "邻里社区")
        await subdistricts.create("往返街道", [community.id, neighbour.id], True)
        await create_person(neighbour.id, NewPerson(
            name="邻里主任", phone="13800000001", roles=["admin", "shopkeeper"],
            password="a-long-admin-password"), hasher=SecretHasher(), ledger=app.state.ledger)
        token = (await http.post("/api/session", json={"login": "13800000001",
                                                        "secret": "a-long-admin-password"})).json()["token"]
        neighbour_staff = {"Authorization": f"Bearer {token}"}
        neighbour_products = [(await http.post("/api/products", headers=neighbour_staff, json={
            "name": f"商品{n}", "price": "1.00", "stock": 1000})).json()["id"] for n in range(BASKET)]

        rows = []
        for kind in ("health", "check-in", "check-out", "redemption", "visit"):
            results = []
            for i, resident in enumerate(residents):
                if kind == "health":
                    def request():
                        return http.get("/health")
                elif kind in ("check-in", "check-out"):
                    # An hour's stay, so the check-out earns points (and moves them) too.
                    later = timedelta(hours=1) if kind == "check-out" else timedelta(0)
                    clock.clock = lambda later=later: datetime.now(UTC) + later
                    code = (await http.get(f"/api/activities/{activity['id']}/code", headers=staff)).json()

                    def request(resident=resident, code=code, kind=kind):
                        return http.post("/api/checkins", headers=resident, json={
                            "token": code["token"], "direction": "in" if kind == "check-in" else "out"})
                else:
                    member = (await http.get("/api/me/code", headers=resident)).json()["code"]
                    keeper, goods = (staff, products) if kind == "redemption" else (
                        neighbour_staff, neighbour_products)

                    def request(member=member, i=i, keeper=keeper, goods=goods, kind=kind):
                        return http.post(
                            "/api/redemptions", headers=keeper | {"Idempotency-Key": f"{kind}{i}"},
                            json={"member_code": member, "items": [
                                {"product_id": p, "quantity": 1} for p in goods]})
                total, locked, ledger_trips, ledger_ms, statements = await measure(http, request)
                if i:  # the first of each kind is the warm-up
                    results.append((total, locked, ledger_trips, ledger_ms))
                if i == len(residents) - 1 and os.environ.get("ROUND_TRIPS_SHOW"):
                    print(f"-- {kind}:")
                    print("\n".join(f"   {s[:150]}" for s in statements))

            def seen(k: int, results: list = results) -> str:
                return "/".join(str(v) for v in sorted({r[k] for r in results}))

            held = sorted(r[3] for r in results)
            rows.append((kind, seen(0), seen(1), seen(2), f"{held[len(held) // 2]:.2f}" if held[-1] else "-"))
        await http.aclose()
    print(table(["request", "round trips", "while a lock others wait for is held",
                 "while the ledger's lock is held", "ledger lock held (ms, median)"], rows))


async def run() -> None:
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        await main()
        return
    async with pg_schema(os.environ.get("MARKET_TEST_PG_URL",
                                        "postgresql://postgres@127.0.0.1:5432/test")) as (_, url):
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("MARKET_SECRET_KEY", "round-trips-benchmark-secret-key")
        await main()


if __name__ == "__main__":
    asyncio.run(run())
