"""The 街道 office's pages over HTTP (issue 17): the overview with each community's figures, 通存通兑
turned off through the form (and then really refused at a counter), the month's settlement after a
visit, a bad month, the honour roll across communities with masked names, another office's
subdistrict not there, community roles refused, and the public page of the subdistrict."""

import contextlib
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from litestar import Litestar

from ledger import Ledger
from market.auth.roles import ROLES, SUBDISTRICT_ADMIN
from market.community import service as communities
from market.community import slugs
from market.community.service import CommunityView
from market.db import fetch
from market.people.service import NewPerson, create_person
from market.reports import checkpoint_service
from market.reports.board_period import CHINA
from market.subdistricts import service as subdistricts
from tests.market.support import PASSWORD, Enrol, Member, adjust, random_phone
from tests.market.test_redemptions import balance, code_of, product, redeem
from tests.web.support import browser, code_url, csrf_of, running_activity, without_times

THIS_MONTH = datetime.now(CHINA).strftime("%Y-%m")


@dataclass
class Office:
    phone: str
    subdistrict_id: int
    name: str


@dataclass
class Town:
    a: CommunityView
    b: CommunityView
    office: Office
    resident: Member
    keeper_b: Member
    admin_b: Member


@pytest.fixture
async def town(app: Litestar, ledger: Ledger, community: CommunityView, enrol: Enrol, admin: Member) -> Town:
    """Two communities of one subdistrict with 通存通兑 on, a resident of A with 100 points, B's
    shop keeper, and the office's account (as ``market subdistrict admin`` makes it)."""
    b = await communities.get_or_create(ledger, f"邻里社区-{secrets.token_hex(3)}")
    view = await subdistricts.create(f"幸福街道-{secrets.token_hex(3)}", [community.id, b.id], shared=True)
    resident = await enrol("resident", name="王秀英")
    assert (await adjust(admin, resident.id, "100")).status_code == 201
    phone = random_phone()
    person = await create_person(
        community.id, NewPerson(name="街道办", phone=phone, roles=[SUBDISTRICT_ADMIN], password=PASSWORD),
        hasher=app.state.hasher, ledger=ledger, allowed_roles=ROLES | {SUBDISTRICT_ADMIN})
    await subdistricts.add_admin(view.id, person.id)
    return Town(community, b, Office(phone, view.id, view.name), resident,
                await enrol("shopkeeper", community_id=b.id), await enrol("admin", community_id=b.id))


