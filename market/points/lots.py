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

Lots also count what a person earned in a day or a month, for the policy's caps
(``earned_sql``), together with the credits waiting for 公示 (``market.points.publicity``).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ledger import Ledger, Transfer, pending, single, to_decimal
from market.china_time import CHINA
from market.points.policy import Rules, rules_steps
from market.writes import LedgerStep, Statement, Steps, on_postgres

#: Ledger transfer kinds that are points earned.
EARNED_KINDS = ("checkin", "checkout", "help", "adjustment")
#: Those earned by taking part — in activities, or by doing a resident's 民声 request
#: (``market.help_requests``): capped by the policy, and waiting for 公示 where the policy has a
#: window (``earn_steps``). Adjustments are the office's own decisions.
ACTIVITY_KINDS = ("checkin", "checkout", "help")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Earlier than any moment a lot can expire at (a lower bound for queries on ``expires_us``).
EVER = -(2**62)


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
    activity: int | None = None
    """The activity it was earned at (shown on the 公示 notice)."""
    stay: int | None = None
    """The stay whose ``points_in`` (a check-in credit) or ``points_out`` (a check-out's) records
    it: written back when a cap cuts the credit, so attendance, exports and "my activities" show
    what was credited."""
    request: int | None = None
    """The 民声 request whose ``points`` records it (``market.help_requests``), written back
    the same way."""


@dataclass(frozen=True, slots=True)
class Earned:
    """What ``earn_steps`` made of its credits."""

    transfers: list[Transfer]
    """The credits made, or with a 公示 window their pending holds (issuance → wallet)."""
    amounts: dict[str, int]
    """Each credit's amount after the caps (hundredths; 0: the cap left nothing)."""
    cut: int = 0
    """Hundredths the caps cut, in all."""
    window_ends: date | None = None
    """With a 公示 window: its last day (China time); the credits count the day after."""

    def one(self) -> Transfer | None:
        """The transfer of a single credit (None: the cap left nothing of it)."""
        return self.transfers[0] if self.transfers else None


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
    *, rules: Rules | None = None, locked: bool = False,
) -> Steps[Earned]:
    """Credit earned points — the one way every earned credit is made (check-in, check-out, a
    repaired credit, an approval, hours set by hand, a positive adjustment).

    1. Caps (policy ``cap_per_day``/``cap_per_month``, China calendar day and month) bound what
       a person earns by taking part in activities (kinds ``checkin``/``checkout``): a credit
       beyond a cap is cut to what is left under it, possibly nothing. Adjustments are the
       office's own decisions and are neither capped nor counted (see ``earned_sql``). On
       PostgreSQL the people's rows are locked (``FOR NO KEY UPDATE``, in id order), so two
       scans of one person decide one after the other: a unit that takes other locks first
       (an activity, stays) starts with ``earning_rules_steps`` — the first lock of
       ``market.writes``' order — and says ``locked``; otherwise they are locked here, which
       is in order only where nothing was locked before. A cut credit's stay is written back
       before the ledger (its row is this unit's already).
    2. 公示 (policy ``publicity_days``): activity credits become pending holds (no timeout) with
       a ``points_publicity`` row; their lots are written when they post
       (``market.points.publicity``). Without a window, each credit's lot (expiring as the
       policy says at ``at``), then its transfer.

    The ledger last, as every unit does; the first refusal rolls the unit back, lots and all."""
    credits = [c for c in credits if c.hundredths > 0]
    if not credits:
        return Earned([], {})
    if rules is None:
        rules = yield from rules_steps(community_id)
    amounts = {c.transfer_id: c.hundredths for c in credits}
    cut = 0
    capped = [c for c in credits if c.kind in ACTIVITY_KINDS]
    if capped and (rules.cap_per_day is not None or rules.cap_per_month is not None):
        people = sorted({c.person for c in capped})
        if not locked:
            yield from people_locked(people)
        sql, args = earned_sql(community_id, people, at)
        used = {row["person"]: (int(row["day"] or 0), int(row["month"] or 0)) for row in (yield (sql, args))}
        for credit in capped:
            day, month = used.get(credit.person, (0, 0))
            room = min(_room(rules.cap_per_day, day), _room(rules.cap_per_month, month))
            allowed = max(0, min(credit.hundredths, room))
            amounts[credit.transfer_id] = allowed
            cut += credit.hundredths - allowed
            used[credit.person] = (day + allowed, month + allowed)
            if allowed < credit.hundredths and credit.stay is not None:
                column = "points_in" if credit.kind == "checkin" else "points_out"
                yield (f"UPDATE activity_stay SET {column} = {{}} WHERE id = {{}}", (allowed, credit.stay))
            if allowed < credit.hundredths and credit.request is not None:
                yield ("UPDATE help_request SET points = {} WHERE id = {}", (allowed, credit.request))
    credits = [c for c in credits if amounts[c.transfer_id] > 0]
    if not credits:
        return Earned([], amounts, cut)
    public = [c for c in credits if c.kind in ACTIVITY_KINDS] if rules.publicity_days > 0 else []
    window_ends = None
    if public:
        from market.points import publicity  # it writes lots with this module's helpers

        window_ends = yield from publicity.noticed_steps(community_id, public, amounts, at, rules)
    expires = rules.expires_at(at)
    expires_us = None if expires is None else to_us(expires)
    earned_us = to_us(at)
    held = {c.transfer_id for c in public}
    requests = []
    for credit in credits:
        amount = to_decimal(amounts[credit.transfer_id])
        if credit.transfer_id in held:
            requests.append(pending(credit.transfer_id, issuance, credit.wallet, amount, credit.kind,
                                    memo=credit.memo, ledger=community_id))
            continue
        yield lot_rows(community_id, credit.person, credit.transfer_id, credit.kind,
                       [Part(amounts[credit.transfer_id], expires_us)], earned_us)
        requests.append(single(credit.transfer_id, issuance, credit.wallet, amount, credit.kind,
                               memo=credit.memo, ledger=community_id))
    transfers = yield LedgerStep(ledger, requests)
    return Earned(transfers, amounts, cut, window_ends)


