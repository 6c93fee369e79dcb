"""Transparency checkpoints: each community's signed daily snapshot of the ledger's head and totals.

Hand-written DDL per engine, like the earlier migrations. A checkpoint is a
public promise: once signed and published it must never change, so, as for the
ledger's transfers and the stock movements, triggers refuse every UPDATE and
DELETE. One checkpoint per community per Beijing day (unique index); each names
the hash of the one before it, so the community's checkpoints form a chain too.
Amounts are integer hundredths; ``at_us`` is microseconds since the epoch (UTC),
as the ledger keeps its own times, so the signed text is rebuilt exactly.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T09:00:00"
VERSION = "1.38.0"
DESCRIPTION = "transparency: signed daily checkpoints"

_TABLES = """
CREATE TABLE transparency_checkpoint (
    id {pk},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    day VARCHAR(10) NOT NULL,
    at_us {bigint} NOT NULL,
    head_seq {bigint} NOT NULL CHECK (head_seq >= 0),
    head_hash VARCHAR(64) NOT NULL,
    issued {bigint} NOT NULL,
    redeemed {bigint} NOT NULL,
    outstanding {bigint} NOT NULL,
    expired {bigint} NOT NULL,
    previous VARCHAR(64) NOT NULL,
    hash VARCHAR(64) NOT NULL UNIQUE,
    signature VARCHAR(128) NOT NULL,
    public_key VARCHAR(64) NOT NULL
);
CREATE UNIQUE INDEX transparency_checkpoint_day ON transparency_checkpoint (community, day)
"""

_SQLITE_TRIGGERS = [
    """CREATE TRIGGER transparency_checkpoint_no_update BEFORE UPDATE ON transparency_checkpoint
    BEGIN SELECT RAISE(ABORT, 'transparency_checkpoint is append-only'); END""",
    """CREATE TRIGGER transparency_checkpoint_no_delete BEFORE DELETE ON transparency_checkpoint
    BEGIN SELECT RAISE(ABORT, 'transparency_checkpoint is append-only'); END""",
]

_POSTGRES_TRIGGERS = [
    """CREATE FUNCTION transparency_checkpoint_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'restrict_violation';
    END $$""",
    """CREATE TRIGGER transparency_checkpoint_append_only
    BEFORE UPDATE OR DELETE ON transparency_checkpoint
    FOR EACH ROW EXECUTE FUNCTION transparency_checkpoint_refuse_change()""",
    """CREATE TRIGGER transparency_checkpoint_no_truncate BEFORE TRUNCATE ON transparency_checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION transparency_checkpoint_refuse_change()""",
]

_PRIMARY_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "SERIAL PRIMARY KEY"}
_BIGINT = {"sqlite": "INTEGER", "postgres": "BIGINT"}
_TRIGGERS = {"sqlite": _SQLITE_TRIGGERS, "postgres": _POSTGRES_TRIGGERS}


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(pk=_PRIMARY_KEY[engine_type], bigint=_BIGINT[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()] + _TRIGGERS[engine_type]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def create_checkpoints() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(create_checkpoints)
    return manager
