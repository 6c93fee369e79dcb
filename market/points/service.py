"""Points operations on top of the ledger, in community and person terms.

The ledger counts hundredths and knows accounts; this module knows that a
person's wallet is the account (community, "wallet", person id), that points
are issued from the community's issuance account, and how the API spells
amounts: strings with exactly two decimals.
"""

import logging
from decimal import Decimal

from ledger import Entry, InvalidAmount, Ledger, Transfer, format_points, single, to_decimal, to_hundredths
from market import clock
from market.auth.sessions import Principal
from market.community import service as communities
from market.community.membership import wallet_communities
from market.db import fetch
from market.errors import InvalidInput, NotFound
from market.paging import parse_cursor
from market.people.service import community_of
from market.points import lots
from market.points.hours import hours_and_stars
from market.points.lots import Credit, earn_steps
from market.points.rules import MAX_ADJUSTMENT_REASON
from market.points.schemas import (
    Adjustment,
    EntriesPage,
    EntryView,
    Expiring,
    ExpiringList,
    ExpiringPerson,
    Transparency,
    VerifyProblem,
    VerifyResult,
    WalletBalance,
)
from market.writes import LedgerStep, Steps, write

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 100


def points(value: Decimal) -> str:
    """The wire form of an amount: "12.50"."""
    return format_points(to_hundredths(value))


def check_idempotency_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise InvalidInput("idempotency_key_required", field="Idempotency-Key")
    if len(key) > MAX_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
        raise InvalidInput("invalid_idempotency_key", field="Idempotency-Key")
    return key


async def account_id(ledger: Ledger, community_id: int, kind: str, owner: str = "") -> int:
    """The account's id, opened if enrolment did not get to it (a plain read when it exists,
    so the ledger's write lock is not taken on every request)."""
    return await ledger.account_id(community_id, kind, owner)


async def wallet_id(ledger: Ledger, community_id: int, person_id: int) -> int:
    return await account_id(ledger, community_id, "wallet", str(person_id))


async def adjust(
    ledger: Ledger, admin: Principal, *, person_id: int, amount: Decimal, reason: str, key: str
) -> Adjustment:
    """Credit (amount > 0) or debit (amount < 0) a person's wallet by hand.

    The transfer id is derived from the admin and the Idempotency-Key, so a
    retry returns the first transfer and a reused key with another body is
    refused by the ledger (IdConflict).
    """
    hundredths = to_hundredths(amount)
    if hundredths == 0:
        raise InvalidAmount("an adjustment of zero moves nothing")
    memo = " ".join(reason.split())
    if not 1 <= len(memo) <= MAX_ADJUSTMENT_REASON:
        raise InvalidInput(field="reason")
    if await community_of(person_id) != admin.community_id:
        raise NotFound(field="person_id")

    issuance = await account_id(ledger, admin.community_id, "issuance")
    wallet = await wallet_id(ledger, admin.community_id, person_id)
    credit = hundredths > 0
    transfer_id = f"adj:{admin.id}:{key}"
    if credit:  # points earned: a lot, expiring as the policy says (``market.points.lots``);
        # the office's own decision: neither capped nor waiting for 公示 (``earn_steps``)
        (transfer,) = (await write(earn_steps, ledger, admin.community_id, issuance, [
            Credit(transfer_id, person_id, wallet, hundredths, "adjustment", memo)
        ], clock.now())).transfers
    else:
        (transfer,) = await write(_moved, LedgerStep(ledger, [single(
            transfer_id, debit=wallet, credit=issuance, amount=to_decimal(-hundredths),
            kind="adjustment", memo=memo, ledger=admin.community_id,
        )]))
    log.info("adjustment %s by admin %s for person %s", transfer.seq, admin.id, person_id)
    after = transfer.credit_balance_after if credit else transfer.debit_balance_after
    return Adjustment(
        id=transfer.id, person_id=person_id, amount=format_points(hundredths),
        balance_after=points(after),
    )


def _moved(step: LedgerStep) -> Steps[list[Transfer]]:
    """A unit that only moves points."""
    return (yield step)


async def balance(ledger: Ledger, me: Principal) -> WalletBalance:
    return await wallet_of(ledger, me.community_id, me.id)


async def wallet_of(ledger: Ledger, community_id: int, person_id: int) -> WalletBalance:
    """A person's points and service hours (the caller has checked the person is of the
    community: an admin's pages look people up through the people service first)."""
    hours, stars = await hours_and_stars(person_id)
    account = await ledger.find_account(community_id, "wallet", owner=str(person_id))
    if account is None:
        zero = points(Decimal(0))
        return WalletBalance(
            balance=zero, held=zero, available=zero, service_hours=format_points(hours),
            stars=stars,
        )
    found = await ledger.balance(account.id)
    return WalletBalance(
        balance=points(found.balance), held=points(found.held),
        available=points(found.available), service_hours=format_points(hours), stars=stars,
        expiring=await expiring(community_id, person_id, to_hundredths(found.balance)),
    )


async def expiring(community_id: int, person_id: int, balance: int) -> list[Expiring]:
    """Which of the balance's points expire when (``market.points.lots``: the balance is its
    latest-expiring lots). Points already expired and not yet cleared are not listed."""
    if balance <= 0:
        return []
    sql, args = lots.lot_sums_sql(community_id, [person_id], lots.to_us(clock.now()))
    found = lots.lot_sums(await fetch(sql, *args)).get(person_id)
    if found is None:
        return []
    parts = lots.allocate(min(balance, found.total), found.alive or {})
    return [
        Expiring(amount=format_points(part.hundredths), on=lots.last_day(part.expires_us),
                 at=lots.from_us(part.expires_us))
        for part in parts if part.expires_us is not None
    ]


