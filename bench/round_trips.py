"""How many statements reach PostgreSQL for one check-in, check-out and redemption, and how many
of them run while the request holds a lock that others of its community wait for.

    DATABASE_URL=postgresql://…?search_path=… MARKET_SECRET_KEY=… python -m bench.round_trips

It counts at asyncpg's connection (every ``fetch``/``execute``/``executemany``, the
transactions' ``BEGIN``/``COMMIT`` and the pool's reset script on release: each is one round trip),
from every thread, while exactly one request is in flight, so each request's statements are
its own. A request is timed after a warm-up (the first of each kind also opens accounts).
"While a lock is held" counts from the first statement that takes a lock other requests of
the community queue on — ``FOR UPDATE`` (not ``FOR KEY SHARE``, which scans share), an
``UPDATE`` of a product's stock, ``pg_advisory_xact_lock`` — to the ``COMMIT``, inclusive.

It talks to the app only through its HTTP API (in-process, ``httpx.ASGITransport``), so the
same script measures an older release: run it with that release's code first on
``PYTHONPATH`` (docs/PERFORMANCE.md has both).
"""

import asyncio
import os
import re
import threading
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from bench.common import pg_schema, table

#: What takes a lock that others queue on (see the module's docstring).
LOCKING = re.compile(
    r"FOR UPDATE|pg_advisory_xact_lock|UPDATE product SET stock|UPDATE activity SET taken", re.I
)
BASKET = 5
REPEATS = 5

_seen: list[str] = []
_guard = threading.Lock()


def _record(sql: str) -> None:
    with _guard:
        _seen.append(" ".join(sql.split()))


def _count_statements() -> None:
    """Wrap asyncpg's connection so every round trip is recorded (all threads, all loops)."""
    connection = asyncpg.connection.Connection
    execute, inner, many = connection.execute, connection._execute, connection.executemany

    async def counted_execute(self, query, *args, **kwargs):
        if not args:  # with arguments it goes through _execute, counted there
            _record(query)
        return await execute(self, query, *args, **kwargs)

    async def counted_inner(self, query, *args, **kwargs):
        _record(query)
        return await inner(self, query, *args, **kwargs)

    async def counted_many(self, command, args, **kwargs):
        _record(command)
        return await many(self, command, args, **kwargs)

    connection.execute, connection._execute = counted_execute, counted_inner
    connection.executemany = counted_many


def _split(statements: list[str]) -> tuple[int, int]:
    """(all round trips, those from the first lock others wait for to the commit)."""
    total = len(statements)
    locked = 0
    for i, sql in enumerate(statements):
        if LOCKING.search(sql):
            end = next((j for j in range(i, total) if statements[j].upper().startswith("COMMIT")), total - 1)
            locked = end - i + 1
            break
    return total, locked


async def measure(client: httpx.AsyncClient, request) -> tuple[int, int, list[str]]:
    await asyncio.sleep(0.05)  # nothing else in flight (the app's sweepers sleep)
    with _guard:
        _seen.clear()
    response = await request()
    assert response.status_code in (200, 201), response.text
    await asyncio.sleep(0.05)  # the pool's release and reset finish after the answer
    with _guard:
        statements = list(_seen)
    total, locked = _split(statements)
    return total, locked, statements


async def main() -> None:
    _count_statements()
    from market.app import create_app  # after the environment is set

    app = create_app()
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        http = httpx.AsyncClient(transport=transport, base_url="http://bench")
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
            resident_token = (await http.post("/api/session", json={"login": phone, "secret": "258036"})
                              ).json()["token"]
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

        rows = []
        for kind in ("health", "check-in", "check-out", "redemption"):
            results = []
            for i, resident in enumerate(residents):
                if kind == "health":
                    def request():
                        return http.get("/health")
                elif kind in ("check-in", "check-out"):
                    code = (await http.get(f"/api/activities/{activity['id']}/code", headers=staff)).json()

                    def request(resident=resident, code=code, kind=kind):
                        return http.post("/api/checkins", headers=resident, json={
                            "token": code["token"], "direction": "in" if kind == "check-in" else "out"})
                else:
                    member = (await http.get("/api/me/code", headers=resident)).json()["code"]

                    def request(member=member, i=i):
                        return http.post("/api/redemptions", headers=staff | {"Idempotency-Key": f"r{i}"},
                                         json={"member_code": member, "items": [
                                             {"product_id": p, "quantity": 1} for p in products]})
                total, locked, statements = await measure(http, request)
                if i:  # the first of each kind is the warm-up
                    results.append((total, locked))
                if i == len(residents) - 1 and os.environ.get("ROUND_TRIPS_SHOW"):
                    print(f"-- {kind}:")
                    print("\n".join(f"   {s[:150]}" for s in statements))
            totals = sorted({t for t, _ in results})
            locks = sorted({w for _, w in results})
            rows.append((kind, "/".join(map(str, totals)), "/".join(map(str, locks))))
        await http.aclose()
    print(table(["request", "round trips", "while a lock others wait for is held"], rows))


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
