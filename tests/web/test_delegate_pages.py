"""The delegate's (代办) pages over HTTP: only a linked delegate gets them, a resent reservation form
reserves once, a bad quantity is refused and changes nothing, and the office page is the admin's."""

import re

from litestar import Litestar

from market.db import fetch
from tests.market.support import Enrol, Member, adjust
from tests.market.test_dashboards import _product
from tests.web.support import browser, csrf_of, sign_in


async def test_only_a_linked_delegate_gets_the_pages_and_a_resent_form_reserves_once(
    app: Litestar, enrol: Enrol, admin: Member, shopkeeper: Member
) -> None:
    elder = await enrol("resident", name="周奶奶")
    son = await enrol("resident", name="周小军")
    stranger = await enrol("resident", name="吴某")
    assert (await adjust(admin, elder.id, "40")).status_code == 201
    rice = await _product(shopkeeper, "挂面", "6", 9)
    linked = await admin.client.post(f"/api/people/{elder.id}/delegates", json={"delegate_id": son.id})
    assert linked.status_code == 201, linked.text

    async with browser(app) as other:
        await sign_in(other, stranger)
        assert (await other.get(f"/for/{elder.id}")).status_code == 403
        assert (await other.get(f"/admin/people/{elder.id}/delegates")).status_code == 403

    async with browser(app) as client:
        await sign_in(client, son)
        home = await client.get("/")
        assert f'href="/for/{elder.id}"' in home.text
        mine = await client.get(f"/for/{elder.id}")
        assert mine.status_code == 200 and "周奶奶" in mine.text
        shop = await client.get(f"/for/{elder.id}/shop")
        key = re.search(rf'name="key" value="([^"]+-{rice})"', shop.text)
        assert key, shop.text
        form = {"csrf": csrf_of(shop.text), "key": key.group(1), "product_id": str(rice)}

        bad = await client.post(f"/for/{elder.id}/orders", data={**form, "quantity": "0"})
        assert bad.status_code == 400 and 'role="alert"' in bad.text
        assert (await fetch("SELECT COUNT(*) AS n FROM shop_order WHERE person = {}", elder.id))[0]["n"] == 0

        for _ in range(2):  # a double tap: the same form twice
            done = await client.post(f"/for/{elder.id}/orders", data={**form, "quantity": "2"})
            assert done.status_code == 303
            assert done.headers["location"].startswith(f"/for/{elder.id}?reserved=")
        made = await fetch("SELECT acted_by, total FROM shop_order WHERE person = {}", elder.id)
        assert [(row["acted_by"], int(row["total"])) for row in made] == [(son.id, 1200)]
        assert (await elder.client.get("/api/me/balance")).json()["available"] == "28.00"

        forged = await client.post(f"/for/{elder.id}/orders",
                                   data={**form, "csrf": "x" * 30, "quantity": "1"})
        assert forged.status_code == 403
        assert len(await fetch("SELECT id FROM shop_order WHERE person = {}", elder.id)) == 1
