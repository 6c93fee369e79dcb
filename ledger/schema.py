"""The ledger's tables, per engine, with the invariants the database itself enforces.

Amounts and balances are BIGINT hundredths. CHECK constraints keep wallets from
going below zero even if the writer had a bug; triggers refuse every UPDATE and
DELETE of a transfer (and every DELETE of an account), so the log is append-only
whatever code runs against it.
"""

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


def statements(engine: str) -> list[str]:
    """The DDL that creates the ledger on ``engine`` ("sqlite" or "postgres"), in order."""
    if engine == "sqlite":
        tables = _TABLES.format(pk="INTEGER PRIMARY KEY AUTOINCREMENT", seq="INTEGER")
        # Each trigger body contains a ';', so split on the END that closes it.
        triggers = [t.strip() + " END" for t in _SQLITE_TRIGGERS.split("END;") if t.strip()]
        return _split(tables) + triggers
    if engine == "postgres":
        tables = _TABLES.format(pk="BIGSERIAL PRIMARY KEY", seq="BIGINT")
        return _split(tables) + list(_POSTGRES_TRIGGERS)
    raise ValueError(f"unknown engine {engine!r}")
