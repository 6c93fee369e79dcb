"""The admin's pages in a real browser: Debian's Chromium at phone size, driven by Playwright.

A real ``market serve`` on a fresh database (``tests.web.browser``: SQLite, or PostgreSQL).
The admin signs in and sets the community up through the pages only: structure, a roster
imported through the upload form (a bad file first, then a clean one), people and roles,
the card sheet printed to an A4 PDF, a point adjustment, the shop's rules. In Chinese,
then in English with 长辈版 (senior mode). Screenshots of every page go to
``MARKET_SCREENSHOTS`` (``admin-<lang>-<n>-<page>.png``), with the card sheet's A4 PDF.
"""

import re
from decimal import Decimal
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.web.browser import (  # noqa: F401  (fixtures)
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    CHROMIUM,
    DENSITY,
    PHONE_SIZE,
    Server,
    Watch,
    screenshots,
    server,
    snapshot,
    snapshots,
    wait_until,
)

A4_AT_96_DPI = {"width": 794, "height": 1123}
HEADER = "姓名,手机号,小区,楼栋,单元,房号,网格,志愿服务队\n"
GOOD = HEADER + (
    "王大爷,13700000011,幸福里,1号楼,1单元,101,第一网格,银发志愿队\n"
    "李阿姨,13700000012,幸福里,1号楼,1单元,102,第一网格,\n"
    "赵奶奶,13700000013,幸福里,2号楼,,201,第二网格,银发志愿队\n"
)
BAD = HEADER + "王大爷,13700000011,幸福里,1号楼,1单元,101,第一网格,\n,13700000014,,,,,,\n孙叔叔,1234,,,,,,\n"


