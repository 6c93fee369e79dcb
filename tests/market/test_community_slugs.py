"""Community slugs (issue 16): readable, unique, stable addresses for public links.

A community gets a slug from its name when founded; ``GET /api/communities/{slug}`` names it
without sign-in; the public pages take the slug (or the id, or the name); an admin may change
it, with clear refusals, and the old slug keeps naming the same community, for good.
"""

import asyncio
import secrets
import sqlite3
from contextlib import closing

import httpx
import pytest
from litestar import Litestar

from ledger import Ledger
from market.community import service as communities
from market.community import slugs
from market.community.service import CommunityView
from market.db import fetch
from market.errors import Conflict, InvalidInput
from market.piccolo_migrations.market_2026_12_06t09_00_00 import backfill
from tests.conftest import PG_URL
from tests.market.support import Member
from tests.market.test_upgrade import market, release_copy  # noqa: F401  (a fixture)


def test_a_slug_is_derived_readably_from_the_name() -> None:
    assert slugs.derive("幸福社区") == "xingfushequ"
    assert slugs.derive("测试社区-a1b2c3") == "ceshishequ-a1b2c3"
    assert slugs.derive("Harmony 社区") == "harmony-shequ"
    assert slugs.derive("城南01社区") == "chengnan-01-shequ"
    long = slugs.derive("中华人民共和国北京市海淀区学院路街道办事处第一社区居委会")
    assert 2 <= len(long) <= slugs.MAX_LENGTH and slugs.SLUG.match(long)
    # Nothing readable: the caller falls back to c<id>.
    assert slugs.derive("！！") == "" and slugs.derive("1") == "" and slugs.derive("123") == ""


def test_the_migration_backfills_unique_slugs() -> None:
    chosen = dict(backfill([(3, "！！"), (1, "幸福社区"), (2, "幸福社区 "), (4, "幸福社区")]))
    assert chosen == {1: "xingfushequ", 2: "xingfushequ-2", 3: "c3", 4: "xingfushequ-3"}


async def test_a_new_community_gets_its_slug_and_the_api_names_it(
    app: Litestar, community: CommunityView, anon: httpx.AsyncClient
) -> None:
    tail = community.name.rsplit("-", 1)[1]
    mine = await slugs.current(community.id)
    assert mine.slug == f"ceshishequ-{tail}"
    response = await anon.get(f"/api/communities/{mine.slug}")  # nobody signed in
    assert response.status_code == 200, response.text
    assert response.json() == {"id": community.id, "name": community.name, "slug": mine.slug}
    # Any case, as a QR scanner may send it.
    assert (await anon.get(f"/api/communities/{mine.slug.upper()}")).json()["id"] == community.id

    missing = await anon.get("/api/communities/no-such-place", headers={"Accept-Language": "en"})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["reason"] == "not_found" and missing.json()["detail"] == "Not found"
    chinese = await anon.get("/api/communities/no-such-place")
    assert chinese.json()["detail"] == "找不到该内容"


async def test_names_that_derive_the_same_slug_get_different_ones(ledger: Ledger) -> None:
    tail = secrets.token_hex(4)
    first = await communities.get_or_create(ledger, f"幸福社区!{tail}")
    second = await communities.get_or_create(ledger, f"幸福社区?{tail}")
    unreadable = await communities.get_or_create(ledger, f"！{secrets.token_hex(0)}！{'？' * 3}{tail[:0]}")
    one, two = (await slugs.current(first.id)).slug, (await slugs.current(second.id)).slug
    assert one == f"xingfushequ-{tail}" and two == f"xingfushequ-{tail}-2"
    assert (await slugs.current(unreadable.id)).slug == f"c{unreadable.id}"
    # Founding an existing community again keeps its slug.
    again = await communities.get_or_create(ledger, f"幸福社区!{tail}")
    assert (await slugs.current(again.id)).slug == one


async def test_founding_the_same_community_at_once_gives_it_one_slug(ledger: Ledger) -> None:
    name = f"同时社区-{secrets.token_hex(6)}"
    founded = await asyncio.gather(*(communities.get_or_create(ledger, name) for _ in range(4)))
    assert len({c.id for c in founded}) == 1
    aliases = await fetch("SELECT slug FROM community_slug WHERE community = {}", founded[0].id)
    assert [row["slug"] for row in aliases] == [(await slugs.current(founded[0].id)).slug]


async def _audit(community_id: int) -> list[dict]:
    return await fetch(
        "SELECT actor, action, subject FROM audit_log WHERE community = {} AND action = {}",
        community_id, "community_slug_changed",
    )