@contextlib.asynccontextmanager
async def signed_in(app: Litestar, login: str, secret: str, language: str | None = None
                    ) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in on the sign-in form, which sends it on to ``/``."""
    async with browser(app, language) as client:
        form = await client.get("/signin")
        response = await client.post("/signin", data={
            "csrf": csrf_of(form.text), "next": "/", "login": login, "secret": secret})
        assert response.status_code == 303 and response.headers["location"] == "/", response.text
        yield client


def office_of(app: Litestar, town: Town, language: str | None = None):
    return signed_in(app, town.office.phone, PASSWORD, language)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def section(html: str, element_id: str) -> str:
    return html.split(f'id="{element_id}"', 1)[1].split("</section>", 1)[0]


async def visit(town: Town, price: str = "12.50", quantity: int = 2) -> httpx.Response:
    """A's resident redeems at B's counter."""
    soap = await product(town.keeper_b, price=price)
    return await redeem(town.keeper_b, await code_of(town.resident), [(soap, quantity)])


async def test_the_office_lands_on_its_overview_and_checks_the_ledgers(app: Litestar, town: Town) -> None:
    assert (await visit(town)).status_code == 201
    async with office_of(app, town) as office:
        landed = await office.get("/")
        assert landed.status_code == 303 and landed.headers["location"] == "/subdistrict"
        response = await office.get("/subdistrict")
        assert response.status_code == 200, response.text
        html = response.text
        assert town.office.name in html and "街道管理" in html and "跨社区净兑换" in html
        a, b = section(html, f"community-{town.a.id}"), section(html, f"community-{town.b.id}")
        assert town.a.name in a and town.b.name in b
        assert 'data-figure="travelled">25.00<' in a and 'data-figure="travelled">-25.00<' in b
        assert 'data-figure="redeemed">25.00<' in b and 'data-figure="residents">1<' in a
        assert re.search(r'data-figure="head" title="[0-9a-f]{64}">[0-9a-f]{10}…<', a)
        assert 'id="total-redeemed">25.00<' in html and 'id="total-residents">1<' in html
        assert 'id="sharing-state" data-on="true"' in html
        assert 'id="shared-on" name="shared" value="on" checked' in html
        assert "checks-status" not in html  # the checks run only when asked

        csv_link = re.search(r'id="csv-link" href="([^"]+)"', html)
        assert csv_link, html
        sheet = await office.get(csv_link.group(1))  # the cookie session, no bearer token
        assert sheet.status_code == 200 and sheet.text.startswith("\ufeff社区") and town.b.name in sheet.text

        checked = await office.get("/subdistrict", params={"check": "now"})
        assert checked.status_code == 200
        checks = section(checked.text, "checks")
        assert 'id="checks-status" data-ok="true"' in checks
        assert checks.count('data-ok="true"') == 4  # the verdict, two communities, one pair
        assert "25.00" in section(checked.text, "checks").split('id="checks-pairs"')[1]

    async with office_of(app, town, "en") as office:
        html = (await office.get("/subdistrict")).text
        assert "Subdistrict office" in html and "Net cross-community redemption" in html
        assert "Shared redemption" in html and "街道管理" not in html


async def test_the_office_turns_sharing_off_and_the_next_visit_is_refused(app: Litestar, town: Town) -> None:
    async with office_of(app, town) as office:
        page = (await office.get("/subdistrict")).text
        form = {"csrf": csrf_of(page), "subdistrict": str(town.office.subdistrict_id)}

        forged = await office.post("/subdistrict/sharing", data={**form, "csrf": "x" * 30, "shared": "off"})
        assert forged.status_code == 403 and 'id="sharing-problem"' in forged.text
        bad = await office.post("/subdistrict/sharing", data={**form, "shared": "maybe"})
        assert bad.status_code == 400 and "请选择开启或关闭通存通兑" in section(bad.text, "sharing")
        assert 'aria-describedby="sharing-problem"' in bad.text
        assert " checked" not in section(bad.text, "sharing")
        assert (await subdistricts.get(town.office.subdistrict_id)).shared_redemption

        done = await office.post("/subdistrict/sharing", data={**form, "shared": "off"})
        assert done.status_code == 303, done.text
        after = await office.get(done.headers["location"])
        assert 'data-on="false"' in after.text and 'id="sharing-saved"' in after.text
        assert 'value="off" checked' in after.text
    assert not (await subdistricts.get(town.office.subdistrict_id)).shared_redemption
    refused = await visit(town)
    assert refused.status_code == 409 and refused.json()["reason"] == "not_shared"
    assert await balance(town.resident) == "100.00"
    audited = await fetch("SELECT action FROM audit_log WHERE subject = {}",
                          f"subdistrict:{town.office.subdistrict_id}")
    assert [row["action"] for row in audited] == ["subdistrict_changed"]

    async with office_of(app, town, "en") as office:
        page = (await office.get("/subdistrict")).text
        bad = await office.post("/subdistrict/sharing", data={
            "csrf": csrf_of(page), "subdistrict": str(town.office.subdistrict_id), "shared": ""})
        assert bad.status_code == 400 and "Choose whether shared redemption is on or off." in bad.text


async def test_the_settlement_after_visits_both_ways_and_a_bad_month(
    app: Litestar, town: Town, enrol: Enrol
) -> None:
    assert (await visit(town)).status_code == 201  # A's resident spends 25 at B
    b_resident = await enrol("resident", community_id=town.b.id, name="赵敏")
    assert (await adjust(town.admin_b, b_resident.id, "10")).status_code == 201
    keeper_a = await enrol("shopkeeper")
    rice = await product(keeper_a, price="5.00")
    assert (await redeem(keeper_a, await code_of(b_resident), [(rice, 1)])).status_code == 201

    async with office_of(app, town) as office:
        response = await office.get("/subdistrict/settlement")
        assert response.status_code == 200, response.text
        pair = section(response.text, f"pair-{town.a.id}-{town.b.id}")
        assert f"{town.a.name} 应付 {town.b.name}" in pair
        assert 'data-figure="owed">20.00' in pair
        assert 'data-figure="debtor-spent">25.00<' in pair and 'data-figure="creditor-spent">5.00<' in pair
        assert f'value="{THIS_MONTH}"' in response.text

        empty = await office.get("/subdistrict/settlement", params={"period": "2020-01"})
        assert empty.status_code == 200 and "本月各社区之间没有跨社区兑换" in empty.text
        assert "pair-" not in empty.text

        for typed in ("2026-13", "十二月", "2026-1", "9" * 30):
            bad = await office.get("/subdistrict/settlement", params={"period": typed})
            assert bad.status_code == 400, typed
            assert 'id="period-problem"' in bad.text and "月份格式应为 YYYY-MM" in bad.text
            assert 'aria-invalid="true"' in bad.text and "pair-" not in bad.text
        kept = await office.get("/subdistrict/settlement", params={"period": "2026-13"})
        assert 'value="2026-13"' in kept.text

    async with office_of(app, town, "en") as office:
        bad = await office.get("/subdistrict/settlement", params={"period": "2026-13"})
        assert bad.status_code == 400 and "The month is written YYYY-MM" in bad.text
        good = await office.get("/subdistrict/settlement")
        assert f"{town.a.name} owes {town.b.name}" in good.text


async def _earn(enrol: Enrol, community_id: int, names: list[str], points: str) -> None:
    """Each of ``names`` checks in once at an activity of the community, earning ``points``."""
    organizer = await enrol("organizer", community_id=community_id)
    made = await running_activity(organizer, points_per_checkin=points)
    url = await code_url(organizer, made["id"])
    for name in names:
        resident = await enrol("resident", community_id=community_id, name=name)
        checked = await resident.client.post("/api/checkins", json={"token": url})
        assert checked.status_code in (200, 201), checked.text


async def test_the_honour_roll_spans_the_communities_with_masked_names(
    app: Litestar, town: Town, enrol: Enrol
) -> None:
    await _earn(enrol, town.a.id, ["欧阳小明"], "5")
    await _earn(enrol, town.b.id, ["张三丰", "李四"], "8")
    async with office_of(app, town) as office:
        response = await office.get("/subdistrict/boards")
        assert response.status_code == 200, response.text
        board = text_of(section(response.text, "board"))
        # Merged and ranked together, ties sharing a rank: 1, 1, 3.
        assert (f"1 张*丰 {town.b.name} 8.00 1 李* {town.b.name} 8.00 3 欧**明 {town.a.name} 5.00"
                in board), board
        for name in ("欧阳小明", "张三丰", "李四"):
            assert name not in response.text
        assert "为保护居民隐私" in response.text

        api = await office.get(f"/api/subdistricts/{town.office.subdistrict_id}/leaderboard",
                               params={"period": "year", "limit": "2"})
        assert api.status_code == 200, api.text
        body = api.json()
        assert body["ranked"] == 3 and len(body["rows"]) == 2 and body["period"]["kind"] == "year"
        assert [(row["rank"], row["name"], row["value"], row["community"]["id"]) for row in body["rows"]] == [
            (1, "张*丰", "8.00", town.b.id), (1, "李*", "8.00", town.b.id)]
        assert all("id" not in row for row in body["rows"])
        refused = await office.get(f"/api/subdistricts/{town.office.subdistrict_id}/leaderboard",
                                   params={"period": "decade"})
        assert refused.status_code == 400 and refused.json()["reason"] == "invalid_period"

        bad = await office.get("/subdistrict/boards", params={"period": "month", "at": "2026-13"})
        assert bad.status_code == 400 and 'id="board-problem"' in bad.text
        assert 'value="2026-13"' in bad.text and 'id="at" name="at"' in bad.text
        odd = await office.get("/subdistrict/boards", params={"period": "decade"})
        assert odd.status_code == 400 and 'aria-describedby="board-problem"' in odd.text
        last_year = await office.get("/subdistrict/boards", params={"period": "year", "at": "2020"})
        assert last_year.status_code == 200 and "本榜暂无上榜者" in last_year.text


async def test_another_office_and_the_community_roles_are_refused(
    app: Litestar, town: Town, enrol: Enrol, admin: Member
) -> None:
    other = await subdistricts.create(f"别的街道-{secrets.token_hex(3)}", [])
    pages = ("/subdistrict", "/subdistrict/settlement", "/subdistrict/boards")
    async with office_of(app, town) as office:
        for path in pages:
            for chosen in (str(other.id), "abc", "99999999999", "０１", "\x00"):
                response = await office.get(path, params={"subdistrict": chosen})
                # A NUL is refused before any page sees it (400); everything else is not there.
                assert response.status_code == (400 if "\x00" in chosen else 404), (path, chosen)
        page = (await office.get("/subdistrict")).text
        refused = await office.post("/subdistrict/sharing", data={
            "csrf": csrf_of(page), "subdistrict": str(other.id), "shared": "on"})
        assert refused.status_code == 404
        assert not (await subdistricts.get(other.id)).shared_redemption
        api = await office.get(f"/api/subdistricts/{other.id}/leaderboard")
        assert api.status_code == 404
        # The office's account sees none of a community's pages.
        for path in ("/statement", "/earn", "/boards", "/code", "/shop", "/admin", "/counter", "/organizer"):
            response = await office.get(path)
            assert response.status_code == 403, path
            assert "您没有权限进行此操作" in response.text

    shopkeeper = await enrol("shopkeeper")
    resident = await enrol("resident")
    for member in (admin, shopkeeper, resident):
        async with signed_in(app, member.phone, member.password or member.pin) as client:
            for path in pages:
                response = await client.get(path)
                assert response.status_code == 403, (member.roles, path)
                assert "您没有权限进行此操作" in response.text
            refused = await client.post("/subdistrict/sharing", data={
                "csrf": csrf_of((await client.get("/")).text), "shared": "off"})
            assert refused.status_code == 403
    assert (await subdistricts.get(town.office.subdistrict_id)).shared_redemption
    async with browser(app) as stranger:
        response = await stranger.get("/subdistrict/settlement")
        assert response.status_code == 303 and response.headers["location"].startswith("/signin?next=")


async def test_the_public_page_names_each_communitys_signed_head(
    app: Litestar, town: Town, anon: httpx.AsyncClient
) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    made = await checkpoint_service.make_checkpoint(app.state.settings, town.a.id, yesterday)
    sd = town.office.subdistrict_id
    response = await anon.get("/public/subdistrict", params={"id": sd})
    assert response.status_code == 200, response.text
    html = without_times(response.text)
    assert town.office.name in html and "通存通兑已开启" in html
    a, b = section(html, f"public-community-{town.a.id}"), section(html, f"public-community-{town.b.id}")
    assert made.head_hash in a and "签名有效" in a and f"第 {made.head} 条" in a
    slug_a, slug_b = (await slugs.current(town.a.id)).slug, (await slugs.current(town.b.id)).slug
    assert f'href="/transparency?community={slug_a}"' in a
    assert "还没有存证" in b and f'href="/transparency?community={slug_b}"' in b
    assert town.resident.name not in html and "100.00" not in html

    by_name = await anon.get("/public/subdistrict", params={"name": town.office.name})
    assert by_name.status_code == 200 and made.head_hash in by_name.text
    english = await anon.get("/public/subdistrict", params={"id": sd}, headers={"Accept-Language": "en"})
    assert "Shared redemption (通存通兑) is on" in english.text and "Its transparency page" in english.text
    for params in ({}, {"id": "999999999"}, {"id": "9" * 40}, {"id": "不存在的街道"}, {"name": " "},
                   {"id": "-1"}, {"name": "x" * 500}, {"name": "街\x00道"}):
        missing = await anon.get("/public/subdistrict", params=params)
        assert missing.status_code == (400 if "\x00" in "".join(params.values()) else 404), params
    broken = await anon.get("/public/subdistrict?id=%ED%A0%80")  # not UTF-8: a lone surrogate
    assert broken.status_code in (400, 404)


async def test_the_office_sets_its_communities_on_the_page(app: Litestar, town: Town, ledger: Ledger) -> None:
    """The office adds a community of no subdistrict and leaves one out; another subdistrict's
    community is not offered, and one typed in by hand is refused with nothing changed."""
    free = await communities.get_or_create(ledger, f"新建社区-{secrets.token_hex(3)}")
    taken = await communities.get_or_create(ledger, f"别处社区-{secrets.token_hex(3)}")
    await subdistricts.create(f"别的街道-{secrets.token_hex(3)}", [taken.id])
    office_id = town.office.subdistrict_id
    async with office_of(app, town) as office:
        page = (await office.get("/subdistrict")).text
        grouping = section(page, "grouping")
        assert free.name in grouping and taken.name not in grouping
        assert f'value="{town.a.id}" checked' in grouping and f'value="{free.id}">' in grouping
        form = {"csrf": csrf_of(page), "subdistrict": str(office_id)}

        grabbed = await office.post("/subdistrict/communities", data={
            **form, "community": [str(town.a.id), str(taken.id)]})
        assert grabbed.status_code == 409 and "已属于另一个街道" in section(grabbed.text, "grouping")
        none = await office.post("/subdistrict/communities", data=form)
        assert none.status_code == 400 and "街道至少要包含一个社区" in none.text
        unchanged = (await subdistricts.get(office_id)).communities
        assert [c.id for c in unchanged] == sorted([town.a.id, town.b.id])

        done = await office.post("/subdistrict/communities", data={
            **form, "community": [str(town.a.id), str(free.id)]})
        assert done.status_code == 303, done.text
        assert 'id="grouping-saved"' in (await office.get(done.headers["location"])).text
    assert [c.id for c in (await subdistricts.get(office_id)).communities] == sorted([town.a.id, free.id])


async def test_the_office_sees_each_communitys_activity_and_the_sums(
    app: Litestar, town: Town, enrol: Enrol
) -> None:
    """The dashboard adds up what each community's own dashboard counts: a check-in in A, points
    issued in both."""
    from market.reports import dashboards as community_dashboards
    from market.reports.board_period import parse_period

    neighbour = await enrol("resident", community_id=town.b.id)
    assert (await adjust(town.admin_b, neighbour.id, "7")).status_code == 201
    async with office_of(app, town) as office:
        api = await office.get(f"/api/subdistricts/{town.office.subdistrict_id}/dashboard")
        assert api.status_code == 200, api.text
        seen = api.json()
        period = parse_period(None, None)
        for row in seen["communities"]:
            own = await community_dashboards.points(row["community"]["id"], period)
            assert row["issued"] == own.issued
        assert seen["totals"]["issued"] == "107.00"  # 100 to A's resident, 7 in B
        page = await office.get("/subdistrict/dashboard")
        assert page.status_code == 200
        assert 'data-figure="issued">107.00<' in page.text and "活动场次" in page.text
        bad = await office.get("/subdistrict/dashboard", params={"period": "week"})
        assert bad.status_code == 400 and 'id="board-problem"' in bad.text
    async with office_of(app, town, "en") as office:
        english = await office.get("/subdistrict/dashboard")
        assert "Activity in the communities" in english.text and "Activities held" in english.text
    community_admin = await enrol("admin")
    refused = await community_admin.client.get(f"/api/subdistricts/{town.office.subdistrict_id}/dashboard")
    assert refused.status_code == 403
