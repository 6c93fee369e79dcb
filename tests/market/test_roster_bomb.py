"""A roster that unpacks to far more than it weighs (a "zip bomb") is refused before it is unpacked.

The bomb: a real .xlsx of 0.2 MB whose one cell holds 200 MB of text (the one tried in issue 14
was 1.5 MB holding 1.5 GB; the rule does not depend on the size past the bound). It is refused
from the zip's directory: the parse allocates almost nothing, and ``/health`` keeps answering
while it is uploaded.
"""

import asyncio
import time
import tracemalloc

import pytest

from bench.upload_bomb import bomb
from market.errors import PayloadTooLarge
from market.people import roster
from tests.market.support import Member
from tests.market.test_import import xlsx_bytes

#: The cell's size in MB: past the bound by far, quick to pack.
CELL_MB = 200


@pytest.fixture(scope="module")
def bomb_file() -> bytes:
    return bomb(CELL_MB)


def test_the_bomb_is_refused_from_the_directory(bomb_file: bytes) -> None:
    assert len(bomb_file) < 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge) as refused:
            roster.read_roster(bomb_file, "台账.xlsx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.reason == "file_unpacks_too_large"
    assert peak < 2 * 1024 * 1024, peak  # nothing unpacked: a few kB for the zip's directory


def test_a_roster_within_the_bound_is_read() -> None:
    parsed = roster.read_roster(xlsx_bytes([["张三", "13800000000"]]), "台账.xlsx")
    assert [row.name for row in parsed.rows] == ["张三"]


async def test_the_api_refuses_it_and_health_answers_meanwhile(
    admin: Member, anon, bomb_file: bytes
) -> None:
    waits: list[float] = []
    done = asyncio.Event()

    async def health() -> None:
        while not done.is_set():
            started = time.perf_counter()
            answer = await anon.get("/health")
            assert answer.status_code == 200
            waits.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)

    checker = asyncio.create_task(health())
    try:
        answer = await admin.client.post(
            "/api/people/import", files={"file": ("台账.xlsx", bomb_file)}, timeout=60
        )
    finally:
        done.set()
        await checker
    assert answer.status_code == 413, answer.text
    assert answer.json()["reason"] == "file_unpacks_too_large"
    assert "64 MB" in answer.json()["detail"]
    assert waits, "/health was not asked while the bomb was read"
    print(f"/health during the bomb: {len(waits)} answers, slowest {max(waits) * 1000:.1f} ms")
