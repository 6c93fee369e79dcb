"""The page a scanned doorplate opens (数字门牌, issue 18): a member of the household gets their
household, anyone else the community's public page and hotline; the office prints and reissues
plates from the structure page and sets the hotline on its dashboard."""

import contextlib
from collections.abc import AsyncIterator

import httpx
from litestar import Litestar

from market.community import service as communities
from market.tables import Household, Person
from tests.market import records
from tests.market.support import Member
from tests.market.test_doorplates import plate_code
from tests.web.support import browser, csrf_of, path_of, sign_in


async def _plate(admin: Member, community: communities.CommunityView) -> tuple[int, str]:
    household_id = await records.household(community.id)
    return household_id, path_of(await plate_code(admin, household_id))


async def test_a_member_of_the_household_is_taken_to_it(
    app: Litestar, admin: Member, resident: Member, community: communities.CommunityView
) -> None:
    household_id, plate = await _plate(admin, community)
    await Person.update({Person.household: household_id}).where(Person.id == resident.id)
    async with browser(app) as client:
        # Not signed in yet: the plate offers sign-in and comes back to itself.
        first = await client.get(plate)
        assert first.status_code == 200 and f'href="/signin?next={plate}"' in first.text
        signed = await sign_in(client, resident, next_path=plate)
        assert signed.headers["location"] == plate
        opened = await client.get(plate)
        assert opened.status_code == 303 and opened.headers["location"] == "/household"
        household = await client.get("/household")
        assert household.status_code == 200 and 'id="members"' in household.text


async def test_anyone_else_reads_the_address_the_hotline_and_the_public_links(
    app: Litestar, admin: Member, resident: Member, community: communities.CommunityView
) -> None:
    await admin.client.put("/api/community/hotline", json={"hotline": "010-6512 3456"})
    household_id, plate = await _plate(admin, community)
    row = await Household.select().where(Household.id == household_id).first()
    async with browser(app) as stranger:
        page = await stranger.get(plate)
    assert page.status_code == 200
    assert community.name in page.text and f"{row['unit']}{row['room']}" in page.text
    assert 'href="tel:01065123456"' in page.text and "民声热线" in page.text
    assert 'id="public-links"' in page.text and "/transparency?community=" in page.text
    async with browser(app, "en") as neighbour:  # a resident of the community, not of the household
        await sign_in(neighbour, resident)
        page = await neighbour.get(plate)
    assert page.status_code == 200 and 'id="not-this-household"' in page.text
    assert "Community hotline" in page.text


async def test_an_old_or_forged_plate_gets_a_page_that_says_so(
    app: Litestar, admin: Member, community: communities.CommunityView
) -> None:
    household_id, plate = await _plate(admin, community)
    async with browser(app) as client:
        assert (await client.get("/d/NOTAPLATE")).status_code == 400
    reissued = await admin.client.post(f"/api/households/{household_id}/doorplate/reissue")
    assert reissued.status_code == 200
    async with browser(app) as client:
        old = await client.get(plate)
    assert old.status_code == 410 and "此门牌已重新制作" in old.text


@contextlib.asynccontextmanager
async def _office(app: Litestar, admin: Member) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        form = await client.get("/signin")
        signed = await client.post("/signin", data={"csrf": csrf_of(form.text), "next": "/admin",
                                                    "login": admin.phone, "secret": admin.password})
        assert signed.status_code == 303, signed.text
        yield client


async def test_the_office_prints_and_reissues_a_plate_from_the_structure_page(
    app: Litestar, admin: Member, community: communities.CommunityView
) -> None:
    household_id, plate = await _plate(admin, community)
    async with _office(app, admin) as office:
        page = await office.get("/admin/structure")
        assert f'href="/admin/doorplates/{household_id}"' in page.text
        printed = await office.get(f"/admin/doorplates/{household_id}")
        assert printed.status_code == 200 and printed.headers["content-type"] == "application/pdf"
        done = await office.post(f"/admin/doorplates/{household_id}/reissue",
                                 data={"csrf": csrf_of(page.text)})
        assert done.status_code == 303
        after = await office.get(done.headers["location"])
        assert 'id="plate-reissued"' in after.text
        # Without the form's CSRF token nothing is reissued.
        refused = await office.post(f"/admin/doorplates/{household_id}/reissue", data={})
        assert refused.status_code == 403
    async with browser(app) as client:
        assert (await client.get(plate)).status_code == 410
    version = await Household.select(Household.plate_version).where(Household.id == household_id).first()
    assert version["plate_version"] == 2


async def test_a_bad_hotline_keeps_what_was_typed_beside_the_reason(
    app: Litestar, admin: Member, community: communities.CommunityView
) -> None:
    async with _office(app, admin) as office:
        page = await office.get("/admin")
        refused = await office.post("/admin/community/hotline", data={"csrf": csrf_of(page.text),
                                                                      "hotline": "打电话给我"})
        assert refused.status_code == 400
        assert 'id="hotline-problem"' in refused.text and 'value="打电话给我"' in refused.text
        saved = await office.post("/admin/community/hotline", data={"csrf": csrf_of(page.text),
                                                                    "hotline": "010 6512 3456"})
        assert saved.status_code == 303 and saved.headers["location"] == "/admin?hotline=saved#hotline"
        shown = await office.get(saved.headers["location"])
        assert 'id="hotline-saved"' in shown.text and 'value="010 6512 3456"' in shown.text
