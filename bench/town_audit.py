"""After the town's day: is every acknowledged write there, and do the books add up?

Through the API (what a client can see), for what ``bench.town_model`` remembers:

- every acknowledged redemption (``GET /api/redemptions/{id}``: its resident, lines, total, and the
  acknowledged refunds of it), every acknowledged reservation in its last acknowledged state
  (``GET /api/orders/{id}``), every acknowledged check-in, check-out and approval
  (``GET /api/activities/{id}/attendance``), and no stay nobody was told of;
- every wallet: its balance equals the sum of its entries (``GET /api/me/entries``, every page) and
  the newest entry's ``balance_after``; every acknowledged adjustment is among the entries; and,
  where no write of the wallet went unanswered, the balance is what the acknowledged writes add up
  to and the held points are the open reservations;
- every product's stock is its start less what acknowledged sales and reservations took, plus
  acknowledged refunds and cancellations (in a community where no stock-moving write went unanswered);

and with the ``market`` command on the same database: ``market ledger verify`` and
``market reports check``.
"""

import asyncio
import subprocess
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.checkin_load import SETUP_CONCURRENCY, bearer, market_command, market_env, no_cookies
from bench.town_model import Community, Resident, Stay
from ledger import format_points, to_hundredths

#: Shown per check, the rest counted.
SHOWN = 5


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


