"""The market's own tables: communities and their structure, people, sign-in sessions, audit.

Points are not here: they live in the ledger's tables, keyed by community id
(the ledger id) and person id (a wallet's owner). Composite constraints such as
one phone per community are created by the migration with raw SQL, because
Piccolo's composite ``Unique`` emits ALTER TABLE ADD CONSTRAINT, which SQLite
refuses.
"""

from piccolo.columns import (
    BigInt,
    Boolean,
    Bytea,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Community(Table, tablename="community"):
    name = Varchar(length=100, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())
    #: The address public links use now (``market.community.slugs``); every slug it ever had is
    #: in ``community_slug``. Null only until the community is given one.
    slug = Varchar(length=40, unique=True, null=True, default=None)
    #: The 民声 hotline a doorplate shows to anyone not of the household (``market.community.doorplates``).
    hotline = Varchar(length=20, null=True, default=None)


class CommunitySlug(Table, tablename="community_slug"):
    """Every slug a community has had, its current one included: old ones keep working."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    slug = Varchar(length=40, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())


class Compound(Table, tablename="compound"):
    """小区. Structure is archived, never deleted: people and activities point at it."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    name = Varchar(length=50)
    archived_at = Timestamptz(null=True, default=None)


class Building(Table, tablename="building"):
    """楼栋 of a compound; units (单元) and rooms (房号) are the household's address."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    compound = ForeignKey(Compound, on_delete=OnDelete.restrict, null=False)
    name = Varchar(length=50)
    archived_at = Timestamptz(null=True, default=None)


class Grid(Table, tablename="grid"):
    """网格: the unit of community work; grid workers are linked in ``GridWorker``."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    name = Varchar(length=50)
    archived_at = Timestamptz(null=True, default=None)


class Household(Table, tablename="household"):
    """户: one address (building, unit, room), in one grid."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    building = ForeignKey(Building, on_delete=OnDelete.restrict, null=False)
    unit = Varchar(length=20)
    room = Varchar(length=20)
    grid = ForeignKey(Grid, on_delete=OnDelete.restrict, null=True, default=None)
    archived_at = Timestamptz(null=True, default=None)
    #: Bumped when the doorplate is reissued: the printed code carries it, so an old plate stops working.
    plate_version = Integer(default=1)


class Team(Table, tablename="team"):
    """志愿服务队, e.g. a silver-haired team or a veterans' team."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    name = Varchar(length=50)
    archived_at = Timestamptz(null=True, default=None)


class Person(Table, tablename="person"):
    # RESTRICT: the ledger and attendance point at people; they are never
    # deleted from under them (Piccolo's default would cascade).
    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    name = Varchar(length=50)
    phone = Varchar(length=11)
    password_hash = Text(null=True, default=None)
    pin_hash = Text(null=True, default=None)
    #: Sorted, comma-joined role names ("admin,resident"); see ``market.auth.roles``.
    roles = Text()
    card_no = Varchar(length=10, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())
    household = ForeignKey(Household, on_delete=OnDelete.restrict, null=True, default=None)
    #: Bumped when a card is reissued: the printed code carries it, so old cards stop working.
    card_version = Integer(default=1)
    #: Set when an admin erased the person's personal data (their ledger history stays).
    erased_at = Timestamptz(null=True, default=None)


class TeamMember(Table, tablename="team_member"):
    team = ForeignKey(Team, on_delete=OnDelete.restrict, null=False)
    person = ForeignKey(Person, on_delete=OnDelete.restrict, null=False)
    is_leader = Boolean(default=False)
    joined_at = Timestamptz(default=TimestamptzNow())


class GridWorker(Table, tablename="grid_worker"):
    grid = ForeignKey(Grid, on_delete=OnDelete.restrict, null=False)
    person = ForeignKey(Person, on_delete=OnDelete.restrict, null=False)


class AuditEntry(Table, tablename="audit_log"):
    """Who did what sensitive thing (unmasking a phone, erasing a person, reissuing a card).

    ``subject`` names a record ("person:12"), never personal data itself."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    actor = ForeignKey(Person, on_delete=OnDelete.restrict, null=True, default=None)
    action = Varchar(length=50)
    subject = Varchar(length=100)
    at = Timestamptz(default=TimestamptzNow())


class Session(Table, tablename="person_session"):
    """A sign-in. Only the SHA-256 of its token is stored, so a copy of the
    database does not hand out working tokens."""

    token_hash = Varchar(length=64, unique=True)
    person = ForeignKey(Person, on_delete=OnDelete.cascade, null=False)
    csrf_token = Varchar(length=64)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)
    #: Opened with a one-time code (market.auth.access_codes): good for nothing but setting a PIN.
    must_set_pin = Boolean(default=False)


class Activity(Table, tablename="activity"):
    """An activity residents earn points at. Amounts are integer hundredths (points, hours)."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    organizer = ForeignKey(Person, on_delete=OnDelete.restrict, null=True, default=None)
    title = Varchar(length=100)
    category = Varchar(length=20)
    location = Varchar(length=100, default="")
    starts_at = Timestamptz()
    ends_at = Timestamptz()
    points_per_checkin = BigInt(default=0)
    points_per_hour = BigInt(default=0)
    #: Hundredths of an hour; NULL: no cap beyond the activity's window.
    max_hours = BigInt(null=True, default=None)
    capacity = Integer(null=True, default=None)
    #: Stays made; kept only while there is a capacity, which can be set only before anyone came.
    taken = Integer(default=0)
    requires_approval = Boolean(default=False)
    #: Who may check in: members of ``team`` or residents of ``grids``/``buildings``
    #: (comma-joined ids); none of them set: every resident of the community.
    team = ForeignKey(Team, on_delete=OnDelete.restrict, null=True, default=None)
    grids = Text(default="")
    buildings = Text(default="")
    #: "scheduled" or "cancelled".
    status = Varchar(length=20, default="scheduled")
    cancel_reason = Text(null=True, default=None)
    cancelled_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class Stay(Table, tablename="activity_stay"):
    """One person's attendance at one activity (unique per pair): check-in, check-out, hours.

    ``hours`` (hundredths) is the service-hours record, set at check-out; a
    cancelled activity's stays are marked "cancelled" and stop counting."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    activity = ForeignKey(Activity, on_delete=OnDelete.restrict, null=False)
    person = ForeignKey(Person, on_delete=OnDelete.restrict, null=False)
    in_at = Timestamptz()
    out_at = Timestamptz(null=True, default=None)
    hours = BigInt(null=True, default=None)
    points_in = BigInt(default=0)
    points_out = BigInt(null=True, default=None)
    #: "in", "out", "closed" (never checked out; closed after the activity, for review)
    #: or "cancelled".
    status = Varchar(length=20, default="in")
    #: NULL (no approval needed), "pending", "approved" or "rejected".
    approval = Varchar(length=20, null=True, default=None)
    #: Why an organizer rejected the stay or set its hours by hand.
    review_reason = Text(null=True, default=None)
    #: Who checked the resident in by name and room (an assisted check-in: no card, no phone);
    #: NULL for a check-in by a code or a card.
    assisted_by = ForeignKey(Person, on_delete=OnDelete.restrict, null=True, default=None)
    #: The same for the check-out.
    out_assisted_by = ForeignKey(Person, on_delete=OnDelete.restrict, null=True, default=None)


class Scan(Table, tablename="activity_scan"):
    """Every check-in scan with its outcome reason ("ok", "duplicate", "expired", …)."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    activity = ForeignKey(Activity, on_delete=OnDelete.restrict, null=True, default=None)
    person = ForeignKey(Person, on_delete=OnDelete.restrict, null=True, default=None)
    #: Who scanned a member code ("attendance"); NULL for a resident's own scan.
    scanner = ForeignKey(Person, on_delete=OnDelete.restrict, null=True, default=None)
    direction = Varchar(length=3)
    outcome = Varchar(length=20)
    at = Timestamptz(default=TimestamptzNow())


TABLES: tuple[type[Table], ...] = (
    Community, Compound, Building, Grid, Household, Team, Person, Session, TeamMember, GridWorker,
    AuditEntry, Activity, Stay, Scan, CommunitySlug,
)



class AccessCode(Table, tablename="access_code"):
    """A one-time code the office printed for a resident (first sign-in, or a forgotten PIN).

    Only its Argon2id hash is kept. At most one is live per person (unused, not voided): a
    partial unique index, so issuing a new one voids the old in the same transaction."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    person = ForeignKey(Person, on_delete=OnDelete.cascade, null=False)
    code_hash = Text()
    #: "activate" (no PIN yet) or "reset" (a forgotten PIN).
    purpose = Varchar(length=10)
    issued_by = ForeignKey(Person, on_delete=OnDelete.restrict, null=True, default=None)
    issued_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    voided_at = Timestamptz(null=True, default=None)


TABLES = (*TABLES, AccessCode)

# -- the shop (market.shop) -----------------------------------------------------------------------


class Product(Table, tablename="product"):
    """A good of the community's 积分超市. ``price`` is integer hundredths of points.

    ``stock`` changes only through ``market.shop.stock.move``, which writes a
    ``StockMovement`` in the same transaction, so stock always equals the sum
    of the product's movements. A product is deactivated, never deleted."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    name = Varchar(length=50)
    category = Varchar(length=30, default="")
    price = BigInt()
    stock = Integer(default=0)
    #: At most this many per person per ``limit_period`` ("day" … "year"); both set or neither.
    limit_per_person = Integer(null=True, default=None)
    limit_period = Varchar(length=10, null=True, default=None)
    active = Boolean(default=True)
    has_photo = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())


