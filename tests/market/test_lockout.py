"""Lock-out: five failures on one login, then 429 whatever the address, with no secret checked;
and the limits per source address, per network and in total (``market.auth.limiter``).

The Redis tests need the local Redis (``MARKET_TEST_REDIS_URL``, default
``redis://127.0.0.1:6379/0``). They fail, never skip, when it is down: CI starts it.
"""

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis

from market.app import create_app
from market.auth.hashing import SecretHasher
from market.auth.limiter import (
    NETWORK_MAX_FAILURES,
    SOURCE_MAX_FAILURES,
    TOTAL_FAILURES_PER_MINUTE,
    DatabaseLoginLimiter,
    MemoryLoginLimiter,
    RedisLoginLimiter,
    TotalFailures,
)
from market.auth.sessions import network_limiter_key, person_limiter_key, source_limiter_key
from market.cards.service import check_counter_pin
from market.community import service as communities
from market.errors import InvalidInput
from market.people.service import NewPerson, create_person
from market.settings import Settings
from market.tables import Person
from tests.market.support import Member, client_for, good_pin, random_phone, running

#: Two apps in one process share Piccolo's one PostgreSQL pool (workers each have their own).
SHARED_POOL = pytest.mark.filterwarnings("ignore:.*(pool already exists|No pool is running)")

