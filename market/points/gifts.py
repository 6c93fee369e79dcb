"""Households and gifts: a household's points seen together, and points given to family or
neighbours (北京、上海: 积分可赠予家人或捐赠).

**A household** (户) is the people of one address (``person.household``) who are residents and
not erased; an archived household counts as none. Its page shows each member's balance (names
masked as on the public boards: ``market.reports.leaderboards.mask_name``) and the total.

**A gift** moves SPENDABLE points from one resident's wallet to another's: a ledger transfer
wallet → wallet of kind "gift". It is not points earned and not points spent at the shop: the
leaderboards, dashboards and their tallies count only issuance → wallet credits of the earned
kinds (migration t11 ``EARNED``), the shop's minimum counts issuance ↔ wallet transfers, and
service hours and stars come from stays — so the giver's earned totals, hours and stars stay
as they were, and the receiver earns nothing by it (nor towards the policy's earning caps, which
count lots of the earned kinds only: gift lots are of kind "gift").

The policy (``market.points.policy``) decides: ``gifting`` "off" refuses every gift
(``gift_not_allowed``); "household" lets a resident give only to another member of their own
household (``gift_not_allowed``, scope "household"); "community" to any resident of the
community. Never to oneself (``gift_to_self``); a receiver who is not a resident of the giver's
community is not found (404). ``gift_cap_per_month`` bounds what one person gives in a calendar
month, China time (0: nothing; ``gift_cap_exceeded`` says what is left). Every refusal changes
nothing.

**Which points are given.** The lot rule (``market.points.lots``) says a wallet's balance is its
latest-expiring lots, and whatever leaves a wallet takes the earliest-expiring first. A gift
takes the earliest-expiring ALIVE points of the giver's balance (points expired but not yet
cleared cannot be given; nor can held ones) and the receiver gets lots with exactly those
expiries, so a gift never lengthens a point's life. Because the rule is stateless (it looks
only at the balance and the sum of lots), both wallets' lots are written so that it still says
the truth afterwards:

- the giver gets the given lot parts negated (``<gift id>:giver``): otherwise the rule would
  read the points given as still in the giver's wallet and count any expired-but-uncleared
  points as the ones that left (bringing them back to life in the receiver's);
- the receiver gets the given parts (``<gift id>``), and, if some of their lots were spent
  already (lots > balance), those spent lots negated (``<gift id>:spent``, kind "spent"),
  earliest first — restored if spent points come back (``lots.covered_steps``): otherwise the rule would
  put the receiver's earlier spending onto the gift's earlier-expiring lot and bring a spent
  later-expiring lot back instead.

Points in a wallet that no lot covers (balances from before lots existed) never expire; they
are given last and the receiver's lot for them never expires either.

The move is one write unit: the community's chain lock first (``ledger.locking``), then the
reads it decides from (policy, this month's gifts, both wallets and their lots), then the lots,
the transfer, the ``points_gift`` row and an audit entry. The Idempotency-Key names the gift
(``gift:<giver>:<key>``): the same key and body answer the first gift again, another body 422.
"""

import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from ledger import Ledger, format_points, locking, single, to_decimal, to_hundredths
from market import audit, clock
from market.auth.roles import RESIDENT, decode_roles
from market.auth.sessions import Principal
from market.china_time import CHINA
from market.db import fetch, is_unique_violation
from market.errors import Conflict, InvalidInput, MarketError, NotFound, Unprocessable
from market.messages import Language, message
from market.people.rules import mask_name
from market.points import lots
from market.points.lots import Part
from market.points.policy import Rules, rules, rules_steps
from market.points.schemas import GiftRequest, GiftView, HouseholdMember, HouseholdView
from market.points.service import wallet_id
from market.settings import Settings
from market.storable import MAX_ID
from market.writes import LedgerStep, Steps, write

log = logging.getLogger(__name__)

GIFT_KIND = "gift"
#: What the transfer's memo says: the ledger's chain is published (transparency), so it names
#: nobody — who gave whom is in ``points_gift``, for the two of them and the office.
MEMO = "积分赠送"


