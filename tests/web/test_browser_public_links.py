"""Public addresses in a real browser (issue 16): Debian's Chromium at phone size, zh then en.

A real ``market serve`` on a fresh database (``tests.web.browser``). The admin home's ledger card
says "not verified yet" once points moved after its last check, and passes only after the check;
its public links card shows the links with the community's slug (幸福里社区 → xingfulishequ) and a
QR code of the notice board's link, which decodes to that link; the slug is changed on the page
(a bad one refused first) and the old address still opens the boards. A missing page is a page,
404, with a link home. Screenshots go to ``MARKET_SCREENSHOTS`` (``public-<lang>-<n>-<name>.png``).
"""

import re
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, expect, sync_playwright

import qr
from tests.web.browser import (  # noqa: F401  (fixtures)
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    CHROMIUM,
    DENSITY,
    PHONE_SIZE,
    RESIDENT_PHONE,
    Server,
    Watch,
    bearer,
    screenshots,
    server,
    set_up_people,
)

FIRST_SLUG = "xingfulishequ"  # derived from 幸福里社区, the community tests.web.browser founds


def _give_points(base: str) -> None:
    """Points move after the admin's first look at the ledger card."""
    with bearer(base, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        people = admin.get("/api/people", params={"q": RESIDENT_PHONE}).json()["items"]
        response = admin.post("/api/adjustments", json={
            "person_id": people[0]["id"], "amount": "5", "reason": "义务劳动"},
            headers={"Idempotency-Key": f"browser-{len(people)}-{base[-5:]}-{id(admin)}"})
        assert response.status_code == 201, response.text


def story(browser: Browser, base: str, lang: str, shots: Path, watch: Watch, slug: str) -> str:
    en = lang == "en"
    count = iter(range(1, 100))

    def t(zh: str, english: str) -> str:
        return english if en else zh

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=shots / f"public-{lang}-{next(count):02d}-{name}.png", full_page=True)

    context = browser.new_context(viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True,
                                  has_touch=True, locale="en-GB" if en else "zh-CN")
    page = context.new_page()
    page.on("console", watch.console)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    context.on("request", watch.request)

    # A missing page, before signing in: a page with a way home, in the browser's language.
    response = page.goto(base + "/no/such/page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text(t("找不到页面", "Page not found"))
    expect(page.locator("html")).to_have_attribute("lang", "en" if en else "zh-CN")
    shot(page, "not-found")
    page.get_by_role("link", name=t("返回首页", "Back to home")).click()
    expect(page).not_to_have_url(re.compile("/no/such/page"))

    page.goto(base + "/signin")
    page.locator("#login").fill(ADMIN_PHONE)
    page.locator("#secret").fill(ADMIN_PASSWORD)
    page.locator("form button[type=submit]").first.click()
    expect(page).not_to_have_url(re.compile("/signin"))

    # The ledger card: a real check first, then points move: "not verified yet", never a pass.
    page.goto(base + "/admin?verify=now")
    expect(page.locator("#ledger-status")).to_have_attribute("data-ok", "true")
    _give_points(base)
    page.goto(base + "/admin")
    status = page.locator("#ledger-status")
    expect(status).to_have_attribute("data-ok", "stale")
    expect(status).to_contain_text(t("尚未校验", "Not verified yet"))
    expect(page.get_by_text("✔")).to_have_count(0)
    shot(page, "ledger-not-verified")
    page.locator("#ledger-verify").click()
    expect(page.locator("#ledger-status")).to_have_attribute("data-ok", "true")

    # The public links with the slug, and the notice board's QR code.
    card = page.locator("#public-links")
    card.scroll_into_view_if_needed()
    expect(page.locator("#link-boards")).to_have_text(f"{base}/public/boards?community={slug}")
    expect(page.locator("#link-notice")).to_have_text(f"{base}/public/notice?community={slug}")
    qr_image = page.locator("#notice-qr")
    expect(qr_image).to_be_visible()
    assert page.evaluate("document.getElementById('notice-qr').naturalWidth") > 0
    box = card.bounding_box()
    assert box is not None and box["width"] <= PHONE_SIZE["width"], box
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SIZE["width"]
    shot(page, "public-links")
    picture = page.request.get(base + "/admin/community/notice-qr.png")
    assert qr.decode_png(picture.body()) == [f"{base}/public/notice?community={slug}"]

    # Change the address: a bad one is refused on the page, what was typed kept.
    page.get_by_label(t("网址名", "Address name (slug)")).fill("Bad Slug!")
    page.get_by_role("button", name=t("更改网址名", "Change the address")).click()
    expect(page.locator("#slug-problem")).to_contain_text(
        t("只能用小写字母", "only lower-case letters"))
    expect(page.locator("#slug")).to_have_value("Bad Slug!")
    shot(page, "slug-refused")
    new = f"{slug}-{lang}"
    page.get_by_label(t("网址名", "Address name (slug)")).fill(new)
    page.get_by_role("button", name=t("更改网址名", "Change the address")).click()
    expect(page.locator("#slug-saved")).to_be_visible()
    expect(page.locator("#link-boards")).to_have_text(f"{base}/public/boards?community={new}")
    expect(page.locator("#old-slugs")).to_contain_text(slug)
    shot(page, "slug-changed")

    # The public pages by the old and the new address, signed out as a resident would be.
    public = browser.new_context(viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True,
                                 has_touch=True, locale="en-GB" if en else "zh-CN")
    reader = public.new_page()
    reader.on("console", watch.console)
    for address in (slug, new):
        reader.goto(f"{base}/public/boards?community={address}")
        expect(reader.get_by_role("heading", level=1)).to_contain_text("幸福里社区")
    shot(reader, "boards-by-slug")
    reader.goto(f"{base}/transparency?community={new}")
    expect(reader.get_by_role("heading", level=1)).to_contain_text("幸福里社区")
    shot(reader, "transparency-by-slug")
    public.close()
    context.close()
    return new


def test_public_links_and_not_found_in_chromium(server: Server, screenshots: Path) -> None:  # noqa: F811
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    set_up_people(server.url).close()
    api = httpx.get(f"{server.url}/api/communities/{FIRST_SLUG}")
    assert api.status_code == 200 and api.json()["name"] == "幸福里社区", api.text
    watch = Watch(server.url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        slug = story(browser, server.url, "zh", screenshots, watch, FIRST_SLUG)
        story(browser, server.url, "en", screenshots, watch, slug)
        browser.close()
    # Every address the community had still names it.
    for address in (FIRST_SLUG, f"{FIRST_SLUG}-zh", f"{FIRST_SLUG}-zh-en"):
        assert httpx.get(f"{server.url}/api/communities/{address}").json()["slug"] == f"{FIRST_SLUG}-zh-en"
    assert not watch.foreign, watch.foreign
    # Chromium logs the 404 page and each refused form (400) as failed loads; nothing else.
    failed = re.compile(r"Failed to load resource: .* status of (404|400) .*")
    assert [e for e in watch.errors if not failed.fullmatch(e)] == [], watch.errors