REDIS_URL = os.environ.get("MARKET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[2]


class VerifyCounter:
    """Counts every Argon2 verification a hasher performs (sign-in, dummy, all)."""

    def __init__(self) -> None:
        self.calls = 0

    def spy_on(self, hasher: SecretHasher, monkeypatch: pytest.MonkeyPatch) -> None:
        real = hasher.verify

        async def counting(hashed: str, secret: str) -> bool:
            self.calls += 1
            return await real(hashed, secret)

        monkeypatch.setattr(hasher, "verify", counting)


def wrong_pin(right: str) -> str:
    while (pin := f"{secrets.randbelow(10**6):06d}") == right:
        pass
    return pin


async def sign_in(client: httpx.AsyncClient, login: str, secret: str) -> httpx.Response:
    return await client.post("/api/session", json={"login": login, "secret": secret})


@contextlib.asynccontextmanager
async def clients_from(app: Litestar, addresses: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Clients that the app sees coming from ``addresses`` different IP addresses."""
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=(f"10.0.{n // 250}.{n % 250 + 1}",
                                                               40000 + n)),
                base_url="http://test",
            ))
            for n in range(addresses)
        ]
        yield clients


async def test_a_thousand_wrong_pins_get_at_most_five_checks(
    app: Litestar, resident: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = VerifyCounter()
    counter.spy_on(app.state.hasher, monkeypatch)
    async with clients_from(app, 50) as clients:
        responses: list[httpx.Response] = []
        for batch in range(10):  # 10 bursts of 100 concurrent guesses
            responses += await asyncio.gather(*(
                sign_in(clients[(batch * 100 + n) % 50], resident.card_no, wrong_pin(resident.pin))
                for n in range(100)
            ))
        statuses = [r.status_code for r in responses]
        assert counter.calls <= 5, counter.calls
        assert statuses.count(401) == counter.calls
        assert statuses.count(429) == 1000 - counter.calls
        assert set(statuses) == {401, 429}
        # Every answer after the lock is a 429 with a Retry-After of at most the first step.
        locked = [r for r in responses if r.status_code == 429]
        assert all(0 < int(r.headers["retry-after"]) <= 60 for r in locked)
        assert {r.json()["reason"] for r in locked} == {"too_many_attempts"}

        # The right PIN, from yet another address, is refused too, and not checked.
        right = await sign_in(clients[7], resident.card_no, resident.pin)
        assert right.status_code == 429
        assert counter.calls <= 5


async def test_lock_out_answer_does_not_reveal_whether_the_login_exists(
    anon: httpx.AsyncClient, resident: Member
) -> None:
    nobody = "1" + "".join(secrets.choice("0123456789") for _ in range(9))  # a card-like number
    answers = {}
    for login in (resident.card_no, nobody):
        for _ in range(5):
            assert (await sign_in(anon, login, "000001")).status_code == 401
        answers[login] = await sign_in(anon, login, "000001")
    known, unknown = answers[resident.card_no], answers[nobody]
    assert known.status_code == unknown.status_code == 429
    assert known.json()["reason"] == unknown.json()["reason"] == "too_many_attempts"
    assert known.json().keys() == unknown.json().keys()
    assert abs(int(known.headers["retry-after"]) - int(unknown.headers["retry-after"])) <= 1


async def test_every_login_of_a_person_counts_on_one_lock(
    anon: httpx.AsyncClient, admin: Member, resident: Member
) -> None:
    # Three wrong PINs with the phone, two with the card: five for the person, who is locked
    # whichever login is tried next, the right PIN included.
    for login in (resident.phone, resident.phone, resident.phone, resident.card_no, resident.card_no):
        assert (await sign_in(anon, login, wrong_pin(resident.pin))).status_code == 401
    for login in (resident.phone, resident.card_no):
        locked = await sign_in(anon, login, resident.pin)
        assert locked.status_code == 429 and locked.json()["reason"] == "too_many_attempts", locked.text
    # The office, which sees the resident, sets a new PIN: that lifts the lock for the owner.
    while (new_pin := good_pin(resident.phone)) == resident.pin:
        pass
    reset = await admin.client.post(f"/api/people/{resident.id}/pin", json={"pin": new_pin})
    assert reset.status_code == 204, reset.text
    assert (await sign_in(anon, resident.card_no, resident.pin)).status_code == 401  # the old PIN is gone
    assert (await sign_in(anon, resident.card_no, new_pin)).status_code == 200


def from_address(app: Litestar, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                             base_url="http://test")


def fresh_ipv4() -> str:
    """An address no other test signs in from: sources are counted in the session's database."""
    return "10." + ".".join(str(secrets.randbelow(250) + 1) for _ in range(3))


async def test_spraying_one_pin_over_many_logins_is_throttled_per_source(
    app: Litestar, resident: Member
) -> None:
    async with from_address(app, fresh_ipv4()) as sprayer, from_address(app, fresh_ipv4()) as elsewhere:
        # Issue 14's trial: one common PIN over many logins, each tried once.
        statuses = [(await sign_in(sprayer, f"139{n:08d}", "123456")).status_code for n in range(25)]
        assert statuses == [401] * SOURCE_MAX_FAILURES + [429] * (25 - SOURCE_MAX_FAILURES)
        # The source is locked for every login, a real one with its right PIN included (and
        # nothing is counted on that person); from elsewhere the owner signs in.
        assert (await sign_in(sprayer, resident.card_no, resident.pin)).status_code == 429
        assert (await sign_in(elsewhere, resident.card_no, resident.pin)).status_code == 200


async def test_an_ipv6_subscriber_is_one_source() -> None:
    secret = secrets.token_hex(8)
    same = {source_limiter_key(f"2001:db8:1:2::{n:x}", secret) for n in range(1, 50)}
    assert len(same) == 1
    assert source_limiter_key("2001:db8:1:3::1", secret) not in same
    assert source_limiter_key("10.0.0.1", secret) != source_limiter_key("10.0.0.2", secret)


async def test_a_network_is_an_ipv4_24_or_an_ipv6_48() -> None:
    secret = secrets.token_hex(8)
    ipv4 = {network_limiter_key(f"10.1.2.{n}", secret) for n in range(1, 255)}
    assert len(ipv4) == 1
    assert network_limiter_key("10.1.3.1", secret) not in ipv4
    ipv6 = {network_limiter_key(f"2001:db8:1:{n:x}::1", secret) for n in range(0, 65536, 4099)}
    assert len(ipv6) == 1
    assert network_limiter_key("2001:db8:2::1", secret) not in ipv6
    # Not the source's key: a network's failures are counted apart from its addresses'.
    assert network_limiter_key("10.1.2.3", secret) != source_limiter_key("10.1.2.3", secret)
    # An IPv4 client as a dual-stack socket reports it is that IPv4 address, not one IPv6 /64
    # shared by every IPv4 client.
    for key in (source_limiter_key, network_limiter_key):
        assert key("::ffff:10.1.2.3", secret) == key("10.1.2.3", secret)
        assert key("::ffff:10.9.9.9", secret) != key("10.1.2.3", secret)


def fresh_network() -> str:
    """The first three parts of an IPv4 /24 that no other test signs in from."""
    return "10." + ".".join(str(secrets.randbelow(250) + 1) for _ in range(2))


def nobodys_login() -> str:
    """A phone-like login that names nobody, a new one each time."""
    return "15" + "".join(secrets.choice("0123456789") for _ in range(9))


async def test_spraying_from_many_addresses_of_one_network_is_throttled_there(
    app: Litestar, resident: Member
) -> None:
    # This test's failures are totalled apart, so they leave the minute's total of the session's
    # database to the tests after it (the app's state is put back after each test).
    app.state.total_failures = TotalFailures(MemoryLoginLimiter(
        max_failures=TOTAL_FAILURES_PER_MINUTE, lockout_seconds=(60,)))
    network = fresh_network()
    while (other := fresh_network()) == network:
        pass
    statuses = []
    # One common PIN over many logins, each from an address of its own in one /24: no source
    # comes near its limit, the network reaches its own.
    for n in range(1, NETWORK_MAX_FAILURES + 2):
        async with from_address(app, f"{network}.{n}") as sprayer:
            statuses.append((await sign_in(sprayer, nobodys_login(), "123456")).status_code)
    assert statuses == [401] * NETWORK_MAX_FAILURES + [429]
    # The network is locked for every login and address in it, the owner's right PIN included;
    # from another /24 the owner signs in.
    async with from_address(app, f"{network}.250") as inside, from_address(app, f"{other}.1") as outside:
        locked = await sign_in(inside, resident.card_no, resident.pin)
        assert locked.status_code == 429 and locked.json()["reason"] == "too_many_attempts"
        assert 0 < int(locked.headers["retry-after"]) <= 60
        assert (await sign_in(outside, resident.card_no, resident.pin)).status_code == 200


async def test_the_total_refuses_everyone_for_the_rest_of_its_minute(
    app: Litestar, resident: Member
) -> None:
    """Failed sign-ins of the whole installation, at most a few a minute here: counted in the
    database like the installation's own, on a clock of this test's own."""
    minute = 60 * (30_000_000 + secrets.randbelow(10**6))  # a minute no other test counts in
    now = [minute + 10.0]

    def clock() -> float:
        return now[0]

    app.state.total_failures = TotalFailures(
        DatabaseLoginLimiter(max_failures=3, lockout_seconds=(60,), clock=clock), clock=clock)
    async with from_address(app, fresh_ipv4()) as client:
        for _ in range(3):  # from one source, for three logins: under their own limits
            assert (await sign_in(client, nobodys_login(), "123456")).status_code == 401
        # The limit is reached: every sign-in, the right PIN included, waits for the next minute.
        refused = await sign_in(client, resident.card_no, resident.pin)
        assert refused.status_code == 429 and refused.json()["reason"] == "too_many_attempts"
        assert refused.headers["retry-after"] == "50"
        # Nothing is counted on anyone meanwhile: six wrong PINs would lock the resident.
        now[0] += 40
        for _ in range(6):
            wrong = await sign_in(client, resident.card_no, wrong_pin(resident.pin))
            assert wrong.status_code == 429 and wrong.headers["retry-after"] == "10"
        now[0] = minute + 60  # a new minute, counted from nothing
        assert (await sign_in(client, resident.card_no, resident.pin)).status_code == 200
        # A success does not reset the total: two failures, a success and a third fill the minute.
        for _ in range(2):
            assert (await sign_in(client, nobodys_login(), "123456")).status_code == 401
        assert (await sign_in(client, resident.card_no, resident.pin)).status_code == 200
        assert (await sign_in(client, nobodys_login(), "123456")).status_code == 401
        assert (await sign_in(client, resident.card_no, resident.pin)).status_code == 429


async def test_a_success_forgives_the_sources_failures(app: Litestar, enrol) -> None:
    office = fresh_ipv4()  # a community office's one connection: residents' typos and sign-ins
    async with from_address(app, office) as desk:
        for _ in range(5):  # 25 failures in all, more than SOURCE_MAX_FAILURES
            people = [await enrol("resident") for _ in range(5)]
            for person in people:
                assert (await sign_in(desk, person.card_no, wrong_pin(person.pin))).status_code == 401
                assert (await sign_in(desk, person.card_no, person.pin)).status_code == 200


async def test_the_counter_and_sign_in_count_together(
    app: Litestar, anon: httpx.AsyncClient, resident: Member
) -> None:
    for _ in range(4):
        assert (await sign_in(anon, resident.phone, wrong_pin(resident.pin))).status_code == 401
    # The fifth wrong PIN comes with the printed card at the shop counter: the person is locked.
    with pytest.raises(InvalidInput):
        await check_counter_pin(resident.id, wrong_pin(resident.pin), hasher=app.state.hasher,
                                limiter=app.state.limiter, secret_key=app.state.settings.secret_key)
    assert (await sign_in(anon, resident.phone, resident.pin)).status_code == 429


async def test_each_lock_lasts_longer() -> None:
    now = [1000.0]
    limiter = MemoryLoginLimiter(clock=lambda: now[0])
    waits = []
    for _ in range(6):
        for _ in range(5):
            assert await limiter.acquire("k") is None
        waits.append(await limiter.acquire("k"))
        now[0] += waits[-1] + 1  # wait out the lock, then guess again
    assert waits == [60, 300, 900, 3600, 3600, 3600]
    await limiter.reset("k")  # a success forgets everything
    for _ in range(5):
        assert await limiter.acquire("k") is None
    assert await limiter.acquire("k") == 60


async def test_a_long_quiet_spell_forgets_the_lock_history() -> None:
    now = [0.0]
    limiter = MemoryLoginLimiter(clock=lambda: now[0], forget_after=3600)
    for _ in range(5):
        await limiter.acquire("k")
    assert await limiter.acquire("k") == 60
    now[0] += 60 + 3601
    for _ in range(5):
        assert await limiter.acquire("k") is None
    assert await limiter.acquire("k") == 60


async def test_memory_limiter_stays_bounded_but_keeps_locks() -> None:
    limiter = MemoryLoginLimiter(max_keys=100)
    for _ in range(5):
        await limiter.acquire("victim")
    for n in range(1000):
        await limiter.acquire(f"spray-{n}")
    assert len(limiter._records) <= 100
    assert await limiter.retry_after("victim") is not None


# -- Redis: lock-outs shared by every worker -------------------------------------------


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own in the local Redis, removed afterwards."""
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.ping()
    except Exception as error:  # any failure to reach Redis
        await redis.aclose()
        pytest.fail(f"Redis at {REDIS_URL} is not reachable ({error!r}); CI must start it")
    prefix = f"market-test:{secrets.token_hex(6)}:"
    try:
        yield prefix
    finally:
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


def redis_limiter(prefix: str, **options) -> RedisLoginLimiter:
    # Each worker has its own connection pool; here each app gets its own client.
    return RedisLoginLimiter.from_url(REDIS_URL, prefix=prefix, **options)


@contextlib.asynccontextmanager
async def two_workers(prefix: str) -> AsyncIterator[tuple[Litestar, Litestar]]:
    """Two apps on one database and one Redis: what two worker processes are."""
    settings = Settings.from_env()
    limiters = [redis_limiter(prefix), redis_limiter(prefix)]
    first, second = (create_app(settings, limiter=limiter) for limiter in limiters)
    try:
        async with running(first), running(second):
            yield first, second
    finally:
        for limiter in limiters:
            await limiter.close()


async def enrol_resident(app: Litestar) -> tuple[str, str, str]:
    """A resident of a new community: (card number, phone, PIN)."""
    ledger = app.state.ledger
    community = await communities.get_or_create(ledger, f"锁定社区-{secrets.token_hex(6)}")
    phone = random_phone()
    pin = good_pin(phone)
    view = await create_person(
        community.id, NewPerson(name="王大爷", phone=phone, roles=["resident"], pin=pin),
        hasher=app.state.hasher, ledger=ledger,
    )
    return view.card_no, phone, pin


async def enrol_and_count_hashing(
    first: Litestar, second: Litestar, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str, "VerifyCounter"]:
    """A resident enrolled through the first worker, and a count of both workers' PIN checks."""
    card_no, _, pin = await enrol_resident(first)
    counter = VerifyCounter()
    counter.spy_on(first.state.hasher, monkeypatch)
    counter.spy_on(second.state.hasher, monkeypatch)
    return card_no, pin, counter


@SHARED_POOL
async def test_two_workers_share_the_lock_out(
    redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with two_workers(redis_prefix) as (first, second):
        card_no, pin, counter = await enrol_and_count_hashing(first, second, monkeypatch)
        async with client_for(first) as a, client_for(second) as b:
            for n in range(5):  # alternate workers: 3 failures on one, 2 on the other
                response = await sign_in((a, b)[n % 2], card_no, wrong_pin(pin))
                assert response.status_code == 401
            for client in (a, b):
                locked = await sign_in(client, card_no, pin)  # the right PIN
                assert locked.status_code == 429
                assert 0 < int(locked.headers["retry-after"]) <= 60
            assert counter.calls == 5


@SHARED_POOL
async def test_two_workers_under_a_burst_check_at_most_five(
    redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with two_workers(redis_prefix) as (first, second):
        card_no, pin, counter = await enrol_and_count_hashing(first, second, monkeypatch)
        async with clients_from(first, 20) as ones, clients_from(second, 20) as twos:
            clients = ones + twos
            responses = await asyncio.gather(*(
                sign_in(clients[n % 40], card_no, wrong_pin(pin)) for n in range(400)
            ))
        statuses = [r.status_code for r in responses]
        assert counter.calls <= 5
        assert statuses.count(429) == 400 - statuses.count(401) >= 395


async def test_redis_locks_grow_and_expire(redis_prefix: str) -> None:
    now = [time.time()]
    limiter = redis_limiter(redis_prefix, clock=lambda: now[0])
    try:
        waits = []
        for _ in range(5):
            for _ in range(5):
                assert await limiter.acquire("k") is None
            waits.append(await limiter.acquire("k"))
            assert await limiter.retry_after("k") == waits[-1]
            now[0] += waits[-1] + 1
        assert waits == [60, 300, 900, 3600, 3600]
        ttl = await limiter.redis.ttl(redis_prefix + "k")
        assert 0 < ttl <= 24 * 3600 + 3600  # forgotten a day after the last lock ends
        await limiter.reset("k")
        assert await limiter.redis.exists(redis_prefix + "k") == 0
    finally:
        await limiter.close()


async def test_redis_counts_the_total_by_the_minute(redis_prefix: str) -> None:
    minute = 60 * (30_000_000 + secrets.randbelow(10**6))
    now = [minute + 30.0]
    limiter = redis_limiter(redis_prefix, max_failures=2, lockout_seconds=(60,), forget_after=120,
                            clock=lambda: now[0])
    total = TotalFailures(limiter, clock=lambda: now[0])
    try:
        for _ in range(2):
            assert await total.retry_after() is None
            await total.record_failure()
        assert await total.retry_after() == 30
        now[0] = minute + 60
        assert await total.retry_after() is None
        # A past minute's key goes soon after its lock: forget_after past its last failure.
        ttl = await limiter.redis.ttl(f"{redis_prefix}total:{minute // 60}")
        assert 0 < ttl <= 120 + 60
    finally:
        await limiter.close()


@SHARED_POOL
async def test_redis_keys_hold_no_phone_number(redis_prefix: str) -> None:
    async with two_workers(redis_prefix) as (first, _):
        _, phone, _ = await enrol_resident(first)
        async with client_for(first) as client:
            await sign_in(client, phone, "000001")
        redis = first.state.limiter.redis
        keys = [key.decode() async for key in redis.scan_iter(match=redis_prefix + "*")]
        assert len(keys) == 1
        assert phone not in keys[0]
        assert all(phone.encode() not in value
                   for value in (await redis.hgetall(keys[0])).values())


async def test_redis_url_setting_picks_the_redis_limiter() -> None:
    app = create_app(replace(Settings.from_env(), redis_url=REDIS_URL))
    assert isinstance(app.state.limiter, RedisLoginLimiter)
    await app.state.limiter.close()
    # Without Redis, the database: every worker still counts together.
    assert isinstance(create_app(Settings.from_env()).state.limiter, DatabaseLoginLimiter)


async def test_sign_in_is_refused_when_redis_is_down(app: Litestar, resident: Member) -> None:
    """Without the shared counts there is no lock-out: fail closed, not open."""
    dead = RedisLoginLimiter(Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1))
    app.state.limiter = dead
    try:
        async with client_for(app) as client:
            response = await sign_in(client, resident.card_no, resident.pin)
        assert response.status_code == 503
        assert response.json()["reason"] == "unavailable"
    finally:
        await dead.close()


# -- Two real server processes ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def servers(count: int, log_dir: Path) -> Iterator[list[str]]:
    """``count`` uvicorn processes of the app, as ``market serve --workers`` starts them."""
    env = {**os.environ, "REDIS_URL": REDIS_URL}
    processes, urls = [], []
    try:
        for n in range(count):
            port = free_port()
            log = (log_dir / f"server-{n}.log").open("wb")
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "market.app:create_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "debug"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            ))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        # One client for every probe (``httpx.get`` builds one, SSL context included, each time).
        with httpx.Client(timeout=1) as probe:
            for url, process in zip(urls, processes, strict=True):
                while True:
                    assert process.poll() is None, (log_dir / "server-0.log").read_text()
                    try:
                        if probe.get(url + "/health").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert time.monotonic() < deadline, "the servers did not start"
                    time.sleep(0.05)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def server_logs(log_dir: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in log_dir.glob("server-*.log"))


async def test_two_server_processes_share_the_lock_out(
    app: Litestar, redis_prefix: str, tmp_path: Path
) -> None:
    card_no, phone, pin = await enrol_resident(app)
    person = await Person.select(Person.id).where(Person.card_no == card_no).first()
    key = "market:login:" + person_limiter_key(person["id"], app.state.settings.secret_key)
    redis = Redis.from_url(REDIS_URL)
    try:
        with servers(2, tmp_path) as urls:
            async with httpx.AsyncClient() as client:
                for n in range(5):
                    response = await client.post(
                        urls[n % 2] + "/api/session",
                        json={"login": card_no, "secret": wrong_pin(pin)},
                    )
                    assert response.status_code == 401, response.text
                for url in urls:
                    locked = await client.post(
                        url + "/api/session", json={"login": card_no, "secret": pin}
                    )
                    assert locked.status_code == 429
                    assert int(locked.headers["retry-after"]) > 0
                # A query string with a phone number reaches uvicorn's access log.
                await client.get(urls[0] + "/api/people", params={"q": phone})
        logs = server_logs(tmp_path)
        assert "/api/session" in logs and "/api/people" in logs  # the access log was on
        for secret in (phone, pin, card_no):
            assert secret not in logs, secret
    finally:
        await redis.delete(key)
        await redis.aclose()
