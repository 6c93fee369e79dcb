"""The roster (台账): a community's residents read from an .xlsx or .csv file, then imported.

Reading checks every row and keeps every problem with the row number the
spreadsheet shows (the header is row 1). Importing is all-or-nothing: one write
transaction, structure (compounds, buildings, grids, households, teams) got or
created, people matched by phone so a re-import creates no duplicates, bulk
inserts and updates in chunks. No PIN is set (residents set one or are given
one later), so no slow hashing happens here. Wallets are opened after the
commit, because the ledger writes through its own connection.

One module over 500 lines on purpose: reading and importing share the row's shape and its
checks, and the import trusts nothing the reading did not check.
"""

import csv
import io
import itertools
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

import msgspec
from piccolo.table import Table

from ledger import Ledger
from market import clock
from market.auth.roles import RESIDENT, decode_roles, encode_roles
from market.db import engine_name, is_unique_violation, write_transaction
from market.errors import Conflict, InvalidInput, PayloadTooLarge, Unprocessable
from market.messages import Language, message
from market.offload import OffLoop
from market.people.rules import PHONE, new_card_no
from market.people.schemas import ImportSummary
from market.tables import Building, Compound, Grid, Household, Person, Team, TeamMember

#: Chinese header → field. 姓名 and 手机号 are required; unknown columns are ignored.
COLUMNS: dict[str, str] = {
    "姓名": "name", "手机号": "phone", "小区": "compound", "楼栋": "building", "单元": "unit",
    "房号": "room", "网格": "grid", "志愿服务队": "teams",
}
HEADERS = {key: header for header, key in COLUMNS.items()}
REQUIRED = ("姓名", "手机号")
MAX_LENGTH = {"name": 50, "compound": 50, "building": 50, "unit": 20, "room": 20, "grid": 50, "teams": 50}
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
#: What an .xlsx may unpack to, all its parts together: a roster of MAX_ROWS rows written by
#: openpyxl (inline strings, the largest form) unpacks to 25.7 MB. A "zip bomb" (a 1.5 MB file
#: holding one 1.5 GB cell) is refused from the zip's directory, before anything is unpacked;
#: Python's zipfile never unpacks more of a member than the directory declares.
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
#: A title line such as "某某社区居民台账" may sit above the header.
HEADER_SEARCH = 10
#: One person may serve in several teams: "银发志愿队、退役军人服务队".
TEAM_SEPARATORS = re.compile(r"[、,，;；/|]")
CHUNK = 500
#: Wallets opened per ledger transaction: big enough to amortise it, small enough
#: that a progress bar moves and other requests are not held up behind one.
WALLET_CHUNK = 1_000
#: First key of the PostgreSQL advisory lock that serialises imports per community.
_LOCK_SPACE = 7301
T = TypeVar("T")

Progress = Callable[[str, int, int], None]
"""Called as (stage, done, total); stages are "people" and "wallets"."""


# -- what a roster is ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RosterRow:
    row: int
    name: str
    phone: str
    compound: str = ""
    building: str = ""
    unit: str = ""
    room: str = ""
    grid: str = ""
    teams: tuple[str, ...] = ()

    @property
    def has_address(self) -> bool:
        return bool(self.room)


@dataclass(frozen=True, slots=True)
class BadRow:
    row: int
    reason: str
    params: dict[str, Any] = field(default_factory=dict)

    def detail(self, language: Language) -> str:
        return message(self.reason, language, **self.params)


@dataclass(slots=True)
class Roster:
    rows: list[RosterRow]
    bad: list[BadRow]


class BadRowView(msgspec.Struct):
    row: int
    reason: str
    detail: str


class RosterRejected(Unprocessable):
    """422 with every bad row; nothing was imported."""

    def __init__(self, bad: Sequence[BadRow]):
        super().__init__("invalid_rows", field="file", count=len(bad))
        self.bad = sorted(bad, key=lambda b: b.row)

    def members(self, language: Language) -> dict[str, Any]:
        return {"rows": [
            {"row": b.row, "reason": b.reason, "detail": b.detail(language)} for b in self.bad
        ]}


