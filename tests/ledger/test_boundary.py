"""The ledger behind its own door: others read it through its API and its published views only.

Market's modules name no table of the ledger and import no module of it but ``ledger`` itself
(docs/LEDGER.md, "What market may read"); its migrations are history and may. The views exist
on a new ledger with the columns the document promises, and read what the tables hold.
"""

import ast
import re
import sqlite3
from pathlib import Path

from ledger.schema import VIEWS
from tests.ledger.support import ENGINE

ROOT = Path(__file__).parent.parent.parent
LEDGER_TABLES = set(re.findall(r"CREATE TABLE (\w+)", (ROOT / "ledger" / "schema.py").read_text()))


def _market_modules() -> list[Path]:
    return [
        path for path in sorted((ROOT / "market").rglob("*.py"))
        if "piccolo_migrations" not in path.parts
    ]


def _named_tables(path: Path) -> set[str]:
    """The ledger's tables a module names in its strings (its SQL)."""
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            named |= set(re.findall(r"\b\w+\b", node.value)) & LEDGER_TABLES
    return named


def test_the_ledger_tables_are_known():
    assert {"ledger_account", "ledger_transfer", "ledger_hold", "ledger_chain"} == LEDGER_TABLES
    assert not LEDGER_TABLES & set(VIEWS)


def test_market_reads_the_ledger_through_its_views_only():
    found = {}
    for path in _market_modules():
        name = path.relative_to(ROOT).as_posix()
        if tables := _named_tables(path):
            found[name] = sorted(tables)
    assert found == {}, "read the views of docs/LEDGER.md instead"


def test_market_imports_nothing_of_the_ledger_but_its_api():
    found = []
    for path in _market_modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ledger."):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module}")
            if isinstance(node, ast.Import):
                found += [f"{path.relative_to(ROOT)}:{node.lineno} import {alias.name}"
                          for alias in node.names if alias.name.startswith("ledger.")]
    assert found == [], "import it from ledger (ledger/__init__.py says what is public)"


#: The columns each view promises (docs/LEDGER.md).
TRANSFER = ["seq", "number", "id", "ledger", "kind", "phase", "debit", "credit", "amount", "memo",
            "reference", "pending_id", "reverses", "timeout_ms", "at_us", "debit_after",
            "credit_after", "hash"]
COLUMNS = {
    "ledger_accounts": ["id", "ledger", "kind", "owner", "allow_negative", "balance", "held"],
    "ledger_transfers": TRANSFER,
    "ledger_movements": [*TRANSFER, "debit_ledger", "debit_kind", "debit_owner",
                         "credit_ledger", "credit_kind", "credit_owner"],
    "ledger_chains": ["ledger", "genesis", "origin", "head_number", "head_hash", "head_at_us"],
}


async def _rows(ledger, sql: str) -> tuple[list[str], list[tuple]]:
    """Column names and rows of ``sql`` on the ledger's database."""
    if ENGINE == "sqlite":
        con = sqlite3.connect(ledger.store.path)
        try:
            cursor = con.execute(sql)
            return [c[0] for c in cursor.description], cursor.fetchall()
        finally:
            con.close()
    async with ledger.store.pool.acquire() as con:
        statement = await con.prepare(sql)
        return [a.name for a in statement.get_attributes()], [tuple(r) for r in await statement.fetch()]


async def test_the_views_read_what_the_tables_hold(ledger, books):
    await ledger.transfer("t1", books.issuance, books.wallets[0], "5", "adjustment", ledger=1)
    await ledger.hold("h1", books.wallets[0], books.shop, "2", "redemption", ledger=1)
    for view, columns in COLUMNS.items():
        names, _ = await _rows(ledger, f"SELECT * FROM {view}")
        assert names == columns, view
    _, accounts = await _rows(ledger, "SELECT id, ledger, kind, owner, balance, held FROM ledger_accounts"
                                      " ORDER BY id")
    assert accounts == (await _rows(ledger, "SELECT id, ledger, kind, owner, balance, held"
                                            " FROM ledger_account ORDER BY id"))[1]
    _, moved = await _rows(ledger, "SELECT id, phase, debit_kind, debit_owner, credit_kind, credit_ledger"
                                   " FROM ledger_movements ORDER BY seq")
    assert moved == [("t1", "single", "issuance", "", "wallet", 1),
                     ("h1", "pending", "wallet", "person-0", "shop", 1)]
    _, chains = await _rows(ledger, "SELECT ledger, head_number FROM ledger_chains")
    assert chains == [(1, 2)]


async def test_a_view_costs_nothing(ledger):
    """Both engines inline the views: the same plan as over the tables."""
    explain = "EXPLAIN QUERY PLAN " if ENGINE == "sqlite" else "EXPLAIN (COSTS OFF) "
    pairs = [
        ("SELECT MAX(seq) FROM ledger_transfers", "SELECT MAX(seq) FROM ledger_transfer"),
        ("SELECT id, amount FROM ledger_movements WHERE id = 'x'",
         "SELECT id, amount FROM ledger_transfer t WHERE id = 'x'"),
        ("SELECT balance FROM ledger_accounts WHERE ledger = 1 AND kind = 'wallet'",
         "SELECT balance FROM ledger_account WHERE ledger = 1 AND kind = 'wallet'"),
    ]
    for over_view, over_table in pairs:
        view_plan = [row[-1] for row in (await _rows(ledger, explain + over_view))[1]]
        table_plan = [row[-1] for row in (await _rows(ledger, explain + over_table))[1]]
        assert _without_aliases(view_plan) == _without_aliases(table_plan), over_view


def _without_aliases(plan: list[str]) -> list[str]:
    return [re.sub(r"\b(t|ledger_transfer t)\b", "ledger_transfer", line) for line in plan]

