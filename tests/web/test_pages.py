"""The resident's pages over plain HTTP: rendering in both languages, forms, CSRF, privacy, size."""

import re
import secrets
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from litestar import Litestar

from market.cards import service as cards
from market.community.service import CommunityView
from market.web import i18n
from market.web.site import FRONTEND, asset
from tests.market.support import Enrol, Member, adjust
from tests.web.support import browser, code_url, csrf_of, path_of, running_activity, sign_in, without_times

MAX_PAGE_BYTES = 100 * 1024
ASSET = re.compile(r'(?:src|href)="(/static/[^"]+)"')


async def test_signed_out_pages_send_to_sign_in(app: Litestar) -> None:
    async with browser(app) as client:
        for path in ("/", "/code", "/statement", "/C/ABCDEF"):
            response = await client.get(path)
            assert response.status_code == 303
            assert response.headers["location"] == f"/signin?next={path}"


@pytest.mark.parametrize(("language", "marks"), [
    ("zh", ['lang="zh-CN"', "登录", "手机号或会员卡号", "English"]),
    ("en", ['lang="en"', "Sign in", "Phone number or member card number", "中文"]),
])
async def test_sign_in_page_in_both_languages(app: Litestar, language: str, marks: list[str]) -> None:
    async with browser(app, language) as client:
        response = await client.get("/signin")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for mark in marks:
        assert mark in response.text
    assert 'type="hidden" name="csrf"' in response.text
    assert response.headers["cache-control"] == "no-store"


async def test_language_from_the_browser_until_chosen(app: Litestar) -> None:
    async with browser(app) as client:
        assert "Sign in" in (await client.get("/signin", headers={"Accept-Language": "en-US"})).text
        switched = await client.get("/lang/zh", params={"next": "/signin"})
        assert switched.status_code == 303 and switched.headers["location"] == "/signin"
        assert "登录" in (await client.get("/signin", headers={"Accept-Language": "en-US"})).text


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
async def test_switches_never_leave_the_site(app: Litestar, target: str) -> None:
    async with browser(app) as client:
        response = await client.get("/text/large", params={"next": target})
        assert response.status_code == 303 and response.headers["location"] == "/"
        assert 'class="large elder"' in (await client.get("/signin")).text


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_every_resident_page_renders(
    app: Litestar, organizer: Member, resident: Member, admin: Member, language: str
) -> None:
    await adjust(admin, resident.id, "12.5", reason="义务植树")
    made = await running_activity(organizer)
    checkin = path_of(await code_url(organizer, made["id"]))
    async with browser(app, language) as client:
        await sign_in(client, resident)
        pages = {}
        for path in ("/", "/code", "/statement", checkin):
            response = await client.get(path)
            assert response.status_code == 200, (path, response.text)
            assert f'lang="{"en" if language == "en" else "zh-CN"}"' in response.text
            pages[path] = response.text
    home, code, statement, form = pages.values()
    # Residents read whole points without ".00" and exact decimals otherwise (issue 16).
    assert 'id="balance">12.5<' in home and "李阿姨" in home and "☆☆☆☆☆" in home
    assert ("我的积分" if language == "zh" else "My points") in home
    assert ("我的会员码" if language == "zh" else "My member code") in code
    assert '<meta http-equiv="refresh"' in code and 'src="/api/me/code.png"' in code
    assert "义务植树" in statement and re.search(r"\+12\.5\s*<", statement)
    assert "楼道清扫" in form and ("签到" if language == "zh" else "Check in") in form


async def test_member_code_page_shows_my_own_code(
    app: Litestar, resident: Member, community: CommunityView
) -> None:
    settings = app.state.settings
    async with browser(app) as client:
        await sign_in(client, resident)
        html = (await client.get("/code")).text
        text = re.search(r'<code id="code-text">([^<]+)</code>', html).group(1)
        scanned = await cards.resolve_member_code(community.id, text, settings=settings)
        assert scanned.person_id == resident.id
        picture = await client.get("/api/me/code.png")
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"


