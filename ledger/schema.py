"""The ledger's tables, per engine, with the invariants the database itself enforces.

Amounts and balances are BIGINT hundredths. CHECK constraints keep wallets from
going below zero even if the writer had a bug; triggers refuse every UPDATE and
DELETE of a transfer (and every DELETE of an account or chain, and any change of a
chain's origin), so the log is append-only whatever code runs against it.

The schema grew in steps, kept apart because databases made by the first are
upgraded in place: ``statements_v1`` (one chain for the installation),
``upgrade_to_chains`` (a chain per ledger, ``ledger.chain``), ``allow_clearing``
(clearing accounts between ledgers) and ``publish_views`` (what others may read).
``install_steps`` is all of them.
"""

from collections.abc import Generator
from typing import Any

from ledger.chain import genesis_of, new_origin, upgraded_origin

_TABLES = """
CREATE TABLE ledger_account (
    id {pk},
    ledger BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('issuance', 'wallet', 'shop', 'expiry')),
    owner TEXT NOT NULL DEFAULT '',
    allow_negative BOOLEAN NOT NULL DEFAULT FALSE,
    balance BIGINT NOT NULL DEFAULT 0,
    held BIGINT NOT NULL DEFAULT 0,
    CHECK (held >= 0),
    CHECK (allow_negative OR balance - held >= 0),
    UNIQUE (ledger, kind, owner)
);
CREATE TABLE ledger_transfer (
    seq {seq} PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ledger BIGINT NOT NULL,
    kind TEXT NOT NULL,
    phase TEXT NOT NULL CHECK (phase IN ('single', 'pending', 'post', 'void')),
    debit BIGINT NOT NULL REFERENCES ledger_account (id),
    credit BIGINT NOT NULL REFERENCES ledger_account (id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    memo TEXT NOT NULL,
    reference TEXT,
    pending_id TEXT,
    reverses TEXT,
    timeout_ms BIGINT,
    at_us BIGINT NOT NULL,
    debit_after BIGINT NOT NULL,
    credit_after BIGINT NOT NULL,
    hash TEXT NOT NULL,
    CHECK (debit <> credit)
);
CREATE INDEX ledger_transfer_debit ON ledger_transfer (debit, seq);
CREATE INDEX ledger_transfer_credit ON ledger_transfer (credit, seq);
CREATE UNIQUE INDEX ledger_transfer_resolves_once ON ledger_transfer (pending_id)
    WHERE pending_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_transfer_reversed_once ON ledger_transfer (reverses)
    WHERE reverses IS NOT NULL;
CREATE TABLE ledger_hold (
    id TEXT PRIMARY KEY REFERENCES ledger_transfer (id),
    expires_at_us BIGINT
);
CREATE INDEX ledger_hold_expiry ON ledger_hold (expires_at_us);
"""

_SQLITE_TRIGGERS = """
CREATE TRIGGER ledger_transfer_no_update BEFORE UPDATE ON ledger_transfer
BEGIN SELECT RAISE(ABORT, 'ledger_transfer is append-only'); END;
CREATE TRIGGER ledger_transfer_no_delete BEFORE DELETE ON ledger_transfer
BEGIN SELECT RAISE(ABORT, 'ledger_transfer is append-only'); END;
CREATE TRIGGER ledger_account_no_delete BEFORE DELETE ON ledger_account
BEGIN SELECT RAISE(ABORT, 'ledger accounts are never deleted'); END;
"""

_POSTGRES_TRIGGERS = [
    """CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'restrict_violation';
    END $$""",
    """CREATE TRIGGER ledger_transfer_append_only BEFORE UPDATE OR DELETE ON ledger_transfer
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()""",
    """CREATE TRIGGER ledger_transfer_no_truncate BEFORE TRUNCATE ON ledger_transfer
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()""",
    """CREATE TRIGGER ledger_account_no_delete BEFORE DELETE ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()""",
    """CREATE TRIGGER ledger_account_no_truncate BEFORE TRUNCATE ON ledger_account
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()""",
]


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";\n") if s.strip()]


def statements_v1(engine: str) -> list[str]:
    """The DDL of the first schema (one chain for the whole installation), as the first
    migration ran it: frozen, so that it still builds what later steps upgrade."""
    if engine == "sqlite":
        tables = _TABLES.format(pk="INTEGER PRIMARY KEY AUTOINCREMENT", seq="INTEGER")
        # Each trigger body contains a ';', so split on the END that closes it.
        triggers = [t.strip() + " END" for t in _SQLITE_TRIGGERS.split("END;") if t.strip()]
        return _split(tables) + triggers
    if engine == "postgres":
        tables = _TABLES.format(pk="BIGSERIAL PRIMARY KEY", seq="BIGINT")
        return _split(tables) + list(_POSTGRES_TRIGGERS)
    raise ValueError(f"unknown engine {engine!r}")