def earning_rules_steps(community_id: int, people: list[int]) -> Steps[Rules]:
    """A unit that may credit earned points starts with this: the community's rules and, when
    they cap earning, the people's rows locked (``people_locked``) before anything else; it then
    gives ``earn_steps`` the rules and ``locked=True``."""
    rules = yield from rules_steps(community_id)
    if rules.cap_per_day is not None or rules.cap_per_month is not None:
        yield from people_locked(people)
    return rules


def _room(cap: int | None, used: int) -> int:
    return 2**62 if cap is None else cap - used


def people_locked(people: list[int]) -> Steps[None]:
    """PostgreSQL: the people's rows, ``FOR NO KEY UPDATE`` in id order (``market.writes``, lock
    1): what they earned is then decided one unit at a time. SQLite has one writer anyway."""
    if people and on_postgres():
        marks = ", ".join("{}" for _ in people)
        yield (f"SELECT id FROM person WHERE id IN ({marks}) ORDER BY id FOR NO KEY UPDATE",
               tuple(sorted(people)))


def china_day_and_month(at: datetime) -> tuple[int, int, int]:
    """Microseconds at which ``at``'s China day and month began, and the next day began."""
    local = at.astimezone(CHINA)
    day = datetime(local.year, local.month, local.day, tzinfo=CHINA)
    month = datetime(local.year, local.month, 1, tzinfo=CHINA)
    return to_us(day), to_us(month), to_us(day + timedelta(days=1))


