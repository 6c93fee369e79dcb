"""Lots: what each credit a person earned was worth and when it expires — and the rule that says
which of a wallet's points are which.

Every credit of earned points writes a lot (``points_lot``) in the same transaction as its ledger
transfer, stamped with the expiry the community's policy gives it then. Lots are never updated:

    **A wallet's balance is made of its latest-expiring lots.** Spending, giving or losing points
    takes the earliest-expiring first (the loyalty schemes' rule, favourable to the resident); a
    refund or an upheld appeal gives back the earliest-expiring again.

So the points of a wallet that have expired at moment T are
``max(0, min(balance, all lots) − lots alive after T)``: no write per spend, nothing to keep in
step with every debit, and the same answer from any worker. A reversed credit writes its lot
negated (same expiry), so it is as if it had never been earned. Points in a wallet that no lot
covers (none should exist: every credit to a wallet is a lot or gives back what a debit took)
count as never expiring.

Lots also count what a person earned in a day or a month, for the policy's caps.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ledger import Ledger, Transfer, single, to_decimal
from market.points.policy import CHINA, Rules, rules_steps
from market.writes import LedgerStep, Statement, Steps

#: The time lots are stamped with where no scan gives it (adjustments, gifts); tests set their own.
clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    return clock()


#: Ledger transfer kinds that are points earned (and count towards the caps).
EARNED_KINDS = ("checkin", "checkout", "adjustment")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware moment, exactly (no float on the way)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def last_day(expires_us: int) -> date:
    """The last day (China time) on which points expiring at ``expires_us`` can still be used."""
    return from_us(expires_us - 1).astimezone(CHINA).date()


@dataclass(frozen=True, slots=True)
class Credit:
    """Points a person earned: one transfer from the community's issuance account to their wallet."""

    transfer_id: str
    person: int
    wallet: int
    hundredths: int
    kind: str
    memo: str


@dataclass(frozen=True, slots=True)
class Part:
    """Part of a lot-bearing credit: ``hundredths`` that expire at ``expires_us`` (None: never)."""

    hundredths: int
    expires_us: int | None


def lot_rows(
    community_id: int, person: int, transfer_id: str, kind: str, parts: Iterable[Part], earned_us: int
) -> Statement:
    """The lots of one credit, written once (a retried unit finds them there)."""
    rows = [(transfer_id, number, community_id, person, kind, part.hundredths, earned_us, part.expires_us)
            for number, part in enumerate(parts)]
    return (
        "INSERT INTO points_lot (transfer_id, part, community, person, kind, amount, earned_us,"
        " expires_us) VALUES " + ", ".join("({}, {}, {}, {}, {}, {}, {}, {})" for _ in rows)
        + " ON CONFLICT (transfer_id, part) DO NOTHING",
        tuple(value for row in rows for value in row),
    )


def earn_steps(
    ledger: Ledger, community_id: int, issuance: int, credits: list[Credit], at: datetime,
    *, rules: Rules | None = None,
) -> Steps[list[Transfer]]:
    """Credit earned points: each credit's lot (expiring as the policy says at ``at``), then its
    transfer — the ledger last, as every unit does (``market.writes``). The first refusal rolls
    the unit back, lots and all."""
    credits = [c for c in credits if c.hundredths > 0]
    if not credits:
        return []
    if rules is None:
        rules = yield from rules_steps(community_id)
    expires = rules.expires_at(at)
    expires_us = None if expires is None else to_us(expires)
    earned_us = to_us(at)
    for credit in credits:
        yield lot_rows(community_id, credit.person, credit.transfer_id, credit.kind,
                       [Part(credit.hundredths, expires_us)], earned_us)
    return (yield LedgerStep(ledger, [
        single(c.transfer_id, issuance, c.wallet, to_decimal(c.hundredths), c.kind, memo=c.memo,
               ledger=community_id)
        for c in credits
    ]))


def unearned_steps(reversals: list[tuple[str, str]], at: datetime) -> Steps[None]:
    """After credits were reversed — (reversal id, credit id) — their lots negated, same expiry."""
    if not reversals:
        return
    values = ", ".join("({}, {})" for _ in reversals)
    yield (
        "INSERT INTO points_lot (transfer_id, part, community, person, kind, amount, earned_us,"
        " expires_us) SELECT r.column2, l.part, l.community, l.person, 'reversal', -l.amount, {},"
        f" l.expires_us FROM points_lot l JOIN (VALUES {values}) AS r ON l.transfer_id = r.column1"
        " ON CONFLICT (transfer_id, part) DO NOTHING",
        (to_us(at), *(v for pair in reversals for v in (pair[1], pair[0]))),
    )


# -- which points are which --------------------------------------------------------------------


def expired_part(balance: int, total: int, alive: int) -> int:
    """Of a wallet's ``balance``, what has expired: its lots sum to ``total``, of which ``alive``
    have not expired (the rule at the top: the balance is its latest-expiring lots)."""
    return max(0, min(balance, total) - alive)


def allocate(balance: int, lots: dict[int | None, int]) -> list[Part]:
    """The balance as parts by expiry, earliest first: ``lots`` sums amounts per expiry (None:
    never), the balance taken from the latest-expiring down. What the lots do not cover is left
    out (the caller knows whether it never expires or has expired already)."""
    parts: list[Part] = []
    left = balance
    for expires in sorted(lots, key=lambda e: (e is None, e or 0), reverse=True):
        if left <= 0:
            break
        amount = min(left, lots[expires])
        if amount > 0:
            parts.append(Part(amount, expires))
            left -= amount
    return sorted(parts, key=lambda p: (p.expires_us is None, p.expires_us or 0))


def lot_sums_sql(community_id: int, persons: list[int], after_us: int) -> Statement:
    """Per person: the expiry of each group of lots and its sum, for lots alive after ``after_us``
    (never-expiring included), and the sum of every lot as ``expires_us`` = -1."""
    marks = ", ".join("{}" for _ in persons)
    return (
        "SELECT person, expires_us, SUM(amount) AS amount FROM points_lot"
        f" WHERE community = {{}} AND person IN ({marks})"
        " AND (expires_us IS NULL OR expires_us > {}) GROUP BY person, expires_us"
        " UNION ALL SELECT person, -1 AS expires_us, SUM(amount) AS amount FROM points_lot"
        f" WHERE community = {{}} AND person IN ({marks}) GROUP BY person",
        (community_id, *persons, after_us, community_id, *persons),
    )


@dataclass(slots=True)
class LotSums:
    """One person's lots: the sum of all, and per expiry the sums of those still alive."""

    total: int = 0
    alive: dict[int | None, int] | None = None

    def alive_sum(self) -> int:
        return sum((self.alive or {}).values())


def lot_sums(rows: list[dict]) -> dict[int, LotSums]:
    found: dict[int, LotSums] = {}
    for row in rows:
        sums = found.setdefault(row["person"], LotSums(alive={}))
        if row["expires_us"] == -1:
            sums.total = int(row["amount"])
        else:
            assert sums.alive is not None
            sums.alive[row["expires_us"]] = int(row["amount"])
    return found
