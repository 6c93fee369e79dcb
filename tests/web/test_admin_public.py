"""The admin home's ledger card and public links (issue 16).

The ledger card never shows a pass that did not happen: a check remembered from before points
moved said "✔ verified · 0 entries · hash 000…" while the ledger had entries. The public links
card shows the community's links with its slug, a QR code of the notice board's link, and a form
to change the slug (clear refusals; the old slug keeps working)."""

import re

import httpx
from litestar import Litestar

import qr
from market.community import service as communities
from market.community import slugs
from market.community.service import CommunityView
from tests.market.support import Member, adjust
from tests.web.support import browser, csrf_of


async def _sign_in(client: httpx.AsyncClient, member: Member) -> None:
    form = await client.get("/signin", params={"next": "/admin"})
    response = await client.post("/signin", data={
        "csrf": csrf_of(form.text), "next": "/admin", "login": member.phone, "secret": member.password,
    })
    assert response.status_code == 303, response.text


def _entries(html: str) -> int:
    found = re.search(r'id="ledger-entries">(\d+)<', html)
    assert found, "no entries on the card"
    return int(found.group(1))


async def test_the_ledger_card_never_shows_a_stale_pass(
    app: Litestar, community: CommunityView, admin: Member, resident: Member
) -> None:
    async with browser(app, "en") as client:
        await _sign_in(client, admin)
        first = (await client.get("/admin")).text  # a real check of the ledger as it is
        assert 'data-ok="true"' in first
        before = _entries(first)
        assert (await adjust(admin, resident.id, "12.5")).status_code == 201
        assert (await adjust(admin, resident.id, "3")).status_code == 201
        entries, head = await app.state.ledger.head(community.id)

        # Within the minutes a check is remembered: no pass for entries it never saw.
        later = (await client.get("/admin")).text
        assert 'data-ok="true"' not in later and "✔" not in later
        assert 'id="ledger-status" data-ok="stale"' in later
        assert f"Not verified yet. Entries written since the last check: {entries - before}." in later
        assert f"entries checked: {before}; they were correct." in later
        assert 'id="ledger-verify" href="/admin?verify=now#ledger">Verify now<' in later

        # The button checks now: the pass is real and counts every entry.
        checked = (await client.get("/admin?verify=now")).text
        assert 'data-ok="true"' in checked and _entries(checked) == entries
        assert f'<code id="ledger-head">{head}</code>' in checked
        # Nothing written since: the remembered check still speaks for the whole ledger.
        again = (await client.get("/admin")).text
        assert 'data-ok="true"' in again and _entries(again) == entries


async def test_the_ledger_card_in_chinese_when_stale(app: Litestar, admin: Member, resident: Member) -> None:
    async with browser(app) as client:
        await _sign_in(client, admin)
        await client.get("/admin")
        await adjust(admin, resident.id, "1")
        html = (await client.get("/admin")).text
    assert "尚未校验：上次校验之后又新记了 1 笔。" in html and "立即校验" in html
    assert "校验通过" not in html


async def test_public_links_use_the_slug_and_the_qr_reads_the_notice_link(
    app: Litestar, community: CommunityView, admin: Member
) -> None:
    slug = (await slugs.current(community.id)).slug
    async with browser(app) as client:
        await _sign_in(client, admin)
        html = (await client.get("/admin")).text
        base = str(client.base_url).rstrip("/")
        for path in ("/public/boards", "/public/notice", "/transparency"):
            # The page links its own paths; the whole URL is what it shows to print.
            assert f'href="{path}?community={slug}">{base}{path}?community={slug}</a>' in html, path
        picture = await client.get("/admin/community/notice-qr.png")
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert qr.decode_png(picture.content) == [f"{base}/public/notice?community={slug}"]
    assert "公开链接" in html and "网址名" in html


async def test_the_qr_and_the_slug_form_are_for_admins_only(
    app: Litestar, community: CommunityView, resident: Member, organizer: Member
) -> None:
    before = (await slugs.current(community.id)).slug
    async with browser(app) as client:
        assert (await client.get("/admin/community/notice-qr.png")).status_code == 303  # sign in
        form = await client.get("/signin")
        await client.post("/signin", data={"csrf": csrf_of(form.text), "next": "/",
                                           "login": organizer.phone, "secret": organizer.password})
        assert (await client.get("/admin/community/notice-qr.png")).status_code == 403
        token = csrf_of((await client.get("/organizer")).text)
        refused = await client.post("/admin/community/slug", data={"csrf": token, "slug": "mine-now"})
        assert refused.status_code == 403
    assert (await slugs.current(community.id)).slug == before


async def test_the_slug_is_changed_on_the_page(
    app: Litestar, community: CommunityView, admin: Member, anon: httpx.AsyncClient
) -> None:
    old = (await slugs.current(community.id)).slug
    other = await communities.get_or_create(app.state.ledger, f"别的社区-{community.id}")
    elsewhere = (await slugs.current(other.id)).slug
    async with browser(app, "en") as client:
        await _sign_in(client, admin)
        token = csrf_of((await client.get("/admin")).text)
        # Without the CSRF token: refused, nothing changed.
        assert (await client.post("/admin/community/slug", data={"slug": "hexie-yuan"})).status_code == 403
        bad = await client.post("/admin/community/slug", data={"csrf": token, "slug": "Bad Slug!"})
        assert bad.status_code == 400 and "text/html" in bad.headers["content-type"]
        assert 'id="slug-problem"' in bad.text and "lower-case letters, digits and hyphens" in bad.text
        assert 'value="Bad Slug!"' in bad.text  # what was typed stays in the field
        short = await client.post("/admin/community/slug", data={"csrf": token, "slug": "x"})
        assert short.status_code == 400 and "must be 2–40 characters" in short.text
        taken = await client.post("/admin/community/slug", data={"csrf": token, "slug": elsewhere})
        assert taken.status_code == 409 and "used by another community" in taken.text
        assert (await slugs.current(community.id)).slug == old

        new = f"hexie-{community.id}"
        done = await client.post("/admin/community/slug", data={"csrf": token, "slug": new})
        assert done.status_code == 303 and done.headers["location"] == "/admin?slug=saved#public-links"
        shown = (await client.get(done.headers["location"])).text
        assert 'id="slug-saved"' in shown and f"?community={new}" in shown
        assert f"Earlier addresses, still working: {old}" in shown
    for address in (old, new):
        assert (await anon.get(f"/api/communities/{address}")).json()["id"] == community.id