# -- refusals ------------------------------------------------------------------------------------


class GiftNotAllowed(MarketError):
    """409: the community's policy does not allow this gift (gifting off, or not this receiver)."""

    status, reason = 409, "gift_not_allowed"

    def __init__(self, scope: str) -> None:
        super().__init__(field="to_person_id" if scope == "household" else None)
        self.scope = scope

    def members(self, language: Language) -> dict[str, object]:
        # One reason for the contract; the text says which rule refused it.
        extra: dict[str, object] = {"scope": self.scope}
        if self.scope == "household":
            extra["detail"] = message("gift_household_only", language)
        return extra

    def text(self, language: Language) -> str:
        return message("gift_household_only" if self.scope == "household" else self.reason, language)


class GiftCapExceeded(MarketError):
    """409: more than the policy lets one person give in a calendar month."""

    status, reason = 409, "gift_cap_exceeded"

    def __init__(self, left: int, cap: int) -> None:
        super().__init__(field="amount", left=format_points(left), cap=format_points(cap))

    def members(self, language: Language) -> dict[str, object]:
        return {"left": self.params["left"], "cap": self.params["cap"]}


class GiftableShort(Conflict):
    """409 ``insufficient_points``: fewer alive, unheld points than the gift."""

    def __init__(self, giftable: int) -> None:
        super().__init__("insufficient_points", field="amount", available=format_points(giftable))

    def members(self, language: Language) -> dict[str, object]:
        return {"available": self.params["available"]}


# -- reading ------------------------------------------------------------------------------------


def month_of(moment: datetime) -> int:
    """The calendar month of ``moment`` in China time, as YYYYMM (the gift cap's unit)."""
    local = moment.astimezone(CHINA)
    return local.year * 100 + local.month


async def given_in_month(community_id: int, person_id: int, month: int) -> int:
    rows = await fetch(
        "SELECT COALESCE(SUM(amount), 0) AS n FROM points_gift"
        " WHERE community = {} AND giver = {} AND month = {}",
        community_id, person_id, month,
    )
    return int(rows[0]["n"])


def giftable_of(balance: int, held: int, groups: dict[int | None, int], total: int, now_us: int) -> int:
    """What of a wallet may be given at ``now_us``: its balance less what has expired (the lot
    rule) and less what is held — the larger of the two, as clearing leaves held points be."""
    alive = {e: s for e, s in groups.items() if e is None or e > now_us}
    expired = lots.expired_part(balance, total, sum(alive.values()))
    return max(0, balance - max(expired, held))


@dataclass(frozen=True, slots=True)
class _Home:
    household_id: int | None
    address: str | None


async def _home(community_id: int, person_id: int) -> _Home:
    rows = await fetch(
        "SELECT h.id, h.unit, h.room, b.name AS building FROM person p"
        " JOIN household h ON h.id = p.household AND h.archived_at IS NULL"
        " JOIN building b ON b.id = h.building"
        " WHERE p.id = {} AND p.community = {}",
        person_id, community_id,
    )
    if not rows:
        return _Home(None, None)
    row = rows[0]
    address = " ".join(part for part in (row["building"], row["unit"], row["room"]) if part)
    return _Home(row["id"], address)


async def members_of(community_id: int, household_id: int) -> list[dict]:
    """The household's residents (not erased), in the order they were enrolled."""
    rows = await fetch(
        "SELECT id, name, roles FROM person WHERE community = {} AND household = {}"
        " AND erased_at IS NULL ORDER BY id",
        community_id, household_id,
    )
    return [row for row in rows if RESIDENT in decode_roles(row["roles"])]


async def _wallets(community_id: int, people: list[int]) -> dict[int, tuple[int, int]]:
    """(balance, held) of each person's wallet; people without one are left out."""
    if not people:
        return {}
    rows = await fetch(
        "SELECT owner, balance, held FROM ledger_accounts WHERE ledger = {} AND kind = 'wallet'"
        f" AND owner IN ({', '.join('{}' for _ in people)})",
        community_id, *(str(p) for p in people),
    )
    return {int(row["owner"]): (int(row["balance"]), int(row["held"])) for row in rows}


