"""Exports (台账) of 100,000 and 1,000,000 rows over HTTP from ``market serve``: rows/s and the
server's peak memory against its own baseline, to show the exports stream in bounded memory.

    python -m bench.export_memory [--rows 1000000] [--small 100000]

What it does:

1. A fresh SQLite file: ``market admin create`` makes it (migrated) with a community and its admin;
   then ``--rows`` stock movements of 50 products are written straight into it with one
   ``executemany`` (the cheapest honest way: stock movements need no hash chain). The first
   ``--small`` rows are dated January 2024 (Beijing), the rest February–December 2024.
2. For each format (CSV, .xlsx) and each size (January = ``--small`` rows, the whole of 2024 =
   ``--rows`` rows) a NEW ``market serve`` process (so one export's high-water mark cannot hide
   the next one's): sign in, warm up with an empty export of the same format (imports, first
   queries), read the server's VmRSS (the baseline), then download
   ``GET /api/exports/stock.{csv,xlsx}?from=…&to=…`` and read the server's VmHWM (peak RSS).
3. Checks (not timed): the CSV has exactly the expected lines; the .xlsx's sheet has the expected
   rows (its dimension, and for the small one every row re-read with openpyxl).

Reported: rows/s (rows over the download's wall time, first byte to last), the baseline and peak
RSS in MiB, and peak − baseline; the ratio of that growth between ``--rows`` and ``--small`` rows
(10× the rows: a build-in-memory export would grow ~10×, a streamed one stays flat).
"""

import argparse
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import zipfile
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import openpyxl

from bench.checkin_load import REPO, free_port, market_command
from bench.common import print_machine, table

SECRET_KEY = "export-memory-benchmark-secret-key"
ADMIN_PHONE, ADMIN_PASSWORD = "13800000000", "bench-admin-password"
PRODUCTS = 50
#: Beijing 2024-01-01 00:00 and 2024-02-01 00:00, in UTC.
JANUARY = datetime(2023, 12, 31, 16, 0, tzinfo=UTC)
FEBRUARY = datetime(2024, 1, 31, 16, 0, tzinfo=UTC)
YEAR_END = datetime(2024, 12, 31, 15, 0, tzinfo=UTC)


