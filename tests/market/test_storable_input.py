"""Values no database here can hold are refused with a 4xx on both engines, and change nothing.

Every route of the app with a number in its path (API and pages, every method) is called with
ids beyond PostgreSQL's ``integer`` and beyond 64 bits: 404, never a 5xx. NUL and lone
surrogates are refused with 400 ``invalid_character`` wherever text comes in (path, query, JSON,
forms; a roster's cells as bad rows), SQLite included, though SQLite could store them — one rule
for both. Numbers in a body beyond what a column holds reach the database and still leave as a
400 ``out_of_range``.
"""

import re
import secrets

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from market.auth.roles import SUBDISTRICT_ADMIN, encode_roles
from market.db import fetch
from market.errors import refused_value
from market.storable import MAX_ID, storable_text
from market.tables import Product
from tests.market.support import Enrol, Member, adjust
from tests.market.test_activities import body as activity_body

HUGE = (MAX_ID + 1, 3_000_000_000, 99_999_999_999_999_999_999, 0)
INT_PARAM = re.compile(r"\{(\w+):int\}")


@pytest.fixture
async def everyone(enrol: Enrol) -> Member:
    """Signed in with every role, so that the guards let each route through to its checks: the
    community's four and the 街道 office's (given only by the installation, so written here)."""
    member = await enrol("resident", "organizer", "shopkeeper", "admin")
    await fetch("UPDATE person SET roles = {} WHERE id = {}",
                encode_roles({*member.roles, SUBDISTRICT_ADMIN}), member.id)
    return member


def _routes_with_ids(app: Litestar) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if isinstance(route, HTTPRoute) and INT_PARAM.search(route.path):
            found += [(method, route.path) for method in sorted(route.methods - {"HEAD", "OPTIONS"})]
    return found


async def test_every_route_answers_an_id_no_table_can_hold_with_404(app: Litestar, everyone: Member) -> None:
    routes = _routes_with_ids(app)
    assert len(routes) > 60, routes  # the API's and the pages' routes with ids
    wrong = []
    for method, path in routes:
        for value in HUGE:
            url = INT_PARAM.sub(str(value), path)
            # Pages take the CSRF token of a cookie session; a bearer client is refused before
            # the id is looked at on some of them (403), which is also no 5xx.
            answer = await everyone.client.request(method, url, json={} if method != "GET" else None)
            if answer.status_code >= 500 or (answer.status_code != 404 and url.startswith("/api/")):
                wrong.append((method, url, answer.status_code, answer.text[:120]))
            elif url.startswith("/api/"):
                assert answer.json()["reason"] == "not_found", (method, url, answer.text)
    assert wrong == []


async def test_nul_in_a_product_name_is_refused_and_nothing_is_made(shopkeeper: Member, community) -> None:
    before = await Product.count().where(Product.community == community.id)
    answer = await shopkeeper.client.post(
        "/api/products", json={"name": "大\u0000米", "price": "2.00", "stock": 3}
    )
    assert answer.status_code == 400, answer.text
    assert (answer.json()["reason"], answer.json()["field"]) == ("invalid_character", "body")
    assert "空字符" in answer.json()["detail"]
    english = await shopkeeper.client.post(
        "/api/products", json={"name": "大\u0000米", "price": "2.00", "stock": 3},
        headers={"Accept-Language": "en"},
    )
    assert "NUL" in english.json()["detail"]
    assert await Product.count().where(Product.community == community.id) == before
    # An escaped backslash followed by "u0000" is text like any other.
    fine = await shopkeeper.client.post(
        "/api/products", json={"name": "大米 \\u0000", "price": "2.00", "stock": 3}
    )
    assert fine.status_code == 201, fine.text
    assert fine.json()["name"] == "大米 \\u0000"


async def test_nul_in_an_adjustment_reason_moves_no_points(admin: Member, resident: Member) -> None:
    refused = await adjust(admin, resident.id, "5.00", reason="奖励\u0000")
    assert refused.status_code == 400 and refused.json()["reason"] == "invalid_character", refused.text
    balance = (await resident.client.get("/api/me/balance")).json()["balance"]
    assert balance == "0.00"


@pytest.mark.parametrize("query", ["q=a%00b", "q%00=a", "cursor=%00"])
async def test_nul_in_the_query_is_refused(admin: Member, query: str) -> None:
    answer = await admin.client.get(f"/api/people?{query}")
    assert answer.status_code == 400, answer.text
    assert answer.json()["reason"] == "invalid_character"


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("\\ud800", False),  # a high surrogate alone
        ("\\udc00", False),  # a low surrogate alone
        ("a\\ud83dz", False),
        ("\\ud83d\\ude00", True),  # a pair: 😀
        ("\\\\ud800", True),  # a backslash, then text
    ],
)
async def test_lone_surrogates_are_refused_and_pairs_kept(shopkeeper: Member, name: str, ok: bool) -> None:
    body = '{"name": "商品' + name + secrets.token_hex(2) + '", "price": "1.00", "stock": 1}'
    answer = await shopkeeper.client.post(
        "/api/products", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    if ok:
        assert answer.status_code == 201, answer.text
    else:
        assert answer.status_code == 400 and answer.json()["reason"] == "invalid_character", answer.text


async def test_a_form_with_nul_is_refused_on_a_page(app: Litestar, everyone: Member) -> None:
    # The sign-in form, as a browser posts it: a page, not JSON, and nothing signed in.
    answer = await everyone.client.post(
        "/signin", content=b"login=138%00&secret=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("text/html")


async def test_a_roster_cell_with_nul_imports_nobody(admin: Member) -> None:
    content = "姓名,手机号,小区\n张三,13800000001,幸福\x00里\n".encode()
    answer = await admin.client.post("/api/people/import", files={"file": ("名单.csv", content)})
    assert answer.status_code in (400, 422), answer.text
    assert "13800000001" not in (await admin.client.get("/api/people", params={"q": "13800000001"})).text


async def test_a_body_number_beyond_the_column_is_400(organizer: Member, resident: Member) -> None:
    made = await organizer.client.post("/api/activities", json=activity_body())
    assert made.status_code == 201, made.text
    for huge in (3_000_000_000, 99_999_999_999_999_999_999):
        answer = await organizer.client.post(
            f"/api/activities/{made.json()['id']}/reject", json={"person_ids": [huge], "reason": "x"}
        )
        assert answer.status_code < 500, answer.text
    # And in a query: a community's leaderboard of a community no table can hold.
    board = await organizer.client.get("/api/leaderboards", params={"community": 99_999_999_999_999_999_999})
    assert board.status_code < 500, board.text


def test_the_drivers_refusals_are_named() -> None:
    import asyncpg

    assert refused_value(OverflowError("Python int too large to convert to SQLite INTEGER")) == "out_of_range"
    assert refused_value(asyncpg.DataError("invalid input for query argument $1: 3000000000 (value out of "
                                           "int32 range)")) == "out_of_range"
    assert refused_value(asyncpg.exceptions.CharacterNotInRepertoireError("0x00")) == "invalid_character"
    try:
        "\ud800".encode()
    except UnicodeEncodeError as error:
        assert refused_value(error) == "invalid_character"
    assert refused_value(OverflowError("math range error")) is None
    assert refused_value(ValueError("x")) is None
    assert storable_text("中文 😀") and not storable_text("a\x00") and not storable_text("\udc00")
