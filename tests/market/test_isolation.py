"""Communities are isolated: an admin of one tries everything on another's people and points."""

import secrets
from dataclasses import dataclass

import httpx
import pytest
from litestar import Litestar

from ledger import Ledger
from market.community import service as communities
from market.tables import AuditEntry, Person
from tests.market import records
from tests.market.support import Enrol, Member, adjust, balance


@dataclass
class Neighbour:
    """Community B: its admin, a resident with points, and names no one else uses."""

    id: int
    admin: Member
    resident: Member
    marker: str


@pytest.fixture
async def neighbour(enrol: Enrol, ledger: Ledger) -> Neighbour:
    marker = f"乙{secrets.token_hex(4)}"
    other = await communities.get_or_create(ledger, f"乙社区-{marker}")
    admin = await enrol("admin", community_id=other.id, name=f"管理员{marker}")
    resident = await enrol("resident", community_id=other.id, name=f"居民{marker}")
    assert (await adjust(admin, resident.id, "30", reason=f"积分{marker}")).status_code == 201
    await records.compound(other.id)
    await records.help_request(other.id, body=f"求助{marker}")
    return Neighbour(other.id, admin, resident, marker)


async def test_people_of_another_community_are_not_found(
    admin: Member, neighbour: Neighbour
) -> None:
    target = neighbour.resident
    for path in (f"/api/people/{target.id}", f"/api/people/{target.id}/phone"):
        response = await admin.client.get(path)
        assert response.status_code == 404, path
        assert neighbour.marker not in response.text
    for q in (target.phone, target.phone[-4:], target.card_no, target.name, neighbour.marker):
        found = await admin.client.get("/api/people", params={"q": q})
        assert found.status_code == 200
        assert all(p["id"] not in (target.id, neighbour.admin.id) for p in found.json()["items"])
    everyone = await admin.client.get("/api/people", params={"limit": 100})
    assert neighbour.marker not in everyone.text
    assert not await AuditEntry.exists().where(AuditEntry.subject == f"person:{target.id}")


async def test_nobody_changes_another_communitys_people(
    admin: Member, neighbour: Neighbour
) -> None:
    target = neighbour.resident
    response = await admin.client.post(f"/api/people/{target.id}/erase")
    assert response.status_code == 404
    row = await Person.select(Person.name, Person.erased_at).where(Person.id == target.id).first()
    assert row["erased_at"] is None and row["name"] == target.name
    assert (await target.client.get("/api/me")).status_code == 200


async def test_nobody_moves_another_communitys_points(
    admin: Member, neighbour: Neighbour
) -> None:
    target = neighbour.resident
    for amount in ("100", "-30"):
        response = await adjust(admin, target.id, amount)
        assert response.status_code == 404
        assert response.json()["reason"] == "not_found"
    assert await balance(target) == "30.00"
    # B's admin cannot credit A's people either.
    mine = (await admin.client.get("/api/me")).json()["id"]
    assert (await adjust(neighbour.admin, mine, "5")).status_code == 404


async def test_ledger_views_carry_no_other_communitys_data(
    admin: Member, neighbour: Neighbour, anon: httpx.AsyncClient
) -> None:
    verify = await admin.client.get("/api/ledger/verify")
    assert verify.status_code == 200
    # The chain is one for the installation: only its totals and head, nobody's entries.
    assert set(verify.json()) <= {"ok", "entries", "head", "accounts", "total", "problem"}
    assert neighbour.marker not in verify.text
    entries = await admin.client.get("/api/me/entries")
    assert neighbour.marker not in entries.text
    # Transparency is public by design: aggregates of one community, no people.
    public = await anon.get("/api/transparency", params={"community": neighbour.id})
    assert public.status_code == 200
    assert set(public.json()) == {
        "community_id", "community", "head", "entries", "issued", "redeemed", "outstanding",
        "expired", "travelled",
    }
    assert neighbour.marker not in public.json()["community"].replace(f"乙社区-{neighbour.marker}", "")


async def test_no_list_shows_another_communitys_records(
    app: Litestar, admin: Member, resident: Member, neighbour: Neighbour, anon: httpx.AsyncClient
) -> None:
    """Every parameterless GET under /api, as A's admin and resident: B's names never appear."""
    document = (await anon.get("/schema/openapi.json")).json()
    paths = [p for p, ops in document["paths"].items()
             if p.startswith("/api") and "get" in ops and "{" not in p]
    assert "/api/people" in paths
    for path in paths:
        for member in (admin, resident):
            response = await member.client.get(path)
            assert neighbour.marker not in response.text, (path, member.roles)
            assert neighbour.resident.phone not in response.text


async def test_records_of_another_community_are_not_found_by_id(
    app: Litestar, admin: Member, neighbour: Neighbour, anon: httpx.AsyncClient
) -> None:
    """Every GET /api/…/{id} route, with an id of B's: 403 or 404, never B's data."""
    from tests.market.test_route_matrix import RECORDS, parameters

    document = (await anon.get("/schema/openapi.json")).json()
    templates = [p for p, ops in document["paths"].items()
                 if p.startswith("/api") and "get" in ops and "{" in p]
    assert templates
    # Public by design: a community's public address (its name and slug) is on every printed notice,
    # and a doorplate's (community, address, hotline; no names, no points) on the household's door.
    public = {"/api/communities/{slug}", "/api/doorplates/{token}"}
    for template in (t for t in templates if t not in public):
        path = template
        for name in parameters(template):
            path = path.replace(f"{{{name}}}", str(await RECORDS[name](neighbour.id)))
        response = await admin.client.get(path)
        assert response.status_code in (403, 404), (path, response.status_code)
