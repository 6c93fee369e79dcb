"""No phone number, password, PIN or token reaches the logs of a normal flow."""

import logging

import httpx
import pytest

from tests.market.support import PASSWORD, Enrol, adjust


async def test_logs_hold_no_secrets(
    anon: httpx.AsyncClient, enrol: Enrol, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = await enrol("admin")
    resident = await enrol("resident")
    failed = await anon.post("/api/session", json={"login": admin.phone, "secret": "wrong-pass"})
    assert failed.status_code == 401
    signed_in = await anon.post("/api/session", json={"login": admin.phone, "secret": PASSWORD})
    token = signed_in.json()["token"]
    csrf = signed_in.json()["csrf_token"]
    assert (await adjust(admin, resident.id, "5", reason="门卫值班")).status_code == 201
    await resident.client.get("/api/me/entries")
    await anon.post("/api/session", json={"login": resident.card_no, "secret": resident.pin})

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "signed in" in logged  # the flow was logged at all
    for secret in (admin.phone, resident.phone, PASSWORD, "wrong-pass", resident.pin, token,
                   csrf, admin.token, resident.token, resident.card_no):
        assert secret not in logged, secret
