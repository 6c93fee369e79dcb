"""Drift guard: the hand-written migration and the Piccolo table classes describe the same columns."""

from piccolo.columns import Column
from piccolo.engine import engine_finder
from piccolo.table import Table

from market.tables import TABLES

# PostgreSQL's information_schema spelling → the type Piccolo declares.
_PG_TYPES = {
    "integer": "INTEGER",
    "text": "TEXT",
    "timestamp with time zone": "TIMESTAMPTZ",
    "character varying": "VARCHAR",
    "bigint": "BIGINT",
    "boolean": "BOOLEAN",
}


def _declared(column: Column) -> str:
    """The type Piccolo would declare for the column, with SERIAL as the integer it is."""
    declared = column.column_type.upper()
    return "INTEGER" if declared in ("SERIAL", "BIGSERIAL") and "BIG" not in declared else declared


async def _database_columns(table: type[Table]) -> dict[str, tuple[str, bool]]:
    """name → (type, nullable) as the database has them."""
    engine = engine_finder()
    name = table._meta.tablename
    if engine.engine_type == "sqlite":
        rows = await table.raw(f'PRAGMA table_info("{name}")')
        return {
            row["name"]: (row["type"].upper(), not row["notnull"] and not row["pk"])
            for row in rows
        }
    rows = await table.raw(
        "SELECT column_name, data_type, character_maximum_length, is_nullable "
        "FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = {}",
        name,
    )
    columns = {}
    for row in rows:
        kind = _PG_TYPES.get(row["data_type"], row["data_type"].upper())
        if row["character_maximum_length"] is not None:
            kind = f"{kind}({row['character_maximum_length']})"
        columns[row["column_name"]] = (kind, row["is_nullable"] == "YES")
    return columns


async def test_tables_match_the_database(app: object) -> None:  # app: migrations have run
    for table in TABLES:
        in_database = await _database_columns(table)
        in_code = {
            column._meta.db_column_name: (_declared(column), bool(column._meta.null))
            for column in table._meta.columns
        }
        assert in_database == in_code, table._meta.tablename


async def test_one_phone_per_community_is_enforced_by_the_database(app: object) -> None:
    engine = engine_finder()
    if engine.engine_type == "sqlite":
        rows = await TABLES[1].raw("PRAGMA index_list(\"person\")")
        names = {row["name"] for row in rows if row["unique"]}
    else:
        # From the catalogs, not the pg_indexes view: its pg_get_indexdef may open the indexes of
        # other schemas, and a browser test dropping its schema at that moment failed this query
        # ("could not open relation with OID …") in a CI run.
        rows = await TABLES[1].raw(
            "SELECT i.relname AS name FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
            " JOIN pg_namespace n ON n.oid = t.relnamespace"
            " WHERE n.nspname = current_schema() AND t.relname = 'person' AND x.indisunique"
        )
        names = {row["name"] for row in rows}
    assert "person_phone_community" in names
