"""Doorplates (数字门牌, issue 18): the printed plate's QR read back from the PDF, what it opens
over the API, reissuing, and the community's hotline."""

import asyncio
import subprocess

import httpx
import pytest
from litestar import Litestar

from market.community import service as communities
from market.community import structure
from market.tables import AuditEntry, Household
from qr import decode_png
from tests.market import records
from tests.market.support import Member


async def plate_code(admin: Member, household_id: int) -> str:
    """The link in the QR of the household's plate, as a phone reads it off the printed page."""
    response = await admin.client.get(f"/api/households/{household_id}/doorplate.pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    picture = (await asyncio.to_thread(
        subprocess.run, ["pdftoppm", "-png", "-r", "150", "-singlefile", "-"],
        input=response.content, capture_output=True, check=True)).stdout
    (url,) = decode_png(picture)
    return url


def token_of(url: str) -> str:
    path = httpx.URL(url).path
    assert path.startswith("/d/"), url
    return path.removeprefix("/d/")


async def test_the_plate_pdf_carries_a_link_that_names_the_household(
    admin: Member, anon: httpx.AsyncClient, community: communities.CommunityView
) -> None:
    household_id = await records.household(community.id)
    saved = await admin.client.put("/api/community/hotline", json={"hotline": "０１０-6512 3456"})
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"hotline": "010-6512 3456"}  # full-width digits read as typed
    url = await plate_code(admin, household_id)
    shown = await anon.get(f"/api/doorplates/{token_of(url)}")
    assert shown.status_code == 200, shown.text
    body = shown.json()
    row = await Household.select().where(Household.id == household_id).first()
    assert body["community"] == community.name and body["hotline"] == "010-6512 3456"
    assert body["address"].endswith(f"{row['unit']}{row['room']}")
    # No names, no points: what a stranger at the door may read.
    assert set(body) == {"community", "slug", "address", "hotline"}


async def test_a_reissued_plate_refuses_the_old_code_at_once(
    admin: Member, anon: httpx.AsyncClient, community: communities.CommunityView
) -> None:
    household_id = await records.household(community.id)
    old = token_of(await plate_code(admin, household_id))
    reissued = await admin.client.post(f"/api/households/{household_id}/doorplate/reissue")
    assert reissued.status_code == 200, reissued.text
    assert reissued.json() == {"household_id": household_id, "version": 2}
    refused = await anon.get(f"/api/doorplates/{old}")
    assert refused.status_code == 410 and refused.json()["reason"] == "plate_revoked"
    new = token_of(await plate_code(admin, household_id))
    assert new != old and (await anon.get(f"/api/doorplates/{new}")).status_code == 200
    audited = await AuditEntry.select(AuditEntry.actor).where(
        (AuditEntry.action == "doorplate_reissued") & (AuditEntry.subject == f"household:{household_id}"))
    assert audited == [{"actor": admin.id}]
    # An archived household's plate is refused the same way, and none is printed for it.
    await structure.archive_household(community.id, household_id)
    assert (await anon.get(f"/api/doorplates/{new}")).status_code == 410
    assert (await admin.client.get(f"/api/households/{household_id}/doorplate.pdf")).status_code == 409


@pytest.mark.parametrize("token", ["x", "A" * 40, "not a token", "Z" * 64])
async def test_anything_but_a_genuine_plate_is_invalid(anon: httpx.AsyncClient, token: str) -> None:
    response = await anon.get(f"/api/doorplates/{token}")
    assert response.status_code == 400 and response.json()["reason"] == "invalid"


async def test_another_kind_of_signed_code_is_not_a_plate(
    anon: httpx.AsyncClient, resident: Member, admin: Member, community: communities.CommunityView
) -> None:
    """A member card is signed with the same key: it must not open a household."""
    card = await admin.client.get(f"/api/people/{resident.id}/card.png")
    (code,) = decode_png(card.content)
    response = await anon.get(f"/api/doorplates/{code}")
    assert response.status_code == 400 and response.json()["reason"] == "invalid"


@pytest.mark.parametrize("typed", ["12", "热线", "1" * 21, "010-", "--1234567", "0101234567x"])
async def test_a_bad_hotline_is_refused_and_changes_nothing(admin: Member, typed: str) -> None:
    await admin.client.put("/api/community/hotline", json={"hotline": "12345"})
    refused = await admin.client.put("/api/community/hotline", json={"hotline": typed})
    assert refused.status_code == 400, refused.text
    assert refused.json()["reason"] == "invalid_hotline" and refused.json()["field"] == "hotline"
    assert (await admin.client.get("/api/community/hotline")).json() == {"hotline": "12345"}


async def test_the_hotline_is_cleared_with_nothing_and_read_by_members(
    admin: Member, resident: Member, enrol
) -> None:
    assert (await resident.client.get("/api/community/hotline")).json() == {"hotline": None}
    await admin.client.put("/api/community/hotline", json={"hotline": "(010) 8888 6666"})
    assert (await resident.client.get("/api/community/hotline")).json() == {"hotline": "(010) 8888 6666"}
    cleared = await admin.client.put("/api/community/hotline", json={"hotline": "  "})
    assert cleared.json() == {"hotline": None}
    # Another community's admin sets its own hotline, never this one's.
    assert (await resident.client.get("/api/community/hotline")).json() == {"hotline": None}


async def test_a_plate_of_another_community_is_not_printed(
    app: Litestar, admin: Member, community: communities.CommunityView
) -> None:
    other = await communities.get_or_create(app.state.ledger, "别的社区-门牌")
    household_id = await records.household(other.id)
    assert (await admin.client.get(f"/api/households/{household_id}/doorplate.pdf")).status_code == 404
    assert (await admin.client.post(f"/api/households/{household_id}/doorplate/reissue")).status_code == 404
