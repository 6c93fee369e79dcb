"""How many PostgreSQL connections one ``market serve`` worker opens under load: the number to plan
``max_connections`` with (docs/DEPLOY.md).

    python -m bench.pg_connections [--seconds 20] [--counters 10] [--readers 30] [--adjusters 5]

1. Creates a database of its own (so no other client of the server is counted), starts one
   ``market serve`` worker on it (``bench.checkin_load.market_serve``) and sets up shop keepers,
   residents and products over the API (``bench.redemption_load.set_up``).
2. For ``--seconds``, at once: every resident checks in to an open activity; ``--counters`` shop
   keepers redeem (each: a resident's fresh member code, then ``POST /api/redemptions``, closed
   loop); ``--adjusters`` admins credit residents (``POST /api/adjustments``); ``--readers``
   residents read their balance and statement.
3. Meanwhile it samples ``pg_stat_activity`` of that database every 20 ms (its own sampling
   connection excluded) and reports the most connections seen, in all and busy (``active`` or
   ``idle in transaction``), before, during and after the load, and the answers by status.
"""

import argparse
import asyncio
import itertools
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from bench.checkin_load import (
    ORGANIZER_PASSWORD,
    ORGANIZER_PHONE,
    bearer,
    market_serve,
    no_cookies,
    sign_in,
)
from bench.common import PG_URL, pg_version, print_machine
from bench.redemption_load import set_up

SAMPLE_EVERY = 0.02
BUSY_STATES = ("active", "idle in transaction", "idle in transaction (aborted)")


class Sampler:
    """The most connections to one database seen so far, in all and busy."""

    def __init__(self, url: str, database: str) -> None:
        self.url, self.database = url, database
        self.most = self.most_busy = 0
        self.stop = asyncio.Event()

    def reset(self) -> tuple[int, int]:
        seen = (self.most, self.most_busy)
        self.most = self.most_busy = 0
        return seen

    async def run(self) -> None:
        connection = await asyncpg.connect(self.url)
        try:
            while not self.stop.is_set():
                rows = await connection.fetch(
                    "SELECT state FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                    self.database,
                )
                self.most = max(self.most, len(rows))
                self.most_busy = max(self.most_busy, sum(row["state"] in BUSY_STATES for row in rows))
                await asyncio.sleep(SAMPLE_EVERY)
        finally:
            await connection.close()


async def load(url: str, seconds: float, args: argparse.Namespace) -> Counter:
    setup = await set_up(url, args.counters, args.residents)
    answers: Counter = Counter()
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=60, cookies=no_cookies(),
                                 # Idle connections let go before uvicorn's 5 s keep-alive closes
                                 # them, or a request may be sent on one the server just closed.
                                 limits=httpx.Limits(max_connections=200, keepalive_expiry=2)) as client:
        await client.post("/api/people", headers=bearer(setup.admin), json={
            "name": "组织者", "phone": ORGANIZER_PHONE, "roles": ["organizer"],
            "password": ORGANIZER_PASSWORD,
        })
        organizer = await sign_in(client, ORGANIZER_PHONE, ORGANIZER_PASSWORD)
        now = datetime.now(UTC)
        made = await client.post("/api/activities", headers=bearer(organizer), json={
            "title": "连接数测量", "category": "volunteer_service",
            "starts_at": (now - timedelta(minutes=5)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
            "points_per_checkin": "1", "points_per_hour": "0",
        })
        code = await client.get(f"/api/activities/{made.json()['id']}/code", headers=bearer(organizer))
        code_url = code.json()["url"]

        async def note(response: httpx.Response, what: str) -> None:
            answers[f"{what} {response.status_code}"] += 1

        async def check_in(token: str) -> None:
            await note(await client.post("/api/checkins", headers=bearer(token), json={"token": code_url}),
                       "check-in")

        async def counter(k: int) -> None:
            for i in itertools.count(k, args.counters):
                if time.monotonic() > deadline:
                    return
                resident = setup.residents[i % len(setup.residents)]
                member = (await client.get("/api/me/code", headers=bearer(resident))).json()["code"]
                product = setup.products[i % len(setup.products)]
                keeper = bearer(setup.keepers[k]) | {"Idempotency-Key": uuid.uuid4().hex}
                await note(await client.post(
                    "/api/redemptions", headers=keeper,
                    json={"member_code": member, "items": [{"product_id": product, "quantity": 1}]},
                ), "redemption")

        async def adjuster(a: int) -> None:
            for i in itertools.count(a, args.adjusters):
                if time.monotonic() > deadline:
                    return
                await note(await client.post(
                    "/api/adjustments", headers=bearer(setup.admin) | {"Idempotency-Key": uuid.uuid4().hex},
                    json={"person_id": setup.resident_ids[i % len(setup.resident_ids)], "amount": "1.00",
                          "reason": "连接数测量"},
                ), "adjustment")

        async def reader(r: int) -> None:
            for i in itertools.count(r, args.readers):
                if time.monotonic() > deadline:
                    return
                token = setup.residents[i % len(setup.residents)]
                await note(await client.get("/api/me/balance", headers=bearer(token)), "balance")
                await note(await client.get("/api/me/entries", headers=bearer(token)), "statement")

        await asyncio.gather(
            *(check_in(token) for token in setup.residents),
            *(counter(k) for k in range(args.counters)),
            *(adjuster(a) for a in range(args.adjusters)),
            *(reader(r) for r in range(args.readers)),
        )
    return answers


async def main(args: argparse.Namespace) -> int:
    print_machine({"postgres": await pg_version(args.pg_url), "workers": "1",
                   "counters": str(args.counters), "readers": str(args.readers),
                   "adjusters": str(args.adjusters), "seconds": str(args.seconds)})
    database = f"connections_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(args.pg_url)
    await admin.execute(f'CREATE DATABASE "{database}"')
    url = urlunsplit(urlsplit(args.pg_url)._replace(path=f"/{database}"))
    workdir = Path(tempfile.mkdtemp(prefix="pg-connections-"))
    sampler = Sampler(url, database)
    try:
        with market_serve(url, workdir) as server:
            sampling = asyncio.create_task(sampler.run())
            await asyncio.sleep(2)
            idle = sampler.reset()
            answers = await load(server.url, args.seconds, args)
            under_load = sampler.reset()
            await asyncio.sleep(2)
            after = sampler.reset()
            sampler.stop.set()
            await sampling
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
    print(f"answers: {dict(sorted(answers.items()))}")
    print("connections of one worker (most seen; all / busy):")
    print(f"  started, idle:        {idle[0]} / {idle[1]}")
    print(f"  under load:           {under_load[0]} / {under_load[1]} (set-up over the API included)")
    print(f"  2 s after the load:   {after[0]} / {after[1]}")
    return 0 if all(key.split()[-1] in ("200", "201") for key in answers) else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_connections", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--counters", type=int, default=10)
    parser.add_argument("--residents", type=int, default=40)
    parser.add_argument("--readers", type=int, default=30)
    parser.add_argument("--adjusters", type=int, default=5)
    parser.add_argument("--pg-url", default=os.environ.get("MARKET_TEST_PG_URL", PG_URL))
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