class StockMovement(Table, tablename="stock_movement"):
    """One change of a product's stock, append-only (triggers refuse UPDATE and DELETE).

    ``kind`` says why ("initial", "donation", "purchase", "adjustment",
    "redemption", "refund", "reservation", "release"); ``ref`` names what
    caused it (a redemption or order id); ``stock_after`` is the stock once it
    was applied."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    product = ForeignKey(Product, on_delete=OnDelete.restrict, null=False)
    delta = Integer()
    stock_after = Integer()
    kind = Varchar(length=20)
    reason = Text(null=True, default=None)
    donor = Varchar(length=50, null=True, default=None)
    ref = Varchar(length=64, null=True, default=None)
    actor = ForeignKey(Person, on_delete=OnDelete.restrict, null=True, default=None)
    at = Timestamptz(default=TimestamptzNow())


class ProductPhoto(Table, tablename="product_photo"):
    """A product's photo (JPEG, at most 1024 px a side) and its 256 px thumbnail; one per
    product, replaced in place by a new upload."""

    product = ForeignKey(Product, on_delete=OnDelete.restrict, null=False, unique=True)
    image = Bytea()
    thumb = Bytea()
    updated_at = Timestamptz(default=TimestamptzNow())


TABLES = (*TABLES, Product, StockMovement, ProductPhoto)


class Redemption(Table, tablename="redemption"):
    """Goods handed out at the counter for points: one ledger transfer (wallet → shop),
    its lines' stock movements and this row, committed in one transaction.

    ``key`` is the shop keeper's Idempotency-Key and ``request_hash`` what was
    asked with it, so a retry gets the first answer and a reused key with
    another basket is refused."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    person = ForeignKey(Person, on_delete=OnDelete.restrict, null=False)
    keeper = ForeignKey(Person, on_delete=OnDelete.restrict, null=False)
    key = Varchar(length=100)
    request_hash = Varchar(length=64)
    total = BigInt()
    transfer_id = Varchar(length=100)
    balance_after = BigInt()
    created_at = Timestamptz(default=TimestamptzNow())
    #: A visitor's own community (通存通兑); their points crossed from its ledger. NULL: a resident here.
    home_community = ForeignKey(Community, on_delete=OnDelete.restrict, null=True)