# -- reading the file ------------------------------------------------------------------


def file_kind(data: bytes, filename: str | None) -> str:
    """"xlsx" or "csv", from the name (and the content where there is no name)."""
    is_zip = data.startswith(b"PK\x03\x04")
    name = (filename or "").strip().lower()
    if name.endswith((".xlsx", ".xlsm")):
        if not is_zip:
            raise InvalidInput("unreadable_file", field="file")
        return "xlsx"
    if name.endswith((".csv", ".txt")):
        return "csv"
    if not name or "." not in name:
        return "xlsx" if is_zip else "csv"
    raise InvalidInput("unsupported_file", field="file")


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, Sequence[Any]]]:
    """Rows of the first sheet that has a header (number, values)."""
    # Imported on the first spreadsheet, not at start-up: openpyxl takes ~0.05 s to load.
    import openpyxl

    _check_unpacked_size(data)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as error:
        raise InvalidInput("unreadable_file", field="file") from error
    try:
        sheets = book.worksheets
        for index, sheet in enumerate(sheets):
            # Some writers record a wrong size; recompute it from the cells.
            sheet.reset_dimensions()
            rows = enumerate(sheet.iter_rows(values_only=True), start=1)
            head = list(itertools.islice(rows, HEADER_SEARCH))
            if index < len(sheets) - 1 and _header_at(head) is None:
                continue
            yield from head
            yield from rows
            return
    except InvalidInput:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError, EOFError) as error:
        raise InvalidInput("unreadable_file", field="file") from error
    finally:
        book.close()


