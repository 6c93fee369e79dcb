"""Shared pieces of the benchmarks: fresh databases, the machine, percentiles, tables."""

import os
import platform
import shutil
import sqlite3
import statistics
import tempfile
import uuid
from collections.abc import Sequence
from contextlib import asynccontextmanager

import asyncpg

from ledger import Ledger

PG_URL = os.environ.get("MARKET_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


async def pg_version(url: str = PG_URL) -> str:
    con = await asyncpg.connect(url)
    try:
        return str(await con.fetchval("SHOW server_version"))
    finally:
        await con.close()


def print_machine(extra: dict[str, str] | None = None) -> None:
    info = machine() | (extra or {})
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))


# -- fresh databases -------------------------------------------------------------


@asynccontextmanager
async def sqlite_dir():
    """A temporary directory for SQLite files, removed afterwards."""
    directory = tempfile.mkdtemp(prefix="ledger-bench-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@asynccontextmanager
async def pg_schema(base_url: str = PG_URL, keep: bool = False):
    """A new, empty PostgreSQL schema; yields (schema name, URL selecting it); dropped afterwards
    unless ``keep``."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    con = await asyncpg.connect(base_url)
    try:
        await con.execute(f"CREATE SCHEMA {schema}")
    finally:
        await con.close()
    joiner = "&" if "?" in base_url else "?"
    try:
        yield schema, f"{base_url}{joiner}search_path={schema}"
    finally:
        if not keep:
            con = await asyncpg.connect(base_url)
            try:
                await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            finally:
                await con.close()


async def installed_ledger(url: str, **options) -> Ledger:
    """Install the ledger's tables at ``url``, then start a ledger on it."""
    installer = Ledger.from_url(url)
    await installer.store.open()
    try:
        await installer.store.install()
    finally:
        await installer.store.close()
    ledger = Ledger.from_url(url, **options)
    await ledger.start()
    return ledger


# -- numbers -----------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of unsorted values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table, right-aligned numbers."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
