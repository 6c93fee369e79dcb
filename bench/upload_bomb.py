"""A roster "zip bomb" against ``market serve``: how fast it is refused, what it costs the server's
memory, and how ``/health`` answers meanwhile — against ``/health`` on the quiet server, same run.

    python -m bench.upload_bomb [--cell-mb 1536] [--health 200] [--workers 1] [--uploads 1]

The bomb is issue 14's: a real .xlsx whose one cell holds ``--cell-mb`` MB of text (1,536 MB packs
to about 1.5 MB; ``--cell-mb 63`` is the largest file read at all, just under
``roster.MAX_UNPACKED_BYTES``). One SQLite server (``--workers``); the admin uploads the bomb to
``POST /api/people/import`` (``--uploads`` at once) while another client asks ``/health`` every
10 ms. Reported: the uploads' answers and times, the server's resident memory (VmRSS of uvicorn and
its workers together) before, at its highest while the bombs were read (sampled every 10 ms) and
after, and ``/health`` latency during the uploads against the quiet server's.
"""

import argparse
import asyncio
import io
import tempfile
import time
import zipfile
from pathlib import Path

import httpx

from bench.checkin_load import ADMIN_PASSWORD, ADMIN_PHONE, market_serve, sign_in
from bench.common import percentile, print_machine, table

#: The sheet up to the bomb's cell: the header row, then the second row's first cell opened.
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    '<row r="1"><c r="A1" t="inlineStr"><is><t>姓名</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>手机号</t></is></c></row>'
    '<row r="2"><c r="A2" t="inlineStr"><is><t>'
)
TAIL = "</t></is></c></row></sheetData></worksheet>"
PARTS = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
    'openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/'
    'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats'
    '.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships"><sheets><sheet name="台账" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://'
    'schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '</Relationships>',
}


def bomb(cell_mb: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as packed:
        for name, text in PARTS.items():
            packed.writestr(name, text)
        with packed.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(HEAD.encode())
            chunk = b"A" * 2**20
            for _ in range(cell_mb):
                sheet.write(chunk)
            sheet.write(TAIL.encode())
    return out.getvalue()


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants (uvicorn's workers), in MB."""
    total, pids = 0.0, [pid]
    while pids:
        current = pids.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pids += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue  # gone meanwhile
    return total


async def health_latencies(
    client: httpx.AsyncClient, stop: asyncio.Event, n: int | None = None
) -> list[float]:
    waits: list[float] = []
    while not stop.is_set() and (n is None or len(waits) < n):
        started = time.perf_counter()
        answer = await client.get("/health")
        waits.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
        await asyncio.sleep(0.01)
    return waits


async def run(url: str, pid: int, data: bytes, quiet_n: int, uploads: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        quiet = await health_latencies(client, asyncio.Event(), quiet_n)
        token = await sign_in(client, ADMIN_PHONE, ADMIN_PASSWORD)
        before = rss_mb(pid)
        peak = before
        stop = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, rss_mb(pid))
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(sample())
        during = asyncio.create_task(health_latencies(client, stop))
        async def upload() -> tuple[httpx.Response, float]:
            started = time.perf_counter()
            # A connection of its own each, so that uvicorn may hand them to different workers.
            async with httpx.AsyncClient(base_url=url, timeout=120) as own:
                answer = await own.post("/api/people/import", files={"file": ("台账.xlsx", data)},
                                        headers={"Authorization": f"Bearer {token}"})
            return answer, time.perf_counter() - started

        answers = await asyncio.gather(*(upload() for _ in range(uploads)))
        await asyncio.sleep(0.2)
        stop.set()
        waits = await during
        await sampler
        after = rss_mb(pid)
    for answer, took in answers:
        print(f"upload: {len(data) / 2**20:.2f} MB file -> {answer.status_code} "
              f"{answer.json().get('reason')} in {took * 1000:.0f} ms")
    print(table(["", "value"], [
        ["server RSS before (MB)", f"{before:.0f}"],
        ["server RSS highest while reading (MB)", f"{peak:.0f}"],
        ["server RSS after (MB)", f"{after:.0f}"],
        ["/health quiet: p50 / max (ms)", f"{percentile(quiet, 50):.1f} / {max(quiet):.1f}"],
        ["/health during the upload: n, p50 / max (ms)",
         f"{len(waits)}, {percentile(waits, 50):.1f} / {max(waits):.1f}"],
        ["max during ÷ max quiet", f"{max(waits) / max(quiet):.2f}"],
    ]))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.upload_bomb", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cell-mb", type=int, default=1536)
    parser.add_argument("--health", type=int, default=200, help="quiet /health requests first")
    parser.add_argument("--workers", type=int, default=1, help="market serve --workers")
    parser.add_argument("--uploads", type=int, default=1, help="bombs sent at once")
    args = parser.parse_args()
    print_machine()
    started = time.perf_counter()
    data = bomb(args.cell_mb)
    print(f"bomb: one cell of {args.cell_mb} MB packed to {len(data) / 2**20:.2f} MB "
          f"in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/market.db"
        with market_serve(url, Path(directory), workers=args.workers) as server:
            asyncio.run(run(server.url, server.pid, data, args.health, args.uploads))


if __name__ == "__main__":
    main()
