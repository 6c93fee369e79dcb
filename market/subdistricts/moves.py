"""Moving house (搬家): a resident of A moves to B, another community of A's subdistrict, and takes
their points and service hours along, once both offices agree.

A's admin asks (``request``); B's admin approves or refuses with a reason; A's admin may cancel
while it is pending. A person has at most one pending move (a partial unique index). Approving is
one write unit (``market.writes``), which takes its locks in the one order every unit does:

1. the person's row (``FOR NO KEY UPDATE`` on PostgreSQL): every unit of a move starts here, so
   two approvals, or an approval and a cancellation, of one person are decided one after the
   other — the second finds the move done (and answers it again, moving nothing) or decided;
2. the person's new community (``person.community = B``, ``household`` cleared, open delegate
   links ended), written before the chains are taken: on PostgreSQL that update waits for units
   that point a new row at the person (a stay's insert), and those may be waiting for a chain;
3. both communities' ledger chains (``ledger.locking``, one ledger step, in ledger order), held
   to the commit. The wallet's balance and held points are read under them, as the expiry
   clearing and gifts read theirs: no credit, spend or hold of A can come between the read and
   the crossing it decides. Held points (an open reservation) refuse the move, as do reserved
   orders and credits waiting for 公示 (409 ``open_reservations``), checked under the person's
   lock; the whole balance then crosses from the wallet in A to the person's wallet in B through
   the pair's clearing accounts (``ledger.crossing``, memos "迁往 B"/"迁自 A"). An empty wallet
   moves no points, and the person moves all the same.

The points keep their expiries: the balance's lots (``market.points.lots``: the balance is its
latest-expiring lots) are written negated in A and again in B, as a gift does
(``market.points.gifts``); points expired but not yet cleared expire in B at its next clearing.

Service hours are counted from stays by person (``market.points.hours``) and so move with the
person; the history stays readable: the resident's statement reads every wallet they had in the
communities they moved through (``market.points.service.person_entries``).
"""

import logging
from dataclasses import replace
from datetime import UTC, datetime

import msgspec

from ledger import Ledger, crossing, format_points, locking, to_decimal
from market import audit, clock
from market.auth.roles import RESIDENT, STAFF_ROLES, decode_roles
from market.auth.sessions import Principal
from market.db import fetch, is_unique_violation
from market.errors import Conflict, InvalidInput, NotFound
from market.points import lots
from market.points.lots import Part
from market.subdistricts.rules import MAX_REASON
from market.subdistricts.schemas import MoveList, MoveView, NewMove, Ref, Refusal
from market.subdistricts.service import sharing
from market.writes import LedgerStep, Steps, on_postgres, write

log = logging.getLogger(__name__)

#: The list shows at most this many moves of each direction, newest first.
LIST_LIMIT = 100
#: The kind of the crossing's transfers and of the lots written for it.
MOVE_KIND = "move"


class Destination(msgspec.Struct):
    id: int
    name: str


class Panel(msgspec.Struct):
    """What the admin's person page shows: where the person may move, and a move under way."""

    destinations: list[Destination]
    pending: MoveView | None


