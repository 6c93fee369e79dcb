"""A ``market serve`` killed with SIGKILL while requesters confirm 民声 requests leaves each request
either done with exactly one credit, or claimed with none (issue 18); and several worker
processes (on PostgreSQL) racing claims and double confirmations answer no 5xx and credit once.

On the engine ``MARKET_TEST_DB`` picks, with a database of its own (the harness of
``test_counter_crash``), a real server takes confirmations from 8 concurrent clients and is
killed with SIGKILL after a random number of acknowledged ones, requests still in flight — twice,
restarted after each. Then, read from the database past the app:

- a request is ``done`` exactly when the ledger holds one transfer ``help:<id>`` (kind ``help``),
  of the request's points, into its volunteer's wallet;
- every acknowledged (200) confirmation is done;
- each volunteer's balance is the sum of the points of their done requests;
- ``GET /api/ledger/verify`` is ok;
- every confirmation not acknowledged, sent again, answers 200 done — and again, the same, with
  nothing credited twice.
"""

import asyncio
import contextlib
import os
import random
import secrets
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.checkin_load import free_port, market_command
from tests.conftest import db_engine
from tests.market.support import good_pin, random_phone
from tests.market.test_counter_crash import (
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    bearer,
    create_admin,
    fresh_database,
    hundredths,
    server_env,
    start_server,
)

SEED = 20261207
REQUESTS = 48
VOLUNTEERS = 4
#: Requesters: each may have 10 requests waiting at once (``rules.MAX_WAITING``).
ASKERS = 6
LOOPS = 8
ACKS_BEFORE_KILL = (4, 14)
LIVES = 2


async def _sign_in(client: httpx.AsyncClient, login: str, secret: str) -> str:
    # A client of its own: signing in with another's session cookie in the jar ends that session.
    async with httpx.AsyncClient(base_url=client.base_url, timeout=30) as own:
        answer = await own.post("/api/session", json={"login": login, "secret": secret})
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


