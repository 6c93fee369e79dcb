"""The community's structure through the API: compounds, buildings, grids, households, teams;
rename, archive instead of delete, community boundaries, admins only, clear errors."""

import secrets

import httpx
import pytest

from ledger import Ledger
from market.community import service as communities
from tests.market.support import Enrol, Member, random_phone

NAMED = ["compounds", "grids", "teams"]


async def make(admin: Member, path: str, body: dict) -> dict:
    response = await admin.client.post(f"/api/{path}", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def listed(admin: Member, path: str, **params: object) -> list[dict]:
    response = await admin.client.get(f"/api/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def address(admin: Member) -> tuple[dict, dict, dict]:
    """A compound, one of its buildings, and a grid."""
    compound = await make(admin, "compounds", {"name": "幸福小区"})
    building = await make(admin, "buildings", {"compound_id": compound["id"], "name": "1号楼"})
    grid = await make(admin, "grids", {"name": "第一网格"})
    return compound, building, grid


@pytest.fixture
async def stranger(enrol: Enrol, ledger: Ledger) -> Member:
    """An admin of another community."""
    other = await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(4)}")
    return await enrol("admin", community_id=other.id)


# -- named records: compounds, grids, teams -------------------------------------------------


@pytest.mark.parametrize("path", NAMED)
async def test_create_list_rename_archive_restore(admin: Member, path: str) -> None:
    made = await make(admin, path, {"name": "  东区   一组 "})
    assert made == {"id": made["id"], "name": "东区 一组", "archived_at": None}
    assert await listed(admin, path) == [made]

    renamed = await admin.client.patch(f"/api/{path}/{made['id']}", json={"name": "东区"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "东区"
    assert (await admin.client.get(f"/api/{path}/{made['id']}")).json()["name"] == "东区"

    archived = await admin.client.post(f"/api/{path}/{made['id']}/archive")
    assert archived.status_code == 200
    archived_at = archived.json()["archived_at"]
    assert archived_at is not None
    # Archiving again keeps the first time; archived records leave the list, not the database.
    again = await admin.client.post(f"/api/{path}/{made['id']}/archive")
    assert again.json()["archived_at"] == archived_at
    assert await listed(admin, path) == []
    assert [r["id"] for r in await listed(admin, path, archived="true")] == [made["id"]]
    # An archived record refuses changes until it is restored.
    refused = await admin.client.patch(f"/api/{path}/{made['id']}", json={"name": "西区"})
    assert refused.status_code == 409
    assert refused.json()["reason"] == "archived"
    restored = await admin.client.post(f"/api/{path}/{made['id']}/restore")
    assert restored.json()["archived_at"] is None
    assert [r["id"] for r in await listed(admin, path)] == [made["id"]]


@pytest.mark.parametrize("path", NAMED)
async def test_names_are_checked_and_unique(admin: Member, path: str) -> None:
    await make(admin, path, {"name": "阳光"})
    other = await make(admin, path, {"name": "月光"})
    for bad in ["", "   ", "名" * 51, "换\x07行"]:
        response = await admin.client.post(f"/api/{path}", json={"name": bad})
        assert response.status_code == 400, bad
        assert response.json()["reason"] == "invalid_structure_name"
        assert response.json()["detail"] == "名称须为 1–50 个字"
    # NUL, which no database here can store, is refused at the door for every field alike.
    nul = await admin.client.post(f"/api/{path}", json={"name": "换\x00行"})
    assert nul.status_code == 400 and nul.json()["reason"] == "invalid_character"
    assert (await admin.client.post(f"/api/{path}", json={"name": "名" * 50})).status_code == 201

    taken = await admin.client.post(f"/api/{path}", json={"name": " 阳光 "})
    assert taken.status_code == 409
    assert taken.json()["reason"] == "name_taken"
    assert taken.headers["content-type"].startswith("application/problem+json")
    renamed = await admin.client.patch(
        f"/api/{path}/{other['id']}", json={"name": "阳光"}, headers={"Accept-Language": "en"}
    )
    assert renamed.status_code == 409
    assert renamed.json()["detail"] == "That name is already in use"
    assert len(await listed(admin, path)) == 3


async def test_each_community_has_its_own_names(admin: Member, stranger: Member) -> None:
    await make(admin, "grids", {"name": "第一网格"})
    await make(stranger, "grids", {"name": "第一网格"})
    assert [g["name"] for g in await listed(admin, "grids")] == ["第一网格"]


# -- buildings and households ----------------------------------------------------------------


async def test_buildings_belong_to_a_compound(admin: Member) -> None:
    east = await make(admin, "compounds", {"name": "东苑"})
    west = await make(admin, "compounds", {"name": "西苑"})
    one = await make(admin, "buildings", {"compound_id": east["id"], "name": "1号楼"})
    # The same building name in another compound is another building.
    await make(admin, "buildings", {"compound_id": west["id"], "name": "1号楼"})
    taken = await admin.client.post("/api/buildings", json={"compound_id": east["id"], "name": "1号楼"})
    assert taken.json()["reason"] == "name_taken"
    assert await listed(admin, "buildings", compound_id=east["id"]) == [one]
    assert len(await listed(admin, "buildings")) == 2

    await admin.client.post(f"/api/compounds/{east['id']}/archive")
    refused = await admin.client.post("/api/buildings", json={"compound_id": east["id"], "name": "2号楼"})
    assert refused.status_code == 409
    assert refused.json()["reason"] == "archived"
    assert refused.json()["detail"] == "该项已归档，请先恢复再使用"
    missing = await admin.client.post("/api/buildings", json={"compound_id": 999_999_999, "name": "楼"})
    assert missing.status_code == 404
    assert missing.json()["field"] == "compound_id"

    renamed = await admin.client.patch(f"/api/buildings/{one['id']}", json={"name": "一号楼"})
    assert renamed.json()["name"] == "一号楼"
    await admin.client.post(f"/api/buildings/{one['id']}/archive")
    # A building cannot come back while its compound is archived.
    assert (await admin.client.post(f"/api/buildings/{one['id']}/restore")).status_code == 409
    await admin.client.post(f"/api/compounds/{east['id']}/restore")
    assert (await admin.client.post(f"/api/buildings/{one['id']}/restore")).status_code == 200


async def test_households_have_an_address_and_a_grid(admin: Member) -> None:
    _, building, grid = await address(admin)
    other_grid = await make(admin, "grids", {"name": "第二网格"})
    home = await make(
        admin, "households",
        {"building_id": building["id"], "unit": "2单元", "room": "301", "grid_id": grid["id"]},
    )
    assert home == {
        "id": home["id"], "building_id": building["id"], "unit": "2单元", "room": "301",
        "grid_id": grid["id"], "archived_at": None,
    }
    no_unit = await make(admin, "households", {"building_id": building["id"], "room": "101"})
    assert no_unit["unit"] == "" and no_unit["grid_id"] is None

    taken = await admin.client.post(
        "/api/households", json={"building_id": building["id"], "unit": "2单元", "room": "301"}
    )
    assert taken.status_code == 409
    assert taken.json()["reason"] == "address_taken"
    for bad in [{"room": ""}, {"room": "1" * 21}, {"unit": "单" * 21, "room": "1"}]:
        response = await admin.client.post("/api/households", json={"building_id": building["id"]} | bad)
        assert response.status_code == 400
        assert response.json()["reason"] == "invalid_address"

    moved = await admin.client.patch(f"/api/households/{home['id']}", json={"grid_id": other_grid["id"]})
    assert moved.json()["grid_id"] == other_grid["id"]
    corrected = await admin.client.patch(f"/api/households/{home['id']}", json={"room": "302"})
    assert corrected.json() | {"archived_at": None} == home | {"room": "302", "grid_id": other_grid["id"]}
    cleared = await admin.client.patch(f"/api/households/{home['id']}", json={"grid_id": None})
    assert cleared.json()["grid_id"] is None
    clash = await admin.client.patch(f"/api/households/{home['id']}", json={"unit": "", "room": "101"})
    assert clash.json()["reason"] == "address_taken"

    await admin.client.patch(f"/api/households/{home['id']}", json={"grid_id": grid["id"]})
    by_grid = await admin.client.get("/api/households", params={"grid_id": grid["id"]})
    assert [h["id"] for h in by_grid.json()["items"]] == [home["id"]]
    await admin.client.post(f"/api/grids/{grid['id']}/archive")
    refused = await admin.client.patch(f"/api/households/{no_unit['id']}", json={"grid_id": grid["id"]})
    assert refused.json()["reason"] == "archived"

    await admin.client.post(f"/api/households/{home['id']}/archive")
    assert [h["id"] for h in (await admin.client.get("/api/households")).json()["items"]] == [no_unit["id"]]
    await admin.client.post(f"/api/buildings/{building['id']}/archive")
    refused = await admin.client.post("/api/households", json={"building_id": building["id"], "room": "9"})
    assert refused.json()["reason"] == "archived"


async def test_households_are_listed_in_pages(admin: Member) -> None:
    _, building, _ = await address(admin)
    made = [
        (await make(admin, "households", {"building_id": building["id"], "room": str(100 + i)}))["id"]
        for i in range(5)
    ]
    seen, cursor = [], None
    while True:
        params = {"building_id": building["id"], "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await admin.client.get("/api/households", params=params)).json()
        seen += [h["id"] for h in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made


# -- grid workers and team members -------------------------------------------------------------


async def test_grid_workers(admin: Member, enrol: Enrol, stranger: Member) -> None:
    grid = await make(admin, "grids", {"name": "第三网格"})
    worker = await enrol("organizer", name="网格员小王")
    added = await admin.client.post(f"/api/grids/{grid['id']}/workers", json={"person_id": worker.id})
    assert added.status_code == 201
    assert added.json() == {"person_id": worker.id, "name": "网格员小王"}
    # Adding twice leaves one link.
    await admin.client.post(f"/api/grids/{grid['id']}/workers", json={"person_id": worker.id})
    workers = await listed(admin, f"grids/{grid['id']}/workers")
    assert workers == [{"person_id": worker.id, "name": "网格员小王"}]

    foreign = await admin.client.post(f"/api/grids/{grid['id']}/workers", json={"person_id": stranger.id})
    assert foreign.status_code == 404

    removed = await admin.client.delete(f"/api/grids/{grid['id']}/workers/{worker.id}")
    assert removed.status_code == 204
    assert await listed(admin, f"grids/{grid['id']}/workers") == []
    assert (await admin.client.delete(f"/api/grids/{grid['id']}/workers/{worker.id}")).status_code == 404

    await admin.client.post(f"/api/grids/{grid['id']}/archive")
    refused = await admin.client.post(f"/api/grids/{grid['id']}/workers", json={"person_id": worker.id})
    assert refused.json()["reason"] == "archived"


async def test_team_members_and_leaders(admin: Member, enrol: Enrol, stranger: Member) -> None:
    team = await make(admin, "teams", {"name": "银发志愿服务队"})
    members = [await enrol("resident", name=name) for name in ("老张", "老李", "老王")]
    for member in members:
        response = await admin.client.post(
            f"/api/teams/{team['id']}/members", json={"person_id": member.id}
        )
        assert response.status_code == 201
        assert response.json()["is_leader"] is False
    lead = await admin.client.post(
        f"/api/teams/{team['id']}/members", json={"person_id": members[2].id, "is_leader": True}
    )
    assert lead.json()["is_leader"] is True
    listing = await listed(admin, f"teams/{team['id']}/members")
    assert [(m["name"], m["is_leader"]) for m in listing] == [
        ("老王", True), ("老张", False), ("老李", False),
    ]
    left = await admin.client.delete(f"/api/teams/{team['id']}/members/{members[0].id}")
    assert left.status_code == 204
    assert [m["name"] for m in await listed(admin, f"teams/{team['id']}/members")] == ["老王", "老李"]
    foreign = await admin.client.post(
        f"/api/teams/{team['id']}/members", json={"person_id": stranger.id}
    )
    assert foreign.status_code == 404


# -- boundaries and permissions ----------------------------------------------------------------


async def test_another_communitys_structure_is_not_found(admin: Member, stranger: Member) -> None:
    compound, building, grid = await address(admin)
    team = await make(admin, "teams", {"name": "志愿队"})
    household = await make(admin, "households", {"building_id": building["id"], "room": "101"})
    records = {
        "compounds": compound["id"], "buildings": building["id"], "grids": grid["id"],
        "teams": team["id"], "households": household["id"],
    }
    for path, record_id in records.items():
        assert (await stranger.client.get(f"/api/{path}/{record_id}")).status_code == 404
        change = {"room": "1"} if path == "households" else {"name": "抢走"}
        patched = await stranger.client.patch(f"/api/{path}/{record_id}", json=change)
        assert patched.status_code == 404, path
        assert patched.json()["reason"] == "not_found"
        assert (await stranger.client.post(f"/api/{path}/{record_id}/archive")).status_code == 404
        assert await listed(stranger, path) == []
    attempts = [
        ("/api/buildings", {"compound_id": compound["id"], "name": "楼"}),
        ("/api/households", {"building_id": building["id"], "room": "1"}),
        (f"/api/grids/{grid['id']}/workers", {"person_id": stranger.id}),
        (f"/api/teams/{team['id']}/members", {"person_id": stranger.id}),
    ]
    for url, body in attempts:
        assert (await stranger.client.post(url, json=body)).status_code == 404, url
    assert (await stranger.client.get(f"/api/teams/{team['id']}/members")).status_code == 404
    # Nothing of theirs changed.
    assert (await admin.client.get(f"/api/compounds/{compound['id']}")).json() == compound


@pytest.mark.parametrize("role", ["organizer", "shopkeeper", "resident"])
async def test_only_admins_keep_the_structure(
    admin: Member, enrol: Enrol, anon: httpx.AsyncClient, role: str
) -> None:
    compound = await make(admin, "compounds", {"name": "幸福小区"})
    member = await enrol(role)
    requests = [
        ("POST", "/api/compounds", {"name": "x"}),
        ("GET", "/api/compounds", None),
        ("PATCH", f"/api/compounds/{compound['id']}", {"name": "x"}),
        ("POST", f"/api/compounds/{compound['id']}/archive", None),
        ("GET", "/api/buildings", None),
        ("GET", "/api/grids", None),
        ("GET", "/api/households", None),
        ("GET", "/api/teams", None),
        ("POST", "/api/teams", {"name": "x"}),
    ]
    for method, url, body in requests:
        response = await member.client.request(method, url, json=body)
        assert response.status_code == 403, (method, url)
        assert response.json()["reason"] == "forbidden"
        assert (await anon.request(method, url, json=body)).status_code == 401
    assert (await admin.client.get(f"/api/compounds/{compound['id']}")).json()["name"] == "幸福小区"


# -- people in households ------------------------------------------------------------------------


async def test_a_resident_is_enrolled_into_a_household(admin: Member, stranger: Member) -> None:
    _, building, _ = await address(admin)
    home = await make(admin, "households", {"building_id": building["id"], "room": "502"})
    body = {"name": "孙奶奶", "phone": random_phone(), "roles": ["resident"], "pin": "258036",
            "household_id": home["id"]}
    created = await admin.client.post("/api/people", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["household_id"] == home["id"]
    shown = await admin.client.get(f"/api/people/{created.json()['id']}")
    assert shown.json()["household_id"] == home["id"]

    # Another community's household is not found, and nobody is enrolled.
    foreign = await stranger.client.post("/api/people", json=body | {"phone": random_phone()})
    assert foreign.status_code == 404
    assert foreign.json()["field"] == "household_id"
    assert len(await listed(stranger, "people")) == 1

    await admin.client.post(f"/api/households/{home['id']}/archive")
    archived = await admin.client.post("/api/people", json=body | {"phone": random_phone()})
    assert archived.status_code == 409
    assert archived.json()["reason"] == "archived"

    without = await admin.client.post(
        "/api/people", json={k: v for k, v in body.items() if k != "household_id"} | {"phone": random_phone()}
    )
    assert without.status_code == 201
    assert without.json()["household_id"] is None
