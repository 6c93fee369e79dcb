"""A town's mixed day as clients make it: each client picks a community and something its people do,
sends it over one keep-alive connection (``bench.checkin_load.Connection``), records the answer and
remembers every acknowledged write in the model (``bench.town_model``).

What the clients do, by weight (``MIX``): residents scan an activity's rotating code to check
in and out (the code fetched by the organizer's screen, ``GET /api/activities/{id}/code``, and shown
until it refreshes), scan again by mistake, and the organizer approves stays of activities that
require it (creating a new activity when everybody has been to all); the shop keeper scans a
resident's member code (``GET /api/me/code``, shown until it refreshes) and sells a basket of several
goods under an ``Idempotency-Key`` (some of them re-sent: the same redemption must come back), sells
baskets that must be refused (more than the stock, or more points than anyone has), and takes back
part of an earlier sale; residents reserve goods, cancel some, the shop hands out others; admins
adjust wallets; everyone reads balances, histories, the goods, the activities and ``/health``.

Every answer is recorded per operation (``bench.town_answers``). A refusal the rules allow (409
``insufficient_points``, ``out_of_stock``, ``limit_exceeded``; 410 ``expired`` for a stale code,
fetched again and sent again) is not a fault; any other 4xx, any 5xx and any request left without an
answer is. A write left without a clear answer is settled after the day (``Day.settle``): a keyed
one is sent again with the same key and body (the first outcome comes back, or it is done now, as a
client retrying would), a scan, an approval or an order's end is read back.
"""

import asyncio
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx

from bench.checkin_load import Connection
from bench.town_answers import Answer, Recorder
from bench.town_model import (
    Activity,
    Community,
    Order,
    Resident,
    Sale,
    Shown,
    Stay,
    Unsettled,
)
from ledger import format_points, to_hundredths

#: No answer within this many seconds counts as no answer at all.
REQUEST_TIMEOUT = 30.0
#: Refusals a basket may meet on a busy day (409 with these reasons).
BASKET_REFUSALS = frozenset({(409, "insufficient_points"), (409, "out_of_stock"), (409, "limit_exceeded")})
#: A basket that must be refused: more than the stock, or more points than anyone has.
MUST_REFUSE = frozenset({(409, "insufficient_points"), (409, "out_of_stock")})
#: A keyed request sent again after the day with a member code that went stale meanwhile: not done.
STALE = (410, "expired")
#: What the clients do, and how often (weights).
MIX = {
    "check-in": 18, "check-out": 9, "scan again": 2, "approve": 2,
    "redeem": 15, "redeem, must be refused": 2, "refund": 4,
    "reserve": 6, "cancel order": 3, "fulfil order": 3,
    "adjust": 5,
    "balance": 9, "entries": 6, "products": 6, "activities": 4, "health": 6,
}

Refusals = frozenset[tuple[int, str]]


