"""Importing the roster (台账): 10,000 rows from .xlsx and .csv, bad rows, re-imports, encodings,
upload limits and the ``market import residents`` command."""

import asyncio
import csv
import io
import random
import secrets
import time
from pathlib import Path

import httpx
import openpyxl
import pytest

from ledger import Ledger
from market.cli import main
from market.community import service as communities
from market.people.rules import is_card_no
from market.tables import Building, Compound, Grid, Household, Person, Team, TeamMember
from tests.market.support import Member

HEADER = ["姓名", "手机号", "小区", "楼栋", "单元", "房号", "网格", "志愿服务队"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华文玉志红梅晓东海燕德胜淑珍凤建国"
TEAMS = ["", "", "", "银发志愿服务队", "退役军人服务队", "巾帼志愿队、银发志愿服务队"]
COMPOUNDS = ["幸福一区", "幸福二区", "阳光花园", "和平里小区"]


def roster_rows(count: int, seed: int = 1) -> list[list[str]]:
    """A realistic roster: 4 compounds, 20 buildings each, 3 units, 12 grids, 3 teams."""
    rnd = random.Random(seed)
    numbers = rnd.sample(range(10**9), count)
    rows = []
    for i in range(count):
        name = rnd.choice(SURNAMES) + "".join(rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2))))
        compound, building = rnd.randrange(4), rnd.randrange(1, 21)
        rows.append([
            name, f"1{'3456789'[i % 7]}{numbers[i]:09d}", COMPOUNDS[compound], f"{building}号楼",
            f"{rnd.randrange(1, 4)}单元", str(rnd.randrange(1, 19) * 100 + rnd.randrange(1, 5)),
            f"第{compound * 3 + building % 3 + 1}网格", rnd.choice(TEAMS),
        ])
    return rows


