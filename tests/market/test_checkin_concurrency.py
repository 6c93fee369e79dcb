"""Check-ins at once: the same scan 20 times → one stay, one credit; 200 residents → 200 credits."""

import asyncio

from market.tables import Stay
from tests.market import records
from tests.market.support import Member, balance
from tests.market.test_checkin import code_of, running_activity


async def test_the_same_check_in_twenty_times_at_once(
    organizer: Member, resident: Member, ledger
) -> None:
    made = await running_activity(organizer, points_per_checkin="3")
    code = await code_of(organizer, made["id"])
    responses = await asyncio.gather(*(
        resident.client.post("/api/checkins", json={"token": code["url"]}) for _ in range(20)
    ))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 19 + [201], [r.text for r in responses if r.status_code >= 300]
    assert sum(not r.json()["duplicate"] for r in responses) == 1
    assert await Stay.count().where(Stay.activity == made["id"]) == 1
    assert await balance(resident) == "3.00"
    entries = (await resident.client.get("/api/me/entries")).json()["items"]
    assert [e["kind"] for e in entries] == ["checkin"]


async def test_two_hundred_residents_at_once(app, organizer: Member, community, ledger) -> None:
    made = await running_activity(organizer, points_per_checkin="1.25")
    code = await code_of(organizer, made["id"])
    people = [await records.person(community.id, phone=None) for _ in range(200)]
    clients = [await records.bearer_client(app, person) for person in people]
    try:
        responses = await asyncio.gather(*(
            client.post("/api/checkins", json={"token": code["token"]}) for client in clients
        ))
        failures = [(r.status_code, r.text) for r in responses if r.status_code != 201]
        assert not failures, failures[:3]
        assert await Stay.count().where(Stay.activity == made["id"]) == 200
        issued = await ledger.totals(community.id)
        assert str(issued["wallet"]) == "250.00"
        for client in clients[:5]:
            assert (await client.get("/api/me/balance")).json()["balance"] == "1.25"
    finally:
        for client in clients:
            await client.aclose()
    report = await ledger.verify(community.id)
    assert report.ok, report.problem