async def giftable_now(community_id: int, person_id: int) -> int:
    """What the person could give now, as the gift's unit would decide it (read unlocked: a page)."""
    wallet = (await _wallets(community_id, [person_id])).get(person_id)
    if wallet is None:
        return 0
    sql, args = lots.lot_sums_sql(community_id, [person_id], lots.EVER)
    found = lots.lot_sums(await fetch(sql, *args)).get(person_id, lots.LotSums(alive={}))
    return giftable_of(wallet[0], wallet[1], found.alive or {}, found.total, lots.to_us(clock.now()))


async def household(me: Principal) -> HouseholdView:
    """My household, its members' points and the total, and what the policy lets me give."""
    policy = await rules(me.community_id)
    month = month_of(clock.now())
    given = await given_in_month(me.community_id, me.id, month)
    left = max(0, policy.gift_cap_per_month - given)
    home = await _home(me.community_id, me.id)
    people = [] if home.household_id is None else await members_of(me.community_id, home.household_id)
    balances = await _wallets(me.community_id, [row["id"] for row in people])
    members = [
        HouseholdMember(person_id=row["id"], name=mask_name(row["name"]),
                        balance=format_points(balances.get(row["id"], (0, 0))[0]), me=row["id"] == me.id)
        for row in people
    ]
    total = sum(balances.get(row["id"], (0, 0))[0] for row in people)
    return HouseholdView(
        has_household=home.household_id is not None, household_id=home.household_id,
        address=home.address, members=members, total=format_points(total), gifting=policy.gifting,
        gift_cap_per_month=format_points(policy.gift_cap_per_month),
        given_this_month=format_points(given), left_this_month=format_points(left),
        giftable=format_points(await giftable_now(me.community_id, me.id)),
    )


# -- giving -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Receiver:
    person_id: int
    name: str
    household_id: int | None


async def _receiver(community_id: int, person_id: int) -> _Receiver:
    """A resident of the community, not erased; anyone else is not found (as another
    community's people always are)."""
    if isinstance(person_id, bool) or not 1 <= person_id <= MAX_ID:
        raise NotFound(field="to_person_id")
    rows = await fetch(
        "SELECT p.id, p.name, p.roles, p.erased_at, h.id AS household FROM person p"
        " LEFT JOIN household h ON h.id = p.household AND h.archived_at IS NULL"
        " WHERE p.id = {} AND p.community = {}",
        person_id, community_id,
    )
    if not rows or rows[0]["erased_at"] is not None or RESIDENT not in decode_roles(rows[0]["roles"]):
        raise NotFound(field="to_person_id")
    return _Receiver(rows[0]["id"], rows[0]["name"], rows[0]["household"])


def transfer_id_of(giver_id: int, key: str) -> str:
    return f"gift:{giver_id}:{key}"


def _view(row: dict, to_name: str) -> GiftView:
    return GiftView(
        id=row["transfer_id"], to_person_id=row["receiver"], to_name=mask_name(to_name),
        amount=format_points(row["amount"]), balance_after=format_points(row["balance_after"]),
        given_this_month=format_points(row["month_given"]), left_this_month=format_points(row["month_left"]),
        at=lots.from_us(row["at_us"]),
    )


_GIFT_COLUMNS = "transfer_id, receiver, amount, at_us, balance_after, month_given, month_left"


async def _earlier(transfer_id: str) -> dict | None:
    rows = await fetch(f"SELECT {_GIFT_COLUMNS} FROM points_gift WHERE transfer_id = {{}}", transfer_id)
    return rows[0] if rows else None


def _same_or_conflict(row: dict, receiver: int, hundredths: int) -> None:
    """A key used again must carry the same gift (422 ``id_conflict`` otherwise)."""
    if row["receiver"] != receiver or int(row["amount"]) != hundredths:
        raise Unprocessable("id_conflict", field="Idempotency-Key")


async def _name_of(community_id: int, person_id: int) -> str:
    rows = await fetch("SELECT name FROM person WHERE id = {} AND community = {}", person_id, community_id)
    return rows[0]["name"] if rows else ""


