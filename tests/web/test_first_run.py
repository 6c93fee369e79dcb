"""The first run of a fresh install: ``market serve`` prints a set-up link, the sign-in page says
where it is, the set-up page makes the community and its first admin, and then the link is dead.

A real ``market serve`` on a fresh database with nobody in it (``tests.web.browser.fresh_server``,
SQLite or PostgreSQL), Debian's Chromium at phone size for the pages.
"""

import re
import subprocess
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

from market import first_run
from tests.web.browser import (  # noqa: F401  (fixtures)
    CHROMIUM,
    PHONE_SIZE,
    Server,
    Watch,
    cli_server,
    fresh_server,
    market_command,
    screenshots,
    snapshot,
)

LINK = re.compile(r"(http://\S+/setup\?token=[A-Za-z0-9_-]+)")


def _link(running: Server) -> str:
    found = LINK.search(running.log.read_text(encoding="utf-8"))
    assert found, running.log.read_text(encoding="utf-8")[-2000:]
    return found.group(1)


def test_a_fresh_install_prints_a_link_that_makes_the_first_admin_once(
    fresh_server: Server, screenshots: Path  # noqa: F811
) -> None:
    link = _link(fresh_server)
    assert link.startswith(fresh_server.url + "/setup?token=")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport=PHONE_SIZE, locale="zh-CN")
        watch = Watch(fresh_server.url)
        page.on("console", watch.console)

        # The sign-in page is no dead end: it says how the first admin is made.
        page.goto(fresh_server.url + "/signin")
        hint = page.locator(".first-run")
        expect(hint).to_contain_text("还没有管理员")
        expect(hint).to_contain_text("/setup?token=")
        expect(hint).to_contain_text("market admin create")
        snapshot(page, screenshots / "first-run-1-signin.png")

        # A wrong token opens nothing.
        page.goto(fresh_server.url + "/setup?token=guessed")
        expect(page.locator("[data-reason=setup_token_invalid]")).to_be_visible()
        expect(page.locator("form[action='/setup']")).to_have_count(0)

        # Every mistake at once, and what was typed stays.
        page.goto(link)
        page.get_by_label("社区名称").fill(" ")
        page.get_by_label("您的姓名").fill("王主任")
        page.get_by_label("您的手机号（用于登录）").fill("1234")
        page.get_by_label("密码（至少 8 位）").fill("short")
        page.get_by_role("button", name="创建管理员").click()
        errors = page.locator(".field-error")
        expect(errors).to_have_count(3)
        expect(page.locator("#community-error")).to_contain_text("社区名称")
        expect(page.locator("#phone-error")).to_contain_text("11 位手机号")
        expect(page.locator("#password-error")).to_contain_text("至少需要 8 位")
        expect(page.get_by_label("您的姓名")).to_have_value("王主任")
        snapshot(page, screenshots / "first-run-2-errors.png")

        page.get_by_label("社区名称").fill("幸福里社区")
        page.get_by_label("您的手机号（用于登录）").fill("13800000000")
        page.get_by_label("密码（至少 8 位）").fill("a-long-admin-password")
        page.get_by_role("button", name="创建管理员").click()
        page.wait_for_url(re.compile(r"/signin\?welcome=1$"))
        expect(page.locator(".done")).to_contain_text("第一个管理员已创建")
        expect(page.locator(".first-run")).to_have_count(0)
        snapshot(page, screenshots / "first-run-3-welcome.png")

        page.locator("#login").fill("13800000000")
        page.locator("#secret").fill("a-long-admin-password")
        page.locator("form[action='/signin'] button[type=submit]").click()
        page.wait_for_url(re.compile(r"/$"))
        page.goto(fresh_server.url + "/admin")
        expect(page.get_by_role("heading", level=1)).to_have_text("社区管理")

        # The link is dead now, for anyone.
        page.goto(link)
        expect(page.locator("[data-reason=setup_done]")).to_be_visible()
        browser.close()
        # The refusals above are pages with status 400/403/409, which Chromium reports as such.
        assert [e for e in watch.errors if not e.startswith("Failed to load resource")] == []

    # A second form sent with the right token is refused too, and makes nobody.
    with httpx.Client(base_url=fresh_server.url) as client:
        assert client.get(link).status_code == 409
        form = client.get("/signin")  # a form token of this browser, from a page that has a form
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token, form.text
        again = client.post("/setup", data={
            "csrf": token.group(1), "token": link.rsplit("=", 1)[1], "community": "别的社区",
            "name": "赵某", "phone": "13800000009", "password": "another-long-password"})
        assert again.status_code == 409 and 'data-reason="setup_done"' in again.text
        signed = client.post("/api/session", json={"login": "13800000009", "secret": "another-long-password"})
        assert signed.status_code == 401


def test_with_an_admin_serve_prints_no_link_and_signin_shows_no_hint(cli_server: Server) -> None:  # noqa: F811
    assert LINK.search(cli_server.log.read_text(encoding="utf-8")) is None
    page = httpx.get(cli_server.url + "/signin")
    assert page.status_code == 200 and "first-run" not in page.text


def test_the_token_is_the_installations_own() -> None:
    mine, other = first_run.setup_token("k" * 40), first_run.setup_token("j" * 40)
    assert mine != other and len(mine) == 22
    assert first_run.token_matches("k" * 40, mine)
    assert not first_run.token_matches("k" * 40, other)
    assert not first_run.token_matches("k" * 40, "")


def test_admin_create_prints_the_id_then_says_what_to_do_next(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/market.db",
           "MARKET_BASE_URL": "http://market.example"}
    done = subprocess.run(
        [*market_command(), "admin", "create", "--name", "王主任", "--phone", "13800000000",
         "--password", "a-long-admin-password", "--community", "幸福里社区"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
    )
    assert re.fullmatch(r"\d+\n", done.stdout), done.stdout  # scripts read the id alone
    assert "http://market.example/signin" in done.stderr and "13800000000" in done.stderr
    assert "/admin/import" in done.stderr and "/admin/cards" in done.stderr