class Day:
    """The clients' day over one server: ``health_alone`` for the baseline, ``mix``, then ``settle``."""

    def __init__(self, url: str, communities: list[Community], run: str, seed: int) -> None:
        address = httpx.URL(url)
        self.host, self.port = address.host, address.port or 80
        self.communities = communities
        self.run = run
        self.rng = random.Random(seed)
        self.recorder = Recorder()
        self.keys = itertools.count(1)
        self.resent = 0
        self.unsettled: list[Unsettled] = []
        self.operations: dict[str, Callable[[Connection, Community], Awaitable[None]]] = {
            "check-in": self.check_in, "check-out": self.check_out, "scan again": self.scan_again,
            "approve": self.approve, "redeem": self.redeem, "redeem, must be refused": self.redeem_refused,
            "refund": self.refund, "reserve": self.reserve, "cancel order": self.cancel_order,
            "fulfil order": self.fulfil_order, "adjust": self.adjust, "balance": self.read_balance,
            "entries": self.read_entries, "products": self.read_products,
            "activities": self.read_activities, "health": self.health,
        }

    # -- the phases ---------------------------------------------------------------------------------

    async def health_alone(self, clients: int, seconds: float) -> tuple[int, float]:
        """``GET /health`` only, by the same number of clients: (requests, wall seconds)."""
        recorder, self.recorder = self.recorder, Recorder()
        try:
            wall = await self._clients(clients, seconds, lambda conn: self.health(conn, None))
            return sum(self.recorder.tallies["health"].statuses.values()), wall
        finally:
            recorder.faults_of(self.recorder)
            self.recorder = recorder

    async def mix(self, clients: int, seconds: float) -> float:
        """The mixed day for ``seconds``; returns the wall time from the first request to the last
        answer (requests in flight at the deadline are waited for)."""
        operations = [self.operations[name] for name in MIX]
        weights = list(MIX.values())

        async def one(conn: Connection) -> None:
            community = self.rng.choice(self.communities)
            await self.rng.choices(operations, weights)[0](conn, community)

        return await self._clients(clients, seconds, one)

    async def settle(self) -> tuple[Recorder, int]:
        """After the day, find out what each write without a clear answer did (three tries each, a
        second apart). Its requests are recorded apart (their faults count as the day's); returns
        that record and how many writes are still unsettled."""
        recorder, self.recorder = self.recorder, Recorder()
        conn = Connection(self.host, self.port)
        try:
            for write in self.unsettled:
                for attempt in range(3):
                    if attempt:
                        await asyncio.sleep(1)
                    if await write.settle(conn):
                        write.unmark()
                        break
            return self.recorder, sum(not write.settled for write in self.unsettled)
        finally:
            conn.close()
            recorder.faults_of(self.recorder)
            self.recorder = recorder

    async def _clients(self, clients: int, seconds: float,
                       one: Callable[[Connection], Awaitable[None]]) -> float:
        started = time.perf_counter()
        deadline = started + seconds

        async def client() -> None:
            conn = Connection(self.host, self.port)
            try:
                while time.perf_counter() < deadline:
                    await one(conn)
            finally:
                self.resent += conn.resent
                conn.close()

        await asyncio.gather(*(client() for _ in range(clients)))
        return time.perf_counter() - started

    # -- requests --------------------------------------------------------------------------------------

    async def call(self, conn: Connection, op: str, method: str, path: str, token: str | None = None,
                   body: dict | None = None, key: str | None = None) -> Answer:
        payload = json.dumps(body).encode() if body is not None else b""
        headers = {"Idempotency-Key": key} if key else None
        started = time.perf_counter()
        try:
            status, raw = await asyncio.wait_for(conn.request(method, path, token, payload, headers),
                                                 REQUEST_TIMEOUT)
            answer = Answer(status, raw)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, OSError) as error:
            conn.close()
            answer = Answer(0, (type(error).__name__ + " " + str(error)).strip().encode())
        self.recorder.record(op, answer, time.perf_counter() - started)
        return answer

    def judge(self, op: str, answer: Answer, ok: tuple[int, ...] = (200, 201),
              refusals: Refusals = frozenset()) -> str:
        """"ok", "refused" (a refusal the rules allow), "unclear" (5xx or no answer: recorded as
        such) or "wrong" (any other answer: recorded as unexpected)."""
        if answer.status in ok:
            return "ok"
        if not answer.clear:
            return "unclear"
        if (answer.status, answer.reason) in refusals:
            return "refused"
        self.recorder.wrong(op, answer, "unexpected answer")
        return "wrong"

    def key(self, what: str) -> str:
        return f"town-{self.run}-{what}-{next(self.keys)}"

    def unclear(self, what: str, answer: Answer, settle: Callable[[Connection], Awaitable[bool]],
                c: Community, residents: list[Resident], products=()) -> None:
        """A write without a clear answer: its wallets and goods are not compared until ``settle``
        finds out what it did."""
        write = Unsettled(f"{what}: {answer.status} {answer.reason}", settle, c, residents, list(products))
        write.mark()
        self.unsettled.append(write)

    async def keyed(self, conn: Connection, op: str, path: str, token: str, body: dict, key: str,
                    refusals: Refusals, done: Callable[[Answer], object], c: Community,
                    residents: list[Resident], products=(),
                    answer: Answer | None = None) -> tuple[str, object]:
        """A write under an Idempotency-Key (``answer``: its answer when already sent): the verdict,
        and ``done(answer)`` when acknowledged. Without a clear answer, it is settled after the day
        by sending the same key and body again: the first outcome, or done now."""
        if answer is None:
            answer = await self.call(conn, op, "POST", path, token, body, key)
        verdict = self.judge(op, answer, ok=(201,), refusals=refusals)
        if verdict == "ok":
            return verdict, done(answer)
        if verdict == "unclear":
            async def settle(conn: Connection) -> bool:
                again = await self.call(conn, f"{op} (settling)", "POST", path, token, body, key)
                verdict = self.judge(f"{op} (settling)", again, ok=(201,), refusals=refusals | {STALE})
                if verdict == "ok":
                    done(again)
                return verdict in ("ok", "refused")

            self.unclear(f"{op} {key}", answer, settle, c, residents, products)
        return verdict, None

    # -- codes on screens ------------------------------------------------------------------------------

    async def activity_code(self, conn: Connection, c: Community, activity: Activity) -> str | None:
        """The check-in code on the organizer's screen."""
        return await self.shown(conn, activity.code, "activity code", f"/api/activities/{activity.id}/code",
                                c.organizer, "token")

    async def member_code(self, conn: Connection, resident: Resident) -> str | None:
        """The member code on the resident's phone."""
        return await self.shown(conn, resident.code, "member code", "/api/me/code", resident.token, "code")

    async def shown(self, conn: Connection, screen: Shown, op: str, path: str, token: str,
                    name: str) -> str | None:
        """The code a screen shows, fetched again when the screen would refresh it."""
        if time.monotonic() < screen.until:
            return screen.text
        answer = await self.call(conn, op, "GET", path, token)
        if self.judge(op, answer, ok=(200,)) != "ok":
            return None
        body = answer.json()
        screen.text, screen.until = body[name], time.monotonic() + max(1, body["refresh_in"])
        return screen.text

    # -- attendance ------------------------------------------------------------------------------------

    async def scan(self, conn: Connection, c: Community, activity: Activity, resident: Resident,
                   direction: str, op: str) -> Answer | None:
        """The resident scans the activity's code; a stale code (410) is scanned again fresh."""
        answer = None
        for _ in range(3):
            code = await self.activity_code(conn, c, activity)
            if code is None:
                return None
            answer = await self.call(conn, op, "POST", "/api/checkins", resident.token,
                                     {"token": code, "direction": direction})
            if (answer.status, answer.reason) != STALE:
                break
            activity.code.until = 0.0
        return answer

    async def attendance(self, conn: Connection, c: Community, activity: Activity) -> dict[int, dict] | None:
        """The activity's stays by person, as the organizer reads them (None: no clear answer)."""
        op = "attendance (settling)"
        answer = await self.call(conn, op, "GET", f"/api/activities/{activity.id}/attendance", c.organizer)
        if self.judge(op, answer, ok=(200,)) != "ok":
            return None
        return {row["person_id"]: row for row in answer.json()["items"]}

    async def check_in(self, conn: Connection, c: Community) -> None:
        resident = self.rng.choice(c.residents)
        activity = next((a for a in reversed(c.activities)
                         if (a.id, resident.id) not in c.stays and (a.id, resident.id) not in c.lost_pairs
                         and resident.id not in a.busy), None)
        if activity is None:  # everybody has been to everything: the organizer plans another
            await self.create_activity(conn, c)
            return
        activity.busy.add(resident.id)
        resent = conn.resent
        try:
            answer = await self.scan(conn, c, activity, resident, "in", "check-in")
        finally:
            activity.busy.discard(resident.id)
        if answer is None:
            return
        verdict = self.judge("check-in", answer)
        if verdict == "ok":
            body = answer.json()
            if body.get("duplicate") and conn.resent == resent:
                self.recorder.wrong("check-in", answer, "a first check-in answered as a repeat")
            self._checked_in(c, activity, resident, to_hundredths(body["points"]),
                             body.get("approval") == "pending")
        elif verdict == "unclear":
            c.lost_pairs.add((activity.id, resident.id))

            async def settle(conn: Connection) -> bool:
                rows = await self.attendance(conn, c, activity)
                if rows is not None and (row := rows.get(resident.id)) is not None:
                    self._checked_in(c, activity, resident, to_hundredths(row["points"]),
                                     row["approval"] == "pending")
                return rows is not None

            self.unclear(f"check-in at activity {activity.id}", answer, settle, c, [resident])

    @staticmethod
    def _checked_in(c: Community, activity: Activity, resident: Resident, points_in: int,
                    pending: bool) -> None:
        stay = Stay(activity, resident, points_in, pending=pending)
        c.stays[(activity.id, resident.id)] = stay
        c.checked_in.append(stay)
        if stay.pending:
            c.waiting.append(stay)

    async def check_out(self, conn: Connection, c: Community) -> None:
        if not c.checked_in:
            await self.read_balance(conn, c)
            return
        stay = _take(c.checked_in, self.rng)
        stay.busy = True
        try:
            answer = await self.scan(conn, c, stay.activity, stay.resident, "out", "check-out")
        finally:
            stay.busy = False
        if answer is None:
            c.checked_in.append(stay)
            return
        verdict = self.judge("check-out", answer)
        if verdict == "ok":
            stay.out, stay.points_out = True, to_hundredths(answer.json()["points"])
        elif verdict == "unclear":
            stay.unsure = f"check-out {answer.status} {answer.reason}"

            async def settle(conn: Connection) -> bool:
                rows = await self.attendance(conn, c, stay.activity)
                if rows is None:
                    return False
                row = rows.get(stay.resident.id, {})  # a stay gone missing: the audit says so
                if row.get("status") == "out":
                    stay.out, stay.points_out = True, to_hundredths(row["points"]) - stay.points_in
                stay.unsure = ""
                return True

            self.unclear(f"check-out at activity {stay.activity.id}", answer, settle, c, [stay.resident])

    async def scan_again(self, conn: Connection, c: Community) -> None:
        """A resident scans a code they already scanned: a repeat, nothing credited again."""
        stays = [s for s in c.stays.values() if not s.busy and not s.unsure]
        if not stays:
            await self.read_balance(conn, c)
            return
        stay = self.rng.choice(stays)
        answer = await self.scan(conn, c, stay.activity, stay.resident, "in", "scan again")
        if answer is not None and self.judge("scan again", answer, ok=(200,)) == "ok":
            body = answer.json()
            if not body.get("duplicate") or to_hundredths(body["points"]) != stay.points_in:
                self.recorder.wrong("scan again", answer,
                                    f"a repeat scan should be a duplicate of {format_points(stay.points_in)}")

    async def approve(self, conn: Connection, c: Community) -> None:
        if not c.waiting:
            await self.read_activities(conn, c)
            return
        activity = self.rng.choice(c.waiting).activity
        batch = [s for s in c.waiting if s.activity is activity][:10]
        c.waiting[:] = [s for s in c.waiting if s not in batch]
        answer = await self.call(conn, "approve", "POST", f"/api/activities/{activity.id}/approve",
                                 c.organizer, {"person_ids": [s.resident.id for s in batch]})
        verdict = self.judge("approve", answer, ok=(200,))
        if verdict == "ok":
            for stay in batch:
                stay.approved = True
            if answer.json().get("count") != len(batch):
                self.recorder.wrong("approve", answer, f"{len(batch)} pending stays sent for approval")
        elif verdict == "unclear":
            for stay in batch:
                stay.unsure = f"approval {answer.status} {answer.reason}"

            async def settle(conn: Connection) -> bool:
                rows = await self.attendance(conn, c, activity)
                if rows is None:
                    return False
                for stay in batch:
                    row = rows.get(stay.resident.id, {})  # a stay gone missing: the audit says so
                    stay.approved, stay.unsure = row.get("approval") == "approved", ""
                return True

            self.unclear(f"approval at activity {activity.id}", answer, settle, c,
                         [s.resident for s in batch])
        else:
            c.waiting.extend(batch)

    async def create_activity(self, conn: Connection, c: Community) -> None:
        if c.creating_activity:
            await self.read_activities(conn, c)
            return
        c.creating_activity = True
        try:
            n = len(c.activities)
            answer = await self.call(conn, "create activity", "POST", "/api/activities", c.organizer,
                                     activity_body(f"楼道清扫 第{n + 1}场", requires_approval=n % 3 == 1))
            if self.judge("create activity", answer, ok=(201,)) == "ok":
                body = answer.json()
                c.activities.append(Activity(body["id"], body["title"], body["requires_approval"]))
        finally:
            c.creating_activity = False

    # -- the shop counter ------------------------------------------------------------------------------

    def basket(self, c: Community, most: int = 4) -> dict[int, int]:
        """Several goods, now and then the scarce one or the one limited per person."""
        shelf = c.products_of("shelf")
        chosen = self.rng.sample(shelf, self.rng.randint(1, min(most, len(shelf))))
        for kind, chance in (("scarce", 0.15), ("limited", 0.1)):
            if self.rng.random() < chance:
                chosen += c.products_of(kind)
        self.rng.shuffle(chosen)  # as the goods come to the counter
        return {p.id: self.rng.randint(1, 2) for p in chosen}

    async def sell(self, conn: Connection, c: Community, resident: Resident, lines: dict[int, int],
                   op: str, refusals: Refusals) -> tuple[Sale | None, dict]:
        """One redemption at the counter under a new key: (the sale if acknowledged, the body sent)."""
        key = self.key("sale")
        body: dict = {}
        answer = None
        for _ in range(3):
            code = await self.member_code(conn, resident)
            if code is None:
                return None, body
            body = {"member_code": code,
                    "items": [{"product_id": p, "quantity": q} for p, q in lines.items()]}
            answer = await self.call(conn, op, "POST", "/api/redemptions", c.keeper, body, key)
            if (answer.status, answer.reason) != STALE:
                break
            resident.code.until = 0.0  # the code went stale at the counter: the phone shows the new one
        assert answer is not None

        def sold(answer: Answer) -> Sale:
            view = answer.json()
            total = to_hundredths(view["total"])
            expected = sum(c.products[p].price * q for p, q in lines.items())
            answered = {x["product_id"]: x["quantity"] for x in view["items"]}
            if total != expected or answered != lines or view["person"]["id"] != resident.id:
                self.recorder.wrong(op, answer,
                                    f"sold {lines} for {format_points(expected)} to person {resident.id}")
            if refusals is MUST_REFUSE:
                self.recorder.wrong(op, answer, f"sold {lines}: more than the stock or more points than "
                                                "anyone has")
            sale = Sale(view["id"], key, resident, total, dict(lines), dict(lines))
            c.sales.append(sale)
            resident.spent += total
            c.units_out.update(lines)
            return sale

        _, sale = await self.keyed(conn, op, "/api/redemptions", c.keeper, body, key, refusals, sold, c,
                                   [resident], lines, answer=answer)
        return sale if isinstance(sale, Sale) else None, body

    async def redeem(self, conn: Connection, c: Community) -> None:
        resident = self.rng.choice(c.residents)
        sale, body = await self.sell(conn, c, resident, self.basket(c), "redeem", BASKET_REFUSALS)
        if sale is not None and self.rng.random() < 0.05:
            # The counter's tablet lost the answer and sends the same request again.
            answer = await self.call(conn, "redeem again (same key)", "POST", "/api/redemptions",
                                     c.keeper, body, sale.key)
            if self.judge("redeem again (same key)", answer, ok=(201,)) == "ok" \
                    and answer.json()["id"] != sale.id:
                self.recorder.wrong("redeem again (same key)", answer,
                                    f"the same key should answer redemption {sale.id}")

    async def redeem_refused(self, conn: Connection, c: Community) -> None:
        """A basket no shop can sell: one more than the scarce good's whole stock, or the dear good."""
        resident = self.rng.choice(c.residents)
        if self.rng.random() < 0.5:
            scarce = c.products_of("scarce")[0]
            lines = {scarce.id: scarce.stock + 1}
        else:
            lines = {c.products_of("dear")[0].id: 1}
        lines[self.rng.choice(c.products_of("shelf")).id] = 1
        await self.sell(conn, c, resident, lines, "redeem, must be refused", MUST_REFUSE)

    async def refund(self, conn: Connection, c: Community) -> None:
        sales = [s for s in c.sales if not s.busy and not s.unsure and any(s.left.values())]
        if not sales:
            await self.read_products(conn, c)
            return
        sale = self.rng.choice(sales)
        product = self.rng.choice([p for p, q in sale.left.items() if q])
        quantity = self.rng.randint(1, sale.left[product])
        body = {"reason": "质量问题退货", "items": [{"product_id": product, "quantity": quantity}]}

        def refunded(answer: Answer) -> None:
            view = answer.json()
            total = to_hundredths(view["total"])
            if total != c.products[product].price * quantity or view["redemption_id"] != sale.id:
                self.recorder.wrong("refund", answer, f"took back {quantity} of product {product}")
            sale.left[product] -= quantity
            sale.refunded += total
            sale.resident.spent -= total
            c.units_out[product] -= quantity
            sale.unsure = ""

        sale.busy = True
        try:
            verdict, _ = await self.keyed(conn, "refund", f"/api/redemptions/{sale.id}/refund", c.keeper,
                                          body, self.key("refund"), frozenset(), refunded, c,
                                          [sale.resident], [product])
        finally:
            sale.busy = False
        if verdict == "unclear":
            sale.unsure = "a refund without a clear answer"  # cleared when it is settled as done

    # -- reservations ----------------------------------------------------------------------------------

    async def reserve(self, conn: Connection, c: Community) -> None:
        resident = self.rng.choice(c.residents)
        lines = self.basket(c, most=3)
        body = {"items": [{"product_id": p, "quantity": q} for p, q in lines.items()]}

        def reserved(answer: Answer) -> None:
            view = answer.json()
            order = Order(view["id"], resident, to_hundredths(view["total"]), lines)
            expected = sum(c.products[p].price * q for p, q in lines.items())
            if view["status"] != "reserved" or order.total != expected:
                self.recorder.wrong("reserve", answer, f"reserved {lines} for {format_points(expected)}")
            c.orders.append(order)
            c.reserved.append(order)
            resident.held += order.total
            c.units_out.update(lines)

        await self.keyed(conn, "reserve", "/api/orders", resident.token, body, self.key("order"),
                         BASKET_REFUSALS, reserved, c, [resident], lines)

    async def cancel_order(self, conn: Connection, c: Community) -> None:
        await self._close_order(conn, c, "cancel")

    async def fulfil_order(self, conn: Connection, c: Community) -> None:
        await self._close_order(conn, c, "fulfil")

    async def _close_order(self, conn: Connection, c: Community, action: str) -> None:
        if not c.reserved:
            await self.read_products(conn, c)
            return
        order = _take(c.reserved, self.rng)
        op = f"{action} order"
        status = "cancelled" if action == "cancel" else "fulfilled"
        # The resident calls their own order off; the shop keeper hands goods out.
        token = order.resident.token if action == "cancel" else c.keeper
        order.busy = True
        try:
            answer = await self.call(conn, op, "POST", f"/api/orders/{order.id}/{action}", token)
        finally:
            order.busy = False
        verdict = self.judge(op, answer, ok=(200,))
        if verdict == "ok":
            if answer.json().get("status") != status:
                self.recorder.wrong(op, answer, f"order {order.id} should be {status}")
            self._closed(c, order, status)
        elif verdict == "unclear":
            order.unsure = f"{action} {answer.status} {answer.reason}"

            async def settle(conn: Connection) -> bool:
                again = await self.call(conn, "order (settling)", "GET", f"/api/orders/{order.id}", c.keeper)
                if self.judge("order (settling)", again, ok=(200,)) != "ok":
                    return False
                if again.json()["status"] == status:
                    self._closed(c, order, status)
                order.unsure = ""
                return True

            self.unclear(f"{op} {order.id}", answer, settle, c, [order.resident], order.lines)

    @staticmethod
    def _closed(c: Community, order: Order, status: str) -> None:
        order.status = status
        order.resident.held -= order.total
        if status == "cancelled":
            c.units_out.subtract(order.lines)
        else:
            order.resident.spent += order.total

    # -- the admin's desk ------------------------------------------------------------------------------

    async def adjust(self, conn: Connection, c: Community) -> None:
        resident = self.rng.choice(c.residents)
        debit = self.rng.random() < 0.2
        amount = -self.rng.randint(100, 1000) if debit else self.rng.randint(100, 2000)
        body = {"person_id": resident.id, "amount": format_points(amount),
                "reason": "扣减更正" if debit else "社区表彰"}

        def adjusted(answer: Answer) -> None:
            view = answer.json()
            if to_hundredths(view["amount"]) != amount or view["person_id"] != resident.id:
                self.recorder.wrong("adjust", answer,
                                    f"adjusted person {resident.id} by {format_points(amount)}")
            resident.adjustments[view["id"]] = amount

        refusals = frozenset({(409, "insufficient_points")}) if debit else frozenset()
        await self.keyed(conn, "adjust", "/api/adjustments", c.admin, body, self.key("adjust"), refusals,
                         adjusted, c, [resident])

    # -- reads ---------------------------------------------------------------------------------------

    async def read_balance(self, conn: Connection, c: Community) -> None:
        await self._read(conn, "balance", "/api/me/balance", self.rng.choice(c.residents).token)

    async def read_entries(self, conn: Connection, c: Community) -> None:
        await self._read(conn, "entries", "/api/me/entries?limit=20", self.rng.choice(c.residents).token)

    async def read_products(self, conn: Connection, c: Community) -> None:
        await self._read(conn, "products", "/api/products", self.rng.choice(c.residents).token)

    async def read_activities(self, conn: Connection, c: Community) -> None:
        await self._read(conn, "activities", "/api/activities", self.rng.choice(c.residents).token)

    async def health(self, conn: Connection, _: Community | None) -> None:
        await self._read(conn, "health", "/health", None)

    async def _read(self, conn: Connection, op: str, path: str, token: str | None) -> None:
        self.judge(op, await self.call(conn, op, "GET", path, token), ok=(200,))


def activity_body(title: str, requires_approval: bool) -> dict:
    """An activity open now for three hours (started five minutes ago)."""
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "title": title, "category": "collective_labour", "location": "3号楼",
        "starts_at": (now - timedelta(minutes=5)).isoformat(),
        "ends_at": (now + timedelta(hours=3)).isoformat(),
        "points_per_checkin": "2.00", "points_per_hour": "10.00", "max_hours": "3.00",
        "requires_approval": requires_approval,
    }


def _take(items: list, rng: random.Random):
    """Remove and return a random item (order does not matter)."""
    i = rng.randrange(len(items))
    items[i], items[-1] = items[-1], items[i]
    return items.pop()
