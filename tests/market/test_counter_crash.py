"""A ``market serve`` killed with SIGKILL in the middle of redemptions leaves only whole redemptions.

On the engine ``MARKET_TEST_DB`` picks, with a fresh database of its own (a SQLite file in
``tmp_path``, or a new PostgreSQL schema ``crash_<hex>``), a real server process takes
redemptions from 8 concurrent clients and is killed with SIGKILL after a random number of
acknowledged ones (20–150), with requests still in flight — three times, restarted after each.
After a last restart, read both from the database directly and through the API:

- every product's stock equals the sum of its stock movements, the last movement's
  ``stock_after``, and its initial stock minus every redemption line of it;
- the ledger verifies (``GET /api/ledger/verify``);
- every acknowledged (201) redemption is there under its key, and whole: its ledger transfer
  (wallet → shop, amount = total, ``debit_after`` = ``balance_after``), lines equal to the basket
  sent, and one stock movement per line with ``ref = 'redemption:<id>'``, delta = -quantity;
- every other redemption row is whole in the same way: none is partial; no ledger transfer or
  stock movement of kind ``redemption`` exists without its redemption; a refused key (409/410)
  left no redemption;
- every resident's balance is 1000.00 minus the totals of their redemption rows;
- two of the residents belong to a second community of the same subdistrict (通存通兑, issue 17):
  their redemptions cross ledgers (wallet → clearing in their community, clearing → shop here), and
  each is whole in both ledgers or absent from both; ``market ledger verify`` then checks every
  chain and the clearing pair;
- re-sending an unacknowledged key with its body answers 201 — the redemption that had committed
  before the kill, or a new one — and re-sending it once more answers the same redemption.
"""

import asyncio
import contextlib
import os
import random
import re
import secrets
import sqlite3
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest

from bench.checkin_load import REPO, free_port, market_command, no_cookies
from tests.conftest import PG_URL, db_engine
from tests.market.support import PASSWORD, good_pin, random_phone

SEED = 20261123
LIVES = 3
LOOPS = 8
RESIDENTS = 5
#: The last residents belong to the neighbouring community: visitors at this counter.
VISITORS = 2
START_POINTS = "1000.00"
STOCK = 100_000
PRICES = ("1.00", "2.00")
ACKS_BEFORE_KILL = (20, 150)
#: Member codes are good for 30–60 s. One at most this old when sent is still good when the
#: same key is re-sent a few seconds after the restart (an uncommitted re-send is scanned anew).
CODE_MAX_AGE = 15.0
LIFE_DEADLINE = 30.0
ADMIN_PHONE, ADMIN_PASSWORD = "13800000000", "crash-admin-password"
NEIGHBOUR_ADMIN_PHONE = "13800000009"
HOME, NEIGHBOUR = "幸福里社区", "邻里社区"

Read = Callable[[str], Awaitable[list[dict]]]


def hundredths(points: str) -> int:
    return int(Decimal(points) * 100)


@dataclass
class Sent:
    """One POST /api/redemptions: what was sent under which key, and what (if anything) came back."""

    key: str
    body: dict
    person_id: int
    life: int
    status: int | None = None  # None: no answer — the server died with it in flight
    redemption_id: int | None = None
    total: int | None = None
    error: str = ""

    def basket(self) -> list[tuple[int, int]]:
        return sorted((item["product_id"], item["quantity"]) for item in self.body["items"])


@dataclass
class World:
    admin: str = ""
    neighbour_admin: str = ""
    keeper: str = ""
    residents: list[tuple[int, str]] = field(default_factory=list)  # (person id, token)
    products: list[int] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    in_flight_at_kill: list[int] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