async def give(ledger: Ledger, me: Principal, request: GiftRequest, key: str) -> GiftView:
    """Give ``request.amount`` of my points to ``request.to_person_id`` (see the module)."""
    hundredths = to_hundredths(request.amount)
    if hundredths <= 0:
        raise InvalidInput("invalid_amount", field="amount")
    transfer_id = transfer_id_of(me.id, key)
    if (found := await _earlier(transfer_id)) is not None:
        _same_or_conflict(found, request.to_person_id, hundredths)
        return _view(found, await _name_of(me.community_id, found["receiver"]))
    if request.to_person_id == me.id:
        raise InvalidInput("gift_to_self", field="to_person_id")
    receiver = await _receiver(me.community_id, request.to_person_id)
    giver_home = await _home(me.community_id, me.id)
    # Opened before the unit: opening an account is the ledger's own write.
    giver_wallet = await wallet_id(ledger, me.community_id, me.id)
    receiver_wallet = await wallet_id(ledger, me.community_id, receiver.person_id)
    same_household = giver_home.household_id is not None and giver_home.household_id == receiver.household_id
    try:
        row = await write(
            _gift_steps, ledger, me.community_id, me.id, receiver.person_id, same_household,
            giver_wallet, receiver_wallet, hundredths, transfer_id, clock.now(),
        )
    except Exception as error:
        if not is_unique_violation(error):
            raise
        # The same key sent twice at once: the other request's gift is the answer.
        row = await _earlier(transfer_id)
        if row is None:
            raise
    _same_or_conflict(row, receiver.person_id, hundredths)
    log.info("gift %s by person %s", transfer_id, me.id)
    return _view(row, receiver.name)


def _gift_steps(
    ledger: Ledger, community_id: int, giver: int, receiver: int, same_household: bool,
    giver_wallet: int, receiver_wallet: int, hundredths: int, transfer_id: str, at: datetime,
) -> Steps[dict]:
    # The chain first: no credit, spend, clearing or other gift of the community can come
    # between the balances and lots read below and the transfer they decide.
    yield LedgerStep(ledger, [locking(community_id)], each=True)
    earlier = yield (f"SELECT {_GIFT_COLUMNS} FROM points_gift WHERE transfer_id = {{}}", (transfer_id,))
    if earlier:  # the same key, committed while this one waited for the lock
        return earlier[0]
    policy: Rules = yield from rules_steps(community_id)
    _check_scope(policy, same_household)
    at_us, month = lots.to_us(at), month_of(at)
    given_rows = yield (
        "SELECT COALESCE(SUM(amount), 0) AS n FROM points_gift WHERE community = {} AND giver = {}"
        " AND month = {}",
        (community_id, giver, month),
    )
    given = int(given_rows[0]["n"])
    left = max(0, policy.gift_cap_per_month - given)
    if hundredths > left:
        raise GiftCapExceeded(left, policy.gift_cap_per_month)

    wallets = yield (
        "SELECT id, balance, held FROM ledger_accounts WHERE id IN ({}, {})", (giver_wallet, receiver_wallet)
    )
    found = {row["id"]: (int(row["balance"]), int(row["held"])) for row in wallets}
    (g_balance, g_held), (r_balance, _) = found[giver_wallet], found[receiver_wallet]
    sums = lots.lot_sums((yield lots.lot_sums_sql(community_id, [giver, receiver], lots.EVER)))
    g_lots = sums.get(giver, lots.LotSums(alive={}))
    r_lots = sums.get(receiver, lots.LotSums(alive={}))
    g_groups, r_groups = g_lots.alive or {}, r_lots.alive or {}

    giftable = giftable_of(g_balance, g_held, g_groups, g_lots.total, at_us)
    if hundredths > giftable:
        raise GiftableShort(giftable)
    given_parts, from_lots = _taken(g_balance, g_lots.total, g_groups, at_us, hundredths)

    earned_us = at_us
    if from_lots:
        yield lots.lot_rows(community_id, giver, f"{transfer_id}:giver", GIFT_KIND,
                            [Part(-p.hundredths, p.expires_us) for p in from_lots], earned_us)
    yield lots.lot_rows(community_id, receiver, transfer_id, GIFT_KIND, given_parts, earned_us)
    if spent := lots.spent_beyond(r_balance, r_lots.total, r_groups):
        # Of their own kind: points given back later restore them (``lots.covered_steps``).
        yield lots.lot_rows(community_id, receiver, f"{transfer_id}:spent", lots.SPENT_KIND,
                            [Part(-p.hundredths, p.expires_us) for p in spent], earned_us)
    (transfer,) = yield LedgerStep(ledger, [single(
        transfer_id, giver_wallet, receiver_wallet, to_decimal(hundredths), GIFT_KIND, memo=MEMO,
        ledger=community_id,
    )])
    balance_after = to_hundredths(transfer.debit_balance_after)
    row = {
        "transfer_id": transfer_id, "receiver": receiver, "amount": hundredths, "at_us": at_us,
        "balance_after": balance_after, "month_given": given + hundredths, "month_left": left - hundredths,
    }
    yield (
        "INSERT INTO points_gift (transfer_id, community, giver, receiver, amount, at_us, month,"
        " balance_after, month_given, month_left) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        (transfer_id, community_id, giver, receiver, hundredths, at_us, month, balance_after,
         given + hundredths, left - hundredths),
    )
    yield audit.entry(community_id, giver, "points_gift", f"person:{receiver}")
    return row