class RedemptionLine(Table, tablename="redemption_line"):
    """One product of a redemption, at the price it had then."""

    redemption = ForeignKey(Redemption, on_delete=OnDelete.restrict, null=False)
    product = ForeignKey(Product, on_delete=OnDelete.restrict, null=False)
    quantity = Integer()
    unit_price = BigInt()


class Refund(Table, tablename="refund"):
    """Goods of a redemption taken back: points back by a transfer shop → wallet, stock back."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    redemption = ForeignKey(Redemption, on_delete=OnDelete.restrict, null=False)
    keeper = ForeignKey(Person, on_delete=OnDelete.restrict, null=False)
    total = BigInt()
    reason = Text()
    transfer_id = Varchar(length=100)
    created_at = Timestamptz(default=TimestamptzNow())
    #: The shop keeper's Idempotency-Key and a hash of what it was for (both empty without a key).
    idempotency_key = Varchar(length=100, null=True, default=None)
    request_hash = Varchar(length=64, null=True, default=None)
    #: The community whose wallet the points went back to, when not this one (通存通兑, a move).
    home_community = ForeignKey(Community, on_delete=OnDelete.restrict, null=True)


class RefundLine(Table, tablename="refund_line"):
    refund = ForeignKey(Refund, on_delete=OnDelete.restrict, null=False)
    product = ForeignKey(Product, on_delete=OnDelete.restrict, null=False)
    quantity = Integer()


TABLES = (*TABLES, Redemption, RedemptionLine, Refund, RefundLine)


class Order(Table, tablename="shop_order"):
    """Goods a resident reserved online: points held in the ledger, stock set aside.

    ``status``: "reserved" until a shop keeper fulfils it (the hold is posted
    and a redemption written), the resident or a shop keeper cancels it, or
    ``expires_at`` passes (both voided and released; "expired")."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    person = ForeignKey(Person, on_delete=OnDelete.restrict, null=False)
    status = Varchar(length=20, default="reserved")
    total = BigInt()
    hold_id = Varchar(length=100)
    key = Varchar(length=100, null=True, default=None)
    request_hash = Varchar(length=64)
    expires_at = Timestamptz()
    created_at = Timestamptz(default=TimestamptzNow())
    closed_at = Timestamptz(null=True, default=None)
    closed_by = ForeignKey(Person, on_delete=OnDelete.restrict, null=True, default=None)
    redemption = ForeignKey(Redemption, on_delete=OnDelete.restrict, null=True, default=None)
    #: The delegate (代办) who reserved it for ``person``; None when the resident did.
    acted_by = ForeignKey(Person, on_delete=OnDelete.restrict, null=True, default=None)