def xlsx_bytes(rows: list[list], header: list[str] = HEADER, title: str | None = None) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("居民台账")
    if title:
        sheet.append([title])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(rows: list[list], header: list[str] = HEADER, encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


async def upload(
    member: Member, content: bytes, filename: str = "台账.csv", **kwargs
) -> httpx.Response:
    return await member.client.post(
        "/api/people/import", files={"file": (filename, content)}, timeout=120, **kwargs
    )


async def people_in(community_id: int) -> int:
    return await Person.count().where(Person.community == community_id)


async def structure_counts(community_id: int) -> tuple[int, ...]:
    return tuple([
        await table.count().where(table.community == community_id)
        for table in (Compound, Building, Grid, Household, Team)
    ])


# -- 10,000 rows ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
async def test_ten_thousand_rows_import_fast_and_once(
    admin: Member, ledger: Ledger, community: communities.CommunityView, kind: str, db_engine: str
) -> None:
    rows = roster_rows(10_000)
    content = xlsx_bytes(rows) if kind == "xlsx" else csv_bytes(rows)
    before = await people_in(community.id)

    started = time.perf_counter()
    response = await upload(admin, content, f"台账.{kind}")
    elapsed = time.perf_counter() - started
    print(f"\nimport of 10,000 rows from {kind} on {db_engine}: {elapsed:.2f} s")
    assert response.status_code == 200, response.text[:2000]
    assert response.json() | {"new_households": 0} == {
        "rows": 10_000, "created": 10_000, "updated": 0, "unchanged": 0, "dry_run": False,
        "new_compounds": 4, "new_buildings": 80, "new_grids": 12, "new_households": 0,
        "new_teams": 3,
    }
    assert elapsed < 30, f"the issue's limit is 30 s; this took {elapsed:.1f} s"
    assert await people_in(community.id) == before + 10_000
    households = response.json()["new_households"]
    assert await structure_counts(community.id) == (4, 80, 12, households, 3)

    # Every resident: role resident, a card number, no PIN yet, a household, a wallet.
    people = await Person.select(
        Person.id, Person.phone, Person.roles, Person.card_no, Person.pin_hash, Person.household
    ).where((Person.community == community.id) & (Person.id != admin.id))
    assert {p["roles"] for p in people} == {"resident"}
    assert all(is_card_no(p["card_no"]) for p in people)
    assert {p["pin_hash"] for p in people} == {None}
    assert None not in {p["household"] for p in people}
    assert {p["phone"] for p in people} == {row[1] for row in rows}
    for person in random.Random(2).sample(people, 20):
        assert await ledger.find_account(community.id, "wallet", str(person["id"])) is not None
    silver = await Team.select(Team.id).where(
        (Team.community == community.id) & (Team.name == "银发志愿服务队")
    ).first()
    expected = sum("银发志愿服务队" in row[7] for row in rows)
    assert await TeamMember.count().where(TeamMember.team == silver["id"]) == expected

    # The same file again: nothing new, nothing changed.
    started = time.perf_counter()
    again = await upload(admin, content, f"台账.{kind}")
    print(f"re-import of the same 10,000 rows on {db_engine}: {time.perf_counter() - started:.2f} s")
    assert again.status_code == 200, again.text[:2000]
    assert again.json()["created"] == 0
    assert again.json()["updated"] == 0
    assert again.json()["unchanged"] == 10_000
    assert again.json()["new_households"] == 0
    assert await people_in(community.id) == before + 10_000
    assert await structure_counts(community.id) == (4, 80, 12, households, 3)


# -- bad rows --------------------------------------------------------------------------


GOOD = ["张伟", "13800000001", "幸福一区", "1号楼", "1单元", "101", "第1网格", ""]


def good(phone: str, **change: str) -> list[str]:
    row = dict(zip(HEADER, GOOD, strict=True)) | {"手机号": phone} | change
    return [row[h] for h in HEADER]


def unique_phones(count: int) -> list[str]:
    start = random.randrange(10**7, 9 * 10**7)
    return [f"139{start + i:08d}" for i in range(count)]


async def test_every_bad_row_is_reported_and_nothing_is_imported(
    admin: Member, community: communities.CommunityView
) -> None:
    p = unique_phones(20)
    rows = [
        good(p[0]),                                        # row 2: fine
        good(p[1], 姓名=""),                                # row 3: missing name
        good("1380000000"),                                # row 4: a digit short
        good(p[0], 姓名="李四"),                             # row 5: repeats row 2's phone
        ["", "", "", "", "", "", "", ""],                  # row 6: blank, skipped
        good(p[2], 小区="幸" * 51),                          # row 7: compound name too long
        good(p[3], 楼栋=""),                                 # row 8: address without building
        good(p[4], 房号="101", 网格="第2网格"),               # row 9: row 2's household, other grid
        good(p[5], 姓名="王" * 51, 手机号="12345678901"),     # row 10: two problems
        good(p[6], 小区="", 楼栋="", 单元="", 房号="", 网格="第1网格"),  # row 11: grid, no address
        good(p[7], 手机号=""),                               # row 12: missing phone
        good(p[8]),                                        # row 13: fine
        good(p[9], 楼栋="1号\x07楼"),                        # row 14: a control character
    ]
    before_people = await people_in(community.id)
    before_structure = await structure_counts(community.id)
    response = await upload(admin, csv_bytes(rows))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["reason"] == "invalid_rows"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "未导入" in body["detail"]
    assert [(r["row"], r["reason"]) for r in body["rows"]] == [
        (3, "missing_name"),
        (4, "invalid_phone"),
        (5, "duplicate_phone"),
        (7, "too_long"),
        (8, "incomplete_address"),
        (9, "grid_conflict"),
        (10, "invalid_name"),
        (10, "invalid_phone"),
        (11, "incomplete_address"),
        (12, "missing_phone"),
        (14, "unprintable"),
    ]
    details = {(r["row"], r["reason"]): r["detail"] for r in body["rows"]}
    assert details[(5, "duplicate_phone")] == "手机号与第 2 行重复"
    assert details[(7, "too_long")] == "「小区」不能超过 50 个字"
    assert details[(9, "grid_conflict")] == "同一户在第 2 行填写了不同的网格"
    # Nothing at all was imported: no people, no structure.
    assert await people_in(community.id) == before_people
    assert await structure_counts(community.id) == before_structure

    english = await upload(admin, csv_bytes(rows), headers={"Accept-Language": "en"})
    assert english.status_code == 422
    assert english.json()["detail"].startswith("The roster has 11 problems")
    assert english.json()["rows"][2]["detail"] == "The phone number repeats the one in row 2"


async def test_bad_rows_in_an_xlsx_keep_the_sheet_row_numbers(
    admin: Member, community: communities.CommunityView
) -> None:
    """A title line above the header, numbers typed as numbers: rows as Excel numbers them."""
    p = unique_phones(3)
    rows: list[list] = [
        ["赵敏", int(p[0]), "幸福一区", "2号楼", 1, 302, "第1网格", None],   # row 3
        ["钱多多", 1380013800, "幸福一区", "2号楼", 1, 303, "第1网格", None],  # row 4: too short
        [None] * 8,                                                         # row 5: blank
        ["孙丽", float(p[1]), "幸福一区", "2号楼", 1, 304, "第1网格", None],  # row 6: fine
        ["周强", p[0], None, None, None, None, None, None],                 # row 7: repeats row 3
    ]
    response = await upload(admin, xlsx_bytes(rows, title="某某社区居民台账（2026年）"), "台账.xlsx")
    assert response.status_code == 422, response.text
    assert [(r["row"], r["reason"]) for r in response.json()["rows"]] == [
        (4, "invalid_phone"), (7, "duplicate_phone"),
    ]
    assert response.json()["rows"][1]["detail"] == "手机号与第 3 行重复"

    fixed = [rows[0], rows[3]]
    response = await upload(admin, xlsx_bytes(fixed, title="某某社区居民台账"), "台账.xlsx")
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2
    household = await Household.select(Household.unit, Household.room).where(
        Household.community == community.id
    ).order_by(Household.room)
    assert [(h["unit"], h["room"]) for h in household] == [("1", "302"), ("1", "304")]


async def test_archived_structure_in_the_roster_is_a_bad_row(
    admin: Member, community: communities.CommunityView
) -> None:
    compound = (await admin.client.post("/api/compounds", json={"name": "旧小区"})).json()
    await admin.client.post(f"/api/compounds/{compound['id']}/archive")
    p = unique_phones(2)
    rows = [good(p[0]), good(p[1], 小区="旧小区")]
    before = await people_in(community.id)
    response = await upload(admin, csv_bytes(rows))
    assert response.status_code == 422, response.text
    assert response.json()["rows"] == [
        {"row": 3, "reason": "archived_in_roster", "detail": "「小区」中的“旧小区”已归档"},
    ]
    assert await people_in(community.id) == before
    # The compound that the good row would have created was rolled back too.
    assert await Compound.count().where(Compound.community == community.id) == 1


# -- re-imports --------------------------------------------------------------------------


async def test_reimport_updates_what_changed_and_creates_no_duplicates(
    admin: Member, community: communities.CommunityView
) -> None:
    p = unique_phones(6)
    rows = [good(p[i], 房号=str(101 + i)) for i in range(5)]
    first = await upload(admin, csv_bytes(rows))
    assert first.status_code == 200, first.text
    assert (first.json()["created"], first.json()["updated"], first.json()["unchanged"]) == (5, 0, 0)

    rows[0][0] = "张伟伟"                      # renamed
    rows[1][5] = "909"                        # moved to another household
    rows[2][7] = "银发志愿服务队"               # joined a team
    rows.append(good(p[5], 房号="110"))        # new
    second = await upload(admin, csv_bytes(rows))
    assert second.status_code == 200, second.text
    assert second.json() | {"dry_run": False} == {
        "rows": 6, "created": 1, "updated": 3, "unchanged": 2, "dry_run": False,
        "new_compounds": 0, "new_buildings": 0, "new_grids": 0, "new_households": 2, "new_teams": 1,
    }
    people = {
        r["phone"]: r for r in await Person.select(Person.phone, Person.name, Person.household).where(
            Person.community == community.id
        )
    }
    assert len(people) == 7  # the admin and six residents, no duplicates
    assert people[p[0]]["name"] == "张伟伟"
    moved = await Household.select(Household.room).where(Household.id == people[p[1]]["household"])
    assert moved[0]["room"] == "909"

    third = await upload(admin, csv_bytes(rows))
    assert (third.json()["created"], third.json()["updated"], third.json()["unchanged"]) == (0, 0, 6)


async def test_a_roster_phone_of_existing_staff_keeps_them_and_adds_resident(
    admin: Member, enrol, community: communities.CommunityView
) -> None:
    organizer = await enrol("organizer", name="组织者")
    response = await upload(admin, csv_bytes([good(organizer.phone, 姓名="组织者")]))
    assert response.status_code == 200, response.text
    assert response.json()["updated"] == 1 and response.json()["created"] == 0
    shown = (await admin.client.get(f"/api/people/{organizer.id}")).json()
    assert shown["roles"] == ["organizer", "resident"]
    assert shown["household_id"] is not None
    # Their password still works.
    signed_in = await organizer.client.post(
        "/api/session", json={"login": organizer.phone, "secret": organizer.password}
    )
    assert signed_in.status_code == 200


async def test_dry_run_counts_and_writes_nothing(
    admin: Member, community: communities.CommunityView
) -> None:
    rows = [good(phone, 房号=str(200 + i)) for i, phone in enumerate(unique_phones(3))]
    before = (await people_in(community.id), await structure_counts(community.id))
    response = await upload(admin, csv_bytes(rows), params={"dry_run": "true"})
    assert response.status_code == 200, response.text
    assert response.json()["dry_run"] is True
    assert response.json()["created"] == 3
    assert response.json()["new_households"] == 3
    assert (await people_in(community.id), await structure_counts(community.id)) == before


# -- files -------------------------------------------------------------------------------


async def test_a_gb18030_csv_from_chinese_excel(
    admin: Member, community: communities.CommunityView
) -> None:
    p = unique_phones(2)
    rows = [good(p[0], 姓名="欧阳娜娜", 小区="䶮园小区"), good(p[1], 姓名="上官婉儿", 房号="102")]
    content = csv_bytes(rows, encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    response = await upload(admin, content)
    assert response.status_code == 200, response.text
    names = {
        r["name"] for r in await Person.select(Person.name).where(Person.community == community.id)
    }
    assert {"欧阳娜娜", "上官婉儿"} <= names
    assert await Compound.exists().where(
        (Compound.community == community.id) & (Compound.name == "䶮园小区")
    )


async def test_headers_are_trimmed_and_unknown_columns_ignored(
    admin: Member, community: communities.CommunityView
) -> None:
    header = [" 姓名 ", "备注", "*手机号", "身份证号"]
    phone = unique_phones(1)[0]
    response = await upload(admin, csv_bytes([["吴敏", "楼长", phone, "110101..."]], header=header))
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    person = await Person.select(Person.name, Person.household).where(
        (Person.community == community.id) & (Person.phone == phone)
    ).first()
    assert person == {"name": "吴敏", "household": None}


@pytest.mark.parametrize(
    ("filename", "content", "status", "reason"),
    [
        ("台账.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, 400, "unsupported_file"),
        ("photo.jpg", b"\xff\xd8\xff\xe0", 400, "unsupported_file"),
        ("台账.xlsx", b"not a zip at all", 400, "unreadable_file"),
        ("台账.xlsx", b"PK\x03\x04broken", 400, "unreadable_file"),
        ("台账.csv", "名字,电话\n张三,13800000000\n".encode(), 400, "missing_columns"),
        ("台账.csv", "姓名,手机号\n".encode(), 400, "empty_roster"),
        ("台账.csv", b"\xff\xfe\x00\xd8bad", 400, "unreadable_file"),
    ],
)
async def test_files_that_are_not_rosters_are_refused(
    admin: Member, community: communities.CommunityView, filename: str, content: bytes, status: int,
    reason: str,
) -> None:
    before = await people_in(community.id)
    response = await upload(admin, content, filename)
    assert response.status_code == status, response.text
    assert response.json()["reason"] == reason
    assert await people_in(community.id) == before


async def test_missing_columns_are_named(admin: Member) -> None:
    response = await upload(admin, csv_bytes([["张三"]], header=["姓名", "住址"]))
    assert response.status_code == 400
    assert response.json()["detail"] == "台账缺少必填列：手机号"


async def test_a_file_over_five_megabytes_is_refused(admin: Member) -> None:
    big = csv_bytes([]) + b"#" * (5 * 1024 * 1024)
    response = await upload(admin, big)
    assert response.status_code == 413, response.text
    assert response.json()["reason"] == "file_too_large"
    assert "5 MB" in response.json()["detail"]
    huge = b"#" * (7 * 1024 * 1024)
    response = await upload(admin, huge)
    assert response.status_code == 413
    assert response.json()["reason"] in ("too_large", "file_too_large")


async def test_the_upload_needs_a_file_field(admin: Member) -> None:
    response = await admin.client.post(
        "/api/people/import", files={"roster": ("台账.csv", csv_bytes([]))}
    )
    assert response.status_code == 400
    assert response.json()["reason"] == "invalid_input"


async def test_only_admins_import(organizer: Member, resident: Member, anon: httpx.AsyncClient) -> None:
    content = csv_bytes([good(unique_phones(1)[0])])
    assert (await upload(organizer, content)).status_code == 403
    assert (await upload(resident, content)).status_code == 403
    response = await anon.post("/api/people/import", files={"file": ("台账.csv", content)})
    assert response.status_code == 401


async def test_imported_residents_are_in_their_community_only(
    admin: Member, enrol, ledger: Ledger, community: communities.CommunityView
) -> None:
    other = await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(4)}")
    other_admin = await enrol("admin", community_id=other.id)
    phone = unique_phones(1)[0]
    content = csv_bytes([good(phone)])
    assert (await upload(admin, content)).json()["created"] == 1
    # The same phone in another community is another person.
    assert (await upload(other_admin, content)).json()["created"] == 1
    found = (await admin.client.get("/api/people", params={"q": phone})).json()["items"]
    assert len(found) == 1
    household = (await admin.client.get(f"/api/households/{found[0]['household_id']}"))
    assert household.status_code == 200
    assert (await other_admin.client.get(f"/api/households/{found[0]['household_id']}")).status_code == 404


# -- the command line -----------------------------------------------------------------------


def _admin_of_new_community(name: str) -> None:
    assert main(["admin", "create", "--name", "管理员", "--phone", unique_phones(1)[0],
                 "--password", "long enough password", "--community", name]) == 0


async def _count(name: str) -> int:
    community = await communities.named(name)
    assert community is not None
    return await people_in(community.id)


def test_cli_imports_residents_with_a_progress_bar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"CLI 导入 {secrets.token_hex(4)}"
    _admin_of_new_community(name)
    capsys.readouterr()
    path = tmp_path / "台账.xlsx"
    path.write_bytes(xlsx_bytes(roster_rows(1200, seed=7)))

    assert main(["import", "residents", str(path), "--community", name]) == 0
    out, err = capsys.readouterr()
    assert "共 1200 行，新增 1200 人" in out
    assert "\r导入 1200/1200 [##############################]" in err
    assert "开通积分账户 1200/1200" in err
    assert asyncio.run(_count(name)) == 1201

    assert main(["import", "residents", str(path), "--community", name]) == 0
    assert "新增 0 人，更新 0 人，未变 1200 人" in capsys.readouterr().out
    assert asyncio.run(_count(name)) == 1201


def test_cli_refuses_a_roster_with_bad_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"CLI 导入 {secrets.token_hex(4)}"
    _admin_of_new_community(name)
    capsys.readouterr()
    p = unique_phones(3)
    path = tmp_path / "台账.csv"
    path.write_bytes(csv_bytes([good(p[0]), good("123"), good(p[1]), good(p[0])]))

    assert main(["import", "residents", str(path), "--community", name]) == 1
    err = capsys.readouterr().err
    assert "第3行: invalid_phone" in err
    assert "第5行: duplicate_phone" in err
    assert "未导入任何数据" in err
    assert asyncio.run(_count(name)) == 1


def test_cli_explains_a_missing_file_or_community(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "residents", str(tmp_path / "nope.xlsx")]) == 1
    assert "nope.xlsx" in capsys.readouterr().err
    path = tmp_path / "台账.csv"
    path.write_bytes(csv_bytes([good(unique_phones(1)[0])]))
    assert main(["import", "residents", str(path), "--community", "没有这个社区"]) == 1
    assert "找不到该社区" in capsys.readouterr().err


async def test_excel_unicode_text_is_read_too(admin: Member) -> None:
    """Excel's "Unicode 文本" export: UTF-16 with a BOM, tab-separated."""
    phone = unique_phones(1)[0]
    text = "\t".join(HEADER) + "\r\n" + "\t".join(good(phone, 姓名="郑秀英")) + "\r\n"
    response = await upload(admin, text.encode("utf-16"), "台账.txt")
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1


async def test_two_imports_at_once_create_each_person_once(
    admin: Member, community: communities.CommunityView
) -> None:
    rows = [good(phone, 房号=str(300 + i)) for i, phone in enumerate(unique_phones(50))]
    content = csv_bytes(rows)
    first, second = await asyncio.gather(upload(admin, content), upload(admin, content))
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert sorted([first.json()["created"], second.json()["created"]]) == [0, 50]
    assert await people_in(community.id) == 51