def _check_unpacked_size(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise InvalidInput("unreadable_file", field="file") from error
    if unpacked > MAX_UNPACKED_BYTES:
        raise PayloadTooLarge("file_unpacks_too_large", max_mb=MAX_UNPACKED_BYTES // 2**20)


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030: what Chinese Excel saves as "CSV".
    UTF-16 with a BOM is Excel's "Unicode text" (tab-separated)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise InvalidInput("unreadable_file", field="file") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise InvalidInput("unreadable_file", field="file") from None


def _csv_rows(data: bytes) -> Iterator[tuple[int, Sequence[Any]]]:
    text = decode_text(data)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    try:
        # Numbered by record, as a spreadsheet shows them (a quoted cell may span lines).
        yield from enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1)
    except csv.Error as error:
        raise InvalidInput("unreadable_file", field="file") from error


def _header_name(value: Any) -> str:
    return "".join(str(value or "").split()).strip("*＊")


def _header_at(head: Sequence[tuple[int, Sequence[Any]]]) -> tuple[int, dict[str, int]] | None:
    for number, values in head:
        names = [_header_name(v) for v in values]
        if all(required in names for required in REQUIRED):
            columns: dict[str, int] = {}
            for index, name in enumerate(names):
                if name in COLUMNS:
                    columns.setdefault(COLUMNS[name], index)
            return number, columns
    return None


def _text(value: Any) -> str:
    """A cell as trimmed text; Excel's numbers (13800000000.0, 101) as their digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return " ".join(str(value).split())


def _phone(value: Any) -> str:
    phone = re.sub(r"[\s\-]", "", _text(value))
    if phone.startswith("+86"):
        phone = phone[3:]
    elif phone.startswith("86") and len(phone) == 13:
        phone = phone[2:]
    return phone


#: Rosters parsed at once per process: an import is rare and reading one may take up to
#: MAX_UNPACKED_BYTES of XML through openpyxl, so a second waits rather than doubling the peak.
CONCURRENT = 1
_reading = OffLoop(CONCURRENT)


async def read_off_loop(data: bytes, filename: str | None = None) -> "Roster":
    """``read_roster`` in a thread (it is CPU work), one at a time per process."""
    return await _reading.run(read_roster, data, filename)


def read_roster(data: bytes, filename: str | None = None) -> Roster:
    """Parse and check a roster file. The file as a whole being wrong raises ``InvalidInput``;
    bad rows are collected in ``Roster.bad``."""
    if len(data) > MAX_BYTES * 10:
        raise PayloadTooLarge("file_too_large", max_mb=MAX_BYTES * 10 // 2**20)
    kind = file_kind(data, filename)
    return check_rows(_xlsx_rows(data) if kind == "xlsx" else _csv_rows(data))


def check_rows(table: Iterable[tuple[int, Sequence[Any]]]) -> Roster:
    rows_iter = iter(table)
    head = list(itertools.islice(rows_iter, HEADER_SEARCH))
    found = _header_at(head)
    if found is None:
        first = next(([_header_name(v) for v in values] for _, values in head if any(values)), [])
        missing = [name for name in REQUIRED if name not in first]
        raise InvalidInput("missing_columns", field="file", columns="、".join(missing))
    header_row, columns = found
    body = itertools.chain((item for item in head if item[0] > header_row), rows_iter)

    def cell(values: Sequence[Any], key: str) -> Any:
        index = columns.get(key)
        return values[index] if index is not None and index < len(values) else None

    rows: list[RosterRow] = []
    bad: list[BadRow] = []
    first_of_phone: dict[str, int] = {}
    grid_of_address: dict[tuple[str, str, str, str], tuple[str, int]] = {}
    count = 0
    for number, values in body:
        if not any(v is not None and str(v).strip() for v in values):
            continue
        count += 1
        if count > MAX_ROWS:
            raise InvalidInput("too_many_rows", field="file", max_rows=MAX_ROWS)
        problems: list[BadRow] = []
        name, phone = _text(cell(values, "name")), _phone(cell(values, "phone"))
        text = {key: _text(cell(values, key)) for key in ("compound", "building", "unit", "room", "grid")}
        parts = TEAM_SEPARATORS.split(_text(cell(values, "teams")))
        teams = tuple(dict.fromkeys(t for t in (" ".join(p.split()) for p in parts) if t))
        if not name:
            problems.append(BadRow(number, "missing_name"))
        elif len(name) > MAX_LENGTH["name"] or not name.isprintable():
            problems.append(BadRow(number, "invalid_name"))
        if not phone:
            problems.append(BadRow(number, "missing_phone"))
        elif not PHONE.fullmatch(phone):
            problems.append(BadRow(number, "invalid_phone"))
        elif phone in first_of_phone:
            problems.append(BadRow(number, "duplicate_phone", {"first": first_of_phone[phone]}))
        else:
            first_of_phone[phone] = number
        for key, value in (*text.items(), *(("teams", t) for t in teams)):
            if len(value) > MAX_LENGTH[key]:
                problems.append(
                    BadRow(number, "too_long", {"column": HEADERS[key], "max": MAX_LENGTH[key]})
                )
                break
            if not value.isprintable():
                problems.append(BadRow(number, "unprintable", {"column": HEADERS[key]}))
                break
        complete = bool(text["compound"] and text["building"] and text["room"])
        if any(text.values()) and not complete:
            problems.append(BadRow(number, "incomplete_address"))
        elif complete and text["grid"]:
            address = (text["compound"], text["building"], text["unit"], text["room"])
            grid, first = grid_of_address.setdefault(address, (text["grid"], number))
            if grid != text["grid"]:
                problems.append(BadRow(number, "grid_conflict", {"first": first}))
        if problems:
            bad.extend(problems)
        else:
            rows.append(RosterRow(row=number, name=name, phone=phone, teams=teams, **text))
    if count == 0:
        raise InvalidInput("empty_roster", field="file")
    return Roster(rows=rows, bad=bad)


# -- importing -------------------------------------------------------------------------


class _RollBack(Exception):
    """Raised at the end of a dry run so its transaction changes nothing."""


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


async def _bulk_update(table: type[Table], columns: Sequence[tuple[str, str]], rows: list[tuple]) -> None:
    """UPDATE many rows by id with one statement per chunk (both engines support
    UPDATE … FROM a VALUES list): row-by-row updates cost a round trip each."""
    name = table._meta.tablename
    names = ["id", *(column for column, _ in columns)]
    casts = "(" + ", ".join(
        f"CAST({{}} AS {kind})" for kind in ("INTEGER", *(kind for _, kind in columns))
    ) + ")"
    sets = ", ".join(f"{column} = v.{column}" for column, _ in columns)
    for chunk in _chunks(rows, CHUNK // 2):
        sql = (
            f"WITH v ({', '.join(names)}) AS (VALUES {', '.join([casts] * len(chunk))})"
            f" UPDATE {name} SET {sets} FROM v WHERE {name}.id = v.id"
        )
        await table.raw(sql, *itertools.chain.from_iterable(chunk))


class _Importer:
    """One import inside one transaction; counts what it did."""

    def __init__(self, community_id: int, rows: list[RosterRow], progress: Progress | None):
        self.community_id = community_id
        self.rows = rows
        self.progress = progress or (lambda stage, done, total: None)
        self.bad: list[BadRow] = []
        self.summary = ImportSummary(rows=len(rows), created=0, updated=0, unchanged=0)
        self.created_ids: list[int] = []

    def _archived(self, column: str, value: str, rows: Iterable[RosterRow]) -> None:
        for row in rows:
            self.bad.append(BadRow(row.row, "archived_in_roster", {"column": column, "value": value}))

    async def _names(
        self, table: type[Table], wanted: dict[str, list[RosterRow]], column: str
    ) -> tuple[dict[str, int], int]:
        """Ids of compounds, grids or teams by name, creating the missing ones."""
        where = table.community == self.community_id  # type: ignore[attr-defined]
        found = {
            r["name"]: r for r in await table.select(
                table.id, table.name, table.archived_at  # type: ignore[attr-defined]
            ).where(where)
        }
        for name, users in wanted.items():
            if name in found and found[name]["archived_at"] is not None:
                self._archived(column, name, users)
        missing = sorted(wanted.keys() - found.keys())
        for chunk in _chunks(missing):
            await table.insert(*(table(community=self.community_id, name=n) for n in chunk))
        if missing:
            found = {
                r["name"]: r for r in await table.select(table.id, table.name).where(where)  # type: ignore[attr-defined]
            }
        return {name: found[name]["id"] for name in wanted}, len(missing)

    async def run(self) -> None:
        rows = self.rows
        by_compound: dict[str, list[RosterRow]] = {}
        by_grid: dict[str, list[RosterRow]] = {}
        by_team: dict[str, list[RosterRow]] = {}
        for row in rows:
            if row.has_address:
                by_compound.setdefault(row.compound, []).append(row)
            if row.grid:
                by_grid.setdefault(row.grid, []).append(row)
            for team in row.teams:
                by_team.setdefault(team, []).append(row)
        compounds, self.summary.new_compounds = await self._names(Compound, by_compound, "小区")
        grids, self.summary.new_grids = await self._names(Grid, by_grid, "网格")
        teams, self.summary.new_teams = await self._names(Team, by_team, "志愿服务队")

        buildings = await self._buildings(compounds)
        households = await self._households(compounds, buildings, grids)
        if self.bad:
            raise RosterRejected(self.bad)
        await self._people(compounds, buildings, households, teams)

    async def _buildings(self, compounds: dict[str, int]) -> dict[tuple[int, str], int]:
        wanted: dict[tuple[int, str], list[RosterRow]] = {}
        for row in self.rows:
            if row.has_address:
                wanted.setdefault((compounds[row.compound], row.building), []).append(row)
        where = Building.community == self.community_id
        columns = (Building.id, Building.compound, Building.name, Building.archived_at)
        found = {(r["compound"], r["name"]): r for r in await Building.select(*columns).where(where)}
        for key, users in wanted.items():
            if key in found and found[key]["archived_at"] is not None:
                self._archived("楼栋", key[1], users)
        missing = sorted(wanted.keys() - found.keys())
        for chunk in _chunks(missing):
            await Building.insert(*(
                Building(community=self.community_id, compound=compound, name=name)
                for compound, name in chunk
            ))
        if missing:
            found = {(r["compound"], r["name"]): r for r in await Building.select(*columns).where(where)}
        self.summary.new_buildings = len(missing)
        return {key: found[key]["id"] for key in wanted}

    async def _households(
        self, compounds: dict[str, int], buildings: dict[tuple[int, str], int], grids: dict[str, int]
    ) -> dict[tuple[int, str, str], int]:
        wanted: dict[tuple[int, str, str], int | None] = {}
        users: dict[tuple[int, str, str], list[RosterRow]] = {}
        for row in self.rows:
            if not row.has_address:
                continue
            building = buildings[(compounds[row.compound], row.building)]
            key = (building, row.unit, row.room)
            grid = grids[row.grid] if row.grid else None
            if grid is not None or key not in wanted:
                wanted[key] = grid if grid is not None else wanted.get(key)
            users.setdefault(key, []).append(row)
        columns = (Household.id, Household.building, Household.unit, Household.room, Household.grid,
                   Household.archived_at)
        where = Household.community == self.community_id
        found = {
            (r["building"], r["unit"], r["room"]): r for r in await Household.select(*columns).where(where)
        }
        moved: list[tuple[int, int]] = []
        for key, grid in wanted.items():
            existing = found.get(key)
            if existing is None:
                continue
            if existing["archived_at"] is not None:
                row = users[key][0]
                self._archived("房号", f"{row.building} {row.unit} {row.room}".replace("  ", " "), users[key])
            elif grid is not None and existing["grid"] != grid:
                moved.append((existing["id"], grid))
        if self.bad:
            return {}
        missing = [key for key in wanted if key not in found]
        for chunk in _chunks(missing):
            await Household.insert(*(
                Household(community=self.community_id, building=building, unit=unit, room=room,
                          grid=wanted[(building, unit, room)])
                for building, unit, room in chunk
            ))
        await _bulk_update(Household, (("grid", "INTEGER"),), moved)
        if missing:
            found = {
                (r["building"], r["unit"], r["room"]): r
                for r in await Household.select(*columns).where(where)
            }
        self.summary.new_households = len(missing)
        return {key: found[key]["id"] for key in wanted}

    async def _people(
        self, compounds: dict[str, int], buildings: dict[tuple[int, str], int],
        households: dict[tuple[int, str, str], int], teams: dict[str, int],
    ) -> None:
        cid = self.community_id

        def household_of(row: RosterRow) -> int | None:
            if not row.has_address:
                return None
            building = buildings[(compounds[row.compound], row.building)]
            return households[(building, row.unit, row.room)]

        existing = {
            r["phone"]: r for r in await Person.select(
                Person.id, Person.phone, Person.name, Person.household, Person.roles
            ).where(Person.community == cid)
        }
        memberships: set[tuple[int, int]] = set()
        if teams:
            memberships = {
                (r["team"], r["person"]) for r in await TeamMember.select(
                    TeamMember.team, TeamMember.person
                ).where(TeamMember.team.is_in(list(set(teams.values()))))
            }
        new_rows: list[RosterRow] = []
        changes: list[tuple[int, str, int | None, str]] = []
        for row in self.rows:
            person = existing.get(row.phone)
            if person is None:
                new_rows.append(row)
                continue
            household = household_of(row)
            roles = decode_roles(person["roles"]) | {RESIDENT}
            new = (row.name, household if household is not None else person["household"],
                   encode_roles(roles))
            if new != (person["name"], person["household"], person["roles"]):
                changes.append((person["id"], *new))
            elif any((teams[t], person["id"]) not in memberships for t in row.teams):
                self.summary.updated += 1
            else:
                self.summary.unchanged += 1
        self.summary.updated += len(changes)
        self.summary.created = len(new_rows)

        total, done = len(self.rows), len(self.rows) - len(new_rows) - len(changes)
        self.progress("people", done, total)
        cards = await self._card_numbers(len(new_rows))
        now = clock.now()
        for start in range(0, len(new_rows), CHUNK):
            chunk = new_rows[start:start + CHUNK]
            await Person.insert(*(
                Person(community=cid, name=row.name, phone=row.phone, roles=RESIDENT,
                       card_no=cards[start + offset], household=household_of(row), created_at=now)
                for offset, row in enumerate(chunk)
            ))
            done += len(chunk)
            self.progress("people", done, total)
        for chunk in _chunks(changes, CHUNK // 2):
            await _bulk_update(Person, (("name", "TEXT"), ("household", "INTEGER"), ("roles", "TEXT")),
                               list(chunk))
            done += len(chunk)
            self.progress("people", done, total)

        ids = {
            r["phone"]: r["id"]
            for r in await Person.select(Person.id, Person.phone).where(Person.community == cid)
        }
        self.created_ids = [ids[row.phone] for row in new_rows]
        joins = {
            (teams[team], ids[row.phone]) for row in self.rows for team in row.teams
        } - memberships
        for chunk in _chunks(sorted(joins)):
            await TeamMember.insert(*(
                TeamMember(team=team, person=person, is_leader=False, joined_at=now)
                for team, person in chunk
            ))

    async def _card_numbers(self, count: int) -> list[str]:
        """``count`` unused card numbers (random; drawn again on the rare collision)."""
        cards: set[str] = set()
        while len(cards) < count:
            fresh = {new_card_no() for _ in range(count - len(cards))} - cards
            for chunk in _chunks(sorted(fresh)):
                taken = await Person.select(Person.card_no).where(Person.card_no.is_in(list(chunk)))
                fresh -= {r["card_no"] for r in taken}
            cards |= fresh
        return list(cards)


async def open_wallets(
    ledger: Ledger, community_id: int, person_ids: Sequence[int], progress: Progress | None = None
) -> None:
    """Open the wallets of newly imported people, a chunk per ledger transaction."""
    report = progress or (lambda stage, done, total: None)
    for start in range(0, len(person_ids), WALLET_CHUNK):
        chunk = person_ids[start:start + WALLET_CHUNK]
        await ledger.open_accounts(community_id, "wallet", [str(pid) for pid in chunk])
        report("wallets", start + len(chunk), len(person_ids))


async def import_roster(
    community_id: int, roster: Roster, *, ledger: Ledger, dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import a checked roster, all or nothing. ``dry_run`` does all the work, reports
    what would change, and rolls it back."""
    if roster.bad:
        raise RosterRejected(roster.bad)
    importer = _Importer(community_id, roster.rows, progress)
    try:
        async with write_transaction():
            if engine_name() == "postgres":
                # Two imports into one community would race for the same phones: one
                # waits for the other (SQLite's BEGIN IMMEDIATE already serialises them).
                await Person.raw("SELECT pg_advisory_xact_lock({}, {})", _LOCK_SPACE, community_id)
            await importer.run()
            if dry_run:
                raise _RollBack()
    except _RollBack:
        importer.summary.dry_run = True
        return importer.summary
    except Exception as error:
        # Someone enrolled one of these phones (or a card number) meanwhile.
        if is_unique_violation(error):
            raise Conflict("roster_conflict", field="file") from None
        raise
    await open_wallets(ledger, community_id, importer.created_ids, progress)
    return importer.summary
