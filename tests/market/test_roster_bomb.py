"""A roster that unpacks to far more than it weighs (a "zip bomb") is refused before it is unpacked.

The bomb: a real .xlsx of 0.2 MB whose one cell holds 200 MB of text (the one tried in issue 14
was 1.5 MB holding 1.5 GB; the rule does not depend on the size past the bound). It is refused
from the zip's directory: the parse allocates almost nothing, and ``/health`` keeps answering
while it is uploaded.
"""

import asyncio
import io
import time
import tracemalloc
import zipfile

import pytest

from market.errors import PayloadTooLarge
from market.people import roster
from tests.market.support import Member
from tests.market.test_import import xlsx_bytes

CELL_BYTES = 200 * 1024 * 1024
#: The sheet up to the bomb's cell: the header row, then the second row's first cell opened.
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    '<row r="1"><c r="A1" t="inlineStr"><is><t>姓名</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>手机号</t></is></c></row>'
    '<row r="2"><c r="A2" t="inlineStr"><is><t>'
)


def bomb() -> bytes:
    """A valid roster whose second row's name is CELL_BYTES of "A", written without holding it."""
    plain = zipfile.ZipFile(io.BytesIO(xlsx_bytes([["张三", "13800000000"]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as packed:
        for item in plain.infolist():
            if not item.filename.startswith("xl/worksheets/sheet"):
                packed.writestr(item, plain.read(item))
                continue
            with packed.open(item.filename, "w", force_zip64=True) as sheet:
                sheet.write(HEAD.encode())
                chunk = b"A" * (1024 * 1024)
                for _ in range(CELL_BYTES // len(chunk)):
                    sheet.write(chunk)
                sheet.write(b"</t></is></c></row></sheetData></worksheet>")
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb_file() -> bytes:
    return bomb()


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
