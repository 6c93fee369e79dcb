"""Everything logged during a full flow, at DEBUG: no phone, PIN, password or token in it.

The root logger is opened to DEBUG, as an operator chasing a bug would do, and
a handler is put on every logger that does not pass records up to the root
(Litestar's own, for one). Only the test's HTTP client (httpx, httpcore) is left
out: it runs in the test, not in the server.
"""

import logging
from collections.abc import Iterator

import httpx
import pytest
from litestar import Litestar

from tests.market.support import PASSWORD, Enrol, adjust, good_pin, random_phone

CLIENT_SIDE = ("httpx", "httpcore")


class Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(CLIENT_SIDE):
            self.lines.append(self.format(record))


@pytest.fixture
def all_logs(app: Litestar) -> Iterator[Collector]:
    # After the app started: Litestar's logging set-up replaces the root's handlers.
    collector = Collector()
    root = logging.getLogger()
    saved = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(collector)
    detached = []
    for name in ("litestar", "uvicorn", "uvicorn.error", "uvicorn.access", "market", "ledger"):
        logger = logging.getLogger(name)
        detached.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
    islands = [logger for logger in logging.root.manager.loggerDict.values()
               if isinstance(logger, logging.Logger) and not logger.propagate]
    for logger in islands:
        logger.addHandler(collector)
    try:
        yield collector
    finally:
        for logger in islands:
            logger.removeHandler(collector)
        for logger, level in detached:
            logger.setLevel(level)
        root.removeHandler(collector)
        root.setLevel(saved)


async def test_a_full_flow_logs_no_personal_data_or_secrets(
    all_logs: Collector, enrol: Enrol, anon: httpx.AsyncClient
) -> None:
    admin = await enrol("admin")
    phone = random_phone()
    pin = good_pin(phone)
    staff_phone, staff_password = random_phone(), "staff-password-Ω-2026"
    bad_pin_phone = random_phone()

    created = await admin.client.post("/api/people", json={
        "name": "钱大妈", "phone": phone, "roles": ["resident"], "pin": pin})
    assert created.status_code == 201
    resident_id, card_no = created.json()["id"], created.json()["card_no"]
    staff = await admin.client.post("/api/people", json={
        "name": "孙店员", "phone": staff_phone, "roles": ["shopkeeper"],
        "password": staff_password})
    assert staff.status_code == 201
    refused = await admin.client.post("/api/people", json={
        "name": "周", "phone": bad_pin_phone, "roles": ["resident"], "pin": "123456"})
    assert refused.status_code == 400
    malformed = await admin.client.post(
        "/api/people", content=f'{{"phone": "{bad_pin_phone}", "pin": 654',
        headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400

    wrong = await anon.post("/api/session", json={"login": phone, "secret": "864209"})
    assert wrong.status_code == 401
    for login in (phone, card_no):
        signed = await anon.post("/api/session", json={"login": login, "secret": pin})
        assert signed.status_code == 200
    anon.cookies.clear()
    token, csrf = signed.json()["token"], signed.json()["csrf_token"]
    resident = {"Authorization": f"Bearer {token}"}
    staff_in = await anon.post("/api/session", json={"login": staff_phone,
                                                     "secret": staff_password})
    assert staff_in.status_code == 200
    anon.cookies.clear()
    staff_token = staff_in.json()["token"]

    assert (await adjust(admin, resident_id, "12.5", reason="清理楼道")).status_code == 201
    await admin.client.get("/api/people", params={"q": phone})
    await admin.client.get(f"/api/people/{resident_id}")
    assert (await anon.get("/api/me/entries", headers=resident)).status_code == 200
    assert (await anon.get("/api/me/export", headers=resident)).status_code == 200
    assert (await admin.client.get(f"/api/people/{resident_id}/phone")).status_code == 200
    await anon.get("/api/me", headers={"Authorization": f"Bearer {token}x"})  # bad token
    assert (await anon.delete("/api/session", headers=resident)).status_code == 204
    assert (await anon.delete(
        "/api/session", headers={"Authorization": f"Bearer {staff_token}"})).status_code == 204
    assert (await admin.client.post(f"/api/people/{resident_id}/erase")).status_code == 200
    for _ in range(6):  # into the lock-out
        await anon.post("/api/session", json={"login": staff_phone, "secret": "guess-123456"})

    logged = "\n".join(all_logs.lines)
    assert "signed in" in logged and "erased" in logged  # the flow was logged at all
    secrets_seen = {
        "phone": phone, "staff phone": staff_phone, "refused phone": bad_pin_phone,
        "admin phone": admin.phone, "pin": pin, "wrong pin": "864209",
        "password": PASSWORD, "staff password": staff_password, "guess": "guess-123456",
        "token": token, "csrf": csrf, "staff token": staff_token, "admin token": admin.token,
        "card": card_no,
    }
    leaked = {what for what, value in secrets_seen.items() if value in logged}
    assert not leaked, leaked
