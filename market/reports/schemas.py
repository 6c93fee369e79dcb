"""What the reports' API takes and answers: a certificate's check, the office that issues
certificates and residents' requests to correct them, the transparency checkpoints and an entry's
proof, the dashboards and the leaderboards. The values a request brings are checked by
``market.reports.certificate_office`` (names, contact phone, corrections' text and number); a
checkpoint's and a proof's content is what ``market.reports.checkpoint_verify`` checks offline."""

from datetime import datetime

import msgspec

# -- the issuing office and corrections (``certificate_office``) ------------------------------


class OfficeChange(msgspec.Struct, forbid_unknown_fields=True):
    leader: str = ""
    """负责人."""
    handler: str = ""
    """经办人."""
    contact: str = ""
    """The office's contact phone: digits and hyphens (028-12345678, 13800000000)."""


class OfficeView(msgspec.Struct):
    leader: str
    handler: str
    contact: str
    updated_at: datetime | None = None


class NewCorrection(msgspec.Struct, forbid_unknown_fields=True):
    what: str
    """What is wrong, in the resident's words."""
    number: str = ""
    """The certificate's number (XXXX-XXXX-XXXX-XXXX), when the request is about one."""


class CorrectionDecision(msgspec.Struct, forbid_unknown_fields=True):
    accept: bool
    note: str = ""
    """Why; required when the request is rejected."""


class CorrectionView(msgspec.Struct):
    id: int
    person_id: int
    person_name: str
    number: str
    what: str
    status: str
    """open, accepted or rejected."""
    created_at: datetime
    decided_at: datetime | None = None
    note: str | None = None


class CorrectionList(msgspec.Struct):
    items: list[CorrectionView]


# -- a certificate's check (``certificates``) -------------------------------------------------


class CertifiedActivity(msgspec.Struct):
    date: str
    title: str
    category: str
    hours: str


class CertificateCheck(msgspec.Struct):
    valid: bool
    status: str
    """"valid": genuine and the records still say the same; "changed": genuine, but the records
    behind it changed since it was issued (nothing of it is confirmed); "invalid": not ours."""
    reason: str
    """"ok", "records_changed", "records_missing", "bad_signature" or "malformed"."""
    number: str | None = None
    name: str | None = None
    """Masked: 张*明."""
    community: str | None = None
    issued_at: str | None = None
    issued_on: str | None = None
    """The date of issue, Beijing time, as printed on the certificate."""
    period_from: str | None = None
    period_to: str | None = None
    total_hours: str | None = None
    """Only when valid."""
    volunteer_hours: str | None = None
    """志愿服务时长: the ``volunteer_service`` activities' hours only; when valid."""
    participation_hours: str | None = None
    """参与时长: every other category's hours; when valid."""
    activities: list[CertifiedActivity] | None = None
    """Only when valid."""
    public_key: str | None = None
    """The community's Ed25519 public key (hex) the signature was checked with."""


# -- transparency: checkpoints and proofs (``checkpoint_service``, ``checkpoint_files``) ------


class CheckpointView(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A checkpoint as published: the signed fields, its hash and its signature.

    Version 2 names the head of the community's chain (``head_number``) and its ``genesis``;
    version 1 (before chains per community) the legacy chain's head (``head_seq``)."""

    version: int
    community_id: int
    day: str
    at: str
    head_number: int | None = None
    head_seq: int | None = None
    head_hash: str
    genesis: str | None = None
    issued: str
    redeemed: str
    outstanding: str
    expired: str
    previous: str
    hash: str
    signature: str
    #: The key it was signed with (the community's, unless the server's secret was changed).
    public_key: str

    def signed(self) -> dict:
        return msgspec.to_builtins(self)

    @property
    def head(self) -> int:
        """The head's place in the chain this checkpoint signed (see ``version``)."""
        return self.head_number if self.version >= 2 else self.head_seq  # type: ignore[return-value]


class CheckpointPage(msgspec.Struct):
    community_id: int
    community: str
    public_key: str
    items: list[CheckpointView]
    next_cursor: str | None


class Proof(msgspec.Struct, kw_only=True):
    """One entry's proof; ``status``: ``ok`` (complete, check it offline), ``not_yet`` (in the
    ledger but after the newest checkpoint), ``too_long`` (check the whole history) or
    ``legacy`` (an entry of the legacy chain, from before the community's own chain: check it
    in ``legacy_download``)."""

    format: str
    status: str
    community_id: int
    public_key: str
    transfer_id: str
    #: The entry's place in the community's chain (None for a legacy entry).
    number: int | None
    #: A legacy entry's place in the legacy chain.
    legacy_seq: int | None = None
    checkpoint: CheckpointView | None = None
    previous_hash: str | None = None
    transfers: list[list]
    legacy_download: str | None = None


# -- leaderboards (``leaderboards``) ----------------------------------------------------------


class PeriodView(msgspec.Struct):
    kind: str
    at: str
    label: str
    start: datetime
    end: datetime


class BoardRow(msgspec.Struct):
    rank: int
    name: str
    value: str
    """Points or hours, two decimals ("12.50")."""
    id: int | None = None
    """The resident's, household's, building's, grid's or team's id; never on a public board."""
    me: bool = False
    """This row is the signed-in person (or their household, building, grid or team)."""


class Board(msgspec.Struct):
    board: str
    measure: str
    rows: list[BoardRow]
    ranked: int
    """How many are on the board in all (the rows are its top)."""


class MyRank(msgspec.Struct):
    measure: str
    rank: int | None
    value: str


class Leaderboards(msgspec.Struct):
    community_id: int
    community: str
    period: PeriodView
    boards: list[Board]
    mine: list[MyRank] = []
    """The signed-in person's own rank among residents, by each measure (null rank: not ranked)."""


# -- dashboards (``dashboards``) --------------------------------------------------------------


class CategoryMonth(msgspec.Struct):
    month: str
    category: str
    activities: int
    participants: int
    hours: str


class ActivitiesDashboard(msgspec.Struct):
    period: PeriodView
    months: list[str]
    rows: list[CategoryMonth]
    """One row per month and category, months in order, categories in ``CATEGORIES`` order."""
    activities: int
    participants: int
    hours: str


class PointsMonth(msgspec.Struct):
    month: str
    issued: str
    redeemed: str
    outstanding: str
    """Held in wallets at the month's end (for a month not over yet: now)."""


class PointsDashboard(msgspec.Struct):
    period: PeriodView
    months: list[PointsMonth]
    issued: str
    redeemed: str
    outstanding: str
    """Held in wallets now."""


class Goods(msgspec.Struct):
    product_id: int
    name: str
    quantity: int
    points: str


class Turnover(msgspec.Struct):
    product_id: int
    name: str
    opening_stock: int
    closing_stock: int
    redeemed: int
    turnover: str | None
    """Units redeemed / average stock, two decimals; null when there was no stock at all."""


class ShopDashboard(msgspec.Struct):
    period: PeriodView
    top: list[Goods]
    turnover: list[Turnover]