# -- the database and the server -------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_database(tmp_path: Path) -> AsyncIterator[tuple[str, Read]]:
    """A database for this test alone (not the session's), and a way to read it past the app."""
    if db_engine() == "sqlite":
        path = tmp_path / "crash.db"

        async def read_sqlite(sql: str) -> list[dict]:
            # A connection per read, closed at once: it must hold no lock the server waits on.
            with contextlib.closing(sqlite3.connect(path)) as connection:
                connection.row_factory = sqlite3.Row
                return [dict(row) for row in connection.execute(sql)]

        yield f"sqlite:///{path}", read_sqlite
        return
    schema = f"crash_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(PG_URL)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')

        async def read_postgres(sql: str) -> list[dict]:
            connection = await asyncpg.connect(PG_URL, server_settings={"search_path": schema})
            try:
                return [dict(row) for row in await connection.fetch(sql)]
            finally:
                await connection.close()

        # asyncpg passes unknown DSN query parameters to the server as settings.
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}search_path={schema}", read_postgres
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


def server_env(database_url: str, secret_key: str) -> dict[str, str]:
    """As bench/checkin_load.py: the test's database and one secret key for every life (tokens and
    member codes signed before a kill must still be good after the restart)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MARKET_BASE_URL")}
    env |= {"DATABASE_URL": database_url, "MARKET_SECRET_KEY": secret_key, "LANG": "en_US.UTF-8"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def create_admin(env: dict[str, str], workdir: Path) -> None:
    """``market admin create``: the two communities and their admins (and the tables, migrated);
    ``market subdistrict create``: one subdistrict, sharing its points."""
    for phone, community in ((ADMIN_PHONE, HOME), (NEIGHBOUR_ADMIN_PHONE, NEIGHBOUR)):
        subprocess.run(
            [*market_command(), "admin", "create", "--name", "管理员", "--phone", phone,
             "--password", ADMIN_PASSWORD, "--community", community],
            env=env, cwd=workdir, check=True, capture_output=True,
        )
    subprocess.run(
        [*market_command(), "subdistrict", "create", "崩溃街道", "--community", HOME, "--community",
         NEIGHBOUR, "--shared-redemption"],
        env=env, cwd=workdir, check=True, capture_output=True,
    )


def launch(env: dict[str, str], workdir: Path, life: int) -> tuple[subprocess.Popen, str, Path]:
    """``market serve`` on a free port: one process (uvicorn with one worker runs in it), so
    SIGKILL to it kills the server whole, with no worker left behind."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / f"server-{life}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*market_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env | {"MARKET_BASE_URL": url}, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
        )
    return process, url, log


