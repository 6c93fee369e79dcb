"""Roster import jobs kept in the database: a double confirmation imports once, a job whose
worker stopped is shown as interrupted and can be started again, old jobs are forgotten.

(Two real server processes sharing one job: ``tests/market/test_two_hosts.py``.)"""

import asyncio
import re
import secrets
import time

import pytest
from litestar import Litestar

from market.community import service as communities
from market.community.service import CommunityView
from market.db import fetch
from market.errors import NotFound
from market.people import import_jobs, roster, schemas
from market.people import service as people
from tests.market.support import Member, random_phone
from tests.web.support import browser, csrf_of
from tests.web.test_admin import roster_csv, staff_sign_in, upload


def residents(count: int) -> list[list[str]]:
    return [[f"居民{n}", random_phone(), "大院", "1号楼", "", str(100 + n), "", ""] for n in range(count)]


@pytest.fixture
def imports(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every ``import_roster`` call from now on, as its ``dry_run`` flag."""
    calls: list[bool] = []
    real = roster.import_roster

    async def counted(*args: object, dry_run: bool = False, **kwargs: object) -> schemas.ImportSummary:
        calls.append(dry_run)
        return await real(*args, dry_run=dry_run, **kwargs)

    monkeypatch.setattr(roster, "import_roster", counted)
    return calls


async def job_row(job_id: str) -> dict:
    return dict((await fetch("SELECT * FROM roster_import WHERE id = {}", job_id))[0])


async def test_two_confirmations_at_once_import_once(
    app: Litestar, admin: Member, community: CommunityView, imports: list[bool]
) -> None:
    async with browser(app) as client:
        await staff_sign_in(client, admin)
        ready = await upload(client, roster_csv(residents(30)))
        job_id = re.search(r'action="/admin/import/([^"/]+)"', ready.text).group(1)
        assert imports == [True]  # the check's dry run
        assert (await job_row(job_id))["content"] is not None  # kept until it is imported
        first, second = await asyncio.gather(*(
            import_jobs.confirm(community.id, job_id, ledger=app.state.ledger) for _ in range(2)))
        # The second saw the first's claim (or, on a fast machine, its finished import).
        assert {first.state, second.state} <= {"importing", "done"}
        await import_jobs.settle(job_id)
        assert imports == [True, False]  # one import
        again = await client.post(f"/admin/import/{job_id}", data={"csrf": csrf_of(ready.text)})
        assert again.status_code == 303 and imports == [True, False]  # a late tap: nothing more
        done = await client.get(f"/admin/import/{job_id}")
        assert "新增 30 人" in done.text
    row = await job_row(job_id)
    assert (row["state"], row["content"]) == ("done", None)
    assert len((await people.list_people(community.id, q="居民", limit=100)).items) == 30


async def stop_worker(job_id: str) -> None:
    """What a worker that died leaves behind: a running job no longer written to."""
    await fetch("UPDATE roster_import SET changed_ms = {}, runner = 'a-dead-worker' WHERE id = {}",
                int((time.time() - import_jobs.STALE_AFTER - 1) * 1000), job_id)


@pytest.mark.parametrize("running", ["checking", "importing"])
async def test_a_job_whose_worker_stopped_is_shown_interrupted_and_starts_again(
    app: Litestar, admin: Member, community: CommunityView, imports: list[bool], running: str
) -> None:
    async with browser(app, "en") as client:
        await staff_sign_in(client, admin)
        ready = await upload(client, roster_csv(residents(12)))
        job_id = re.search(r'action="/admin/import/([^"/]+)"', ready.text).group(1)
        await fetch("UPDATE roster_import SET state = {}, stage = 'people' WHERE id = {}", running, job_id)
        fresh = (await client.get(f"/admin/import/{job_id}/status")).json()
        assert fresh["state"] == running  # heard from a moment ago: still running
        await stop_worker(job_id)

        status = (await client.get(f"/admin/import/{job_id}/status")).json()
        assert status["state"] == "failed"
        page = (await client.get(f"/admin/import/{job_id}")).text
        assert 'id="interrupted"' in page and "The server working on this roster stopped" in page
        assert 'action="/admin/import/' + job_id + '/again"' in page
        async with browser(app) as chinese:
            await staff_sign_in(chinese, admin)
            assert "服务器中途停止了" in (await chinese.get(f"/admin/import/{job_id}")).text

        # Started again twice at once (two tabs, two workers): it runs once.
        token = csrf_of(page)
        answers = await asyncio.gather(*(
            client.post(f"/admin/import/{job_id}/again", data={"csrf": token}) for _ in range(2)))
        assert [a.status_code for a in answers] == [303, 303]
        await import_jobs.settle(job_id)
        after = (await client.get(f"/admin/import/{job_id}/status")).json()
    if running == "checking":
        assert imports == [True, True] and after["state"] == "ready"
    else:
        assert imports == [True, False] and after["state"] == "done"
        assert len((await people.list_people(community.id, q="居民", limit=100)).items) == 12


async def test_starting_again_a_job_that_did_not_stop_changes_nothing(
    app: Litestar, admin: Member, imports: list[bool]
) -> None:
    async with browser(app, "en") as client:
        await staff_sign_in(client, admin)
        ready = await upload(client, roster_csv(residents(3)))
        job_id = re.search(r'action="/admin/import/([^"/]+)"', ready.text).group(1)
        again = await client.post(f"/admin/import/{job_id}/again", data={"csrf": csrf_of(ready.text)})
        assert again.status_code == 303
        assert (await client.get(f"/admin/import/{job_id}/status")).json()["state"] == "ready"
        missing = await client.post("/admin/import/no-such-job/again", data={"csrf": csrf_of(ready.text)})
        assert missing.status_code == 404
        forged = await client.post(f"/admin/import/{job_id}/again", data={"csrf": "forged"})
        assert forged.status_code == 403
    assert imports == [True]


async def test_a_worker_shutting_down_marks_its_job_interrupted_at_once(
    app: Litestar, admin: Member, community: CommunityView, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = asyncio.Event()

    async def hangs(*args: object, **kwargs: object) -> schemas.ImportSummary:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("not reached")

    monkeypatch.setattr(roster, "import_roster", hangs)
    job = await import_jobs.check(community.id, admin.id, roster_csv(residents(2)), "台账.csv",
                                  ledger=app.state.ledger)
    await started.wait()
    import_jobs._running[job.id].task.cancel()
    await import_jobs.settle(job.id)
    row = await job_row(job.id)
    assert (row["state"], row["reason"], row["resume"]) == ("failed", "import_interrupted", "checking")
    assert row["content"] is not None  # kept, to start again from
    assert (await import_jobs.get(community.id, job.id)).can_restart


async def test_a_job_of_another_community_is_not_found(
    app: Litestar, admin: Member, community: CommunityView
) -> None:
    job = await import_jobs.check(community.id, admin.id, roster_csv(residents(1)), "台账.csv",
                                  ledger=app.state.ledger)
    await import_jobs.settle(job.id)
    other = await communities.get_or_create(app.state.ledger, f"别的社区-{secrets.token_hex(4)}")
    with pytest.raises(NotFound):
        await import_jobs.get(other.id, job.id)
    async with browser(app) as client:
        await staff_sign_in(client, admin)
        assert (await client.get(f"/admin/import/{job.id}/status")).status_code == 200


async def test_old_jobs_are_forgotten_and_a_community_keeps_its_newest(
    app: Litestar, admin: Member, community: CommunityView
) -> None:
    now = int(time.time() * 1000)
    ids = [f"old-{secrets.token_hex(4)}-{n:02d}" for n in range(import_jobs.MAX_JOBS + 5)]
    for n, job_id in enumerate(ids):
        await fetch(
            "INSERT INTO roster_import (id, community, owner, filename, state, stage, created_ms,"
            " changed_ms) VALUES ({}, {}, {}, 'x.csv', 'done', 'wallets', {}, {})",
            job_id, community.id, admin.id, now - 100_000 + n, now - 100_000 + n,
        )
    stale = f"stale-{secrets.token_hex(4)}"
    await fetch(
        "INSERT INTO roster_import (id, community, owner, filename, state, stage, created_ms,"
        " changed_ms) VALUES ({}, {}, {}, 'x.csv', 'ready', 'people', {}, {})",
        stale, community.id, admin.id, now, now - import_jobs.KEEP_SECONDS * 1000 - 1,
    )
    assert await import_jobs.prune(community.id) >= 6 + 1
    kept = {row["id"] for row in await fetch(
        "SELECT id FROM roster_import WHERE community = {}", community.id)}
    assert stale not in kept
    assert kept == set(ids[-(import_jobs.MAX_JOBS - 1):])  # room for the one being uploaded