async def _set_up(url: str) -> tuple[dict[int, str], dict[int, str], dict[int, int]]:
    """Each request's requester's token, the volunteers' tokens (by person id), and which
    volunteer holds each request."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        admin = bearer(await _sign_in(client, ADMIN_PHONE, ADMIN_PASSWORD))
        assert (await client.put("/api/help-requests/terms", headers=admin, json={
            "escalate_hours": 48, "claims_per_day": 50})).status_code == 200
        tokens: dict[int, str] = {}
        people: list[int] = []
        for n in range(ASKERS + VOLUNTEERS):
            phone = random_phone()
            pin = good_pin(phone)
            made = await client.post("/api/people", headers=admin, json={
                "name": f"居民{n}", "phone": phone, "roles": ["resident"], "pin": pin})
            assert made.status_code == 201, made.text
            people.append(made.json()["id"])
            tokens[people[-1]] = await _sign_in(client, phone, pin)
        askers, volunteers = people[:ASKERS], people[ASKERS:]
        held: dict[int, int] = {}
        asked: dict[int, str] = {}
        for n in range(REQUESTS):
            asker = askers[n % ASKERS]
            posted = await client.post("/api/help-requests", headers=bearer(tokens[asker]), json={
                "body": f"求助{n}", "category": "repair", "visibility": "community"})
            assert posted.status_code == 201, posted.text
            volunteer = volunteers[n % VOLUNTEERS]
            request_id = posted.json()["id"]
            claimed = await client.post(f"/api/help-requests/{request_id}/claim",
                                        headers=bearer(tokens[volunteer]))
            assert claimed.status_code == 200, claimed.text
            held[request_id] = volunteer
            asked[request_id] = tokens[asker]
        return asked, {p: tokens[p] for p in volunteers}, held


@dataclass
class _Life:
    """One life of the server: the confirmations still to send, and when to kill it."""

    queue: list[int]
    kill_after: int
    process: subprocess.Popen
    acked: int = 0
    killed: bool = False

    async def loop(self, client: httpx.AsyncClient, askers: dict[int, str], hours: dict[int, str],
                   acknowledged: set[int]) -> None:
        while self.queue and not self.killed:
            request_id = self.queue.pop()
            with contextlib.suppress(httpx.TransportError):
                answer = await client.post(
                    f"/api/help-requests/{request_id}/confirm", headers=bearer(askers[request_id]),
                    json={"hours": hours[request_id]})
                assert answer.status_code == 200, answer.text
                acknowledged.add(request_id)
                self.acked += 1
                if self.acked >= self.kill_after and not self.killed:
                    self.killed = True
                    self.process.send_signal(signal.SIGKILL)


async def test_a_killed_server_leaves_each_confirmation_whole(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    async with fresh_database(tmp_path) as (database_url, read):
        env = server_env(database_url, secrets.token_urlsafe(32))
        create_admin(env, tmp_path)
        process, url = await start_server(env, tmp_path, 0)
        try:
            askers, volunteers, held = await _set_up(url)
            order = sorted(held)
            hours = {request_id: f"{rng.randint(1, 8) * 0.25:.2f}" for request_id in order}
            acknowledged: set[int] = set()
            pending = list(order)
            rng.shuffle(pending)
            for life in range(1, LIVES + 1):
                life_run = _Life(list(pending), rng.randint(*ACKS_BEFORE_KILL), process)
                async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                    await asyncio.gather(*(life_run.loop(client, askers, hours, acknowledged)
                                           for _ in range(LOOPS)))
                process.wait()
                pending = [r for r in pending if r not in acknowledged]
                process, url = await start_server(env, tmp_path, life)

            assert pending, "every confirmation was acknowledged: the kills interrupted nothing"
            # What the database holds, past the app.
            requests = {row["id"]: row for row in await read(
                "SELECT id, state, volunteer, points, hours FROM help_request")}
            credits = await read(
                "SELECT t.id, t.amount, t.kind, a.owner FROM ledger_transfer t"
                " JOIN ledger_account a ON a.id = t.credit WHERE t.id LIKE 'help:%'")
            by_request: dict[int, list[dict]] = {}
            for credit in credits:
                by_request.setdefault(int(credit["id"].split(":")[1]), []).append(credit)
            for request_id, row in requests.items():
                found = by_request.get(request_id, [])
                if row["state"] == "done":
                    assert len(found) == 1, (request_id, found)
                    (credit,) = found
                    assert credit["kind"] == "help"
                    assert int(credit["owner"]) == row["volunteer"] == held[request_id]
                    owed = 500 + 10 * hundredths(hours[request_id])
                    assert int(credit["amount"]) == int(row["points"]) == owed
                else:
                    assert row["state"] == "claimed" and not found, (request_id, row, found)
            assert acknowledged <= {r for r, row in requests.items() if row["state"] == "done"}

            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                for request_id in order:
                    if request_id in acknowledged:
                        continue
                    asker = bearer(askers[request_id])
                    for _ in range(2):
                        again = await client.post(f"/api/help-requests/{request_id}/confirm",
                                                  headers=asker, json={"hours": hours[request_id]})
                        assert again.status_code == 200 and again.json()["state"] == "done", again.text
                for volunteer, token in volunteers.items():
                    balance = (await client.get("/api/me/balance", headers=bearer(token))).json()["balance"]
                    owed = sum(500 + 10 * hundredths(hours[r]) for r, v in held.items() if v == volunteer)
                    assert hundredths(balance) == owed, (volunteer, balance, owed)
                admin = bearer(await _sign_in(client, ADMIN_PHONE, ADMIN_PASSWORD))
                verified = await client.get("/api/ledger/verify", headers=admin)
                assert verified.status_code == 200 and verified.json()["ok"], verified.text
            counted = await read("SELECT COUNT(*) AS n FROM ledger_transfer WHERE id LIKE 'help:%'")
            assert int(counted[0]["n"]) == REQUESTS
        finally:
            process.kill()
            process.wait()


async def test_workers_racing_claims_and_double_confirmations_answer_no_5xx(
    tmp_path: Path, monkeypatch
) -> None:
    """``market serve --workers 2`` on PostgreSQL (one worker on SQLite, which has one writer):
    two volunteers tap 认领 on each request at once, then each requester taps 确认 twice at once."""
    workers = "2" if db_engine() == "postgres" else "1"

    def launch_workers(env: dict[str, str], workdir: Path, life: int):
        # The harness's launch, with --workers, in a session of its own: its workers go with it.
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = workdir / f"server-{life}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [*market_command(), "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--workers", workers],
                env=env | {"MARKET_BASE_URL": url}, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        return process, url, log

    monkeypatch.setattr("tests.market.test_counter_crash.launch", launch_workers)
    async with fresh_database(tmp_path) as (database_url, read):
        env = server_env(database_url, secrets.token_urlsafe(32))
        create_admin(env, tmp_path)
        process, url = await start_server(env, tmp_path, 0)
        try:
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                admin = bearer(await _sign_in(client, ADMIN_PHONE, ADMIN_PASSWORD))
                assert (await client.put("/api/help-requests/terms", headers=admin, json={
                    "escalate_hours": 48, "claims_per_day": 50})).status_code == 200
                people = []
                for n in range(ASKERS + VOLUNTEERS):
                    phone, name = random_phone(), f"居民{n}"
                    pin = good_pin(phone)
                    made = await client.post("/api/people", headers=admin, json={
                        "name": name, "phone": phone, "roles": ["resident"], "pin": pin})
                    assert made.status_code == 201, made.text
                    people.append((made.json()["id"], await _sign_in(client, phone, pin)))
                askers, volunteers = people[:ASKERS], people[ASKERS:]
                posted = await asyncio.gather(*(
                    client.post("/api/help-requests", headers=bearer(askers[n % ASKERS][1]), json={
                        "body": f"求助{n}", "category": "elder_care", "visibility": "community"})
                    for n in range(REQUESTS)))
                assert {p.status_code for p in posted} == {201}, [p.text for p in posted]
                ids = [p.json()["id"] for p in posted]
                asker_of = {p.json()["id"]: askers[n % ASKERS][1] for n, p in enumerate(posted)}
                claims = await asyncio.gather(*(
                    client.post(f"/api/help-requests/{request_id}/claim", headers=bearer(volunteers[k][1]))
                    for n, request_id in enumerate(ids) for k in (n % VOLUNTEERS, (n + 1) % VOLUNTEERS)))
                codes = [c.status_code for c in claims]
                assert sorted(codes) == [200] * REQUESTS + [409] * REQUESTS, codes
                confirms = await asyncio.gather(*(
                    client.post(f"/api/help-requests/{request_id}/confirm",
                                headers=bearer(asker_of[request_id]), json={"hours": "1"})
                    for request_id in ids for _ in range(2)))
                assert {c.status_code for c in confirms} == {200}, [c.text for c in confirms]
                balances = [
                    hundredths((await client.get("/api/me/balance", headers=bearer(t))).json()["balance"])
                    for _, t in volunteers]
                assert sum(balances) == REQUESTS * 1500, balances
            credits = await read("SELECT COUNT(*) AS n FROM ledger_transfer WHERE id LIKE 'help:%'")
            assert int(credits[0]["n"]) == REQUESTS
            assert "Traceback" not in (tmp_path / "server-0.log").read_text()
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