async def test_a_resident_sees_only_their_own_points(
    app: Litestar, admin: Member, enrol: Enrol
) -> None:
    first, second = await enrol("resident", name="王大爷"), await enrol("resident", name="赵奶奶")
    await adjust(admin, first.id, "3", reason="第一位的记录")
    await adjust(admin, second.id, "7.25", reason="第二位的记录")
    async with browser(app) as client:
        await sign_in(client, first)
        home = without_times((await client.get("/")).text)
        statement = (await client.get("/statement")).text
    assert "王大爷" in home and "赵奶奶" not in home
    assert 'id="balance">3<' in home and "7.25" not in home
    assert "第一位的记录" in statement and "第二位的记录" not in statement


async def test_wrong_pin_keeps_the_login_and_says_why(app: Litestar, resident: Member) -> None:
    for language, text in (("zh", "账号或密码不正确"), ("en", "Wrong login or password")):
        async with browser(app, language) as client:
            form = await client.get("/signin")
            response = await client.post("/signin", data={
                "csrf": csrf_of(form.text), "next": "/code", "login": resident.phone, "secret": "000000",
            })
        assert response.status_code == 401
        assert text in response.text and 'role="alert"' in response.text
        assert f'value="{resident.phone}"' in response.text
        assert 'value="/code"' in response.text
        assert "000000" not in response.text


async def test_empty_fields_are_named(app: Litestar) -> None:
    async with browser(app, "en") as client:
        form = await client.get("/signin")
        response = await client.post("/signin", data={"csrf": csrf_of(form.text), "login": " 138 ",
                                                      "secret": ""})
    assert response.status_code == 400
    assert "Enter your PIN or password." in response.text
    assert 'aria-invalid="true" aria-describedby="secret-error"' in response.text
    assert 'value="138"' in response.text


async def test_full_width_digits_and_spaces_sign_in(app: Litestar, resident: Member) -> None:
    typed = " ".join(chr(ord(c) + 0xFEE0) for c in resident.phone)  # １ ３ ８ …
    async with browser(app) as client:
        form = await client.get("/signin")
        response = await client.post("/signin", data={
            "csrf": csrf_of(form.text), "login": typed, "secret": resident.pin,
        })
        assert response.status_code == 303 and response.headers["location"] == "/"
        assert (await client.get("/")).status_code == 200


async def test_sign_in_by_card_number(app: Litestar, resident: Member) -> None:
    async with browser(app) as client:
        form = await client.get("/signin")
        response = await client.post("/signin", data={
            "csrf": csrf_of(form.text), "login": resident.card_no, "secret": resident.pin,
        })
        assert response.status_code == 303
        assert resident.name in (await client.get("/")).text


async def test_sign_in_locks_out_like_the_api(app: Litestar, resident: Member) -> None:
    async with browser(app, "en") as client:
        csrf = csrf_of((await client.get("/signin")).text)
        statuses = []
        for _ in range(6):
            response = await client.post("/signin", data={
                "csrf": csrf, "login": resident.phone, "secret": "999999",
            })
            statuses.append(response.status_code)
        assert statuses[-1] == 429 and "Too many attempts" in response.text
        # Locked: even the right PIN is refused now.
        response = await client.post("/signin", data={
            "csrf": csrf, "login": resident.phone, "secret": resident.pin,
        })
        assert response.status_code == 429


async def test_page_posts_need_the_csrf_token(app: Litestar, resident: Member, organizer: Member) -> None:
    made = await running_activity(organizer)
    checkin = path_of(await code_url(organizer, made["id"]))
    async with browser(app, "en") as client:
        refused = await client.post("/signin", data={"login": resident.phone, "secret": resident.pin})
        assert refused.status_code == 403 and "CSRF" in refused.text
        assert f'value="{resident.phone}"' in refused.text
        await sign_in(client, resident)
        for path, data in ((checkin, {"direction": "in"}), ("/signout", {})):
            for token in (None, "forged-" + secrets.token_hex(8)):
                sent = data | ({"csrf": token} if token else {})
                response = await client.post(path, data=sent)
                assert response.status_code == 403, (path, response.text)
                assert "reload the page" in response.text
        # Nothing happened: still signed in, not checked in.
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/api/me/balance")).json()["balance"] == "0.00"
        # A browser saying another site sent the form: refused whatever the token.
        csrf = csrf_of((await client.get(checkin)).text)
        response = await client.post(checkin, data={"csrf": csrf, "direction": "in"},
                                     headers={"Sec-Fetch-Site": "cross-site"})
        assert response.status_code == 403