def _at(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


_SELECT = (
    "SELECT m.id, m.person, p.name AS person_name, m.from_community, a.name AS from_name,"
    " m.to_community, b.name AS to_name, m.state, m.requested_ms, m.decided_ms, m.note, m.points,"
    " m.transfer_id FROM house_move m JOIN person p ON p.id = m.person"
    " JOIN community a ON a.id = m.from_community JOIN community b ON b.id = m.to_community"
)


def _view(row: dict, community_id: int) -> MoveView:
    return MoveView(
        id=row["id"], person=Ref(row["person"], row["person_name"] or ""),
        from_community=Ref(row["from_community"], row["from_name"]),
        to_community=Ref(row["to_community"], row["to_name"]),
        direction="out" if row["from_community"] == community_id else "in", state=row["state"],
        requested_at=_at(row["requested_ms"]), decided_at=_at(row["decided_ms"]), note=row["note"],
        points=None if row["points"] is None else format_points(int(row["points"])),
        transfer_id=row["transfer_id"],
    )


async def _row(move_id: int) -> dict | None:
    rows = await fetch(_SELECT + " WHERE m.id = {}", move_id)
    return rows[0] if rows else None


async def get(me: Principal, move_id: int) -> MoveView:
    """A move out of or into the caller's community; any other is not there (404)."""
    row = await _row(move_id)
    if row is None or me.community_id not in (row["from_community"], row["to_community"]):
        raise NotFound()
    return _view(row, me.community_id)


async def list_moves(me: Principal, direction: str | None = None, state: str | None = None) -> MoveList:
    """The moves out of and into the caller's community, newest first (at most ``LIST_LIMIT`` of
    each direction); ``direction`` "out"/"in" and ``state`` narrow it."""
    found: list[dict] = []
    for side in ("out", "in"):
        if direction not in (None, side):
            continue
        column = "from_community" if side == "out" else "to_community"
        sql, args = _SELECT + f" WHERE m.{column} = {{}}", [me.community_id]
        if state is not None:
            sql += " AND m.state = {}"
            args.append(state)
        found += await fetch(sql + " ORDER BY m.id DESC LIMIT {}", *args, LIST_LIMIT)
    found.sort(key=lambda row: row["id"], reverse=True)
    return MoveList(items=[_view(row, me.community_id) for row in found])


async def destinations(community_id: int) -> list[Destination]:
    """The other communities of the community's subdistrict, by name (none outside one)."""
    rows = await fetch(
        "SELECT c.id, c.name FROM subdistrict_community a"
        " JOIN subdistrict_community b ON b.subdistrict = a.subdistrict AND b.community <> a.community"
        " JOIN community c ON c.id = b.community WHERE a.community = {} ORDER BY c.name, c.id",
        community_id,
    )
    return [Destination(id=row["id"], name=row["name"]) for row in rows]


async def panel(community_id: int, person_id: int) -> Panel:
    """Where a resident of the community may move, and their pending move out of it if any."""
    pending = await fetch(_SELECT + " WHERE m.person = {} AND m.from_community = {} AND m.state = 'pending'",
                          person_id, community_id)
    return Panel(destinations=await destinations(community_id),
                 pending=_view(pending[0], community_id) if pending else None)


def _person_locked(person_id: int) -> Steps[dict | None]:
    """The person's row, locked to the end of the unit on PostgreSQL (lock 1 of ``market.writes``)."""
    lock = " FOR NO KEY UPDATE" if on_postgres() else ""
    rows = yield ("SELECT id, community, roles, phone, erased_at FROM person WHERE id = {}" + lock,
                  (person_id,))
    return rows[0] if rows else None


def _check_movable(person: dict | None, community_id: int) -> None:
    """404 unless a resident of the community (not erased); 409 for staff, who are the
    community's own and are given their roles there."""
    if person is None or person["community"] != community_id or person["erased_at"] is not None:
        raise NotFound(field="person_id")
    roles = decode_roles(person["roles"])
    if RESIDENT not in roles:
        raise NotFound(field="person_id")
    if roles & STAFF_ROLES:
        raise Conflict("move_staff", field="person_id")


def _phone_free_steps(person: dict, community_id: int) -> Steps[None]:
    """A phone is unique per community: 409 when someone of the new one has the person's."""
    taken = yield ("SELECT id FROM person WHERE community = {} AND phone = {} AND id <> {}",
                   (community_id, person["phone"], person["id"]))
    if taken:
        raise Conflict("move_phone_taken", field="person_id")


def _request_steps(me: Principal, person_id: int, to_community: int, now_ms: int) -> Steps[int]:
    person = yield from _person_locked(person_id)
    _check_movable(person, me.community_id)
    assert person is not None
    if (yield ("SELECT id FROM house_move WHERE person = {} AND state = 'pending'", (person_id,))):
        raise Conflict("move_pending", field="person_id")
    yield from _phone_free_steps(person, to_community)
    (row,) = yield (
        "INSERT INTO house_move (person, from_community, to_community, requested_by, requested_ms, state)"
        " VALUES ({}, {}, {}, {}, {}, 'pending') RETURNING id",
        (person_id, me.community_id, to_community, me.id, now_ms),
    )
    yield audit.entry(me.community_id, me.id, "move_requested", audit.person_subject(person_id))
    return row["id"]


def _id(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1:
        raise InvalidInput("invalid_input", field=field)
    return value


async def request(me: Principal, data: NewMove) -> MoveView:
    """A's admin asks to move a resident of A to ``data.to_community`` (see the module)."""
    person_id = _id(data.person_id, "person_id")
    to_community = _id(data.to_community, "to_community")
    if to_community == me.community_id:
        raise InvalidInput("move_to_same_community", field="to_community")
    if await sharing(me.community_id, to_community) is None:
        raise Conflict("not_same_subdistrict", field="to_community")
    try:
        move_id = await write(_request_steps, me, person_id, to_community, clock.now_ms())
    except Exception as error:
        if not is_unique_violation(error):
            raise
        # Asked twice at the same moment: the other request's move is the pending one.
        raise Conflict("move_pending", field="person_id") from None
    log.info("move %s: person %s asked to move from %s to %s", move_id, person_id, me.community_id,
             to_community)
    return await get(me, move_id)


def _decide_steps(me: Principal, move_id: int, side: str, state: str, note: str | None) -> Steps[None]:
    """Refuse (B's admin) or cancel (A's admin) a pending move, under the person's lock."""
    column = "to_community" if side == "in" else "from_community"
    found = yield (f"SELECT person, state FROM house_move WHERE id = {{}} AND {column} = {{}}",
                   (move_id, me.community_id))
    if not found:
        raise NotFound()
    yield from _person_locked(found[0]["person"])
    changed = yield (
        "UPDATE house_move SET state = {}, note = {}, decided_by = {}, decided_ms = {}"
        " WHERE id = {} AND state = 'pending' RETURNING id",
        (state, note, me.id, clock.now_ms(), move_id),
    )
    if not changed:
        raise Conflict("move_not_pending")
    yield audit.entry(me.community_id, me.id, f"move_{state}", f"move:{move_id}")


async def refuse(me: Principal, move_id: int, data: Refusal) -> MoveView:
    """B's admin turns a pending move into their community down, with a reason."""
    reason = " ".join(str(data.reason).split())
    if not 1 <= len(reason) <= MAX_REASON:
        raise InvalidInput("invalid_reason", field="reason")
    await write(_decide_steps, me, move_id, "in", "refused", reason)
    return await get(me, move_id)


async def cancel(me: Principal, move_id: int) -> MoveView:
    """A's admin withdraws a pending move out of their community."""
    await write(_decide_steps, me, move_id, "out", "cancelled", None)
    return await get(me, move_id)


class _Accounts(msgspec.Struct, frozen=True):
    """What the approval's unit needs opened before it (opening an account is the ledger's own
    write, which would wait behind the unit on SQLite's one write lock)."""

    wallet_a: int
    wallet_b: int
    clearing: tuple[int, int]
    name_a: str
    name_b: str


async def approve(ledger: Ledger, me: Principal, move_id: int) -> MoveView:
    """B's admin agrees: the person, their points and their lots move to B in one unit (see the
    module). Approving a move that is done answers it again and moves nothing."""
    row = await _row(move_id)
    if row is None or row["to_community"] != me.community_id:
        raise NotFound()
    if row["state"] == "done":
        return _view(row, me.community_id)
    if row["state"] != "pending":
        raise Conflict("move_not_pending")
    origin, person_id = row["from_community"], row["person"]
    if await sharing(origin, me.community_id) is None:  # the subdistrict changed since
        raise Conflict("not_same_subdistrict", field="to_community")
    accounts = _Accounts(
        wallet_a=await ledger.account_id(origin, "wallet", str(person_id)),
        wallet_b=await ledger.account_id(me.community_id, "wallet", str(person_id)),
        clearing=await ledger.clearing_accounts(origin, me.community_id),
        name_a=row["from_name"], name_b=row["to_name"],
    )
    moved = await write(_approve_steps, ledger, me, move_id, accounts, clock.now())
    if moved is not None:
        log.info("move %s: person %s moved from %s to %s with %s", move_id, person_id, origin,
                 me.community_id, format_points(moved))
    return await get(me, move_id)


def _approve_steps(
    ledger: Ledger, me: Principal, move_id: int, accounts: _Accounts, at: datetime
) -> Steps[int | None]:
    """The approval's unit; answers the hundredths moved, or None when the move was done already
    (a second approval that waited for the first)."""
    found = yield ("SELECT person FROM house_move WHERE id = {}", (move_id,))
    person_id = found[0]["person"]
    person = yield from _person_locked(person_id)
    # Read again under the person's lock: a twin approval that got there first is done.
    (move,) = yield ("SELECT * FROM house_move WHERE id = {}", (move_id,))
    if move["state"] == "done":
        return None
    if move["state"] != "pending":
        raise Conflict("move_not_pending")
    origin, destination = move["from_community"], move["to_community"]
    try:
        _check_movable(person, origin)
    except NotFound:
        raise Conflict("move_person_changed") from None
    assert person is not None
    if (yield ("SELECT id FROM shop_order WHERE person = {} AND status = 'reserved' LIMIT 1", (person_id,))) \
            or (yield ("SELECT id FROM points_publicity WHERE person = {} AND state IN ('pending', 'frozen')"
                       " LIMIT 1", (person_id,))):
        raise Conflict("open_reservations")
    yield from _phone_free_steps(person, destination)
    now_ms = int(at.timestamp() * 1000)
    yield ("UPDATE person SET community = {}, household = NULL WHERE id = {}", (destination, person_id))
    # A delegate (代办) acts for a resident of their own community only.
    yield ("UPDATE delegate SET ended_by = {}, ended_ms = {} WHERE (elder = {} OR delegate = {})"
           " AND ended_ms IS NULL", (me.id, now_ms, person_id, person_id))
    # The ID document for certificates is the person's own: it goes with them.
    yield ("UPDATE person_identity SET community = {} WHERE person = {}", (destination, person_id))

    # The chains last, both in one step (ledger order); the amount is read under them.
    yield LedgerStep(ledger, [locking(origin), locking(destination)], each=True)
    wallets = yield ("SELECT id, balance, held FROM ledger_accounts WHERE id IN ({}, {})",
                     (accounts.wallet_a, accounts.wallet_b))
    by_id = {row["id"]: (int(row["balance"]), int(row["held"])) for row in wallets}
    balance, held = by_id[accounts.wallet_a]
    if held:
        raise Conflict("open_reservations")
    transfer_id = f"move:{move_id}"
    if balance > 0:
        yield from _lots_steps(person_id, origin, destination, transfer_id, balance,
                               by_id[accounts.wallet_b][0], lots.to_us(at))
    yield (
        "UPDATE house_move SET state = 'done', approved_by = {}, decided_by = {}, decided_ms = {},"
        " points = {}, transfer_id = {} WHERE id = {} AND state = 'pending'",
        (me.id, me.id, now_ms, balance, transfer_id if balance > 0 else None, move_id),
    )
    subject = audit.person_subject(person_id)
    yield audit.entry(origin, me.id, "person_moved_out", subject)
    yield audit.entry(destination, me.id, "person_moved_in", subject)
    if balance > 0:
        out_leg, in_leg = crossing(
            transfer_id, accounts.wallet_a, accounts.wallet_b, to_decimal(balance), MOVE_KIND,
            f"迁往 {accounts.name_b}", f"move:{move_id}", ledgers=(origin, destination),
            clearing=accounts.clearing,
        )
        yield LedgerStep(ledger, [out_leg, replace(in_leg, memo=f"迁自 {accounts.name_a}")])
    return balance


def _lots_steps(
    person_id: int, origin: int, destination: int, transfer_id: str, balance: int, balance_b: int,
    at_us: int,
) -> Steps[None]:
    """The balance's lots leave A (negated) and arrive in B with their expiries (see the module)."""
    sums = lots.lot_sums((yield lots.lot_sums_sql(origin, [person_id], lots.EVER)))
    mine = sums.get(person_id, lots.LotSums(alive={}))
    parts = lots.allocate(min(balance, mine.total), mine.alive or {})
    if parts:
        yield lots.lot_rows(origin, person_id, f"{transfer_id}:out", MOVE_KIND,
                            [Part(-p.hundredths, p.expires_us) for p in parts], at_us)
    uncovered = balance - sum(p.hundredths for p in parts)
    arriving = parts + ([Part(uncovered, None)] if uncovered > 0 else [])
    # Lots of B already spent (a wallet there from an earlier stay): written off, so the points
    # arriving are not read as the ones spent before (``market.points.gifts``).
    there = lots.lot_sums((yield lots.lot_sums_sql(destination, [person_id], lots.EVER))).get(person_id)
    if there is not None and (spent := lots.spent_beyond(balance_b, there.total, there.alive or {})):
        yield lots.lot_rows(destination, person_id, f"{transfer_id}:spent", lots.SPENT_KIND,
                            [Part(-p.hundredths, p.expires_us) for p in spent], at_us)
    yield lots.lot_rows(destination, person_id, f"{transfer_id}:in", MOVE_KIND, arriving, at_us)
    if any(p.expires_us is not None and p.expires_us <= at_us for p in arriving):
        # Expired in A and not yet cleared: B's next clearing looks at this person.
        yield ("INSERT INTO points_expiry_blocked (community, person) VALUES ({}, {})"
               " ON CONFLICT (community, person) DO NOTHING", (destination, person_id))