class OrderLine(Table, tablename="shop_order_line"):
    order = ForeignKey(Order, on_delete=OnDelete.restrict, null=False)
    product = ForeignKey(Product, on_delete=OnDelete.restrict, null=False)
    quantity = Integer()
    unit_price = BigInt()


TABLES = (*TABLES, Order, OrderLine)


class ShopRules(Table, tablename="shop_rules"):
    """When a community's shop redeems, and who may redeem at all; no row: always, anyone.

    ``open_days`` are comma-joined ISO weekdays ("1,2,3,4,5"); ``opens_at`` and
    ``closes_at`` minutes after midnight, Beijing time; ``min_earned`` and
    ``min_hours`` hundredths of points and of service hours. See ``market.shop.rules``."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False, unique=True)
    open_days = Text(default="1,2,3,4,5,6,7")
    opens_at = Integer(default=0)
    closes_at = Integer(default=1440)
    min_earned = BigInt(default=0)
    min_hours = BigInt(default=0)
    updated_at = Timestamptz(default=TimestamptzNow())
    updated_by = ForeignKey(Person, on_delete=OnDelete.restrict, null=True, default=None)


TABLES = (*TABLES, ShopRules)


class Checkpoint(Table, tablename="transparency_checkpoint"):
    """A community's signed daily checkpoint of the ledger (阳光积分), append-only (triggers).

    ``version`` 2 signs the community's own chain: its head (``head_number``, ``head_hash``)
    and its ``genesis``. Version 1 (made before chains per community) signed the legacy,
    installation-wide chain's head (``head_seq``, ``head_hash``); in version 2 ``head_seq``
    is 0. The totals are hundredths; ``previous`` is the hash of the community's checkpoint
    before it, of either version; ``hash`` and ``signature`` cover the canonical text
    (``market.reports.checkpoint_verify``). One per community per Beijing ``day`` (a unique
    index made by the migration)."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    day = Varchar(length=10)
    at_us = BigInt()
    head_seq = BigInt()
    head_hash = Varchar(length=64)
    issued = BigInt()
    redeemed = BigInt()
    outstanding = BigInt()
    expired = BigInt()
    previous = Varchar(length=64)
    hash = Varchar(length=64, unique=True)
    signature = Varchar(length=128)
    public_key = Varchar(length=64)
    version = Integer(default=1)
    head_number = BigInt(null=True, default=None)
    genesis = Varchar(length=64, null=True, default=None)


TABLES = (*TABLES, Checkpoint)


class PersonIdentity(Table, tablename="person_identity"):
    """A person's ID document and national volunteer number, for certificates (issue 16).

    Sensitive personal data: masked wherever shown unless the person chooses otherwise, in their
    data export, emptied on erasure, never logged (``market.privacy.identity``). One row per
    person (a unique index made by the migration)."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    person = ForeignKey(Person, on_delete=OnDelete.restrict, null=False)
    id_type = Varchar(length=20, null=True, default=None)
    id_number = Varchar(length=30, null=True, default=None)
    volunteer_number = Varchar(length=30, null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())
    updated_by = ForeignKey(Person, on_delete=OnDelete.restrict, null=True, default=None)


class CertificateOffice(Table, tablename="certificate_office"):
    """Who issues a community's certificates: 负责人, 经办人, the contact phone (one row each)."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    leader = Varchar(length=20, default="")
    handler = Varchar(length=20, default="")
    contact = Varchar(length=20, default="")
    updated_at = Timestamptz(default=TimestamptzNow())
    updated_by = ForeignKey(Person, on_delete=OnDelete.restrict, null=True, default=None)


class CertificateCorrection(Table, tablename="certificate_correction"):
    """A resident's request to correct a certificate or record, and the office's decision.

    ``status`` open → accepted or rejected, once; ``number`` the certificate's, when given."""

    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    person = ForeignKey(Person, on_delete=OnDelete.restrict, null=False)
    number = Varchar(length=19, default="")
    what = Text()
    status = Varchar(length=10, default="open")
    created_at = Timestamptz(default=TimestamptzNow())
    decided_at = Timestamptz(null=True, default=None)
    decided_by = ForeignKey(Person, on_delete=OnDelete.restrict, null=True, default=None)
    note = Text(null=True, default=None)


TABLES = (*TABLES, PersonIdentity, CertificateOffice, CertificateCorrection)