async def test_sign_out_ends_the_session(app: Litestar, resident: Member) -> None:
    async with browser(app) as client:
        await sign_in(client, resident)
        home = await client.get("/")
        response = await client.post("/signout", data={"csrf": csrf_of(home.text)})
        assert response.status_code == 303 and response.headers["location"] == "/signin"
        assert (await client.get("/")).status_code == 303


async def test_check_in_from_the_code_url(app: Litestar, organizer: Member, resident: Member) -> None:
    made = await running_activity(organizer)
    url = await code_url(organizer, made["id"])
    checkin = path_of(url)
    assert checkin.startswith("/C/")
    async with browser(app) as client:
        first = await client.get(checkin)
        assert first.headers["location"] == f"/signin?next={checkin}"
        back = await sign_in(client, resident, next_path=checkin)
        assert back.headers["location"] == checkin
        form = await client.get(checkin)
        assert 'id="checkin-button"' in form.text and "签到" in form.text
        done = await client.post(checkin, data={"csrf": csrf_of(form.text), "direction": "in"})
        assert done.status_code == 200, done.text
        assert 'id="earned">+5<' in done.text and 'id="new-balance">5<' in done.text
        again = await client.post(checkin, data={"csrf": csrf_of(form.text), "direction": "in"})
        assert "您已经签到过了" in again.text
        # Scanning again offers the check-out; the lowercase path works too.
        out_form = await client.get("/c/" + checkin.removeprefix("/C/").lower())
        assert "签退" in out_form.text and 'value="out"' in out_form.text
        out = await client.post(checkin, data={"csrf": csrf_of(form.text), "direction": "out"})
        assert out.status_code == 200 and "签退成功" in out.text
        finished = await client.get(checkin)
        assert "谢谢参与" in finished.text and 'id="checkin-button"' not in finished.text


@pytest.mark.parametrize(("language", "text"), [
    ("zh", "二维码已过期"), ("en", "The code has expired"),
])
async def test_an_expired_code_says_so(
    app: Litestar, organizer: Member, resident: Member, monkeypatch: pytest.MonkeyPatch,
    language: str, text: str,
) -> None:
    from market import clock

    made = await running_activity(organizer)
    checkin = path_of(await code_url(organizer, made["id"]))
    async with browser(app, language) as client:
        await sign_in(client, resident)
        csrf = csrf_of((await client.get("/")).text)
        monkeypatch.setattr(clock, "clock", lambda: datetime.now(UTC) + timedelta(minutes=5))
        shown = await client.get(checkin)
        posted = await client.post(checkin, data={"csrf": csrf, "direction": "in"})
    for response in (shown, posted):
        assert response.status_code == 410 and text in response.text
        assert 'data-reason="expired"' in response.text


async def test_refusals_are_friendly(
    app: Litestar, organizer: Member, resident: Member, enrol: Enrol
) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    future = await running_activity(organizer, starts_at=later.isoformat(),
                                    ends_at=(later + timedelta(hours=1)).isoformat())
    full = await running_activity(organizer, capacity=1)
    other = await enrol("resident", name="孙叔叔")
    async with browser(app) as client:
        await sign_in(client, other)
        path = path_of(await code_url(organizer, full["id"]))
        csrf = csrf_of((await client.get(path)).text)
        assert (await client.post(path, data={"csrf": csrf, "direction": "in"})).status_code == 200
    async with browser(app) as client:
        await sign_in(client, resident)
        csrf = csrf_of((await client.get("/")).text)
        cases = (
            (future, "in", "not_open", "不在活动签到时间内"),
            (full, "in", "full", "活动人数已满"),
            (full, "out", "not_checked_in", "您还没有签到"),
        )
        for activity, direction, reason, text in cases:
            path = path_of(await code_url(organizer, activity["id"]))
            response = await client.post(path, data={"csrf": csrf, "direction": direction})
            assert response.status_code == 409, response.text
            assert f'data-reason="{reason}"' in response.text and text in response.text
        bad = await client.get("/C/NOTATOKEN")
        assert bad.status_code == 400 and "二维码无效" in bad.text