# -- a chain per ledger ---------------------------------------------------------------

_CHAINS = """
CREATE TABLE ledger_chain (
    ledger BIGINT PRIMARY KEY,
    genesis TEXT NOT NULL,
    origin TEXT NOT NULL,
    head_seq BIGINT NOT NULL DEFAULT 0 CHECK (head_seq >= 0),
    head_hash TEXT NOT NULL,
    head_at_us BIGINT NOT NULL DEFAULT 0
);
ALTER TABLE ledger_transfer ADD COLUMN number BIGINT;
CREATE UNIQUE INDEX ledger_transfer_chain ON ledger_transfer (ledger, number) WHERE number IS NOT NULL;
ALTER TABLE ledger_hold ADD COLUMN ledger BIGINT;
UPDATE ledger_hold SET ledger = (SELECT t.ledger FROM ledger_transfer t WHERE t.id = ledger_hold.id);
CREATE INDEX ledger_hold_due ON ledger_hold (ledger, expires_at_us)
"""

_SQLITE_CHAIN_TRIGGERS = [
    """CREATE TRIGGER ledger_chain_no_delete BEFORE DELETE ON ledger_chain
    BEGIN SELECT RAISE(ABORT, 'ledger chains are never deleted'); END""",
    """CREATE TRIGGER ledger_chain_origin_fixed BEFORE UPDATE OF ledger, genesis, origin ON ledger_chain
    WHEN OLD.ledger IS NOT NEW.ledger OR OLD.genesis IS NOT NEW.genesis OR OLD.origin IS NOT NEW.origin
    BEGIN SELECT RAISE(ABORT, 'a chain keeps its origin'); END""",
]

_POSTGRES_CHAIN_TRIGGERS = [
    # Rows written from now on take their key from the table; the chain's own place is ``number``.
    "ALTER TABLE ledger_transfer ALTER COLUMN seq ADD GENERATED BY DEFAULT AS IDENTITY",
    "SELECT setval(pg_get_serial_sequence('ledger_transfer', 'seq'),"
    " COALESCE((SELECT MAX(seq) FROM ledger_transfer), 0) + 1, false)",
    """CREATE TRIGGER ledger_chain_no_delete BEFORE DELETE ON ledger_chain
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()""",
    """CREATE TRIGGER ledger_chain_no_truncate BEFORE TRUNCATE ON ledger_chain
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()""",
    """CREATE TRIGGER ledger_chain_origin_fixed BEFORE UPDATE ON ledger_chain
    FOR EACH ROW WHEN (OLD.ledger IS DISTINCT FROM NEW.ledger OR OLD.genesis IS DISTINCT FROM NEW.genesis
                       OR OLD.origin IS DISTINCT FROM NEW.origin)
    EXECUTE FUNCTION ledger_refuse_change()""",
]

#: A step of ``upgrade_to_chains``: ("ddl", sql) runs a statement; ("rows", sql) returns its
#: rows as tuples; ("insert_chain", ledger, genesis, origin, head_at_us) writes a chain row.
UpgradeStep = tuple[Any, ...]


def upgrade_to_chains(engine: str) -> Generator[UpgradeStep, Any, None]:
    """From one chain for the installation to one per ledger, in place.

    Every transfer written so far stays where it is, in what is from now on the *legacy*
    chain, checkable as before. Each ledger's new chain starts from a genesis that names
    the legacy chain's head and the ledger's balances and open holds at this moment, so
    it commits to everything before it (``ledger.chain.upgraded_origin``).
    """
    if engine not in ("sqlite", "postgres"):
        raise ValueError(f"unknown engine {engine!r}")
    for statement in _split(_CHAINS):
        yield ("ddl", statement)
    triggers = _SQLITE_CHAIN_TRIGGERS if engine == "sqlite" else _POSTGRES_CHAIN_TRIGGERS
    for statement in triggers:
        yield ("ddl", statement)
    head = yield ("rows", "SELECT seq, hash, at_us FROM ledger_transfer ORDER BY seq DESC LIMIT 1")
    ledgers = yield ("rows", "SELECT DISTINCT ledger FROM ledger_account ORDER BY ledger")
    accounts = yield ("rows", "SELECT ledger, id, balance, held FROM ledger_account")
    holds = yield ("rows", "SELECT t.ledger, h.id, t.debit, t.credit, t.amount"
                           " FROM ledger_hold h JOIN ledger_transfer t ON t.id = h.id")
    for (ledger,) in ledgers:
        if not head:
            origin, at_us = new_origin(ledger), 0
        else:
            seq, hash_, at_us = head[0]
            origin = upgraded_origin(
                ledger, seq, hash_,
                {a: (balance, held) for lg, a, balance, held in accounts if lg == ledger},
                {h: (debit, credit, amount) for lg, h, debit, credit, amount in holds if lg == ledger},
            )
        yield ("insert_chain", ledger, genesis_of(origin), origin, at_us)


