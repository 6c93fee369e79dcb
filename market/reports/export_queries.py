"""The rows of each export (台账): keyset-paged SQL over an indexed id, both engines.

Each export reads its table in pages ordered by the primary key (``seq`` or ``id``):
``WHERE key > last ORDER BY key LIMIT n``. A page is a short query of its own, so an
export of a million rows holds neither a transaction nor more than one page in memory,
and the same SQL runs on SQLite and PostgreSQL (no server-side cursor needed). The
highest key is read once at the start: rows appended while the export runs are left
out, so a page boundary cannot shift.

Values come out as Python values: ``str`` for text, ``Decimal`` (two places) for points
and hours, ``int`` for counts. Times are Beijing time, as text.
"""

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from ledger import to_decimal
from market.auth.roles import ADMIN, ORGANIZER, SHOPKEEPER
from market.auth.sessions import Principal
from market.china_time import CHINA
from market.db import fetch
from market.messages import Language
from market.people.rules import mask_name
from market.shop.counter import receipt_no

PAGE_SIZE = 2000
#: Row pages that look up more rows by id (lines of redemptions, people) keep their IN lists short.
LOOKUP_PAGE = 500

Value = str | Decimal | int | None
Row = tuple[Value, ...]


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC: from the first day's Beijing midnight to the day after the last."""

    first: date
    last: date
    start: datetime
    end: datetime

    @property
    def start_us(self) -> int:
        return _micros(self.start)

    @property
    def end_us(self) -> int:
        return _micros(self.end)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def beijing(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def beijing_us(at_us: int) -> str:
    whole, micro = divmod(at_us, 1_000_000)
    return beijing(datetime.fromtimestamp(whole, tz=UTC).replace(microsecond=micro))


def _text(language: Language, zh: str, en: str) -> str:
    return en if language == "en" else zh


def _in(ids: Sequence[int]) -> str:
    return ", ".join("{}" for _ in ids)


# -- labels -------------------------------------------------------------------------------------

TRANSFER_KINDS = {
    "checkin": ("活动签到", "Check-in"),
    "checkout": ("活动签退", "Check-out"),
    "help": ("民声服务", "Help request done"),
    "approval": ("审核通过", "Approval"),
    "adjustment": ("人工调整", "Adjustment"),
    "redemption": ("超市兑换", "Redemption"),
    "refund": ("退货退分", "Refund"),
    "order": ("线上预订", "Order"),
    "expiry": ("积分过期", "Expiry"),
    "gift": ("积分赠送", "Gift"),
    "reversal": ("冲正", "Reversal"),
    "cancellation": ("活动取消冲正", "Activity cancelled"),
}
PHASES = {
    "single": ("记账", "posted"),
    "pending": ("冻结", "held"),
    "post": ("扣除冻结", "hold taken"),
    "void": ("解除冻结", "hold released"),
}
ACCOUNTS = {
    "issuance": ("社区积分发放", "Community issuance"),
    "shop": ("积分超市", "Shop"),
    "expiry": ("积分过期", "Expiry"),
}
STAY_STATUS = {
    "in": ("已签到", "checked in"),
    "out": ("已签退", "checked out"),
    "closed": ("未签退", "not checked out"),
    "cancelled": ("活动已取消", "activity cancelled"),
}
APPROVAL = {
    None: ("无需审核", "not needed"),
    "pending": ("待审核", "pending"),
    "approved": ("已通过", "approved"),
    "rejected": ("未通过", "rejected"),
}
STOCK_KINDS = {
    "initial": ("初始库存", "initial"),
    "donation": ("捐赠", "donation"),
    "purchase": ("采购", "purchase"),
    "adjustment": ("盘点调整", "adjustment"),
    "redemption": ("兑换", "redemption"),
    "refund": ("退货", "refund"),
    "reservation": ("预订占用", "reservation"),
    "release": ("预订释放", "release"),
}


def _label(table: dict, key: object, language: Language) -> str:
    found = table.get(key)
    if found is None:
        return "" if key is None else str(key)
    return _text(language, *found)


def account_label(kind: str, owner: str, name: str | None, language: Language) -> str:
    if kind == "wallet":
        who = name or ""
        return _text(language, f"居民 {who}（#{owner}）", f"Resident {who} (#{owner})")
    return _label(ACCOUNTS, kind, language)


# -- the exports --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    name: str
    #: (Chinese, English) title: the sheet's name and the file's.
    title: tuple[str, str]
    #: (Chinese, English) per column.
    columns: tuple[tuple[str, str], ...]
    #: Who may take it (any of these roles).
    roles: frozenset[str]
    rows: Callable[[Principal, Period, Language], AsyncIterator[list[Row]]]

    def header(self, language: Language) -> list[str]:
        return [_text(language, *column) for column in self.columns]


async def _pages(sql: str, *args: object, key: str, size: int | None = None) -> AsyncIterator[list[dict]]:
    """The rows of ``sql`` a page at a time in the order of ``key`` (keyset paging): the first
    ``{}`` of ``sql`` is the key to start after and the last its LIMIT. No export holds more
    than a page, and each page is an indexed range on both engines."""
    size = size or PAGE_SIZE
    after = 0
    while True:
        rows = await fetch(sql, after, *args, size)
        if not rows:
            return
        yield rows
        if len(rows) < size:
            return
        after = rows[-1][key]


async def _ledger_rows(me: Principal, period: Period, language: Language) -> AsyncIterator[list[Row]]:
    top = (await fetch("SELECT MAX(seq) AS top FROM ledger_transfers"))[0]["top"] or 0
    async for rows in _pages(
            "SELECT t.seq, t.at_us, t.kind, t.phase, t.amount, t.memo, t.reference, t.hash,"
            " t.debit_kind AS d_kind, t.debit_owner AS d_owner, dp.name AS d_name,"
            " t.credit_kind AS c_kind, t.credit_owner AS c_owner, cp.name AS c_name"
            " FROM ledger_movements t"
            # CASE: only a wallet's owner is a person id (the others' is '', which no cast accepts).
            " LEFT JOIN person dp"
            "  ON dp.id = CASE WHEN t.debit_kind = 'wallet' THEN CAST(t.debit_owner AS BIGINT) END"
            " LEFT JOIN person cp"
            "  ON cp.id = CASE WHEN t.credit_kind = 'wallet' THEN CAST(t.credit_owner AS BIGINT) END"
            " WHERE t.seq > {} AND t.seq <= {} AND t.ledger = {} AND t.at_us >= {} AND t.at_us < {}"
            " ORDER BY t.seq LIMIT {}",
            top, me.community_id, period.start_us, period.end_us, key="seq",
    ):
        yield [
            (
                row["seq"], beijing_us(row["at_us"]), _label(TRANSFER_KINDS, row["kind"], language),
                _label(PHASES, row["phase"], language),
                account_label(row["d_kind"], row["d_owner"], row["d_name"], language),
                account_label(row["c_kind"], row["c_owner"], row["c_name"], language),
                to_decimal(row["amount"]), row["memo"], row["reference"] or "", row["hash"],
            )
            for row in rows
        ]


async def _attendance_rows(
    me: Principal, period: Period, language: Language
) -> AsyncIterator[list[Row]]:
    # An organizer (not an admin) exports the attendance of the activities they organize.
    mine = ADMIN not in me.roles
    scope = " AND a.organizer = {}" if mine else ""
    extra: tuple = (me.id,) if mine else ()
    top = (await fetch("SELECT MAX(id) AS top FROM activity_stay"))[0]["top"] or 0
    async for rows in _pages(
            "SELECT s.id, a.id AS activity_id, a.title, p.name, s.in_at, s.out_at, s.hours,"
            " s.points_in, s.points_out, s.status, s.approval"
            " FROM activity_stay s JOIN activity a ON a.id = s.activity JOIN person p ON p.id = s.person"
            " WHERE s.id > {} AND s.id <= {} AND s.community = {} AND s.in_at >= {} AND s.in_at < {}"
            + scope + " ORDER BY s.id LIMIT {}",
            top, me.community_id, period.start, period.end, *extra, key="id",
    ):
        yield [
            (
                row["activity_id"], row["title"], row["name"], beijing(row["in_at"]),
                beijing(row["out_at"]),
                None if row["hours"] is None else to_decimal(row["hours"]),
                to_decimal(row["points_in"] + (row["points_out"] or 0)),
                _label(STAY_STATUS, row["status"], language), _label(APPROVAL, row["approval"], language),
            )
            for row in rows
        ]


async def _redemption_rows(
    me: Principal, period: Period, language: Language
) -> AsyncIterator[list[Row]]:
    top = (await fetch("SELECT MAX(id) AS top FROM redemption"))[0]["top"] or 0
    async for rows in _pages(
            "SELECT r.id, r.created_at, r.total, p.name AS resident, k.name AS keeper"
            " FROM redemption r JOIN person p ON p.id = r.person JOIN person k ON k.id = r.keeper"
            " WHERE r.id > {} AND r.id <= {} AND r.community = {}"
            " AND r.created_at >= {} AND r.created_at < {} ORDER BY r.id LIMIT {}",
            top, me.community_id, period.start, period.end, key="id", size=LOOKUP_PAGE,
    ):
        ids = [row["id"] for row in rows]
        items: dict[int, list[str]] = {}
        for line in await fetch(
            "SELECT l.redemption, pr.name, l.quantity FROM redemption_line l"
            f" JOIN product pr ON pr.id = l.product WHERE l.redemption IN ({_in(ids)}) ORDER BY l.id",
            *ids,
        ):
            items.setdefault(line["redemption"], []).append(f"{line['name']}×{line['quantity']}")
        refunded = {
            row["redemption"]: int(row["n"])
            for row in await fetch(
                "SELECT redemption, SUM(total) AS n FROM refund"
                f" WHERE redemption IN ({_in(ids)}) GROUP BY redemption",
                *ids,
            )
        }
        yield [
            (
                receipt_no(row["id"], row["created_at"]), beijing(row["created_at"]), row["resident"],
                row["keeper"], _text(language, "；", "; ").join(items.get(row["id"], [])),
                to_decimal(row["total"]), to_decimal(refunded.get(row["id"], 0)),
            )
            for row in rows
        ]


async def _stock_rows(me: Principal, period: Period, language: Language) -> AsyncIterator[list[Row]]:
    top = (await fetch("SELECT MAX(id) AS top FROM stock_movement"))[0]["top"] or 0
    async for rows in _pages(
            "SELECT m.id, m.at, pr.name, m.delta, m.stock_after, m.kind, m.donor, m.reason, m.ref"
            " FROM stock_movement m JOIN product pr ON pr.id = m.product"
            " WHERE m.id > {} AND m.id <= {} AND m.community = {} AND m.at >= {} AND m.at < {}"
            " ORDER BY m.id LIMIT {}",
            top, me.community_id, period.start, period.end, key="id",
    ):
        yield [
            (
                beijing(row["at"]), row["name"], row["delta"], row["stock_after"],
                _label(STOCK_KINDS, row["kind"], language), row["donor"] or "", row["reason"] or "",
                row["ref"] or "",
            )
            for row in rows
        ]


HELP_CATEGORIES = {"elder_care": ("助老", "Elder care"), "repair": ("维修", "Repairs"),
                   "mediation": ("纠纷调解", "Mediation"), "environment": ("环境", "Environment"),
                   "other": ("其他", "Other")}
HELP_STATES = {"review": ("待审核", "Awaiting the office"), "open": ("待认领", "Open"),
               "claimed": ("已认领", "Claimed"), "done": ("已完成", "Done"),
               "disputed": ("有争议", "Disputed"), "closed": ("已关闭", "Closed")}


async def _help_rows(me: Principal, period: Period, language: Language) -> AsyncIterator[list[Row]]:
    """民声 requests posted in the period (``market.help_requests``): names as on the boards."""
    top = (await fetch("SELECT MAX(id) AS top FROM help_request"))[0]["top"] or 0
    async for rows in _pages(
            "SELECT r.id, r.category, r.state, r.body, r.posted_us, r.done_us, r.hours, r.points,"
            " r.escalated_us, r.note, r.requester, r.posted_by, q.name AS requester_name,"
            " v.name AS volunteer_name, b.name AS building, h.unit, h.room, g.name AS grid"
            " FROM help_request r JOIN person q ON q.id = r.requester"
            " LEFT JOIN person v ON v.id = r.volunteer"
            " LEFT JOIN building b ON b.id = r.building LEFT JOIN household h ON h.id = r.household"
            " LEFT JOIN grid g ON g.id = r.grid"
            " WHERE r.id > {} AND r.id <= {} AND r.community = {} AND r.posted_us >= {} AND r.posted_us < {}"
            " ORDER BY r.id LIMIT {}",
            top, me.community_id, period.start_us, period.end_us, key="id",
    ):
        yield [
            (
                row["id"], _label(HELP_CATEGORIES, row["category"], language),
                _label(HELP_STATES, row["state"], language), row["body"], mask_name(row["requester_name"]),
                _text(language, "是", "yes") if row["posted_by"] != row["requester"] else "",
                f"{row['building'] or ''}{row['unit'] or ''}{row['room'] or ''}", row["grid"] or "",
                beijing_us(row["posted_us"]),
                mask_name(row["volunteer_name"]) if row["volunteer_name"] else "",
                beijing_us(row["done_us"]) if row["done_us"] else "",
                to_decimal(int(row["hours"])), to_decimal(int(row["points"])),
                _text(language, "是", "yes") if row["escalated_us"] else "", row["note"] or "",
            )
            for row in rows
        ]


async def _hours_rows(me: Principal, period: Period, language: Language) -> AsyncIterator[list[Row]]:
    """Per person with counted service in the period: stays checked in within it, not cancelled,
    not awaiting approval or rejected (the rule of ``market.points.hours``)."""
    async for totals in _pages(
            "SELECT s.person, COUNT(*) AS times, SUM(COALESCE(s.hours, 0)) AS hours,"
            " SUM(s.points_in + COALESCE(s.points_out, 0)) AS points"
            " FROM activity_stay s WHERE s.person > {} AND s.community = {}"
            " AND s.in_at >= {} AND s.in_at < {} AND s.status <> 'cancelled'"
            " AND (s.approval IS NULL OR s.approval = 'approved')"
            " GROUP BY s.person ORDER BY s.person LIMIT {}",
            me.community_id, period.start, period.end, key="person", size=LOOKUP_PAGE,
    ):
        ids = [row["person"] for row in totals]
        people = {
            row["id"]: row
            for row in await fetch(
                "SELECT p.id, p.name, c.name AS compound, b.name AS building, h.unit, h.room,"
                " g.name AS grid FROM person p LEFT JOIN household h ON h.id = p.household"
                " LEFT JOIN building b ON b.id = h.building LEFT JOIN compound c ON c.id = b.compound"
                f" LEFT JOIN grid g ON g.id = h.grid WHERE p.id IN ({_in(ids)})",
                *ids,
            )
        }
        page: list[Row] = []
        for total in totals:
            person = people.get(total["person"], {})
            building = " ".join(x for x in (person.get("compound"), person.get("building")) if x)
            page.append((
                total["person"], person.get("name", ""), building, person.get("grid") or "",
                int(total["times"]), to_decimal(int(total["hours"])), to_decimal(int(total["points"])),
            ))
        yield page


EXPORTS: dict[str, Export] = {
    export.name: export
    for export in (
        Export(
            "ledger", ("积分流水", "Ledger"),
            (("序号", "Seq"), ("时间（北京时间）", "Time (Beijing)"), ("类型", "Kind"), ("阶段", "Phase"),
             ("转出账户", "From"), ("转入账户", "To"), ("积分", "Points"), ("摘要", "Memo"),
             ("关联单据", "Reference"), ("哈希", "Hash")),
            frozenset({ADMIN}), _ledger_rows,
        ),
        Export(
            "attendance", ("活动签到", "Attendance"),
            (("活动编号", "Activity no."), ("活动", "Activity"), ("姓名", "Person"),
             ("签到时间", "Checked in"), ("签退时间", "Checked out"), ("时长（小时）", "Hours"),
             ("积分", "Points"), ("状态", "Status"), ("审核", "Approval")),
            frozenset({ADMIN, ORGANIZER}), _attendance_rows,
        ),
        Export(
            "redemptions", ("兑换记录", "Redemptions"),
            (("小票号", "Receipt no."), ("时间（北京时间）", "Time (Beijing)"), ("居民", "Resident"),
             ("店员", "Shop keeper"), ("商品", "Items"), ("合计积分", "Total points"),
             ("已退积分", "Refunded points")),
            frozenset({ADMIN, SHOPKEEPER}), _redemption_rows,
        ),
        Export(
            "stock", ("库存变动", "Stock movements"),
            (("时间（北京时间）", "Time (Beijing)"), ("商品", "Product"), ("变动数量", "Change"),
             ("变动后库存", "Stock after"), ("类型", "Kind"), ("捐赠人", "Donor"), ("原因", "Reason"),
             ("关联单据", "Reference")),
            frozenset({ADMIN, SHOPKEEPER}), _stock_rows,
        ),
        Export(
            "hours", ("居民服务时长", "Residents' hours"),
            (("编号", "Person no."), ("姓名", "Person"), ("楼栋", "Building"), ("网格", "Grid"),
             ("参与次数", "Times"), ("服务时长（小时）", "Service hours"), ("获得积分", "Points earned")),
            frozenset({ADMIN}), _hours_rows,
        ),
        Export(
            "help_requests", ("民声台账", "Help requests"),
            (("编号", "No."), ("类别", "Category"), ("状态", "State"), ("内容", "Request"),
             ("求助人", "Requester"), ("网格员代发", "Posted by grid worker"), ("地址", "Address"),
             ("网格", "Grid"), ("发布时间（北京时间）", "Posted (Beijing)"), ("志愿者", "Volunteer"),
             ("完成时间（北京时间）", "Done (Beijing)"), ("服务时长（小时）", "Hours"), ("积分", "Points"),
             ("已上报网格员", "Escalated"), ("备注", "Note")),
            frozenset({ADMIN, ORGANIZER}), _help_rows,
        ),
    )
}