async def adjustment_of(
    ledger: Ledger, community_id: int, person_id: int, transfer_id: str
) -> Adjustment | None:
    """An adjustment made to the person's wallet, to show it again after the page's redirect;
    None for anything else (another person's, another kind, an unknown id)."""
    transfer = await ledger.get(transfer_id)
    account = await ledger.find_account(community_id, "wallet", owner=str(person_id))
    if transfer is None or account is None or transfer.kind != "adjustment":
        return None
    if transfer.credit_account == account.id:
        amount, after = transfer.amount, transfer.credit_balance_after
    elif transfer.debit_account == account.id:
        amount, after = -transfer.amount, transfer.debit_balance_after
    else:
        return None
    return Adjustment(id=transfer.id, person_id=person_id, amount=points(amount),
                      balance_after=points(after))


async def entries(ledger: Ledger, me: Principal, limit: int, cursor: str | None) -> EntriesPage:
    return await person_entries(ledger, me.community_id, me.id, limit, cursor)


async def person_entries(
    ledger: Ledger, community_id: int, person_id: int, limit: int, cursor: str | None
) -> EntriesPage:
    """A person's points history, newest first (the caller checks the person's community).

    A resident who moved house (搬家, ``market.subdistricts.moves``) had a wallet in each community
    they lived in: their history is every one of those wallets' entries, merged by the ledger's
    ``seq`` (one order across ledgers), with the same cursor (the last ``seq`` shown)."""
    before = parse_cursor(cursor)
    limit = max(1, min(limit, 200))
    pages: list[tuple[int, Entry]] = []
    more = False
    for ledger_id in await wallet_communities(person_id, community_id):
        account = await ledger.find_account(ledger_id, "wallet", owner=str(person_id))
        if account is None:
            continue
        page, next_before = await ledger.entries(account.id, limit=limit, before=before)
        pages += [(ledger_id, entry) for entry in page]
        more = more or next_before is not None
    pages.sort(key=lambda found: found[1].seq, reverse=True)
    more = more or len(pages) > limit
    pages = pages[:limit]
    delegates: dict[int, dict[str, str]] = {}
    for ledger_id in {ledger_id for ledger_id, _ in pages}:
        delegates[ledger_id] = await _order_delegates(
            ledger_id, [entry.memo for lid, entry in pages if lid == ledger_id and entry.kind == "order"])
    items = [
        EntryView(
            id=entry.transfer_id, at=entry.at, amount=points(entry.amount),
            balance_after=points(entry.balance_after), kind=entry.kind, memo=entry.memo,
            phase=entry.phase,
            acted_by=delegates[ledger_id].get(entry.memo) if entry.kind == "order" else None,
            community_id=ledger_id,
        )
        for ledger_id, entry in pages
    ]
    return EntriesPage(items=items, next_cursor=str(pages[-1][1].seq) if more and pages else None)


async def _order_delegates(community_id: int, memos: list[str]) -> dict[str, str]:
    """Memo ("order 12") → name of the delegate who reserved that order, for those a delegate made."""
    ids = sorted({int(memo[6:]) for memo in memos if memo.startswith("order ") and memo[6:].isdigit()})
    if not ids:
        return {}
    rows = await fetch(
        "SELECT o.id, p.name FROM shop_order o JOIN person p ON p.id = o.acted_by WHERE o.community = {}"
        f" AND o.id IN ({', '.join('{}' for _ in ids)})", community_id, *ids,
    )
    return {f"order {row['id']}": row["name"] or "" for row in rows}


async def verify(ledger: Ledger, community_id: int) -> VerifyResult:
    """The community's chain and books (the admin's check: another community's are not theirs)."""
    report = await ledger.verify(community_id)
    problem = report.problem
    return VerifyResult(
        ok=report.ok, entries=report.entries, head=report.head, accounts=report.accounts,
        total=points(report.total),
        problem=None if problem is None else VerifyProblem(
            seq=problem.seq, transfer_id=problem.transfer_id, message=problem.message
        ),
    )


async def transparency(ledger: Ledger, community_id: int | None) -> Transparency:
    """Public totals: what was issued, redeemed and is still held by residents.

    issued = redeemed + outstanding + expired + travelled, because every point comes out
    of the issuance account and sits in exactly one other account.
    """
    if community_id is None:
        community = await communities.first()
    else:
        community = await communities.get(community_id)
    if community is None:
        raise NotFound(field="community")
    totals = await ledger.totals(community.id)
    count, head = await ledger.head(community.id)
    return Transparency(
        community_id=community.id, community=community.name, head=head, entries=count,
        issued=points(-totals["issuance"]), redeemed=points(totals["shop"]),
        outstanding=points(totals["wallet"]), expired=points(totals["expiry"]),
        travelled=points(totals["clearing"]),
    )


async def expiring_list(community_id: int, days: int) -> ExpiringList:
    """The office's list: who has points that expire within ``days`` days, earliest first."""
    from market.points.expiry import expiring_soon

    now_us = lots.to_us(clock.now())
    soon = await expiring_soon(community_id, now_us, now_us + days * 86_400_000_000)
    names = {}
    if soon:
        names = {row["id"]: row["name"] for row in await fetch(
            f"SELECT id, name FROM person WHERE community = {{}} AND id IN ({', '.join('{}' for _ in soon)})",
            community_id, *(s.person_id for s in soon),
        )}
    return ExpiringList(days=days, items=[
        ExpiringPerson(person_id=s.person_id, name=names.get(s.person_id, ""),
                       amount=format_points(s.hundredths), on=lots.last_day(s.expires_us))
        for s in soon
    ])
