"""The restore drill of docs/DEPLOY.md, performed on the engine under test.

A real ``market serve`` with residents, a check-in and a redemption made through the API;
``market backup`` while an admin keeps crediting one resident (each write acknowledged, then the
ledger's head read); ``market restore`` into a fresh database; ``market serve`` on the copy.
Everything acknowledged before the backup started is there — the people, their balances, the
ledger's head — and the copy is one moment of the books: its head is the head after some prefix
of the writes that ran during the backup, with the balance that very write acknowledged. The
ledger verifies, the signing key came along (same public key), and the copy sells again.
"""

import stat
import threading
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx

from bench.checkin_load import ADMIN_PASSWORD, ADMIN_PHONE, market_serve
from market.settings import secret_file, sqlite_path
from tests.conftest import db_engine
from tests.deploy.support import SERVER_KEY, another_database, fresh_database, market
from tests.web.browser import activity_code_url, bearer

ORGANIZER = ("13900000011", "drill-organizer-password")
KEEPER = ("13900000012", "drill-keeper-password")
RESIDENTS = {"13700000021": ("李阿姨", "258036"), "13700000022": ("王大爷", "369147"),
             "13700000023": ("陈奶奶", "581470")}
#: The resident an admin keeps crediting while the backup runs.
BUSY = ("13700000029", "赵师傅", "470258")
PRICE = "2.00"


@dataclass(frozen=True)
class Acknowledged:
    """One credit as the server acknowledged it, and the books right after it."""

    sent: float
    answered: float
    balance: str
    entries: int
    head: str


@dataclass
class Books:
    people: list[dict]
    balances: dict[str, dict]
    entries: int
    head: str
    public_key: str


class Crediting(threading.Thread):
    """An admin crediting one resident a point at a time until told to stop."""

    def __init__(self, url: str, token: str, person_id: int) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.person_id = url, token, person_id
        self.done: list[Acknowledged] = []
        self.failures: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as client:
            while not self.stop.is_set():
                sent = time.monotonic()
                credit = client.post(
                    "/api/adjustments", headers={"Idempotency-Key": uuid.uuid4().hex},
                    json={"person_id": self.person_id, "amount": "1.00", "reason": "恢复演练"},
                )
                answered = time.monotonic()
                if credit.status_code != 201:
                    self.failures.append(f"{credit.status_code} {credit.text}")
                    return
                # One writer and nothing else moving points: the head right after this credit.
                books = client.get("/api/transparency").json()
                self.done.append(Acknowledged(
                    sent, answered, credit.json()["balance_after"], books["entries"], books["head"]))

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.done) < count and not self.failures:
            assert time.monotonic() < deadline, f"only {len(self.done)} credits in {timeout} s"
            time.sleep(0.02)
        assert not self.failures, self.failures


