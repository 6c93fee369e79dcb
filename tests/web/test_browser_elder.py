"""长辈版 (senior mode) measured in a real browser: Debian's Chromium at phone size, driven by Playwright.

The staff set things up through the API (a household of two, 60.5 points, a deduction, goods,
an activity going on now, a reservation); the resident turns 长辈版 on with the control on the
sign-in page, signs in, and opens every resident page. On each, JavaScript over the computed
styles of the visible elements measures MIIT's 适老化 numbers (工信厅信管函〔2021〕67号): text at
least 18 px, line height at least 1.3, contrast at least 4.5:1 against the first opaque
background up the tree, headline figures at least 30 px, tap targets at least 60 × 60 px, and no
pop-up. Then the same pages in the standard mode: tap targets at least 44 × 44 px. A failure
lists every offending element. Screenshots of each page in Chinese, English and 长辈版 go to
``MARKET_SCREENSHOTS`` (``elder-<mode>-<page>.png``).
"""

import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

from tests.web.browser import DENSITY, snapshot, wait_until
from tests.web.test_browser import (  # noqa: F401  (fixtures)
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    CHROMIUM,
    PHONE_SIZE,
    Server,
    Watch,
    bearer,
    screenshots,
    server,
)

RESIDENT_PHONE, RESIDENT_PIN = "13700000011", "258041"
SPOUSE_PHONE, SPOUSE_PIN = "13700000012", "369152"
KEEPER_PHONE, KEEPER_PASSWORD = "13600000013", "a-long-shopkeeper-password"

#: What every visible element of a page must meet; the offenders, each with what it measured.
MEASURE = r"""
({minFont, minLine, minContrast, minTarget, minFigure}) => {
  const bad = [];
  const parse = (text) => {
    const m = text.match(/rgba?\(([^)]+)\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => {  // top (with alpha) composited on an opaque colour
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a));
  };
  const luminance = (c) => {
    const [r, g, b] = c.map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (element) => {  // the colour behind: backgrounds up the tree, composited
    const layers = [];
    for (let e = element; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) {
        layers.push(c);
        if (c[3] >= 1) break;
      }
    }
    let colour = [255, 255, 255];
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour;
  };
  const opacity = (element) => {
    let o = 1;
    for (let e = element; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
    return o;
  };
  const visible = (element) => {
    const style = getComputedStyle(element);
    if (style.visibility !== "visible" || style.display === "none") return false;
    const box = element.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) return false;  // .visually-hidden: for screen readers
    for (let e = element; e; e = e.parentElement) {
      if (getComputedStyle(e).clip === "rect(0px, 0px, 0px, 0px)") return false;
    }
    return true;
  };
  const name = (element) => {
    let text = element.tagName.toLowerCase();
    if (element.id) text += "#" + element.id;
    if (element.classList.length) text += "." + [...element.classList].join(".");
    const words = (element.innerText || element.value || element.getAttribute("aria-label") || "")
      .trim().replace(/\s+/g, " ").slice(0, 40);
    return text + (words ? ` "${words}"` : "");
  };

  // Text: every visible element with text of its own.
  for (const element of document.querySelectorAll("body *")) {
    if (["SCRIPT", "STYLE", "NOSCRIPT", "OPTION"].includes(element.tagName)) continue;
    const own = [...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const field = ["INPUT", "SELECT", "TEXTAREA", "BUTTON"].includes(element.tagName);
    if (!(own || field) || !visible(element)) continue;
    if (element.tagName === "INPUT" && ["radio", "checkbox", "hidden"].includes(element.type)) continue;
    const style = getComputedStyle(element);
    const size = parseFloat(style.fontSize);
    if (size < minFont) bad.push(`font ${size.toFixed(1)}px < ${minFont}: ${name(element)}`);
    // A <select> is one line that Chromium draws at line-height: normal whatever the page says.
    if (minLine && element.tagName !== "SELECT") {
      const line = style.lineHeight === "normal" ? 1.15 * size : parseFloat(style.lineHeight);
      if (line / size < minLine - 0.005) {
        bad.push(`line height ${(line / size).toFixed(2)} < ${minLine}: ${name(element)}`);
      }
    }
    if (minContrast) {
      const under = background(element);
      const colour = parse(style.color);
      colour[3] *= opacity(element);
      const ink = over(colour, under);
      const [a, b] = [luminance(ink), luminance(under)].sort((x, y) => y - x);
      const ratio = (a + 0.05) / (b + 0.05);
      if (ratio < minContrast) bad.push(`contrast ${ratio.toFixed(2)} < ${minContrast}: ${name(element)}`);
    }
  }

  // Headline figures: the balance, what can be spent, the amounts of a list.
  if (minFigure) {
    for (const element of document.querySelectorAll(".number, .figure, .entry .amount, #household-total")) {
      if (!visible(element)) continue;
      const size = parseFloat(getComputedStyle(element).fontSize);
      if (size < minFigure) bad.push(`figure ${size.toFixed(1)}px < ${minFigure}: ${name(element)}`);
    }
  }

  // Tap targets: links, buttons, fields; a radio button or checkbox by its label.
  const targets = new Set();
  for (const element of document.querySelectorAll("a[href], button, input, select, textarea, summary")) {
    if (element.tagName === "INPUT" && element.type === "hidden") continue;
    if (element.tagName === "INPUT" && ["radio", "checkbox"].includes(element.type)) {
      targets.add(element.closest("label") || element);
    } else {
      targets.add(element);
    }
  }
  for (const element of targets) {
    if (!visible(element)) continue;
    const box = element.getBoundingClientRect();
    if (box.width < minTarget - 0.5 || box.height < minTarget - 0.5) {
      const size = `${box.width.toFixed(0)}x${box.height.toFixed(0)}`;
      bad.push(`target ${size} < ${minTarget}x${minTarget}: ${name(element)}`);
    }
  }
  // A pop-up of the page's own (a modal <dialog>) is as much a pop-up as window.confirm.
  for (const dialog of document.querySelectorAll("dialog[open], [role=dialog], [aria-modal=true]")) {
    if (visible(dialog)) bad.push(`pop-up: ${name(dialog)}`);
  }
  return bad;
}
"""

