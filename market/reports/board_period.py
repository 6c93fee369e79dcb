"""Calendar periods of the boards (month, quarter, year) in Beijing time, parsed from the query.

``?period=month&at=2026-11``, ``?period=quarter&at=2026-Q4``, ``?period=year&at=2026``; without
``at`` the period that contains today (Beijing). A period is a half-open range [start, end) of
UTC instants, so a credit at 2026-11-30 23:30 Beijing (15:30 UTC) is November's.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated

from litestar.params import QueryParameter

from market.china_time import CHINA
from market.errors import InvalidInput

KINDS = ("month", "quarter", "year")
FIRST_YEAR, LAST_YEAR = 2000, 2100
_PATTERNS = {
    "month": re.compile(r"^(\d{4})-(\d{1,2})$"),
    "quarter": re.compile(r"^(\d{4})-?[Qq]([1-4])$"),
    "year": re.compile(r"^(\d{4})$"),
}


@dataclass(frozen=True)
class Period:
    kind: str
    year: int
    #: The first month (1–12) and how many months.
    month: int
    months: int

    @property
    def key(self) -> str:
        """How ``at`` spells it: 2026-11, 2026-Q4, 2026."""
        if self.kind == "month":
            return f"{self.year}-{self.month:02d}"
        if self.kind == "quarter":
            return f"{self.year}-Q{(self.month - 1) // 3 + 1}"
        return str(self.year)

    @property
    def start(self) -> datetime:
        return _month_start(self.year, self.month)

    @property
    def end(self) -> datetime:
        year, month = divmod(self.month - 1 + self.months, 12)
        return _month_start(self.year + year, month + 1)

    def month_starts(self) -> list[tuple[int, int]]:
        """(year, month) of every month in the period, in order."""
        out = []
        for n in range(self.months):
            year, month = divmod(self.month - 1 + n, 12)
            out.append((self.year + year, month + 1))
        return out

    @property
    def month_range(self) -> tuple[int, int]:
        """The period as ``YYYYMM`` keys of the tallies (Beijing months), [first, after last)."""
        year, month = divmod(self.month - 1 + self.months, 12)
        return self.year * 100 + self.month, (self.year + year) * 100 + month + 1

    @property
    def tally_period(self) -> tuple[str, int]:
        """How the people's tally names the period: ("month", 202611), ("quarter", 20264), ("year", 2026)."""
        if self.kind == "month":
            return "month", self.year * 100 + self.month
        if self.kind == "quarter":
            return "quarter", self.year * 10 + (self.month - 1) // 3 + 1
        return "year", self.year

    def label(self, language: str) -> str:
        if self.kind == "month":
            return f"{self.year}年{self.month}月" if language != "en" else f"{self.year}-{self.month:02d}"
        if self.kind == "quarter":
            q = (self.month - 1) // 3 + 1
            return f"{self.year}年第{q}季度" if language != "en" else f"Q{q} {self.year}"
        return f"{self.year}年" if language != "en" else str(self.year)

    def previous(self) -> "Period":
        year, month = divmod(self.month - 1 - self.months, 12)
        return Period(self.kind, self.year + year, month + 1, self.months)

    def next(self) -> "Period":
        year, month = divmod(self.month - 1 + self.months, 12)
        return Period(self.kind, self.year + year, month + 1, self.months)


#: The query parameters that name a period, as the OpenAPI document describes them
#: (``parse_period`` checks them; these only say what it takes).
PeriodKind = Annotated[str | None, QueryParameter(
    max_length=10, description="month (default), quarter or year",
    schema_extra={"enum": list(KINDS)},
)]
PeriodAt = Annotated[str | None, QueryParameter(
    max_length=10, description="2026-12, 2026-Q4 or 2026 (as the period's kind); the current one when absent",
    schema_extra={"pattern": r"^[0-9]{4}(-[0-9]{1,2}|-?[Qq][1-4])?$"},
)]


def _month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=CHINA).astimezone(UTC)


def today() -> date:
    return datetime.now(CHINA).date()


def parse_period(kind: str | None, at: str | None, *, default: str = "month") -> Period:
    """The period asked for; 400 ``invalid_period`` for an unknown kind or a malformed ``at``."""
    kind = (kind or default).strip().lower()
    if kind not in KINDS:
        raise InvalidInput("invalid_period", field="period")
    if not at or not at.strip():
        now = today()
        at = {"month": f"{now.year}-{now.month}", "quarter": f"{now.year}-Q{(now.month - 1) // 3 + 1}",
              "year": str(now.year)}[kind]
    match = _PATTERNS[kind].fullmatch(at.strip())
    if match is None:
        raise InvalidInput("invalid_period", field="at")
    year = int(match.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput("invalid_period", field="at")
    if kind == "month":
        month = int(match.group(2))
        if not 1 <= month <= 12:
            raise InvalidInput("invalid_period", field="at")
        return Period("month", year, month, 1)
    if kind == "quarter":
        return Period("quarter", year, (int(match.group(2)) - 1) * 3 + 1, 3)
    return Period("year", year, 1, 12)