async def start_server(env: dict[str, str], workdir: Path, life: int) -> tuple[subprocess.Popen, str]:
    """A server, once GET /health answers 200."""
    process, url, log = launch(env, workdir, life)
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=url, timeout=2) as client:
        while True:
            if process.poll() is not None:
                pytest.fail(f"market serve exited ({process.returncode}):\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/health")).status_code == 200:
                    return process, url
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                pytest.fail(f"market serve did not answer /health in 30 s:\n{log.read_text()[-3000:]}")
            await asyncio.sleep(0.1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expect(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
    )
    return response.json()


# -- the people, the goods, and the load -------------------------------------------------------------


async def set_up(url: str, world: World) -> None:
    # No cookie jar: signing in with another person's session cookie would end that session.
    async with httpx.AsyncClient(base_url=url, timeout=30, cookies=no_cookies()) as client:

        async def sign_in(login: str, secret: str) -> str:
            return expect(await client.post("/api/session", json={"login": login, "secret": secret}),
                          200)["token"]

        world.admin = await sign_in(ADMIN_PHONE, ADMIN_PASSWORD)
        world.neighbour_admin = await sign_in(NEIGHBOUR_ADMIN_PHONE, ADMIN_PASSWORD)
        keeper_phone = random_phone()
        expect(await client.post("/api/people", headers=bearer(world.admin), json={
            "name": "店员", "phone": keeper_phone, "roles": ["shopkeeper"], "password": PASSWORD,
        }), 201)
        world.keeper = await sign_in(keeper_phone, PASSWORD)
        for i in range(RESIDENTS):
            phone = random_phone()
            pin = good_pin(phone)
            office = world.admin if i < RESIDENTS - VISITORS else world.neighbour_admin
            person = expect(await client.post("/api/people", headers=bearer(office), json={
                "name": f"居民{i}", "phone": phone, "roles": ["resident"], "pin": pin,
            }), 201)
            expect(await client.post(
                "/api/adjustments", headers=bearer(office) | {"Idempotency-Key": secrets.token_hex(8)},
                json={"person_id": person["id"], "amount": START_POINTS, "reason": "测试"},
            ), 201)
            world.residents.append((person["id"], await sign_in(phone, pin)))
        for i, price in enumerate(PRICES):
            product = expect(await client.post("/api/products", headers=bearer(world.keeper), json={
                "name": f"商品{i}", "price": price, "stock": STOCK,
            }), 201)
            world.products.append(product["id"])


async def live(
    world: World, url: str, process: subprocess.Popen, life: int, acks_before_kill: int,
    rng: random.Random, codes: dict[int, tuple[float, str]],
) -> int:
    """Redemptions from LOOPS concurrent clients until ``acks_before_kill`` were answered 201,
    then SIGKILL at once — from the task that got the last 201, while the others wait for theirs.
    Returns the number acknowledged in this life."""
    acked = 0
    killed = False
    deadline = time.monotonic() + LIFE_DEADLINE

    def kill(why: str = "") -> None:
        nonlocal killed
        if killed:
            return
        process.kill()
        killed = True
        world.in_flight_at_kill.append(sum(1 for s in world.sent if s.life == life and s.status is None
                                           and not s.error))
        if why:
            world.unexpected.append(f"life {life}: {why}")

    async with httpx.AsyncClient(base_url=url, timeout=30, cookies=no_cookies(),
                                 limits=httpx.Limits(max_connections=LOOPS * 2)) as client:

        async def code_of(resident: int) -> str:
            fetched, code = codes.get(resident, (0.0, ""))
            if time.monotonic() - fetched > CODE_MAX_AGE:
                response = await client.get("/api/me/code", headers=bearer(world.residents[resident][1]))
                code = expect(response, 200)["code"]
                codes[resident] = (time.monotonic(), code)
            return code

        async def loop() -> None:
            nonlocal acked
            while not killed:
                if time.monotonic() > deadline:
                    kill(f"only {acked} of {acks_before_kill} acknowledged in {LIFE_DEADLINE} s")
                    break
                resident = rng.randrange(RESIDENTS)
                # 1–3 items of the two products, as lines of distinct products in the order they
                # were scanned (not sorted): two counters may well name the same goods in turn.
                items = Counter(rng.choice(world.products) for _ in range(rng.randint(1, 3)))
                try:
                    code = await code_of(resident)
                except httpx.TransportError:
                    break
                if killed:
                    # Checked right before sending: every unanswered request below was sent
                    # before the kill, so it was in flight when the server died.
                    break
                sent = Sent(
                    key=f"crash-{life}-{secrets.token_hex(8)}", life=life,
                    person_id=world.residents[resident][0],
                    body={"member_code": code,
                          "items": [{"product_id": p, "quantity": q} for p, q in items.items()]},
                )
                world.sent.append(sent)
                try:
                    response = await client.post("/api/redemptions", json=sent.body, headers=bearer(
                        world.keeper) | {"Idempotency-Key": sent.key})
                except httpx.TransportError as error:
                    sent.error = type(error).__name__
                    if not killed:
                        world.unexpected.append(f"life {life}: {sent.key} failed before the kill: {error!r}")
                        kill()
                    break
                sent.status = response.status_code
                if response.status_code == 201:
                    body = response.json()
                    sent.redemption_id, sent.total = body["id"], hundredths(body["total"])
                    acked += 1
                    if acked >= acks_before_kill:
                        kill()
                elif response.status_code == 410:
                    codes.pop(resident, None)  # the code expired after all: scan a fresh one
                elif response.status_code != 409:
                    world.unexpected.append(
                        f"life {life}: {sent.key}: {response.status_code} {response.text}")

        await asyncio.gather(*(loop() for _ in range(LOOPS)))
    process.wait()
    return acked


# -- what must hold after the crashes ------------------------------------------------------------------


TABLES = {
    "product": "SELECT id, stock FROM product",
    "stock_movement": "SELECT id, product, delta, stock_after, kind, ref FROM stock_movement ORDER BY id",
    "redemption": "SELECT id, person, key, total, transfer_id, balance_after, home_community FROM redemption",
    "redemption_line": "SELECT redemption, product, quantity, unit_price FROM redemption_line",
    "ledger_transfer": "SELECT id, kind, amount, debit, credit, debit_after FROM ledger_transfer",
    "ledger_account": "SELECT id, ledger, kind, owner FROM ledger_account",
}


async def snapshot(read: Read) -> dict[str, list[dict]]:
    return {table: await read(sql) for table, sql in TABLES.items()}


def problems(db: dict[str, list[dict]], sent: list[Sent]) -> list[str]:
    """Everything that is not a whole redemption, or not what the clients were told.

    A pure function of the rows, so its judgement can be checked on made-up rows too."""
    found: list[str] = []
    lines_of: dict[int, list[dict]] = defaultdict(list)
    for line in db["redemption_line"]:
        lines_of[line["redemption"]].append(line)
    moves_of: dict[str, list[dict]] = defaultdict(list)
    moves_by_product: dict[int, list[dict]] = defaultdict(list)
    for move in db["stock_movement"]:
        moves_by_product[move["product"]].append(move)
        if move["kind"] == "redemption":
            moves_of[move["ref"]].append(move)
    transfers = {t["id"]: t for t in db["ledger_transfer"]}
    accounts = {a["id"]: a for a in db["ledger_account"]}
    redemptions = {r["id"]: r for r in db["redemption"]}

    redeemed: Counter[int] = Counter()
    for line in db["redemption_line"]:
        redeemed[line["product"]] += line["quantity"]
    for product in db["product"]:
        moves = sorted(moves_by_product[product["id"]], key=lambda m: m["id"])
        total = sum(m["delta"] for m in moves)
        last = moves[-1]["stock_after"] if moves else None
        if not product["stock"] == total == last == STOCK - redeemed[product["id"]]:
            found.append(f"product {product['id']}: stock {product['stock']}, movements sum to {total},"
                         f" last stock_after {last}, {STOCK} − redeemed {redeemed[product['id']]}")

    for r in redemptions.values():
        name = f"redemption {r['id']} (key {r['key']})"
        lines = lines_of[r["id"]]
        if not lines:
            found.append(f"{name}: no lines")
        if r["total"] != sum(line["quantity"] * line["unit_price"] for line in lines):
            found.append(f"{name}: total {r['total']} is not the sum of its lines {lines}")
        found += _transfer_problems(name, r, transfers, accounts)
        moves = sorted((m["product"], m["delta"]) for m in moves_of[f"redemption:{r['id']}"])
        wanted = sorted((line["product"], -line["quantity"]) for line in lines)
        if moves != wanted:
            found.append(f"{name}: stock movements {moves}, its lines want {wanted}")

    # A visitor's redemption names the leg that reached the shop; its other leg is the wallet's.
    transfer_ids = {r["transfer_id"] for r in redemptions.values()} | {
        _wallet_leg(r) for r in redemptions.values()}
    for transfer in transfers.values():
        if transfer["kind"] == "redemption" and transfer["id"] not in transfer_ids:
            found.append(f"ledger transfer {transfer['id']} of kind redemption has no redemption")
    refs = {f"redemption:{i}" for i in redemptions}
    for ref, moves in moves_of.items():
        if ref not in refs:
            found.append(f"{len(moves)} stock movement(s) of kind redemption for missing {ref}")
    for redemption_id in lines_of.keys() - redemptions.keys():
        found.append(f"redemption lines of missing redemption {redemption_id}")

    by_key = {r["key"]: r for r in redemptions.values()}
    keys = {s.key for s in sent}
    for s in sent:
        row = by_key.get(s.key)
        if s.status == 201:
            if row is None or row["id"] != s.redemption_id:
                found.append(f"acknowledged redemption {s.redemption_id} (key {s.key}) is not there: {row}")
                continue
            if row["total"] != s.total:
                found.append(f"acknowledged redemption {s.redemption_id}: total {row['total']},"
                             f" told {s.total}")
        elif s.status is not None and row is not None:
            found.append(f"key {s.key} was refused ({s.status}) but left redemption {row['id']}")
        if row is not None:
            lines = sorted((line["product"], line["quantity"]) for line in lines_of[row["id"]])
            if row["person"] != s.person_id or lines != s.basket():
                found.append(f"redemption {row['id']} (key {s.key}): person {row['person']}, lines {lines};"
                             f" sent person {s.person_id}, basket {s.basket()}")
    for key in by_key.keys() - keys:
        found.append(f"redemption {by_key[key]['id']} has a key nobody sent: {key}")
    return found


def _wallet_leg(redemption: dict) -> str:
    """The id of the transfer that took a redemption's points from the wallet."""
    if redemption["home_community"] is None:
        return redemption["transfer_id"]
    return redemption["transfer_id"].removesuffix(":in") + ":out"


def _transfer_problems(
    name: str, r: dict, transfers: dict[str, dict], accounts: dict[int, dict]
) -> list[str]:
    """A redemption's points moved whole: wallet → shop, or for a visitor wallet → clearing (in
    their community's ledger) and clearing → shop (here), both legs of the same amount."""
    found = []
    visitor = r["home_community"] is not None
    legs = [(_wallet_leg(r), "wallet", str(r["person"]), "clearing" if visitor else "shop")]
    if visitor:
        legs.append((r["transfer_id"], "clearing", str(r["home_community"]), "shop"))
    for leg_id, debit_kind, debit_owner, credit_kind in legs:
        transfer = transfers.get(leg_id)
        if transfer is None:
            found.append(f"{name}: its ledger transfer {leg_id} is missing")
            continue
        debit, credit = accounts.get(transfer["debit"], {}), accounts.get(transfer["credit"], {})
        if (transfer["kind"], transfer["amount"]) != ("redemption", r["total"]):
            found.append(f"{name}: transfer {transfer} does not match total {r['total']}")
        wanted = (debit_kind, debit_owner, credit_kind)
        if (debit.get("kind"), debit.get("owner"), credit.get("kind")) != wanted:
            found.append(f"{name}: transfer {transfer} is not {debit_kind} {debit_owner} → {credit_kind}")
        if debit_kind == "wallet" and transfer["debit_after"] != r["balance_after"]:
            found.append(f"{name}: balance_after {r['balance_after']},"
                         f" the ledger says {transfer['debit_after']}")
    return found


def summary(world: World, acks: list[int], committed: dict[str, int], resend: list[Sent],
            db: dict[str, list[dict]], started: float) -> str:
    unanswered = [s for s in world.sent if s.status is None]
    statuses = Counter(s.status for s in world.sent if s.status is not None)
    return (f"\n{db_engine()}: acknowledged per life {acks} (total {sum(acks)}), answers {dict(statuses)},"
            f" in flight at each kill {world.in_flight_at_kill}, unanswered {len(unanswered)} of which"
            f" committed {sum(1 for s in unanswered if s.key in committed)}, redemption rows"
            f" {len(db['redemption'])}, re-sent (had committed?) {[s.key in committed for s in resend]},"
            f" {time.monotonic() - started:.1f} s")


def server_errors(workdir: Path) -> list[str]:
    """The distinct exceptions the server logged, with how often."""
    seen: Counter[str] = Counter()
    for log in sorted(workdir.glob("server-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if re.match(r"[\w.]+(Error|Exception)\b", line):
                seen[f"{log.name}: {line}"] += 1
    return [f"{n} × {line}" for line, n in seen.items()]


# -- the test --------------------------------------------------------------------------------------


async def test_kill_9_during_redemptions_leaves_only_whole_redemptions(tmp_path: Path) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)
    world = World()
    codes: dict[int, tuple[float, str]] = {}
    acks: list[int] = []
    process: subprocess.Popen | None = None
    async with fresh_database(tmp_path) as (database_url, read):
        env = server_env(database_url, secrets.token_urlsafe(32))
        try:
            create_admin(env, tmp_path)
            for life in range(1, LIVES + 1):
                process, url = await start_server(env, tmp_path, life)
                if life == 1:
                    await set_up(url, world)
                acks.append(await live(world, url, process, life, rng.randint(*ACKS_BEFORE_KILL), rng, codes))
                assert process.returncode == -9, process.returncode
            process, url = await start_server(env, tmp_path, LIVES + 1)

            # Re-sent right after the restart, while the member codes are still good. One key whose
            # redemption committed unanswered (the same redemption must come back) and the last
            # one sent that did not commit (it is made now), each twice.
            committed = {row["key"]: row["id"] for row in await read("SELECT id, key FROM redemption")}
            unanswered = [s for s in world.sent if s.status is None]
            resend = [s for s in unanswered if s.key in committed][-1:]
            resend += [s for s in unanswered if s.key not in committed and s.life == LIVES][-1:]
            assert resend, f"no request was in flight at any kill: {world.in_flight_at_kill}"
            async with httpx.AsyncClient(base_url=url, timeout=30, cookies=no_cookies()) as client:

                async def again(s: Sent) -> int:
                    response = await client.post("/api/redemptions", json=s.body, headers=bearer(
                        world.keeper) | {"Idempotency-Key": s.key})
                    return expect(response, 201)["id"]

                for s in resend:
                    first, second = await again(s), await again(s)
                    assert first == second, f"key {s.key}: {first}, then {second}"
                    if s.key in committed:
                        assert first == committed[s.key], (s.key, committed[s.key], first)
                    else:
                        assert first not in committed.values(), f"key {s.key}: got another key's {first}"

                db = await snapshot(read)
                print(summary(world, acks, committed, resend, db, started))
                found = problems(db, world.sent)
                assert not found, "\n".join(found)

                verify = expect(await client.get("/api/ledger/verify", headers=bearer(world.admin)), 200)
                assert verify["ok"] is True, verify
                # Every community's chain and the clearing pair between the two.
                checked = await asyncio.to_thread(
                    subprocess.run, [*market_command(), "ledger", "verify"], env=env, cwd=tmp_path,
                    capture_output=True, text=True)
                assert checked.returncode == 0 and "ledger OK" in checked.stdout, (
                    checked.stdout + checked.stderr)
                assert "clearing: 1 pair(s)" in checked.stdout, checked.stdout
                visits = [r for r in db["redemption"] if r["home_community"] is not None]
                assert visits, "no visitor's redemption was made"
                for person_id, token in world.residents:
                    spent = sum(r["total"] for r in db["redemption"] if r["person"] == person_id)
                    balance = expect(await client.get("/api/me/balance", headers=bearer(token)), 200)
                    assert hundredths(balance["balance"]) == hundredths(START_POINTS) - spent, (
                        person_id, balance, spent)
                # Last, after every check of the crash itself: an answer other than 201/409/410
                # while the server was up is a failure too (its own log says why).
                assert not world.unexpected, "\n".join([*world.unexpected, *server_errors(tmp_path)])
        finally:
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()



def test_the_judge_sees_a_visit_with_one_leg_only() -> None:
    """``problems`` on made-up rows: a visitor's redemption whose wallet leg is missing is reported."""
    db = {
        "product": [], "stock_movement": [],
        "redemption": [{"id": 1, "person": 7, "key": "k", "total": 100, "transfer_id": "t:in",
                        "balance_after": 900, "home_community": 2}],
        "redemption_line": [{"redemption": 1, "product": 3, "quantity": 1, "unit_price": 100}],
        "ledger_transfer": [{"id": "t:in", "kind": "redemption", "amount": 100, "debit": 10, "credit": 11,
                             "debit_after": -100}],
        "ledger_account": [{"id": 10, "ledger": 1, "kind": "clearing", "owner": "2"},
                           {"id": 11, "ledger": 1, "kind": "shop", "owner": ""}],
    }
    found = problems(db, [])
    assert any("its ledger transfer t:out is missing" in p for p in found), found
    assert not any("t:in" in p and "is not" in p for p in found), found  # the shop's leg is right