_KINDS_V1 = "CHECK (kind IN ('issuance', 'wallet', 'shop', 'expiry'))"
_KINDS_V3 = "CHECK (kind IN ('issuance', 'wallet', 'shop', 'expiry', 'clearing'))"


def allow_clearing(engine: str) -> Generator[UpgradeStep, Any, None]:
    """One more kind of account: ``clearing``, through which points cross between two ledgers
    (``ledger.writer.crossing``). Only the CHECK on ``ledger_account.kind`` changes.

    SQLite cannot alter a constraint. Its documentation (ALTER TABLE, "making other kinds of
    table schema changes") gives the way for a change that every stored row already satisfies:
    edit the table's text in ``sqlite_schema`` and bump ``schema_version`` in one transaction."""
    if engine == "postgres":
        yield ("ddl", "ALTER TABLE ledger_account DROP CONSTRAINT ledger_account_kind_check")
        yield ("ddl", f"ALTER TABLE ledger_account ADD CONSTRAINT ledger_account_kind_check {_KINDS_V3}")
        return
    if engine != "sqlite":
        raise ValueError(f"unknown engine {engine!r}")
    ((version,),) = yield ("rows", "PRAGMA schema_version")
    yield ("ddl", "PRAGMA writable_schema = ON")
    yield ("ddl", f"UPDATE sqlite_master SET sql = replace(sql, \"{_KINDS_V1}\", \"{_KINDS_V3}\")"
                  " WHERE type = 'table' AND name = 'ledger_account'")
    yield ("ddl", f"PRAGMA schema_version = {int(version) + 1}")
    yield ("ddl", "PRAGMA writable_schema = OFF")


_TRANSFER = ("seq, number, id, ledger, kind, phase, debit, credit, amount, memo, reference, pending_id,"
             " reverses, timeout_ms, at_us, debit_after, credit_after, hash")

#: What others may read, by name; the tables behind them are the ledger's alone. Frozen like the
#: steps above: a change is a new step and a new migration. Each view is a plain SELECT, which
#: both engines inline into the query that reads it (no extra cost).
VIEWS = {
    "ledger_accounts": "SELECT id, ledger, kind, owner, allow_negative, balance, held FROM ledger_account",
    "ledger_transfers": f"SELECT {_TRANSFER} FROM ledger_transfer",
    # Each side's account beside the transfer. LEFT JOINs on the accounts' key (every transfer
    # has both): a query that reads no column of a side lets both engines leave that join out.
    "ledger_movements": (
        "SELECT " + ", ".join(f"t.{c}" for c in _TRANSFER.split(", "))
        + ", d.ledger AS debit_ledger, d.kind AS debit_kind, d.owner AS debit_owner,"
        " c.ledger AS credit_ledger, c.kind AS credit_kind, c.owner AS credit_owner"
        " FROM ledger_transfer t LEFT JOIN ledger_account d ON d.id = t.debit"
        " LEFT JOIN ledger_account c ON c.id = t.credit"
    ),
    "ledger_chains": ("SELECT ledger, genesis, origin, head_seq AS head_number, head_hash, head_at_us"
                      " FROM ledger_chain"),
}


def publish_views(engine: str) -> Generator[UpgradeStep, Any, None]:
    """The views others read the ledger through (``VIEWS``; docs/LEDGER.md, "What market may
    read"), the same on both engines."""
    if engine not in ("sqlite", "postgres"):
        raise ValueError(f"unknown engine {engine!r}")
    for name, select in VIEWS.items():
        yield ("ddl", f"CREATE VIEW {name} AS {select}")


def install_steps(engine: str) -> Generator[UpgradeStep, Any, None]:
    """Everything, on an empty database: the first schema, then its upgrades."""
    for statement in statements_v1(engine):
        yield ("ddl", statement)
    yield from upgrade_to_chains(engine)
    yield from allow_clearing(engine)
    yield from publish_views(engine)


INSERT_CHAIN = (
    "INSERT INTO ledger_chain (ledger, genesis, origin, head_seq, head_hash, head_at_us)"
    " VALUES ({p1}, {p2}, {p3}, 0, {p2}, {p4}) ON CONFLICT (ledger) DO NOTHING"
)
