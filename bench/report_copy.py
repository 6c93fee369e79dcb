"""Copy a generated SQLite database into a fresh, migrated PostgreSQL schema, for ``bench/report_load.py``.

``bench/report_data.py`` writes its large community straight into SQLite (one transaction, hashes as
the ledger computes them); ``python -m bench.report_load --engine postgres`` measures the same data on
PostgreSQL by copying that file, table by table, into a schema that ``market migrate`` has created.

- Every table of the PostgreSQL schema but Piccolo's ``migration`` is copied, with asyncpg's
  ``copy_records_to_table`` (binary COPY), in one transaction with ``session_replication_role =
  replica``: no trigger fires, neither the foreign keys' (so the order of the tables does not
  matter) nor the ledger's append-only ones nor the tallies'. The tallies (``tally_*``) are copied
  as they are: the SQLite file's own triggers filled them, so they agree with the rows they count
  (``market reports check`` confirms it).
- Values are converted by the PostgreSQL column type (``information_schema.columns``): SQLite keeps a
  TIMESTAMPTZ as the text of the UTC datetime (``2026-11-22 02:00:00+00:00``) and a BOOLEAN as 0/1;
  integers, text and bytes go as they are. Any other type stops the copy (a float must not slip into
  a money column).
- Every SERIAL or identity sequence is then set to its column's largest value, so the server's new
  rows do not collide (``ledger_transfer.seq`` included); the community's chain continues from the
  head its ``ledger_chain`` row says.
- Finally ``VACUUM (ANALYZE)`` of the copied tables: statistics and the visibility map of a
  bulk-loaded table are otherwise whatever autovacuum has reached when the measurement starts.
"""

import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg

SKIPPED = {"migration"}
AS_IS = {"smallint", "integer", "bigint", "text", "character varying", "character", "bytea"}


def _timestamptz(value: Any) -> datetime | None:
    if value is None:
        return None
    at = datetime.fromisoformat(value)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    at = datetime.fromisoformat(value)
    return at if at.tzinfo is None else at.astimezone(UTC).replace(tzinfo=None)


def _boolean(value: Any) -> bool | None:
    return None if value is None else bool(value)


CONVERT: dict[str, Callable[[Any], Any]] = {
    "timestamp with time zone": _timestamptz,
    "timestamp without time zone": _timestamp,
    "boolean": _boolean,
}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _rows(source: sqlite3.Connection, table: str, columns: list[str],
          converters: list[Callable[[Any], Any] | None]) -> Iterator[tuple]:
    cursor = source.execute(f"SELECT {', '.join(map(_quote, columns))} FROM {_quote(table)}")
    if not any(converters):
        while batch := cursor.fetchmany(10_000):
            yield from batch
        return
    pairs = list(enumerate(converters))
    while batch := cursor.fetchmany(10_000):
        for row in batch:
            yield tuple(row[i] if convert is None else convert(row[i]) for i, convert in pairs)


async def copy(sqlite_path: str, pg_url: str) -> dict[str, Any]:
    """Copy every table of the SQLite file at ``sqlite_path`` into the migrated, empty schema that
    ``pg_url`` selects (``?search_path=``). Returns the rows copied per table and timings (s)."""
    started = time.perf_counter()
    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    con = await asyncpg.connect(pg_url)
    try:
        schema = await con.fetchval("SELECT current_schema()")
        found = await con.fetch(
            "SELECT c.table_name, c.column_name, c.data_type, c.column_default"
            " FROM information_schema.columns c JOIN information_schema.tables t"
            " ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
            " WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE'"
            " ORDER BY c.table_name, c.ordinal_position", schema)
        tables: dict[str, list[tuple[str, str, str | None]]] = {}
        for row in found:
            if row["table_name"] not in SKIPPED:
                tables.setdefault(row["table_name"], []).append(
                    (row["column_name"], row["data_type"], row["column_default"]))
        in_sqlite = {name for (name,) in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        if missing := sorted(tables.keys() - in_sqlite):
            raise SystemExit(f"report_copy: tables not in the SQLite file: {', '.join(missing)}")
        if extra := sorted(in_sqlite - tables.keys() - SKIPPED):
            raise SystemExit(f"report_copy: SQLite tables not in the PostgreSQL schema: {', '.join(extra)}")
        plans = {}
        for table, columns in tables.items():
            have = {row[1] for row in source.execute(f"PRAGMA table_info({_quote(table)})")}
            if lacking := [name for name, _, _ in columns if name not in have]:
                raise SystemExit(f"report_copy: {table} has no column {', '.join(lacking)} in SQLite")
            converters = []
            for name, data_type, _ in columns:
                if data_type not in AS_IS and data_type not in CONVERT:
                    raise SystemExit(f"report_copy: {table}.{name} is {data_type}: no conversion known")
                converters.append(CONVERT.get(data_type))
            plans[table] = ([name for name, _, _ in columns], converters)

        copied: dict[str, int] = {}
        async with con.transaction():
            await con.execute("SET LOCAL session_replication_role = replica")
            for table, (columns, converters) in plans.items():
                status = await con.copy_records_to_table(
                    table, records=_rows(source, table, columns, converters), columns=columns)
                copied[table] = int(status.split()[-1])
            for table, columns in tables.items():
                for name, _, _ in columns:
                    # A SERIAL column's sequence, or an identity column's (ledger_transfer.seq).
                    if await con.fetchval("SELECT pg_get_serial_sequence($1, $2)", _quote(table), name):
                        await con.execute(
                            f"SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({_quote(name)}), 1),"
                            f" MAX({_quote(name)}) IS NOT NULL) FROM {_quote(table)}",
                            _quote(table), name)
        for table, n in copied.items():
            (expected,) = source.execute(f"SELECT COUNT(*) FROM {_quote(table)}").fetchone()
            if n != expected:
                raise SystemExit(f"report_copy: {table}: copied {n:,} rows of {expected:,}")
        copy_seconds = time.perf_counter() - started
        await con.execute("VACUUM (ANALYZE) " + ", ".join(map(_quote, copied)))
        return {"rows": copied, "copy": copy_seconds, "vacuum": time.perf_counter() - started - copy_seconds}
    finally:
        await con.close()
        source.close()
