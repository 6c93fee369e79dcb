"""长辈版 (senior mode) over plain HTTP, the member code's 延长时间, and whole points on resident pages.

Issue 16's contract: a control labelled 长辈版 ("Senior mode") on every page, its state in a
cookie that survives signing in and out; the larger-text switch's old links still work. A code
that expires within 3 minutes can be made to last at least twice as long, bounded. Residents
read "5 积分" where the ledger says 5.00; staff pages and the API keep two decimals.
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from litestar import Litestar

from market.cards import service as cards
from market.community.service import CommunityView
from market.errors import Gone, InvalidInput
from market.web import i18n
from tests.market.support import Member, adjust
from tests.web.support import (
    browser,
    code_url,
    csrf_of,
    path_of,
    running_activity,
    sign_in,
    without_times,
)

SWITCH = re.compile(r'<a class="elder-switch" id="elder-switch" role="switch" aria-checked="(true|false)"\s+'
                    r'href="(/elder/(?:on|off)\?next=[^"]*)">'
                    r'(?:<span class="tick" aria-hidden="true">✓</span>)?(长辈版|Senior mode)</a>')


def switch_of(html: str) -> tuple[bool, str, str]:
    """The 长辈版 control of a page: (on, its link, its label); the page must have exactly one."""
    found = SWITCH.findall(html)
    assert len(found) == 1, f"{len(found)} 长辈版 controls on the page"
    checked, link, label = found[0]
    return checked == "true", link, label


def in_elder_mode(html: str) -> bool:
    on = 'class="large elder"' in html and "/static/elder.css?v=" in html
    assert on == switch_of(html)[0], "the page and its control disagree"
    return on


async def sign_in_staff(client: httpx.AsyncClient, member: Member, next_path: str = "/") -> None:
    form = await client.get("/signin", params={"next": next_path})
    response = await client.post("/signin", data={
        "csrf": csrf_of(form.text), "next": next_path, "login": member.phone,
        "secret": member.password or member.pin,
    })
    assert response.status_code == 303, response.text


# -- the points filter ----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "shown"), [
    (Decimal("5.00"), "5"), (Decimal("5.50"), "5.5"), (Decimal("0.25"), "0.25"), (Decimal("0.05"), "0.05"),
    (Decimal("0.00"), "0"), (Decimal("-0.00"), "0"), (Decimal("-3.00"), "-3"), (Decimal("-3.10"), "-3.1"),
    (Decimal("-0.01"), "-0.01"), (Decimal("10"), "10"), (Decimal("100.00"), "100"),
    (Decimal("1000000.00"), "1000000"), (Decimal("1E+6"), "1000000"),
    (Decimal("92233720368547758.07"), "92233720368547758.07"),
    (Decimal("-92233720368547758.00"), "-92233720368547758"),
    ("12.50", "12.5"), ("-2.00", "-2"), ("20", "20"), (" 7.00 ", "7"), (3, "3"),
])
def test_points_drops_only_zero_decimals(value: object, shown: str) -> None:
    assert i18n.points(value) == shown


@pytest.mark.parametrize("value", ["", "abc", "—", "NaN", "Infinity", None])
def test_points_shows_what_is_not_a_number_as_it_is(value: object) -> None:
    assert i18n.points(value) == ("" if value is None else value)


def test_points_is_the_templates_filter(app: Litestar) -> None:
    environment = app.template_engine.engine
    assert environment.from_string("{{ a|points }} 积分 · {{ b|points }}").render(
        a=Decimal("5.00"), b="0.25") == "5 积分 · 0.25"


# -- the switch -------------------------------------------------------------------------------


async def test_the_switch_turns_senior_mode_on_and_off(app: Litestar) -> None:
    async with browser(app) as client:
        first = await client.get("/signin")
        assert not in_elder_mode(first.text)
        on, link, label = switch_of(first.text)
        assert (on, label) == (False, "长辈版") and link.startswith("/elder/on?next=")
        switched = await client.get("/elder/on", params={"next": "/signin"})
        assert switched.status_code == 303 and switched.headers["location"] == "/signin"
        cookie = switched.headers["set-cookie"]
        assert "market_text=large" in cookie and "Max-Age=31536000" in cookie and "HttpOnly" in cookie
        page = (await client.get("/signin")).text
        assert in_elder_mode(page)
        on, link, label = switch_of(page)
        assert (on, label) == (True, "长辈版") and link.startswith("/elder/off?next=")
        # The stylesheet comes after every other, so that its sizes win.
        assert page.index("elder.css") > page.index("market.css")
        await client.get("/elder/off")
        assert not in_elder_mode((await client.get("/signin")).text)


async def test_the_switch_in_english_is_senior_mode(app: Litestar) -> None:
    async with browser(app, "en") as client:
        assert switch_of((await client.get("/signin")).text)[2] == "Senior mode"
        await client.get("/elder/on")
        assert switch_of((await client.get("/signin")).text)[:3:2] == (True, "Senior mode")


@pytest.mark.parametrize(("path", "on"), [
    ("/text/large", True), ("/text/normal", False), ("/elder/on", True), ("/elder/off", False),
    ("/elder/maybe", False), ("/text/huge", False),
])
async def test_old_links_still_switch(app: Litestar, path: str, on: bool) -> None:
    async with browser(app) as client:
        await client.get("/elder/on" if not on else "/elder/off")
        response = await client.get(path, params={"next": "/signin?x=1"})
        assert response.status_code == 303 and response.headers["location"] == "/signin?x=1"
        assert in_elder_mode((await client.get("/signin")).text) is on


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
async def test_the_switch_never_leaves_the_site(app: Litestar, target: str) -> None:
    async with browser(app) as client:
        response = await client.get("/elder/on", params={"next": target})
        assert response.status_code == 303 and response.headers["location"] == "/"


async def test_senior_mode_survives_signing_in_and_out(app: Litestar, resident: Member) -> None:
    async with browser(app) as client:
        await client.get("/elder/on", params={"next": "/signin"})
        await sign_in(client, resident)
        home = await client.get("/")
        assert home.status_code == 200 and "李阿姨" in home.text
        assert in_elder_mode(home.text)
        signed_out = await client.post("/signout", data={"csrf": csrf_of(home.text)})
        assert signed_out.status_code == 303 and signed_out.headers["location"] == "/signin"
        assert "market_text" not in signed_out.headers.get("set-cookie", "")
        assert in_elder_mode((await client.get("/signin")).text)
        # And off stays off through a sign-in too.
        await client.get("/elder/off")
        await sign_in(client, resident)
        assert not in_elder_mode((await client.get("/")).text)


async def test_the_control_is_on_every_kind_of_page(
    app: Litestar, enrol, resident: Member, community: CommunityView
) -> None:
    """Resident, organizer, shop keeper and admin pages, public pages, the sign-in and error pages."""
    admin = await enrol("admin", "organizer", "shopkeeper", "resident")
    pages = [
        (None, ["/signin", f"/public/boards?community={community.id}",
                f"/transparency?community={community.id}"]),
        (resident, ["/", "/code", "/statement", "/earn", "/household", "/shop", "/orders", "/activities",
                    "/boards", "/shop/999999999"]),  # the last: the error page
        (admin, ["/organizer", "/organizer/activities/new", "/counter", "/counter/products", "/admin",
                 "/admin/people", "/dashboards", "/exports"]),
    ]
    for who, paths in pages:
        for language, label in (("zh", "长辈版"), ("en", "Senior mode")):
            async with browser(app, language) as client:
                await client.get("/elder/on")
                if who is resident:
                    await sign_in(client, who)
                elif who is not None:
                    await sign_in_staff(client, who)
                for path in paths:
                    response = await client.get(path)
                    assert response.headers["content-type"].startswith("text/html"), path
                    on, link, shown = switch_of(response.text)
                    assert (on, shown) == (True, label), path
                    # It comes back to the page it was used on.
                    assert httpx.URL(link).params["next"] == path, (path, link)


# -- the member code's 延长时间 -----------------------------------------------------------------


async def test_a_longer_code_lasts_five_minutes_and_no_longer(app: Litestar, community: CommunityView,
                                                               resident: Member) -> None:
    settings = app.state.settings
    now = datetime.now(UTC)
    ordinary = cards.member_code(settings, resident.id, now)
    longer = cards.member_code(settings, resident.id, now, extended=True)
    assert not ordinary.extended and longer.extended
    ordinary_life = (ordinary.expires_at - now).total_seconds()
    longer_life = (longer.expires_at - now).total_seconds()
    assert ordinary_life <= 60 and 300 <= longer_life <= 330
    assert longer_life >= 2 * ordinary_life
    assert longer.code != ordinary.code and len(longer.code) == len(ordinary.code)
    # Shown until its last step, so the one on the screen is always still accepted.
    assert 270 <= longer.refresh_in <= 300 and longer.refresh_in < longer_life

    async def who(text: str, at: datetime) -> int:
        return (await cards.resolve_member_code(community.id, text, settings=settings, now=at)).person_id

    assert await who(longer.code, now) == resident.id
    assert await who(longer.code, now + timedelta(minutes=4, seconds=59)) == resident.id
    with pytest.raises(Gone) as late:
        await who(longer.code, now + timedelta(seconds=331))
    assert late.value.reason == "expired"
    # The ordinary code is not stretched by the longer one's existence.
    with pytest.raises(Gone):
        await who(ordinary.code, now + timedelta(seconds=61))


async def test_a_longer_code_is_not_forged_from_an_ordinary_one(app: Litestar, community: CommunityView,
                                                                 resident: Member) -> None:
    """Only a member code is signed with the longer codes' key: a longer 'card' is no card."""
    settings = app.state.settings
    fake_card = cards.long_signer_for(settings).sign(cards.Kind.CARD, resident.id, 0)
    with pytest.raises(InvalidInput):
        await cards.resolve_member_code(community.id, fake_card, settings=settings)
    with pytest.raises(InvalidInput):
        await cards.resolve_member_code(community.id, "A" * 36, settings=settings)


