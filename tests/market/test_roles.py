"""Roles: admins assign them within their community; the last admin stays; staff need a password."""

import asyncio

import pytest
from litestar import Litestar

from market.community import service as communities
from market.tables import AuditEntry
from tests.market.support import Enrol, Member


async def put_roles(admin: Member, person_id: int, roles: list[str]):
    return await admin.client.put(f"/api/people/{person_id}/roles", json={"roles": roles})


async def roles_changed(person_id: int) -> int:
    return await AuditEntry.count().where(
        (AuditEntry.action == "roles_changed") & (AuditEntry.subject == f"person:{person_id}")
    )


async def test_an_admin_changes_roles_and_it_takes_effect_at_once(
    admin: Member, organizer: Member
) -> None:
    # An organizer cannot add products … (no shop yet: use the admin-only people list instead)
    assert (await organizer.client.get("/api/people")).status_code == 403
    response = await put_roles(admin, organizer.id, ["organizer", "admin"])
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["admin", "organizer"]
    assert (await organizer.client.get("/api/people")).status_code == 200
    assert await roles_changed(organizer.id) == 1

    back = await put_roles(admin, organizer.id, ["organizer"])
    assert back.json()["roles"] == ["organizer"]
    assert (await organizer.client.get("/api/people")).status_code == 403
    assert await roles_changed(organizer.id) == 2
    # Setting the same roles again changes nothing and logs nothing.
    await put_roles(admin, organizer.id, ["organizer"])
    assert await roles_changed(organizer.id) == 2


async def test_staff_roles_need_a_password(admin: Member, resident: Member) -> None:
    response = await put_roles(admin, resident.id, ["resident", "shopkeeper"])
    assert response.status_code == 409
    assert response.json()["reason"] == "password_required"
    person = await admin.client.get(f"/api/people/{resident.id}")
    assert person.json()["roles"] == ["resident"]
    assert await roles_changed(resident.id) == 0


async def test_the_last_admin_keeps_the_admin_role(admin: Member, enrol: Enrol) -> None:
    response = await put_roles(admin, admin.id, ["organizer"])
    assert response.status_code == 409
    assert response.json()["reason"] == "last_admin"
    assert "管理员" in response.json()["detail"]

    second = await enrol("admin")
    assert (await put_roles(second, admin.id, ["organizer"])).status_code == 200
    assert (await admin.client.get("/api/roles")).status_code == 403
    # Now the second admin is the last one.
    assert (await put_roles(second, second.id, ["organizer"])).json()["reason"] == "last_admin"


@pytest.mark.parametrize("roles", [[], ["king"], ["resident", "mayor"]])
async def test_unknown_roles_are_invalid(admin: Member, resident: Member, roles: list[str]) -> None:
    response = await put_roles(admin, resident.id, roles)
    assert response.status_code == 400
    assert response.json()["reason"] == "invalid_roles"


async def test_roles_of_another_community_are_out_of_reach(
    app: Litestar, admin: Member, enrol: Enrol
) -> None:
    other = await communities.get_or_create(app.state.ledger, "别的社区-roles")
    stranger = await enrol("organizer", community_id=other.id)
    assert (await put_roles(admin, stranger.id, ["organizer", "admin"])).status_code == 404
    assert await roles_changed(stranger.id) == 0
    holders = (await admin.client.get("/api/roles")).json()
    assert all(stranger.id != holder["id"] for people in holders.values() for holder in people)


async def test_who_holds_which_role(
    admin: Member, resident: Member, organizer: Member, shopkeeper: Member, enrol: Enrol
) -> None:
    both = await enrol("resident", "organizer", name="两样都有")
    response = await admin.client.get("/api/roles")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"resident", "organizer", "shopkeeper", "admin"}
    ids = {role: [holder["id"] for holder in people] for role, people in body.items()}
    assert ids == {
        "admin": [admin.id],
        "resident": [resident.id, both.id],
        "organizer": [organizer.id, both.id],
        "shopkeeper": [shopkeeper.id],
    }
    assert {"id": both.id, "name": "两样都有"} in body["organizer"]


@pytest.mark.parametrize("who", ["resident", "organizer", "shopkeeper"])
async def test_only_admins_manage_roles(enrol: Enrol, who: str) -> None:
    member = await enrol(who)
    assert (await member.client.get("/api/roles")).status_code == 403
    assert (await put_roles(member, member.id, ["admin"])).status_code == 403


async def test_two_admins_demoting_each_other_at_once_leave_one(admin: Member, enrol: Enrol) -> None:
    second = await enrol("admin")
    first, other = await asyncio.gather(
        put_roles(admin, second.id, ["organizer"]), put_roles(second, admin.id, ["organizer"])
    )
    statuses = sorted([first.status_code, other.status_code])
    # Either one wins and the other finds itself the last admin, or the loser's guard
    # already saw it demoted (403); never both demoted.
    assert statuses in ([200, 403], [200, 409]), (first.text, other.text)
    holders = (await admin.client.get("/api/roles")).json() if first.status_code == 200 else (
        await second.client.get("/api/roles")
    ).json()
    assert len(holders["admin"]) == 1
