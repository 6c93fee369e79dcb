"""The public transparency page (阳光积分): both languages, anyone may read it, small, and a resident
can check that an entry of theirs is in the signed chain."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar

from market.community.service import CommunityView
from market.reports import checkpoint_service as service
from market.reports import keys
from market.web.site import asset
from tests.market.support import Member, adjust
from tests.web.support import browser

MAX_PAGE_BYTES = 100 * 1024
YESTERDAY = datetime.now(UTC) - timedelta(days=1)


def _listed(html: str) -> str:
    """The history's list on the page (the newest checkpoint is also shown above it)."""
    found = re.search(r'<ol class="tp-history">.*?</ol>', html, re.S)
    assert found, "no history list"
    return found.group(0)


async def _transfer(admin: Member, resident: Member, amount: str) -> str:
    response = await adjust(admin, resident.id, amount)
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.mark.parametrize(("language", "marks"), [
    ("zh", ['lang="zh-CN"', "阳光积分", "累计发放", "累计兑换", "居民持有", "签名有效", "下载完整历史",
            "社区公钥", "其中只有本社区自己的记录", "账本记录：2 笔", "截至第 2 笔"]),
    ("en", ['lang="en"', "Open points", "Points issued in total", "Points held by residents",
            "Signature valid", "Download the whole history", "public key",
            "this community's own entries only", "Ledger entries: 2", "at entry 2"]),
])
async def test_the_page_in_both_languages(
    app: Litestar, community: CommunityView, admin: Member, resident: Member, language: str, marks: list[str]
) -> None:
    await _transfer(admin, resident, "30")
    await _transfer(admin, resident, "12.50")
    made = await service.make_checkpoint(app.state.settings, community.id, YESTERDAY)
    async with browser(app, language) as client:  # nobody signed in: the page is public
        response = await client.get("/transparency", params={"community": community.id})
        assert response.status_code == 200, response.text
        html = response.text
        size = len(response.content)
        for path in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            size += len((await client.get(path)).content)
    assert size < MAX_PAGE_BYTES, size
    for mark in marks:
        assert mark in html
    assert "42.50" in html and made.hash in html and made.head_hash in html and made.genesis in html
    assert keys.public_key_hex(app.state.settings, community.id) in html
    assert f"/api/transparency/checkpoints.json?community={community.id}" in html
    assert "python -m market.reports.checkpoint_verify" in html
    # A community founded with its own chain has no earlier shared chain to download.
    assert "legacy.json" not in html and "--legacy" not in html
    assert resident.phone not in html and resident.name not in html
    assert asset("transparency.css") in html


async def test_a_resident_checks_an_entry(
    app: Litestar, community: CommunityView, admin: Member, resident: Member
) -> None:
    first = await _transfer(admin, resident, "5")
    await service.make_checkpoint(app.state.settings, community.id, YESTERDAY)
    later = await _transfer(admin, resident, "1")
    async with browser(app) as client:
        signed = await client.get("/transparency", params={"community": community.id, "transfer": first})
        assert signed.status_code == 200
        assert "第 1 笔记录在" in signed.text and "签名的账本链中" in signed.text
        assert "下载证明文件" in signed.text
        waiting = await client.get("/transparency", params={"community": community.id, "transfer": later})
        assert "将由下一次每日存证签名" in waiting.text
        unknown = await client.get("/transparency", params={"community": community.id, "transfer": "nope"})
        assert unknown.status_code == 200 and "本社区没有这个编号的记录" in unknown.text
        english = await client.get("/transparency", params={"community": community.id, "transfer": first},
                                   headers={"Accept-Language": "en"})
        assert "is in the chain signed on" in english.text


async def test_before_any_checkpoint_and_bad_input(app: Litestar, community: CommunityView) -> None:
    async with browser(app) as client:
        empty = await client.get("/transparency", params={"community": community.id})
        assert empty.status_code == 200 and "还没有存证" in empty.text
        missing = await client.get("/transparency", params={"community": 999999999})
        assert missing.status_code == 404 and "找不到" in missing.text
        # "abc" could be a slug (market.community.slugs): no community has it.
        unknown = await client.get("/transparency", params={"community": "abc"})
        assert unknown.status_code == 404 and "text/html" in unknown.headers["content-type"]
        bad = await client.get("/transparency", params={"community": "a" * 101})
        assert bad.status_code == 400 and "text/html" in bad.headers["content-type"]


async def test_the_history_on_the_page_is_paged(app: Litestar, community: CommunityView) -> None:
    now = datetime.now(UTC)
    made = [await service.make_checkpoint(app.state.settings, community.id, now - timedelta(days=d))
            for d in range(12, 0, -1)]
    async with browser(app, "en") as client:
        first = await client.get("/transparency", params={"community": community.id})
        assert made[-1].day in _listed(first.text) and made[0].day not in _listed(first.text)
        older = re.search(r'href="(/transparency\?community=[a-z0-9-]+&amp;cursor=\d+)"', first.text)
        assert older, "no link to older checkpoints"
        second = await client.get(older.group(1).replace("&amp;", "&"))
        assert made[0].day in _listed(second.text) and made[-1].day not in _listed(second.text)
