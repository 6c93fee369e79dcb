"""SQL text shared by the stores; placeholders are written ``{p}`` and filled per engine."""

from ledger.model import ROW_COLUMNS

COLUMNS = ", ".join(ROW_COLUMNS)
ACCOUNT_COLUMNS = "id, ledger, kind, owner, allow_negative, balance, held"
CHAIN_COLUMNS = "ledger, genesis, origin, head_seq, head_hash, head_at_us"

# Newest first from both of the account's indexes, merged: cost grows with the
# page size, not with the length of the account's history.
HISTORY = f"""
SELECT {COLUMNS} FROM (
    SELECT * FROM (SELECT {COLUMNS} FROM ledger_transfer
                   WHERE debit = {{p1}} AND seq < {{p2}} ORDER BY seq DESC LIMIT {{p3}}) AS d
    UNION ALL
    SELECT * FROM (SELECT {COLUMNS} FROM ledger_transfer
                   WHERE credit = {{p1}} AND seq < {{p2}} ORDER BY seq DESC LIMIT {{p3}}) AS c
) AS h ORDER BY seq DESC LIMIT {{p3}}
"""

#: What moved into ({p1} = the account as credit) and out of an account in a time range
#: [{p2}, {p3}) of whole microseconds, per kind of transfer: the posted movements (single or
#: post), and how many.
FLOWS = """
SELECT kind,
       COALESCE(SUM(CASE WHEN credit = {p1} THEN amount ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN debit = {p1} THEN amount ELSE 0 END), 0),
       COUNT(*)
FROM ledger_transfer
WHERE (debit = {p1} OR credit = {p1}) AND phase IN ('single', 'post') AND at_us >= {p2} AND at_us < {p3}
GROUP BY kind
"""