class Findings:
    """What one check found wrong, and how many things it looked at."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.looked = 0
        self.wrong: list[str] = []
        self.skipped = 0

    def check(self, condition: bool, what: str) -> None:
        self.looked += 1
        if not condition:
            self.wrong.append(what)

    def result(self, noun: str) -> Check:
        skipped = (f"; {self.skipped} not comparable (a write of theirs went unanswered)"
                   if self.skipped else "")
        if not self.wrong:
            return Check(self.name, True, f"{self.looked} {noun} checked{skipped}")
        shown = "; ".join(self.wrong[:SHOWN])
        more = f" (+{len(self.wrong) - SHOWN} more)" if len(self.wrong) > SHOWN else ""
        return Check(self.name, False,
                     f"{len(self.wrong)} of {self.looked} {noun} wrong: {shown}{more}{skipped}")


async def audit(url: str, communities: list[Community], database_url: str, workdir: Path) -> list[Check]:
    async with httpx.AsyncClient(base_url=url, timeout=120, cookies=no_cookies()) as client:
        slots = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def get(path: str, token: str) -> httpx.Response:
            async with slots:
                return await client.get(path, headers=bearer(token))

        checks = [
            await _redemptions(get, communities),
            await _orders(get, communities),
            await _attendance(get, communities),
            *await _wallets(get, communities),
            await _stock(get, communities),
        ]
    checks.append(_command("market ledger verify", ["ledger", "verify"], database_url, workdir))
    checks.append(_command("market reports check", ["reports", "check"], database_url, workdir))
    return checks


Get = Callable[[str, str], Awaitable[httpx.Response]]


async def _read(get: Get, found: Findings, path: str, token: str, what: str) -> dict | None:
    """The JSON at ``path``; None, noted as wrong, for any answer but 200."""
    answer = await get(path, token)
    if answer.status_code != 200:
        found.check(False, f"{what}: {answer.status_code} {answer.text[:200]}")
        return None
    return answer.json()


async def _redemptions(get: Get, communities: list[Community]) -> Check:
    found = Findings("acknowledged redemptions and refunds present")

    async def one(c: Community, sale) -> None:
        view = await _read(get, found, f"/api/redemptions/{sale.id}", c.keeper, f"redemption {sale.id}")
        if view is None:
            return
        lines = {x["product_id"]: x["quantity"] for x in view["items"]}
        refunded = to_hundredths(view["refunded"])
        found.check(
            view["person"]["id"] == sale.resident.id and lines == sale.lines
            and to_hundredths(view["total"]) == sale.total
            and (refunded == sale.refunded if not sale.unsure else refunded >= sale.refunded),
            f"redemption {sale.id}: person {view['person']['id']}, {lines}, total {view['total']}, "
            f"refunded {view['refunded']}; acknowledged: person {sale.resident.id}, {sale.lines}, "
            f"total {format_points(sale.total)}, refunded {format_points(sale.refunded)}",
        )

    await asyncio.gather(*(one(c, sale) for c in communities for sale in c.sales))
    return found.result("redemptions")


async def _orders(get: Get, communities: list[Community]) -> Check:
    found = Findings("acknowledged reservations present")

    async def one(c: Community, order) -> None:
        view = await _read(get, found, f"/api/orders/{order.id}", c.keeper, f"order {order.id}")
        if view is None:
            return
        status_ok = view["status"] == order.status or (order.unsure and order.status == "reserved")
        found.check(status_ok and to_hundredths(view["total"]) == order.total,
                    f"order {order.id}: {view['status']}, total {view['total']}; acknowledged: "
                    f"{order.status}, total {format_points(order.total)}")

    await asyncio.gather(*(one(c, order) for c in communities for order in c.orders))
    return found.result("reservations")


async def _attendance(get: Get, communities: list[Community]) -> Check:
    found = Findings("acknowledged check-ins, check-outs and approvals present")

    async def one(c: Community, activity, stays: list[Stay]) -> None:
        view = await _read(get, found, f"/api/activities/{activity.id}/attendance", c.organizer,
                           f"attendance of activity {activity.id}")
        if view is None:
            return
        rows = {row["person_id"]: row for row in view["items"]}
        for stay in stays:
            person_id = stay.resident.id
            row = rows.pop(person_id, None)
            if row is None:
                found.check(False, f"activity {activity.id}: the check-in of person {person_id} is missing")
                continue
            if stay.unsure:
                found.skipped += 1
                found.check(row["status"] in ("in", "out"), f"activity {activity.id}, person {person_id}: "
                            f"status {row['status']}")
                continue
            approval = "approved" if stay.approved else "pending" if stay.pending else None
            credited = stay.points_in + (stay.points_out if stay.out else 0)
            found.check(
                row["status"] == ("out" if stay.out else "in") and row["approval"] == approval
                and to_hundredths(row["points"]) == credited,
                f"activity {activity.id}, person {person_id}: {row['status']}, approval {row['approval']}, "
                f"points {row['points']}; acknowledged: {'out' if stay.out else 'in'}, approval {approval}, "
                f"points {format_points(credited)}",
            )
        for person_id, row in rows.items():
            found.check((activity.id, person_id) in c.lost_pairs,
                        f"activity {activity.id}: a stay of person {person_id} ({row['status']}) "
                        "that no check-in was acknowledged for")

    of: defaultdict[int, list[Stay]] = defaultdict(list)
    for c in communities:
        for stay in c.stays.values():
            of[stay.activity.id].append(stay)
    await asyncio.gather(*(one(c, activity, of[activity.id])
                           for c in communities for activity in c.activities))
    return found.result("stays")


async def _wallets(get: Get, communities: list[Community]) -> list[Check]:
    replay = Findings("every balance equals the sum of its entries")
    adjustments = Findings("acknowledged adjustments present")
    expected = Findings("every balance equals the acknowledged writes")

    async def one(c: Community, resident: Resident) -> None:
        wallet = await _read(get, replay, "/api/me/balance", resident.token, f"balance of {resident.id}")
        if wallet is None:
            return
        balance, held = to_hundredths(wallet["balance"]), to_hundredths(wallet["held"])
        entries = await _entries(get, resident)
        if isinstance(entries, str):
            replay.check(False, f"person {resident.id}: entries {entries}")
            return
        total = sum(to_hundredths(e["amount"]) for e in entries)
        newest = to_hundredths(entries[0]["balance_after"]) if entries else 0
        replay.check(total == balance == newest,
                     f"person {resident.id}: balance {format_points(balance)}, entries add up to "
                     f"{format_points(total)}, the newest says {format_points(newest)}")
        amounts = {e["id"]: to_hundredths(e["amount"]) for e in entries}
        for transfer_id, amount in resident.adjustments.items():
            there = "missing" if transfer_id not in amounts else f"is {format_points(amounts[transfer_id])}"
            adjustments.check(amounts.get(transfer_id) == amount, f"person {resident.id}: adjustment "
                              f"{transfer_id} of {format_points(amount)} {there}")
        if resident.unsure:
            expected.skipped += 1
            return
        earned = sum(s.credited() for s in c.stays.values() if s.resident is resident)
        adjusted = sum(resident.adjustments.values())
        owed = adjusted + earned - resident.spent
        expected.check(balance == owed and held == resident.held,
                       f"person {resident.id}: balance {format_points(balance)}, held {format_points(held)}; "
                       f"acknowledged: {format_points(owed)} (adjustments {format_points(adjusted)}, earned "
                       f"{format_points(earned)}, spent {format_points(resident.spent)}), "
                       f"held {format_points(resident.held)}")

    await asyncio.gather(*(one(c, r) for c in communities for r in c.residents))
    return [replay.result("wallets"), adjustments.result("adjustments"), expected.result("wallets")]


async def _entries(get: Get, resident: Resident) -> list[dict] | str:
    """Every entry of the resident's wallet, newest first (every page), or what went wrong."""
    entries: list[dict] = []
    cursor = None
    while True:
        path = "/api/me/entries?limit=100" + (f"&cursor={cursor}" if cursor else "")
        answer = await get(path, resident.token)
        if answer.status_code != 200:
            return f"{answer.status_code} {answer.text[:200]}"
        page = answer.json()
        entries += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return entries


async def _stock(get: Get, communities: list[Community]) -> Check:
    found = Findings("every product's stock equals the acknowledged writes")
    for c in communities:
        listed = await _read(get, found, "/api/products", c.admin, f"products of {c.name}")
        if listed is None:
            continue
        stock = {p["id"]: p["stock"] for p in listed["items"]}
        for product in c.products.values():
            if c.unsure[product.id] > 0:
                found.skipped += 1
                continue
            left = product.stock - c.units_out[product.id]
            found.check(stock.get(product.id) == left,
                        f"{c.name} {product.name}: stock {stock.get(product.id)}, acknowledged {left}")
    return found.result("products")


def _command(name: str, arguments: list[str], database_url: str, workdir: Path) -> Check:
    """A ``market`` command on the run's database, as an operator would run it."""
    done = subprocess.run([*market_command(), *arguments], env=market_env(database_url), cwd=workdir,
                          capture_output=True, text=True, timeout=600)
    said = " ".join((done.stdout + " " + done.stderr).split())
    return Check(name, done.returncode == 0, f"exit {done.returncode}: {said[:400]}")