def _check_scope(policy: Rules, same_household: bool) -> None:
    if policy.gifting == "household":
        if not same_household:
            raise GiftNotAllowed("household")
    elif policy.gifting != "community":
        raise GiftNotAllowed("off")


def _taken(
    balance: int, total: int, groups: dict[int | None, int], now_us: int, hundredths: int
) -> tuple[list[Part], list[Part]]:
    """The parts a gift of ``hundredths`` takes, earliest-expiring first, and which of them came
    from lots (the rest: points no lot covers, which never expire and are given last)."""
    alive = {e: s for e, s in groups.items() if e is None or e > now_us}
    pool = lots.allocate(min(balance, total), alive)
    uncovered = max(0, balance - total)
    given: list[Part] = []
    from_lots: list[Part] = []
    left = hundredths
    for part in pool:
        if left <= 0:
            break
        take = min(left, part.hundredths)
        given.append(Part(take, part.expires_us))
        from_lots.append(Part(take, part.expires_us))
        left -= take
    if left > 0:  # the caller checked the gift fits: what remains is covered by no lot
        assert left <= uncovered
        given.append(Part(left, None))
    return given, from_lots


# -- what the pages need besides ------------------------------------------------------------------


async def receiver_by_card(community_id: int, text: str, *, settings: Settings) -> int:
    """The resident of the community a typed member card number (or a pasted member code) names,
    for the gift form when the policy is "community"; ``gift_receiver_not_found`` otherwise."""
    from market.cards.service import resolve_member_code

    typed = "".join(unicodedata.normalize("NFKC", text).split()).replace("-", "")
    if typed.isascii() and typed.isdigit():
        rows = await fetch(
            "SELECT id, roles FROM person WHERE community = {} AND card_no = {} AND erased_at IS NULL",
            community_id, typed,
        )
        if rows and RESIDENT in decode_roles(rows[0]["roles"]):
            return int(rows[0]["id"])
    elif typed:
        try:
            return (await resolve_member_code(community_id, typed, settings=settings)).person_id
        except MarketError:
            pass
    raise NotFound(field="card")


async def my_gift(me: Principal, transfer_id: str) -> GiftView | None:
    """A gift I made, to show it again after the page's redirect (None: not mine, or none)."""
    rows = await fetch(
        f"SELECT {_GIFT_COLUMNS} FROM points_gift"
        " WHERE transfer_id = {} AND giver = {} AND community = {}",
        transfer_id, me.id, me.community_id,
    )
    if not rows:
        return None
    return _view(rows[0], await _name_of(me.community_id, rows[0]["receiver"]))
