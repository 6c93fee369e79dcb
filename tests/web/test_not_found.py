"""A missing page (issue 16): a browser gets an HTML page with status 404, in Chinese by default
and in English when chosen, with a link home; API clients keep RFC 9457 problem details."""

import httpx
import pytest
from litestar import Litestar

from tests.market.support import Member
from tests.web.support import browser

#: What Chromium sends for a page it navigates to.
CHROMIUM_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)


async def test_a_browser_gets_a_page_in_chinese_by_default(app: Litestar) -> None:
    async with browser(app) as client:
        response = await client.get("/no/such/page", headers={"Accept": CHROMIUM_ACCEPT})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert 'lang="zh-CN"' in html and "找不到页面" in html and "找不到这个页面" in html
    assert '<a class="button primary" id="not-found-home" href="/">返回首页</a>' in html
    assert '"reason"' not in html


@pytest.mark.parametrize("how", ["cookie", "header"])
async def test_a_browser_gets_it_in_english_when_chosen(app: Litestar, how: str) -> None:
    async with browser(app, "en" if how == "cookie" else None) as client:
        headers = {"Accept": CHROMIUM_ACCEPT}
        if how == "header":
            headers["Accept-Language"] = "en-GB,en;q=0.9"
        response = await client.get("/admin/no-such-page", headers=headers)
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    assert 'lang="en"' in response.text and "Page not found" in response.text
    assert "There is no such page" in response.text and ">Back to home</a>" in response.text


async def test_a_browser_using_a_method_no_page_takes_gets_a_page(app: Litestar) -> None:
    async with browser(app) as client:
        response = await client.delete("/signin", headers={"Accept": CHROMIUM_ACCEPT})
    assert response.status_code == 405 and response.headers["content-type"].startswith("text/html")
    assert "不支持此请求方法" in response.text and "allow" in response.headers


@pytest.mark.parametrize(("path", "accept"), [
    ("/api/no-such-thing", CHROMIUM_ACCEPT),  # the API answers JSON whatever the client says
    ("/api/communities/no-such-place", CHROMIUM_ACCEPT),
    ("/no/such/page", "application/json"),
    ("/no/such/page", "application/problem+json"),
    ("/no/such/page", "*/*"),  # curl, HTTP libraries
    ("/no/such/page", "text/html;q=0.5, application/json"),  # prefers JSON
    ("/no/such/page", ""),
])
async def test_api_clients_keep_problem_details(
    anon: httpx.AsyncClient, path: str, accept: str
) -> None:
    response = await anon.get(path, headers={"Accept": accept, "Accept-Language": "en"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["reason"] == "not_found" and body["status"] == 404 and body["detail"] == "Not found"


async def test_a_method_not_allowed_on_the_api_stays_a_problem(admin: Member) -> None:
    response = await admin.client.delete("/api/me", headers={"Accept": CHROMIUM_ACCEPT})
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["reason"] == "method_not_allowed"


async def test_a_record_missing_behind_an_existing_page_is_still_a_page(app: Litestar) -> None:
    """The pages' own 404 (an unknown community on a public page) was a page already: still is."""
    async with browser(app) as client:
        response = await client.get("/public/boards", params={"community": "no-such-place"},
                                    headers={"Accept": CHROMIUM_ACCEPT})
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