def set_up_market(url: str) -> dict[str, int]:
    """People, a check-in each and one redemption, all through the API; person ids by phone."""
    ids: dict[str, int] = {}
    with bearer(url, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        staff = [(ORGANIZER, "刘组长", "organizer"), (KEEPER, "周店员", "shopkeeper")]
        for (phone, password), name, role in staff:
            made = admin.post("/api/people", json={"name": name, "phone": phone, "roles": [role],
                                                   "password": password})
            assert made.status_code == 201, made.text
        for phone, (name, pin) in [*RESIDENTS.items(), (BUSY[0], BUSY[1:])]:
            made = admin.post("/api/people", json={"name": name, "phone": phone, "roles": ["resident"],
                                                   "pin": pin})
            assert made.status_code == 201, made.text
            ids[phone] = made.json()["id"]
        product = admin.post("/api/products", json={"name": "洗衣皂", "price": PRICE, "stock": 50})
        assert product.status_code == 201, product.text
    with bearer(url, *ORGANIZER) as organizer:
        code_url = activity_code_url(organizer, "楼道清扫")
    for phone, (_, pin) in RESIDENTS.items():
        with bearer(url, phone, pin) as resident:
            checked_in = resident.post("/api/checkins", json={"token": code_url})
            assert checked_in.status_code == 201, checked_in.text
    redeem(url, next(iter(RESIDENTS)), product.json()["id"])
    ids["product"] = product.json()["id"]
    return ids


def redeem(url: str, phone: str, product_id: int) -> dict:
    """The counter: the resident shows a fresh member code, the shop keeper sells one item."""
    with bearer(url, phone, RESIDENTS[phone][1]) as resident:
        code = resident.get("/api/me/code").json()["code"]
    with bearer(url, *KEEPER) as keeper:
        sold = keeper.post("/api/redemptions", headers={"Idempotency-Key": uuid.uuid4().hex},
                           json={"member_code": code, "items": [{"product_id": product_id, "quantity": 1}]})
    assert sold.status_code == 201, sold.text
    return sold.json()


def read_books(url: str) -> Books:
    with bearer(url, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        people = admin.get("/api/people", params={"limit": 100}).json()
        assert people["next_cursor"] is None
        totals = admin.get("/api/transparency").json()
        page = admin.get("/api/transparency/checkpoints", params={"community": totals["community_id"]})
    balances = {}
    for phone, (_, pin) in RESIDENTS.items():
        with bearer(url, phone, pin) as resident:
            balances[phone] = resident.get("/api/me/balance").json()
    return Books(people["items"], balances, totals["entries"], totals["head"], page.json()["public_key"])


def test_restore_drill(tmp_path: Path) -> None:
    source_dir, copy_dir = tmp_path / "source", tmp_path / "copy"
    backup = tmp_path / "backups" / "market-drill.backup"
    backup.parent.mkdir()
    with fresh_database(source_dir) as source_url, \
            market_serve(source_url, source_dir, environment=SERVER_KEY) as server:
        ids = set_up_market(server.url)
        before = read_books(server.url)
        with bearer(server.url, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
            token = admin.headers["Authorization"].removeprefix("Bearer ")
            crediting = Crediting(server.url, token, ids[BUSY[0]])
            crediting.start()
            try:
                crediting.wait_for(3)
                started = time.monotonic()
                made = market("backup", str(backup), database_url=source_url, cwd=source_dir)
                finished = time.monotonic()
                crediting.wait_for(len(crediting.done) + 3)  # and the server still writes after it
            finally:
                crediting.stop.set()
                crediting.join(30)
        assert made.returncode == 0, made.stderr
        assert not crediting.failures, crediting.failures
        credits = crediting.done
        acknowledged_before = [c for c in credits if c.answered < started]
        during = [c for c in credits if c.sent > started and c.answered < finished]
        assert acknowledged_before and during, "the backup must run while credits are acknowledged"
        if db_engine() == "sqlite":
            # The key went beside the backup, owner-only, and the output says where and that it is secret.
            saved = secret_file(backup)
            assert f"签名密钥已复制到 {saved}" in made.stdout and "机密" in made.stdout
            assert saved.read_bytes() == secret_file(sqlite_path(source_url)).read_bytes()
            assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        else:
            assert "MARKET_SECRET_KEY" in made.stdout and "不在备份里" in made.stdout
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600

    with another_database(source_url, copy_dir) as copy_url:
        restored = market("restore", str(backup), database_url=copy_url, cwd=copy_dir)
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert "ledger OK" in restored.stdout
        verified = market("ledger", "verify", database_url=copy_url, cwd=copy_dir)
        assert verified.returncode == 0, verified.stdout + verified.stderr

        with market_serve(copy_url, copy_dir, create_admin=False, environment=SERVER_KEY) as copy:
            after = read_books(copy.url)
            assert after.people == before.people
            assert after.balances == before.balances
            assert after.public_key == before.public_key  # the same signing key signs there
            # One moment of the books: the head after some credit (or none) of the drill's writer,
            # never before what was acknowledged when the backup started.
            states = [(before.entries, before.head, None), *((c.entries, c.head, c) for c in credits)]
            matching = [i for i, (entries, head, _) in enumerate(states) if head == after.head]
            assert matching, f"the restored head {after.head} is no head the server acknowledged"
            moment = matching[0]
            assert moment >= len(acknowledged_before), "a credit acknowledged before the backup is missing"
            assert after.entries == states[moment][0]
            with bearer(copy.url, BUSY[0], BUSY[2]) as busy:
                assert busy.get("/api/me/balance").json()["balance"] == states[moment][2].balance

            # The restored market sells again, and its books still verify.
            phone = next(iter(RESIDENTS))
            sold = redeem(copy.url, phone, ids["product"])
            balance = before.balances[phone]["balance"]
            assert Decimal(sold["balance_after"]) == Decimal(balance) - Decimal(PRICE)
            with bearer(copy.url, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
                check = admin.get("/api/ledger/verify").json()
            assert check["ok"] and check["entries"] > after.entries