async def test_an_admin_changes_the_slug_and_the_old_one_keeps_working(
    ledger: Ledger, community: CommunityView, admin: Member, anon: httpx.AsyncClient
) -> None:
    old = (await slugs.current(community.id)).slug
    new = f"hexie-{secrets.token_hex(3)}"
    changed = await slugs.change(community.id, admin.id, f"  {new.upper()} ")
    assert changed.slug == new and (await slugs.current(community.id)).slug == new
    for address in (old, new):
        response = await anon.get(f"/api/communities/{address}")
        assert response.status_code == 200 and response.json()["slug"] == new, address
    assert await slugs.history(community.id) == [old]
    audit = await _audit(community.id)
    assert len(audit) == 1 and audit[0]["actor"] == admin.id
    assert audit[0]["subject"] == f"community:{community.id} {old}->{new}"

    # Changing back to the old one is allowed (it is the community's own).
    assert (await slugs.change(community.id, admin.id, old)).slug == old
    assert (await anon.get(f"/api/communities/{new}")).json()["id"] == community.id

    # Another community can never take either: printed links would change community.
    other = await communities.get_or_create(ledger, f"另一个社区-{secrets.token_hex(6)}")
    before = (await slugs.current(other.id)).slug
    for taken in (old, new):
        with pytest.raises(Conflict) as refused:
            await slugs.change(other.id, admin.id, taken)
        assert refused.value.reason == "slug_taken" and refused.value.status == 409
    assert (await slugs.current(other.id)).slug == before


@pytest.mark.parametrize(("typed", "reason"), [
    ("x", "invalid_slug_length"),
    ("a" * 41, "invalid_slug_length"),
    ("幸福", "invalid_slug"),
    ("has space", "invalid_slug"),
    ("under_score", "invalid_slug"),
    ("-leading", "invalid_slug"),
    ("trailing-", "invalid_slug"),
    ("double--hyphen", "invalid_slug"),
    ("12345", "invalid_slug"),  # all digits would read as an id
])
async def test_a_bad_slug_is_refused_and_changes_nothing(
    community: CommunityView, admin: Member, typed: str, reason: str
) -> None:
    before = (await slugs.current(community.id)).slug
    with pytest.raises(InvalidInput) as refused:
        await slugs.change(community.id, admin.id, typed)
    assert refused.value.reason == reason and refused.value.field == "slug"
    assert (await slugs.current(community.id)).slug == before
    assert await _audit(community.id) == []


@pytest.mark.parametrize("path", ["/public/boards", "/transparency", "/public/notice"])
async def test_public_pages_take_the_slug_the_old_slug_the_id_and_the_name(
    community: CommunityView, admin: Member, anon: httpx.AsyncClient, path: str
) -> None:
    old = (await slugs.current(community.id)).slug
    new = (await slugs.change(community.id, admin.id, f"lianjie-{secrets.token_hex(3)}")).slug
    for typed in (new, old, str(community.id), community.name):
        response = await anon.get(path, params={"community": typed}, headers={"Accept": "text/html"})
        assert response.status_code == 200, (typed, response.text[:300])
        assert community.name in response.text, typed
    unknown = await anon.get(path, params={"community": "no-such-place"}, headers={"Accept": "text/html"})
    assert unknown.status_code == 404 and "text/html" in unknown.headers["content-type"]
    too_long = await anon.get(path, params={"community": "a" * 101}, headers={"Accept": "text/html"})
    assert too_long.status_code == 400


async def test_links_the_public_pages_make_use_the_slug(
    community: CommunityView, anon: httpx.AsyncClient
) -> None:
    slug = (await slugs.current(community.id)).slug
    boards = (await anon.get("/public/boards", params={"community": community.id})).text
    assert f"community={slug}&amp;period=" in boards and f'name="community" value="{slug}"' in boards
    page = (await anon.get("/transparency", params={"community": community.id})).text
    assert f'name="community" value="{slug}"' in page


def _rows(url: str, sql: str) -> list[tuple]:
    """Rows of ``sql`` in the database ``url`` names (SQLite file, or a PostgreSQL schema)."""
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as con:
            return [tuple(row) for row in con.execute(sql)]
    schema = url.rsplit("search_path=", 1)[1]

    async def run() -> list[tuple]:
        import asyncpg

        con = await asyncpg.connect(PG_URL)
        try:
            await con.execute(f'SET search_path TO "{schema}"')
            return [tuple(row) for row in await con.fetch(sql)]
        finally:
            await con.close()

    return asyncio.run(run())


def test_an_upgraded_database_gets_a_slug_for_each_community(release_copy: str) -> None:  # noqa: F811
    """The release's database (two communities, 幸福社区 among them) migrated in place."""
    migrated = market(release_copy, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    current = _rows(release_copy, "SELECT id, name, slug FROM community ORDER BY id")
    assert len(current) == 2 and all(slug and slugs.SLUG.match(slug) for _, _, slug in current)
    assert dict((name, slug) for _, name, slug in current)["幸福社区"] == "xingfushequ"
    assert len({slug for _, _, slug in current}) == 2
    aliases = _rows(release_copy, "SELECT community, slug FROM community_slug ORDER BY community")
    assert aliases == [(cid, slug) for cid, _, slug in current]
    again = market(release_copy, "migrate")  # a second run changes nothing
    assert again.returncode == 0, again.stderr
    assert _rows(release_copy, "SELECT id, name, slug FROM community ORDER BY id") == current
