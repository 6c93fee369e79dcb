"""Generate a large community straight into a fresh SQLite database, for ``bench/report_load.py``.

10,000 residents in 4,000 households (50 buildings, 40 grids, 20 teams), 2,000 activities in
2026, and by default 1,000,000 ledger transfers: 450,000 stays (a check-in and a check-out
credit each) and 100,000 redemptions at the shop, in time order. Rows are written with bulk
``executemany`` in one transaction; every transfer's hash is computed exactly as the ledger
does (``ledger.chain.link`` over ``ledger.model.Row``), balances are carried along, and the
account rows get their final balances, so ``market ledger verify`` passes on the result.
Times in the past only (up to 2026-11-22), so the "current month" of the boards is real data.
"""

import random
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ledger.chain import genesis_of, link, new_origin
from ledger.model import ROW_COLUMNS, Row
from ledger.schema import INSERT_CHAIN
from market.china_time import CHINA

COMMUNITY = "幸福里社区"
CATEGORIES = ("self_governance", "collective_labour", "volunteer_service")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅"
CHECKIN, PER_STAY_HOURS, PER_HOUR = 500, 200, 1000  # 5.00 points, 2.00 h, 10.00 points/h


@dataclass
class Sizes:
    residents: int = 10_000
    households: int = 4_000
    activities: int = 2_000
    transfers: int = 1_000_000
    redemptions: int = 100_000
    products: int = 50

    @property
    def stays(self) -> int:
        return (self.transfers - self.redemptions) // 2


def ts(at: datetime) -> str:
    """How Piccolo stores a TIMESTAMPTZ on SQLite: str() of the UTC datetime."""
    return str(at.astimezone(UTC))


