"""Issuing a new card asks first, on the page, never in a pop-up (长辈版 allows none): the first press
shows the question and turns the button into the "yes", only the second issues the card (same number,
the next version: the old printed code stops working). In
Debian's Chromium at phone size, in 长辈版, with a watch for any dialog.
"""

import re
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.web.browser import (  # noqa: F401  (fixtures)
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    CHROMIUM,
    PHONE_SIZE,
    Server,
    bearer,
    screenshots,
    server,
    snapshot,
)


def test_a_new_card_is_asked_for_twice_without_a_pop_up(server: Server, screenshots: Path) -> None:  # noqa: F811
    with bearer(server.url, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        made = admin.post("/api/people", json={"name": "孙大爷", "phone": "13700000031",
                                               "roles": ["resident"], "pin": "258043"})
        assert made.status_code == 201, made.text
        person = made.json()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport=PHONE_SIZE, locale="zh-CN")
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(server.url + "/elder/on?next=/signin")
        page.locator("#login").fill(ADMIN_PHONE)
        page.locator("#secret").fill(ADMIN_PASSWORD)
        page.locator("form[action='/signin'] button[type=submit]").click()
        page.wait_for_url(re.compile(r"/$"))
        page.goto(f"{server.url}/admin/people/{person['id']}")
        done = page.locator("p.done")

        page.locator("#card").get_by_role("button", name="补办新卡").click()
        expect(page.locator("#card [data-question]")).to_contain_text("旧卡将立即停用")
        expect(done).to_have_count(0)  # nothing issued yet
        snapshot(page, screenshots / "card-reissue-asked.png")
        page.locator("#card").get_by_role("button", name="确定补办新卡").click()
        page.wait_for_url(re.compile(r"done=card"))
        expect(done).to_contain_text("已补办新卡")
        snapshot(page, screenshots / "card-reissue-done.png")
        browser.close()
    assert dialogs == []