async def test_the_api_gives_a_longer_code_on_request(app: Litestar, community: CommunityView,
                                                      resident: Member) -> None:
    ordinary = await resident.client.get("/api/me/code")
    assert ordinary.status_code == 200 and ordinary.json()["extended"] is False
    longer = await resident.client.get("/api/me/code", params={"extended": "true"})
    assert longer.status_code == 200, longer.text
    body = longer.json()
    assert body["extended"] is True and set(body) >= {"code", "expires_at", "refresh_in", "step_seconds"}
    life = datetime.fromisoformat(body["expires_at"]) - datetime.now(UTC)
    assert timedelta(seconds=295) <= life <= timedelta(seconds=330)
    later = datetime.now(UTC) + timedelta(minutes=4)
    scanned = await cards.resolve_member_code(community.id, body["code"], settings=app.state.settings,
                                              now=later)
    assert scanned.person_id == resident.id
    picture = await resident.client.get("/api/me/code.png", params={"extended": "true"})
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert picture.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_a_bad_extended_value_is_a_problem_in_the_readers_language(
    app: Litestar, resident: Member, language: str
) -> None:
    response = await resident.client.get("/api/me/code", params={"extended": "forever"},
                                         headers={"Accept-Language": language})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["reason"]
    assert ("extended" in problem["detail"]) or ("extended" in str(problem))
    if language == "zh":
        assert re.search(r"[\u4e00-\u9fff]", problem["detail"])