def micros(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000 + at.microsecond


def generate(path: str, sizes: Sizes, seed: int = 7) -> dict[str, float]:
    """Fill the (migrated, empty) database at ``path``; returns timings in seconds."""
    rng = random.Random(seed)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN IMMEDIATE")
    created = ts(datetime(2025, 12, 1, tzinfo=UTC))
    (community,) = con.execute("INSERT INTO community (name, created_at) VALUES (?, ?) RETURNING id",
                               (COMMUNITY, created)).fetchone()
    (compound,) = con.execute("INSERT INTO compound (community, name) VALUES (?, ?) RETURNING id",
                              (community, "幸福里")).fetchone()
    buildings = [con.execute("INSERT INTO building (community, compound, name) VALUES (?, ?, ?) RETURNING id",
                             (community, compound, f"{n}号楼")).fetchone()[0] for n in range(1, 51)]
    grids = [con.execute("INSERT INTO grid (community, name) VALUES (?, ?) RETURNING id",
                         (community, f"第{n}网格")).fetchone()[0] for n in range(1, 41)]
    teams = [con.execute("INSERT INTO team (community, name) VALUES (?, ?) RETURNING id",
                         (community, f"志愿服务队{n}")).fetchone()[0] for n in range(1, 21)]
    households = []
    for n in range(sizes.households):
        building = buildings[n % len(buildings)]
        unit, room = str(n // len(buildings) % 6 + 1), str(100 * (n // 300 % 18 + 1) + n % 6 + 1)
        households.append(con.execute(
            "INSERT INTO household (community, building, unit, room, grid) VALUES (?, ?, ?, ?, ?)"
            " RETURNING id",
            (community, building, unit, f"{room}-{n}", grids[n % len(grids)])).fetchone()[0])
    people = []
    for n in range(sizes.residents):
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        people.append(con.execute(
            "INSERT INTO person (community, name, phone, roles, card_no, created_at, household)"
            " VALUES (?, ?, ?, 'resident', ?, ?, ?) RETURNING id",
            (community, name, f"139{n:08d}", f"B{n:09d}", created, households[n % len(households)]),
        ).fetchone()[0])
    con.executemany(
        "INSERT INTO team_member (team, person, is_leader, joined_at) VALUES (?, ?, FALSE, ?)",
        [(teams[n % len(teams)], people[n * 5], created) for n in range(len(people) // 5)],
    )
    genesis = genesis_of(new_origin(community))
    con.execute(INSERT_CHAIN.format(p1="?1", p2="?2", p3="?3", p4="0"),
                (community, genesis, new_origin(community)))
    accounts = {}
    for kind, owner, negative in (("issuance", "", True), ("shop", "", False), ("expiry", "", False)):
        accounts[kind] = con.execute(
            "INSERT INTO ledger_account (ledger, kind, owner, allow_negative) VALUES (?, ?, ?, ?)"
            " RETURNING id",
            (community, kind, owner, negative)).fetchone()[0]
    wallets = {}
    for person in people:
        wallets[person] = con.execute(
            "INSERT INTO ledger_account (ledger, kind, owner) VALUES (?, 'wallet', ?) RETURNING id",
            (community, str(person))).fetchone()[0]
    products = []
    for n in range(sizes.products):
        price = 500 * (n % 6 + 1)
        products.append((con.execute(
            "INSERT INTO product (community, name, price, stock, created_at) VALUES (?, ?, ?, 0, ?)"
            " RETURNING id",
            (community, f"商品{n + 1:02d}", price, created)).fetchone()[0], price))
    stock = {pid: 10 * sizes.redemptions // sizes.products for pid, _ in products}
    con.executemany(
        "INSERT INTO stock_movement (community, product, delta, stock_after, kind, at)"
        " VALUES (?, ?, ?, ?, 'initial', ?)",
        [(community, pid, stock[pid], stock[pid], created) for pid, _ in products],
    )
    timings["structure"] = time.perf_counter() - started

    # Activities through 2026 up to 2026-11-22, evenly spaced; stays and redemptions in order.
    first = datetime(2026, 1, 1, 8, tzinfo=CHINA)
    span = datetime(2026, 11, 22, 8, tzinfo=CHINA) - first
    step = span / sizes.activities
    per_activity = sizes.stays // sizes.activities
    redemption_times = sorted(first + span * rng.random() for _ in range(sizes.redemptions))
    balances: dict[int, int] = {account: 0 for account in [*accounts.values(), *wallets.values()]}
    state = {"seq": 0, "hash": genesis, "at": 0}
    transfers: list[tuple] = []
    stays: list[tuple] = []
    redemptions: list[tuple] = []
    lines: list[tuple] = []
    movements: list[tuple] = []
    activity_rows = []
    keeper = people[0]
    stay_id = 0
    redemption_id = 0
    r_next = 0
    hashing = 0.0

    def append(at: datetime, id_: str, kind: str, debit: int, credit: int, amount: int, memo: str,
               reference: str | None) -> int:
        nonlocal hashing
        balances[debit] -= amount
        balances[credit] += amount
        state["seq"] += 1
        # The one community's chain: its number is the row's seq.
        row = Row(seq=state["seq"], id=id_, ledger=community, kind=kind, phase="single", debit=debit,
                  credit=credit, amount=amount, memo=memo, reference=reference, pending_id=None,
                  reverses=None, timeout_ms=None, at_us=micros(at), debit_after=balances[debit],
                  credit_after=balances[credit], hash="", number=state["seq"])
        state["at"] = row.at_us
        t0 = time.perf_counter()
        row.hash = state["hash"] = link(state["hash"], row)
        hashing += time.perf_counter() - t0
        transfers.append(row.values())
        return balances[debit]

    def redeem(at: datetime) -> None:
        nonlocal redemption_id
        pid, price = products[rng.randrange(len(products))]
        for _ in range(20):
            person = people[rng.randrange(len(people))]
            if balances[wallets[person]] >= price and stock[pid] > 0:
                break
        else:
            return
        redemption_id += 1
        transfer_id = f"redemption-{redemption_id}"
        after = append(at, transfer_id, "redemption", wallets[person], accounts["shop"], price,
                       f"R{redemption_id:08d}", f"redemption:{redemption_id}")
        redemptions.append((redemption_id, community, person, keeper, f"k{redemption_id}", "0" * 64, price,
                            transfer_id, after, ts(at)))
        lines.append((redemption_id, pid, 1, price))
        stock[pid] -= 1
        movements.append((community, pid, -1, stock[pid], "redemption", f"redemption:{redemption_id}",
                          ts(at)))

    for a in range(sizes.activities):
        starts = first + step * a
        category = CATEGORIES[a % 3]
        activity_rows.append((a + 1, community, f"活动{a + 1}", category, ts(starts),
                              ts(starts + timedelta(hours=2)), CHECKIN, PER_HOUR, ts(starts)))
        window_end = first + step * (a + 1)
        events = []
        for k, person in enumerate(rng.sample(people, per_activity)):
            stay_id += 1
            in_at = starts + timedelta(seconds=k)
            out_at = starts + timedelta(hours=2, seconds=k)
            events.append((in_at, 0, stay_id, person))
            events.append((out_at, 1, stay_id, person))
            stays.append((stay_id, community, a + 1, person, ts(in_at), ts(out_at), PER_STAY_HOURS, CHECKIN,
                          PER_STAY_HOURS * PER_HOUR // 100))
        while r_next < len(redemption_times) and redemption_times[r_next] < window_end:
            events.append((redemption_times[r_next], 2, 0, 0))
            r_next += 1
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        for at, what, sid, person in events:
            if what == 0:
                append(at, f"checkin:{sid}:in", "checkin", accounts["issuance"], wallets[person], CHECKIN,
                       f"活动{a + 1}", None)
            elif what == 1:
                append(at, f"checkin:{sid}:out", "checkout", accounts["issuance"], wallets[person],
                       PER_STAY_HOURS * PER_HOUR // 100, f"活动{a + 1}", None)
            else:
                redeem(at)
        if len(transfers) >= 100_000:
            _flush(con, transfers, stays, redemptions, lines, movements)
    _flush(con, transfers, stays, redemptions, lines, movements)
    timings["transfers_hashing"] = hashing
    con.executemany(
        "INSERT INTO activity (id, community, title, category, starts_at, ends_at, points_per_checkin,"
        " points_per_hour, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", activity_rows)
    con.executemany("UPDATE ledger_account SET balance = ? WHERE id = ?",
                    [(balance, account) for account, balance in balances.items()])
    con.executemany("UPDATE product SET stock = ? WHERE id = ?", [(s, pid) for pid, s in stock.items()])
    con.execute("UPDATE ledger_chain SET head_seq = ?, head_hash = ?, head_at_us = ? WHERE ledger = ?",
                (state["seq"], state["hash"], state["at"], community))
    con.execute("COMMIT")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("ANALYZE")
    con.close()
    timings["total"] = time.perf_counter() - started
    timings["transfers"] = state["seq"]
    timings["stays"] = stay_id
    timings["redemptions"] = redemption_id
    return timings


def _flush(con: sqlite3.Connection, transfers: list, stays: list, redemptions: list, lines: list,
           movements: list) -> None:
    marks = ", ".join("?" for _ in ROW_COLUMNS)
    con.executemany(f"INSERT INTO ledger_transfer ({', '.join(ROW_COLUMNS)}) VALUES ({marks})", transfers)
    con.executemany(
        "INSERT INTO activity_stay (id, community, activity, person, in_at, out_at, hours, points_in,"
        " points_out, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'out')", stays)
    con.executemany(
        "INSERT INTO redemption (id, community, person, keeper, key, request_hash, total, transfer_id,"
        " balance_after, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", redemptions)
    con.executemany(
        "INSERT INTO redemption_line (redemption, product, quantity, unit_price) VALUES (?, ?, ?, ?)", lines)
    con.executemany(
        "INSERT INTO stock_movement (community, product, delta, stock_after, kind, ref, at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)", movements)
    for batch in (transfers, stays, redemptions, lines, movements):
        batch.clear()