ELDER = {"minFont": 18, "minLine": 1.3, "minContrast": 4.5, "minTarget": 60, "minFigure": 30}
STANDARD = {"minFont": 0, "minLine": 0, "minContrast": 0, "minTarget": 44, "minFigure": 0}


def set_up(base: str) -> dict:
    """Everything the resident's pages show, made through the API as the staff would."""
    made: dict = {}
    with bearer(base, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        compound = admin.post("/api/compounds", json={"name": "幸福里小区"})
        building = admin.post("/api/buildings", json={"compound_id": compound.json()["id"], "name": "3号楼"})
        home = admin.post("/api/households", json={"building_id": building.json()["id"], "unit": "1单元",
                                                   "room": "502"})
        assert home.status_code == 201, home.text
        people = {}
        for body in (
            {"name": "李阿姨", "phone": RESIDENT_PHONE, "roles": ["resident"], "pin": RESIDENT_PIN,
             "household_id": home.json()["id"]},
            {"name": "王大爷", "phone": SPOUSE_PHONE, "roles": ["resident"], "pin": SPOUSE_PIN,
             "household_id": home.json()["id"]},
            {"name": "钱店长", "phone": KEEPER_PHONE, "roles": ["shopkeeper"], "password": KEEPER_PASSWORD},
        ):
            response = admin.post("/api/people", json=body)
            assert response.status_code == 201, response.text
            people[body["phone"]] = response.json()["id"]
        resident = people[RESIDENT_PHONE]
        for amount in ("60", "0.50"):
            given = admin.post("/api/adjustments", json={"person_id": resident, "amount": amount,
                                                         "reason": "重阳节志愿服务"},
                               headers={"Idempotency-Key": secrets.token_hex(8)})
            assert given.status_code == 201, given.text
        taken = admin.post("/api/deductions", json={"person_id": resident, "amount": "2",
                                                    "reason": "垃圾未分类"},
                           headers={"Idempotency-Key": secrets.token_hex(8)})
        assert taken.status_code == 201, taken.text
        made["deduction"] = taken.json()["id"]
        saved = admin.put("/api/points/policy", json={"gifting": "household", "gift_cap_per_month": "20"})
        assert saved.status_code == 200, saved.text
        start = datetime.now(UTC) - timedelta(minutes=20)
        activity = admin.post("/api/activities", json={
            "title": "社区义诊志愿服务", "category": "volunteer_service", "location": "社区服务站",
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
            "points_per_checkin": "5", "points_per_hour": "10",
        })
        assert activity.status_code == 201, activity.text
        made["activity"] = activity.json()["id"]
    with bearer(base, KEEPER_PHONE, KEEPER_PASSWORD) as keeper:
        for body in (
            {"name": "金龙鱼花生油 1L", "price": "25", "stock": 6, "category": "粮油"},
            {"name": "洗洁精", "price": "8.50", "stock": 12, "category": "日用品"},
        ):
            product = keeper.post("/api/products", json=body)
            assert product.status_code == 201, product.text
            made.setdefault("products", []).append(product.json()["id"])
    with bearer(base, RESIDENT_PHONE, RESIDENT_PIN) as me:
        order = me.post("/api/orders", json={"items": [{"product_id": made["products"][1], "quantity": 1}]})
        assert order.status_code == 201, order.text
        made["order"] = order.json()["id"]
    return made


def checkin_url(base: str, activity_id: int) -> str:
    """The activity's check-in URL as its screen shows it now (the code rotates every 30 s)."""
    with bearer(base, ADMIN_PHONE, ADMIN_PASSWORD) as admin:
        code = admin.get(f"/api/activities/{activity_id}/code")
        assert code.status_code == 200, code.text
        return code.json()["url"]


def resident_pages(base: str, made: dict) -> list[tuple[str, str]]:
    return [
        ("home", "/"), ("statement", "/statement"), ("code", "/code"),
        ("code-longer", "/code?extended=1"), ("earn", "/earn"), ("household", "/household"),
        ("appeal", f"/appeal?deduction={made['deduction']}"), ("checkin", "checkin"),
        ("shop", "/shop"), ("product", f"/shop/{made['products'][1]}"), ("orders", "/orders"),
        ("cancel", f"/orders/{made['order']}/cancel"), ("activities", "/activities"),
        ("boards", "/boards"), ("certificate", "/certificate"),
    ]


def measure(page: Page, limits: dict) -> list[str]:
    return page.evaluate(MEASURE, limits)


def tour(page: Page, base: str, made: dict, mode: str, limits: dict, shots: Path) -> dict[str, list[str]]:
    """Every resident page: its offenders by page, and a screenshot of each."""
    found = {}
    for name, path in resident_pages(base, made):
        page.goto(checkin_url(base, made["activity"]) if path == "checkin" else base + path)
        expect(page.locator("h1")).to_be_visible()
        if bad := measure(page, limits):
            found[name] = bad
        snapshot(page, shots / f"elder-{mode}-{name}.png")
    return found


def report(found: dict[str, list[str]]) -> str:
    return "\n".join(f"{page}:\n  " + "\n  ".join(bad) for page, bad in found.items())


def test_senior_mode_meets_the_numbers_on_every_resident_page(server: Server, screenshots: Path) -> None:  # noqa: F811
    assert Path(CHROMIUM).exists(), "install Debian's Chromium: apt-get install -y chromium"
    made = set_up(server.url)
    base = server.url
    watch = Watch(base)
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(
            viewport=PHONE_SIZE, device_scale_factor=DENSITY, is_mobile=True, has_touch=True, locale="zh-CN",
        )
        page = context.new_page()
        page.on("console", watch.console)
        page.on("pageerror", lambda error: watch.errors.append(str(error)))
        # window.alert/confirm/prompt: noted (and dismissed); there must be none.
        page.on("dialog", lambda d: (dialogs.append(f"{d.type}: {d.message}"), d.dismiss()))
        context.on("request", watch.request)

        # 长辈版 from the sign-in page, before signing in: it must survive the sign-in.
        page.goto(base + "/")
        expect(page).to_have_url(re.compile(r"/signin\?next=/$"))
        switch = page.get_by_role("switch", name="长辈版")
        expect(switch).to_have_attribute("aria-checked", "false")
        assert measure(page, ELDER), "the standard mode should not meet 长辈版's numbers"
        switch.click()
        expect(page).to_have_url(re.compile(r"/signin\?next=/$"))
        expect(page.locator("html")).to_have_class(re.compile(r"\belder\b"))
        expect(page.get_by_role("switch", name="长辈版")).to_have_attribute("aria-checked", "true")
        assert not (bad := measure(page, ELDER)), "sign-in page:\n  " + "\n  ".join(bad)
        snapshot(page, screenshots / "elder-senior-signin.png")
        page.get_by_label("手机号或会员卡号").fill(RESIDENT_PHONE)
        page.get_by_label(re.compile("密码")).fill(RESIDENT_PIN)
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(base + "/")
        expect(page.locator("html")).to_have_class(re.compile(r"\belder\b"))
        # Whole points without ".00"; a fraction stays exact.
        expect(page.locator("#balance")).to_have_text("58.5")

        found = tour(page, base, made, "senior", ELDER, screenshots)
        assert not found, "长辈版 below MIIT's numbers:\n" + report(found)

        # 延长时间 on the member code page: one code for 5 minutes, no more offer until within 3.
        page.goto(base + "/code")
        expect(page.locator("#extend-box")).to_be_visible()
        ordinary = page.locator("#code-text").inner_text()
        page.get_by_role("link", name="延长时间").click()
        expect(page).to_have_url(re.compile(r"/code\?extended=1$"))
        expect(page.locator("#extended-note")).to_be_visible()
        expect(page.locator("#extend-box")).to_be_hidden()
        assert page.locator("#code-text").inner_text() != ordinary
        assert int(page.locator("#countdown").inner_text()) > 240
        wait_until(page, "document.getElementById('code-image').naturalWidth > 0")
        snapshot(page, screenshots / "elder-senior-code-extended.png")

        # The check-in and a reservation through the pages, in 长辈版: their answers too.
        page.goto(checkin_url(base, made["activity"]))
        page.locator("#checkin-button").click()
        expect(page.locator("#earned")).to_have_text("+5")
        assert not (bad := measure(page, ELDER)), "check-in answer:\n  " + "\n  ".join(bad)
        snapshot(page, screenshots / "elder-senior-checked-in.png")
        page.goto(f"{base}/shop/{made['products'][0]}")
        expect(page.locator("#price")).to_have_text("25 积分")
        page.locator("#reserve-button").click()
        expect(page.locator("#reserved")).to_be_visible()
        assert not (bad := measure(page, ELDER)), "reserved:\n  " + "\n  ".join(bad)

        # The same pages in the standard mode, Chinese and English: 44 × 44 tap targets.
        page.get_by_role("switch", name="长辈版").click()
        expect(page.locator("html")).not_to_have_class(re.compile(r"\belder\b"))
        found = tour(page, base, made, "zh", STANDARD, screenshots)
        assert not found, "the standard mode's tap targets below 44 × 44:\n" + report(found)
        page.get_by_role("link", name="English").click()
        found = tour(page, base, made, "en", STANDARD, screenshots)
        assert not found, "the standard mode's tap targets below 44 × 44 (English):\n" + report(found)
        # And 长辈版 in English ("Senior mode").
        page.get_by_role("switch", name="Senior mode").click()
        found = tour(page, base, made, "senior-en", ELDER, screenshots)
        assert not found, "Senior mode (English) below MIIT's numbers:\n" + report(found)

        context.close()
        browser.close()
    assert not dialogs, dialogs
    assert not watch.errors, watch.errors
    assert not watch.foreign, watch.foreign
    assert httpx.get(base + "/health").status_code == 200