def environment(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MARKET_BASE_URL")}
    env |= {"DATABASE_URL": database_url, "MARKET_SECRET_KEY": SECRET_KEY, "LANG": "en_US.UTF-8"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def reset_peak(pid: int) -> None:
    """Reset the process's VmHWM to its current RSS (Linux: ``5`` into clear_refs), so the peak
    read afterwards is this export's, not start-up's (migrations, imports)."""
    with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")


class Sampler:
    """VmRSS every 50 ms in a thread: a cross-check of VmHWM."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, status_kib(self.pid, "VmRSS"))
            time.sleep(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def fill(path: Path, rows: int, small: int) -> None:
    """``rows`` stock movements: ``small`` in January 2024, the rest spread over February–December."""
    con = sqlite3.connect(path)
    community = con.execute("SELECT id FROM community ORDER BY id LIMIT 1").fetchone()[0]
    con.executemany(
        "INSERT INTO product (community, name, category, price, stock, active, has_photo, created_at)"
        " VALUES (?, ?, '', 100, 0, 1, 0, ?)",
        [(community, f"商品{n:02d}", str(JANUARY)) for n in range(PRODUCTS)],
    )
    products = [row[0] for row in con.execute("SELECT id FROM product ORDER BY id")]
    rng = random.Random(7)
    stock = dict.fromkeys(products, 0)

    def movements():
        for n in range(rows):
            if n < small:
                at = JANUARY + (FEBRUARY - JANUARY) * n / small
            else:
                at = FEBRUARY + (YEAR_END - FEBRUARY) * (n - small) / max(1, rows - small)
            product = products[n % PRODUCTS]
            delta = rng.randint(1, 20) if stock[product] < 20 else -rng.randint(1, 20)
            stock[product] += delta
            yield (community, product, delta, stock[product], "donation" if delta > 0 else "adjustment",
                   "盘点" if delta < 0 else None, "爱心商户" if delta > 0 else None, None,
                   str(at.replace(microsecond=0)))

    con.executemany(
        "INSERT INTO stock_movement (community, product, delta, stock_after, kind, reason, donor, ref, at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", movements(),
    )
    con.executemany("UPDATE product SET stock = ? WHERE id = ?", [(s, p) for p, s in stock.items()])
    con.commit()
    con.close()


@contextmanager
def serve(database_url: str, workdir: Path):
    port = free_port()
    log = workdir / "server.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [*market_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=environment(database_url), cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"market serve exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("market serve did not start in 60 s")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def measure(database_url: str, workdir: Path, fmt: str, period: dict[str, str], rows: int) -> dict:
    target = workdir / f"export.{fmt}"
    with serve(database_url, workdir) as (url, pid), httpx.Client(base_url=url, timeout=600) as client:
        token = client.post("/api/session", json={"login": ADMIN_PHONE, "secret": ADMIN_PASSWORD}
                            ).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        warm = client.get(f"/api/exports/stock.{fmt}", params={"from": "2023-01-01", "to": "2023-01-01"})
        assert warm.status_code == 200, warm.text
        baseline = status_kib(pid, "VmRSS")
        reset_peak(pid)
        sampler = Sampler(pid)
        started = time.perf_counter()
        size = 0
        with client.stream("GET", f"/api/exports/stock.{fmt}", params=period) as response, \
                open(target, "wb") as out:
            assert response.status_code == 200, response.read()
            for chunk in response.iter_bytes(256 * 1024):
                size += len(chunk)
                out.write(chunk)
        seconds = time.perf_counter() - started
        peak = status_kib(pid, "VmHWM")
        sampled = sampler.stop()
    check(target, fmt, rows)
    target.unlink()
    return {"format": fmt, "rows": rows, "seconds": seconds, "rows_s": rows / seconds,
            "mib": size / 2**20, "baseline": baseline / 1024, "peak": peak / 1024,
            "growth": (peak - baseline) / 1024, "sampled": sampled / 1024}


def check(path: Path, fmt: str, rows: int) -> None:
    if fmt == "csv":
        with open(path, "rb") as data:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: data.read(1 << 20), b""))
        assert lines == rows + 1, f"CSV has {lines - 1} rows, expected {rows}"
        return
    with zipfile.ZipFile(path) as archive, archive.open("xl/worksheets/sheet1.xml") as sheet_xml:
        counted, tail = 0, b""
        for chunk in iter(lambda: sheet_xml.read(1 << 20), b""):
            data = tail + chunk
            counted += data.count(b"</row>")
            tail = data[-5:]  # a tag cut in two is counted once, in the next chunk
    assert counted == rows + 1, f"xlsx has {counted - 1} rows, expected {rows}"
    if rows <= 200_000:
        book = openpyxl.load_workbook(path, read_only=True)
        read = sum(1 for _ in book.worksheets[0].iter_rows(values_only=True))
        book.close()
        assert read == rows + 1, f"openpyxl reads {read - 1} rows, expected {rows}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    args = parser.parse_args()
    print_machine()
    workdir = Path(tempfile.mkdtemp(prefix="export-bench-"))
    try:
        database = workdir / "market.db"
        database_url = f"sqlite:///{database}"
        subprocess.run(
            [*market_command(), "admin", "create", "--name", "管理员", "--phone", ADMIN_PHONE,
             "--password", ADMIN_PASSWORD, "--community", "幸福里社区"],
            env=environment(database_url), cwd=workdir, check=True, capture_output=True,
        )
        started = time.perf_counter()
        fill(database, args.rows, args.small)
        print(f"generated {args.rows:,} stock movements in {time.perf_counter() - started:.1f} s "
              f"({database.stat().st_size / 2**20:.0f} MiB file)")
        periods = [({"from": "2024-01-01", "to": "2024-01-31"}, args.small),
                   ({"from": "2024-01-01", "to": "2024-12-31"}, args.rows)]
        results = []
        for fmt in ("csv", "xlsx"):
            for period, rows in periods:
                result = measure(database_url, workdir, fmt, period, rows)
                results.append(result)
                print(f"  {fmt} {rows:,} rows: {result['rows_s']:,.0f} rows/s, "
                      f"peak RSS {result['peak']:.0f} MiB (baseline {result['baseline']:.0f})", flush=True)
        print(table(
            ["format", "rows", "seconds", "rows/s", "file MiB", "RSS before MiB", "peak RSS MiB",
             "peak − before MiB", "max sampled RSS MiB"],
            [[r["format"], f"{r['rows']:,}", f"{r['seconds']:.1f}", f"{r['rows_s']:,.0f}", f"{r['mib']:.1f}",
              f"{r['baseline']:.0f}", f"{r['peak']:.0f}", f"{r['growth']:.1f}", f"{r['sampled']:.0f}"]
             for r in results],
        ))
        for fmt in ("csv", "xlsx"):
            small, large = [r for r in results if r["format"] == fmt]
            ratio = large["growth"] / max(small["growth"], 0.1)
            print(f"{fmt}: {large['rows'] // small['rows']}× the rows → peak RSS growth ×{ratio:.2f} "
                  f"({small['growth']:.1f} → {large['growth']:.1f} MiB over the baseline)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