async def test_staff_without_resident_role_get_a_page_not_json(app: Litestar, organizer: Member) -> None:
    async with browser(app, "en") as client:
        form = await client.get("/signin")
        await client.post("/signin", data={
            "csrf": csrf_of(form.text), "login": organizer.phone, "secret": organizer.password,
        })
        assert (await client.get("/")).status_code == 200
        response = await client.get("/code")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "You are not allowed to do this" in response.text


async def test_pages_are_small_and_load_nothing_from_elsewhere(
    app: Litestar, organizer: Member, resident: Member
) -> None:
    made = await running_activity(organizer)
    checkin = path_of(await code_url(organizer, made["id"]))
    async with browser(app) as client:
        sizes = {"/signin": await _page_bytes(client, "/signin")}
        await sign_in(client, resident)
        for path in ("/", "/code", "/statement", checkin):
            sizes[path] = await _page_bytes(client, path)
    assert all(size < MAX_PAGE_BYTES for size in sizes.values()), sizes


async def _page_bytes(client: httpx.AsyncClient, path: str) -> int:
    response = await client.get(path)
    assert response.status_code == 200
    html = response.text
    assert not re.search(r'(?:src|href|action)="(?:https?:)?//', html), "a reference to another origin"
    total = len(response.content)
    for static in ASSET.findall(html):
        fetched = await client.get(static)
        assert fetched.status_code == 200, static
        total += len(fetched.content)
    return total


async def test_static_files_are_served_with_their_type(anon: httpx.AsyncClient) -> None:
    for name, kind in (("market.css", "text/css"), ("market.js", "javascript")):
        response = await anon.get(asset(name))
        assert response.status_code == 200 and kind in response.headers["content-type"]


def test_every_page_text_has_a_chinese_translation() -> None:
    """Babel extracts every ``_()`` of the templates and page modules; each has its Chinese."""
    options = {"**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True"}}
    sources = (
        (FRONTEND / "templates", [("**.html", "jinja2.ext:babel_extract")]),
        (FRONTEND.parent / "market" / "web", [("**.py", "python")]),
    )
    found = {
        message
        for directory, method in sources
        for _, _, message, _, _ in extract_from_dir(
            directory, method, options_map=options, keywords={"_": None, "translate": (2,)}
        )
    }
    assert len(found) > 50
    chinese = i18n.translations("zh")
    missing = sorted(m for m in found if chinese.gettext(m) == m)
    assert not missing, f"add these to a .po file in frontend/translations/zh/LC_MESSAGES/: {missing}"


async def test_a_reservation_reads_as_such_in_the_statement(
    app: Litestar, admin: Member, shopkeeper: Member, resident: Member
) -> None:
    await adjust(admin, resident.id, "30")
    made = await shopkeeper.client.post("/api/products", json={"name": "大米", "price": "5", "stock": 3})
    assert made.status_code == 201, made.text
    order = await resident.client.post("/api/orders", json={"items": [{"product_id": made.json()["id"],
                                                                        "quantity": 2}]})
    assert order.status_code == 201, order.text
    cancelled = await resident.client.post(f"/api/orders/{order.json()['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    async with browser(app) as client:
        await sign_in(client, resident)
        html = (await client.get("/statement")).text
    # The hold and its release by name, not the ledger's English memo; the hold moved nothing.
    assert "预约冻结积分" in html and "预约已释放" in html
    assert not re.search(r"order \d", html) and not re.search(r"\+0(\.00)?\s*<", html)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_page_text_has_one_translation(language: str) -> None:
    """Each group of pages keeps its own .po file; a text in two of them must say the same in
    both, or one would silently win over the other when the catalogues are merged."""
    from babel.messages.pofile import read_po

    seen: dict[str, tuple[str, str]] = {}
    differ = []
    for path in sorted((FRONTEND / "translations" / language / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as source:
            for entry in read_po(source):
                if not entry.id or not entry.string:
                    continue
                earlier = seen.setdefault(entry.id, (entry.string, path.name))
                if earlier[0] != entry.string:
                    differ.append((entry.id, earlier, (entry.string, path.name)))
    assert not differ, differ