def earned_sql(community_id: int, people: list[int], at: datetime) -> Statement:
    """Per person, what they earned by activities in ``at``'s China day and month (``day``,
    ``month``): the lots of check-in and check-out credits (not those written when a 公示 credit
    posted: ``publicity.POSTED``) and the credits made while a 公示 window was on, by the moment
    they were made, unless voided — a pending credit counts from the moment it is made."""
    day_us, month_us, end_us = china_day_and_month(at)
    marks = ", ".join("{}" for _ in people)
    kinds = ", ".join(f"'{kind}'" for kind in ACTIVITY_KINDS)
    return (
        "SELECT person, SUM(CASE WHEN at_us >= {} THEN amount ELSE 0 END) AS day, SUM(amount) AS month"
        " FROM (SELECT person, earned_us AS at_us, amount FROM points_lot"
        f" WHERE community = {{}} AND person IN ({marks}) AND earned_us >= {{}} AND earned_us < {{}}"
        f" AND kind IN ({kinds}) AND transfer_id NOT LIKE 'publicity:%'"
        " UNION ALL SELECT person, made_us AS at_us, amount FROM points_publicity"
        f" WHERE community = {{}} AND person IN ({marks}) AND made_us >= {{}} AND made_us < {{}}"
        " AND state <> 'voided') AS earned GROUP BY person",
        (day_us, community_id, *people, month_us, end_us, community_id, *people, month_us, end_us),
    )


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


def spent_beyond(balance: int, total: int, groups: dict[int | None, int]) -> list[Part]:
    """The lots already spent: ``total`` of the lots less the ``balance``, taken earliest-expiring
    first. Points arriving in a wallet (a gift, a move of house) are written after these lots are
    written off (negated), so the new points are not read as the ones spent before."""
    spent = max(0, total - balance)
    parts = []
    for expires in sorted(groups, key=lambda e: (e is None, e or 0)):
        if spent <= 0:
            break
        take = min(spent, groups[expires])
        if take > 0:
            parts.append(Part(take, expires))
            spent -= take
    return parts


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


# -- points given back --------------------------------------------------------------------------

#: Lots that record points already spent, written off when a gift's earlier-expiring lots arrive
#: (``market.points.gifts``), and their restorations when spent points come back.
SPENT_KIND, UNSPENT_KIND = "spent", "unspent"


def covered_steps(
    community_id: int, wallet: int, restore_id: str, hundredths: int, at: datetime
) -> Steps[None]:
    """After ``hundredths`` came back to a wallet (a refund, an upheld appeal), in the same unit:
    points given back are the latest-expiring of those spent before (the rule at the top), so
    lots written off as spent (``SPENT_KIND``) are restored for up to as much, latest-expiring
    first. Without them the balance just covers more of its lots, which says the same. Points
    given back that were of an expired lot expire again at the next clearing: they come back as
    they were."""
    (account,) = yield ("SELECT owner FROM ledger_accounts WHERE id = {}", (wallet,))
    person = int(account["owner"])
    written = yield (
        "SELECT expires_us, -SUM(amount) AS amount FROM points_lot WHERE community = {} AND person = {}"
        " AND kind IN ({}, {}) GROUP BY expires_us", (community_id, person, SPENT_KIND, UNSPENT_KIND),
    )
    parts, left = [], hundredths
    for row in sorted(written, key=lambda r: (r["expires_us"] is None, r["expires_us"] or 0), reverse=True):
        take = min(left, int(row["amount"]))
        if take > 0:
            parts.append(Part(take, row["expires_us"]))
            left -= take
    if parts:
        yield lot_rows(community_id, person, f"{restore_id}:unspent", UNSPENT_KIND, parts, to_us(at))
    # Points given back may be of lots that expired before the last clearing, which looks only at
    # lots expiring since: the next run looks at this person again (``market.points.expiry``).
    yield ("INSERT INTO points_expiry_blocked (community, person) VALUES ({}, {})"
           " ON CONFLICT (community, person) DO NOTHING", (community_id, person))
