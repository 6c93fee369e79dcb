"""What a stay earns and how it reaches the wallet: the ids of its two credits, which stays'
points count, and the wallet a scan or a review pays into (inside its unit)."""

from dataclasses import dataclass
from datetime import datetime

from ledger import Ledger
from market.points.lots import Credit, Earned, earn_steps
from market.points.policy import Rules
from market.writes import Steps


def transfer_ids(stay_id: int) -> tuple[str, str]:
    """The ledger ids of a stay's check-in and check-out credits: the ledger makes each once."""
    return f"checkin:{stay_id}:in", f"checkin:{stay_id}:out"


def approved(approval: str | None) -> bool:
    """May the stay's points be credited: it needs no approval, or has it? (Not while pending,
    never once rejected.)"""
    return approval in (None, "approved")


def earned(stay: dict) -> int:
    """Hundredths of points the stay credited: its check-in and check-out, unless it awaits
    approval, was rejected or its activity cancelled (the credits were reversed)."""
    if stay["status"] == "cancelled" or not approved(stay["approval"]):
        return 0
    return stay["points_in"] + (stay["points_out"] or 0)


@dataclass(frozen=True)
class Wallet:
    """Where a stay's points come from and go to: the ledger joins the scan's (or review's) unit."""

    ledger: Ledger
    community_id: int
    issuance: int
    wallet: int
    person: int

    def credit(
        self, stay: dict, kind: str, hundredths: int, memo: str, at: datetime, rules: Rules
    ) -> Steps[Earned]:
        """The stay's earned points, capped, held for 公示 or credited with their lot
        (``market.points.lots.earn_steps``); the unit took ``earning_rules_steps`` first."""
        transfer_id = transfer_ids(stay["id"])[0 if kind == "checkin" else 1]
        return earn_steps(self.ledger, self.community_id, self.issuance, [
            Credit(transfer_id, self.person, self.wallet, hundredths, kind, memo,
                   activity=stay["activity"], stay=stay["id"])
        ], at, rules=rules, locked=True)