def admin_story(page: Page, base: str, lang: str, shots: Path, tmp: Path) -> None:
    """Every admin page, its forms used once; a screenshot of each."""
    en = lang == "en"
    count = iter(range(1, 100))

    def shot(name: str) -> None:
        page.screenshot(path=shots / f"admin-{lang}-{next(count):02d}-{name}.png", full_page=True)

    def t(zh: str, english: str) -> str:
        return english if en else zh

    page.goto(base + "/admin")
    expect(page.get_by_role("heading", level=1)).to_have_text(t("社区管理", "Community administration"))
    expect(page.locator("#ledger-status")).to_have_attribute("data-ok", "true")
    shot("dashboard")

    # The structure: a compound with a building, a grid, a team, a household.
    page.get_by_role("link", name=t("社区结构", "Community structure")).click()
    compound, grid = t("幸福里", "Harmony Court"), t("第三网格", "Grid 3")
    team = t("巾帼志愿队", "Women's team")
    page.get_by_text(t("添加小区", "Add a compound"), exact=True).click()
    page.get_by_label(t("小区名称", "Name of the compound (小区)")).fill(compound)
    page.get_by_role("button", name=t("添加这个小区", "Add the compound")).click()
    expect(page.get_by_role("status")).to_be_visible()
    page.get_by_text(t("添加楼栋", "Add a building"), exact=True).click()
    page.get_by_label(t("楼栋名称", "Name of the building (楼栋)")).fill(t("9号楼", "Block 9"))
    page.get_by_role("button", name=t("添加这个楼栋", "Add the building")).click()
    for adder, label, name, button in (
        (t("添加网格", "Add a grid"), t("网格名称", "Name of the grid (网格)"), grid,
         t("添加这个网格", "Add the grid")),
        (t("添加志愿服务队", "Add a volunteer team"), t("服务队名称", "Name of the team (志愿服务队)"), team,
         t("添加这个服务队", "Add the team")),
    ):
        page.get_by_text(adder, exact=True).click()
        page.get_by_label(label).fill(name)
        page.get_by_role("button", name=button).click()
        expect(page.locator(".records").get_by_text(name)).to_be_visible()
    # A name already used: said on the page, what was typed kept.
    page.get_by_text(t("添加网格", "Add a grid"), exact=True).click()
    page.get_by_label(t("网格名称", "Name of the grid (网格)")).fill(grid)
    page.get_by_role("button", name=t("添加这个网格", "Add the grid")).click()
    expect(page.locator("#grid-problem")).to_have_text(t("该名称已被使用", "That name is already in use"))
    expect(page.get_by_label(t("网格名称", "Name of the grid (网格)"))).to_have_value(grid)
    shot("structure")

    # The roster: a bad file lists every bad row; nothing is imported until it is clean.
    page.goto(base + "/admin/import")
    shot("import")
    (tmp / "bad.csv").write_text(BAD, encoding="utf-8")
    page.get_by_label(re.compile(t("台账文件", "Roster file"))).set_input_files(tmp / "bad.csv")
    page.get_by_role("button", name=t("检查文件", "Check the file")).click()
    expect(page.locator(".bad-rows tbody tr")).to_have_count(2)
    expect(page.locator(".bad-rows")).to_contain_text(t("姓名不能为空", "The name is missing"))
    shot("import-bad-rows")
    if not en:
        (tmp / "good.csv").write_text(GOOD, encoding="gb18030")
        page.get_by_label(re.compile("台账文件")).set_input_files(tmp / "good.csv")
        page.get_by_role("button", name="检查文件").click()
        expect(page.locator("#will-create")).to_have_text("3")
        shot("import-checked")
        page.get_by_role("button", name="现在导入这 3 行").click()
        expect(page.locator("#imported")).to_contain_text("新增 3 人")
        shot("import-done")

    # People: the list, a search, one person with their card, the enrolment form.
    page.goto(base + "/admin/people")
    # The admin and the three imported (and, the second time, the person enrolled the first).
    expect(page.locator(".people li")).to_have_count(5 if en else 4)
    shot("people")
    page.get_by_label(t("按姓名、手机号或卡号查找", "Search by name, phone or card number")).fill("李阿姨")
    page.get_by_role("button", name=t("查找", "Search"), exact=True).click()
    page.get_by_role("link", name=re.compile("李阿姨")).click()
    expect(page.locator("#phone")).to_have_text("137****0012")
    wait_until(page, "document.querySelector('.member-card img')?.naturalWidth > 0")
    shot("person")
    # Roles: a resident cannot become staff without a password; the page says so.
    page.get_by_label(t("组织者", "Organizer")).check()
    page.get_by_role("button", name=t("保存角色", "Save the roles")).click()
    expect(page.locator("#roles-problem")).to_have_text(
        t("工作人员账号需要设置密码", "Staff accounts need a password"))
    expect(page.get_by_label(t("组织者", "Organizer"))).to_be_checked()
    wait_until(page, "document.querySelector('.member-card img')?.naturalWidth > 0")
    shot("person-roles-refused")
    page.goto(base + "/admin/people/new")
    page.get_by_label(t("姓名", "Name"), exact=True).fill(t("周师傅", "Mr Zhou"))
    page.get_by_label(t("手机号", "Mobile phone number"), exact=True).fill(f"137 0000 00{21 if en else 20}")
    page.get_by_label(t("居民", "Resident"), exact=True).check()  # no role comes ticked (issue 16)
    page.get_by_label(t("6 位数字密码（居民）", "6-digit PIN (residents)")).fill("123456")
    page.get_by_role("button", name=t("登记", "Enrol"), exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text(t("太容易被猜到", "too easy to guess"))
    expect(page.get_by_label(t("姓名", "Name"), exact=True)).to_have_value(t("周师傅", "Mr Zhou"))
    shot("person-new-refused")
    expect(page.get_by_label(t("6 位数字密码（居民）", "6-digit PIN (residents)"))).to_have_value("123456")
    page.get_by_label(t("6 位数字密码（居民）", "6-digit PIN (residents)")).fill("730418")
    page.get_by_role("button", name=t("登记", "Enrol"), exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(t("登记成功", "Enrolled"))

    # The card sheet, printed: an A4 PDF and a print-media picture of the first page.
    page.goto(base + "/admin/cards")
    expect(page.locator(".printed-card")).to_have_count(4 if not en else 5)
    wait_until(page, "[...document.querySelectorAll('.printed-card')].every(i => i.naturalWidth > 0)")
    expect(page.get_by_role("button", name=t("打印", "Print"), exact=True)).to_be_visible()
    shot("cards")
    pdf = page.pdf(path=shots / f"admin-{lang}-cards.pdf", format="A4", print_background=True,
                   prefer_css_page_size=True)
    assert pdf.startswith(b"%PDF") and re.search(rb"/MediaBox \[0 0 59[45]\.?\d* 84[12]\.?\d*\]", pdf)
    assert len(re.findall(rb"/Type /Page[^s]", pdf)) == 1  # ten cards to an A4 page
    page.set_viewport_size(A4_AT_96_DPI)
    page.emulate_media(media="print")
    snapshot(page, shots / f"admin-{lang}-cards-print.png", full_page=False)
    page.emulate_media(media="no-override")
    page.set_viewport_size(PHONE_SIZE)
    page.get_by_label(t("打印谁的卡", "Whose cards")).select_option(label="第一网格")
    page.get_by_role("button", name=t("显示会员卡", "Show the cards")).click()
    expect(page.locator(".printed-card")).to_have_count(2)

    # An adjustment: found by name, refused once (input kept), then made once.
    page.goto(base + "/admin/adjustments")
    page.get_by_label(re.compile(t("调整谁的积分", "Whose points"))).fill("王大爷")
    page.get_by_role("button", name=t("查找", "Find")).click()
    page.get_by_role("link", name=re.compile("王大爷")).click()
    before = page.locator("#balance").inner_text()
    page.get_by_label(re.compile(t("积分数", "Points \\("))).fill("-500")
    page.get_by_label(re.compile(t("原因", "Reason"))).fill(t("更正", "Correction"))
    page.get_by_role("button", name=t("调整积分", "Adjust the points")).click()
    expect(page.locator("#problem")).to_have_text(t("积分不足", "Not enough points"))
    expect(page.get_by_label(re.compile(t("原因", "Reason")))).to_have_value(t("更正", "Correction"))
    shot("adjust-refused")
    page.get_by_label(re.compile(t("积分数", "Points \\("))).fill("12.50")
    page.get_by_label(re.compile(t("原因", "Reason"))).fill(t("帮助邻居", "Helping a neighbour"))
    page.get_by_role("button", name=t("调整积分", "Adjust the points")).click()
    expect(page.locator("#adjusted")).to_contain_text("+12.50")
    expect(page.locator("#balance")).to_have_text(str(Decimal(before) + Decimal("12.50")))
    shot("adjusted")

    # The shop's rules.
    page.goto(base + "/admin/shop-rules")
    for day in range(1, 8):
        page.locator(f"#day-{day}").set_checked(day in (2, 4, 6))
    page.get_by_label(t("开门时间", "Opens at")).fill("08:30")
    page.get_by_label(t("关门时间", "Closes at")).fill("11:30")
    page.get_by_label(re.compile(t("累计获得多少积分", "Points a resident must have earned"))).fill("10")
    page.get_by_role("button", name=t("保存规则", "Save the rules")).click()
    expect(page.get_by_role("status")).to_have_text(t("规则已保存。", "The rules are saved."))
    expect(page.get_by_label(t("开门时间", "Opens at"))).to_have_value("08:30")
    shot("shop-rules")

    page.goto(base + "/admin?verify=now")
    expect(page.locator("#ledger-status")).to_have_attribute("data-ok", "true")
    expect(page.locator("#outstanding")).not_to_have_text("0.00")
    shot("dashboard-after")


def test_admin_pages_in_chromium(server: Server, screenshots: Path, tmp_path: Path) -> None:  # noqa: F811
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    watch = Watch(server.url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(
            viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True, has_touch=True, locale="zh-CN",
        )
        page = context.new_page()
        page.on("console", watch.console)
        page.on("pageerror", lambda error: watch.errors.append(str(error)))
        context.on("request", watch.request)

        page.goto(server.url + "/admin")
        expect(page).to_have_url(re.compile(r"/signin\?next=/admin$"))
        page.get_by_label("手机号或会员卡号").fill(ADMIN_PHONE)
        page.get_by_label(re.compile("密码")).fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="登录").click()
        admin_story(page, server.url, "zh", screenshots, tmp_path)
        expect(page.locator("html")).not_to_have_class("large")

        page.get_by_role("link", name="English").click()
        page.get_by_role("switch", name="Senior mode").click()
        expect(page.locator("html")).to_have_class(re.compile(r"\belder\b"))  # 长辈版 (once "larger text")
        assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 22
        admin_story(page, server.url, "en", screenshots, tmp_path)

        context.close()
        browser.close()
    # A refused form answers 400/409 with the page that says why, and Chromium logs each such
    # answer as a failed load: exactly the four refusals of each language, nothing else.
    failed_load = re.compile(r"Failed to load resource: .* status of 4(00|09) .*")
    refused = [error for error in watch.errors if failed_load.fullmatch(error)]
    assert len(refused) == 8, watch.errors
    assert not set(watch.errors) - set(refused), watch.errors
    assert not watch.foreign, watch.foreign
    assert len(snapshots(screenshots, "admin-*.png")) >= 30