async def test_the_code_page_offers_more_time(app: Litestar, community: CommunityView,
                                              resident: Member) -> None:
    async with browser(app) as client:
        await sign_in(client, resident)
        page = (await client.get("/code")).text
        # An ordinary code stops within a minute: 延长时间 is there, visible.
        assert '<div id="extend-box">' in page
        assert '<a class="button primary" id="extend" href="/code?extended=1">延长时间</a>' in page
        assert 'id="extended-note" role="status" hidden' in page
        longer = (await client.get("/code", params={"extended": "1"})).text
        text = re.search(r'<code id="code-text">([^<]+)</code>', longer).group(1)
        assert 'src="/api/me/code.png?extended=true"' in longer
        assert "这个码 5 分钟内有效" in longer and 'id="extended-note" role="status">' in longer
        # Five minutes is more than three: no offer of more time until it is within three.
        assert '<div id="extend-box" hidden>' in longer
        # Without script the page reloads as an ordinary code: more time is asked for each time.
        assert re.search(r'<meta http-equiv="refresh" content="(2[7-9]\d|300);url=/code">', longer)
        later = datetime.now(UTC) + timedelta(minutes=4, seconds=30)
        scanned = await cards.resolve_member_code(community.id, text, settings=app.state.settings, now=later)
        assert scanned.person_id == resident.id


# -- whole points on the resident pages, two decimals elsewhere -------------------------------


async def test_resident_pages_show_whole_points(app: Litestar, admin: Member, organizer: Member,
                                                resident: Member, shopkeeper: Member) -> None:
    await adjust(admin, resident.id, "12")
    await adjust(admin, resident.id, "0.50")
    product = await shopkeeper.client.post("/api/products", json={"name": "肥皂", "price": "5", "stock": 3})
    assert product.status_code == 201, product.text
    made = await running_activity(organizer, points_per_checkin="5", points_per_hour="2.5")
    checkin = path_of(await code_url(organizer, made["id"]))
    async with browser(app) as client:
        await sign_in(client, resident)
        home = without_times((await client.get("/")).text)
        assert '<p class="number" id="balance">12.5</p>' in home and "12.50" not in home
        statement = without_times((await client.get("/statement")).text)
        assert "+12" in statement and "+0.5" in statement and ".00" not in statement
        shop = without_times((await client.get(f"/shop/{product.json()['id']}")).text)
        assert '<dd class="price" id="price">5 积分</dd>' in shop
        # The form keeps the exact price for its script (shop.js), not for the reader.
        assert 'data-price="5.00"' in shop and "5.00" not in shop.replace('data-price="5.00"', "")
        form = without_times((await client.get(checkin)).text)
        assert "签到得 5 积分" in form or "5 积分" in form
        assert "2.5" in form and "2.50" not in form and "5.00" not in form
    # The API keeps the ledger's two decimals.
    balance = await resident.client.get("/api/me/balance")
    assert balance.json()["balance"] == "12.50"
    # A staff page keeps them too (the counter reads exact amounts).
    async with browser(app) as client:
        await sign_in_staff(client, shopkeeper, "/counter/products")
        goods = (await client.get("/counter/products")).text
        assert "5.00" in goods
