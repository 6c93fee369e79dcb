"""Delegates (代办, issue 16), on both engines: the office links a family member to an elder; the
delegate sees the elder's points, shows the elder's member code and reserves goods for them, each
recorded with both; never gives the elder's points away; links end; strangers get nothing.
"""

import secrets

from market.db import fetch
from tests.market.support import Enrol, Member, adjust
from tests.market.test_dashboards import _product

ACT = "X-Acting-For"


async def _link(admin: Member, elder: Member, delegate: Member):
    return await admin.client.post(f"/api/people/{elder.id}/delegates", json={"delegate_id": delegate.id})


async def test_a_delegate_sees_the_elders_points_shows_the_code_and_reserves_for_them(
    enrol: Enrol, admin: Member, shopkeeper: Member
) -> None:
    elder = await enrol("resident", name="王奶奶")
    son = await enrol("resident", name="王小明")
    assert (await adjust(admin, elder.id, "30")).status_code == 201
    assert (await adjust(admin, son.id, "15")).status_code == 201

    # Before the office links them, acting is refused and shows nothing of the elder.
    refused = await son.client.get("/api/me/balance", headers={ACT: str(elder.id)})
    assert refused.status_code == 403 and refused.json()["reason"] == "not_your_elder"

    linked = await _link(admin, elder, son)
    assert linked.status_code == 201, linked.text
    assert linked.json()["elder_id"] == elder.id and linked.json()["delegate_id"] == son.id
    again = await _link(admin, elder, son)
    assert again.status_code == 409 and again.json()["reason"] == "delegate_exists"
    mine = await son.client.get("/api/me/delegations")
    assert [item["elder_id"] for item in mine.json()["items"]] == [elder.id]

    # The elder's points, not the son's; without the header, the son's own.
    for_elder = await son.client.get("/api/me/balance", headers={ACT: str(elder.id)})
    assert for_elder.status_code == 200 and for_elder.json()["balance"] == "30.00"
    assert (await son.client.get("/api/me/balance")).json()["balance"] == "15.00"
    entries = await son.client.get("/api/me/entries", headers={ACT: str(elder.id)})
    assert [e["amount"] for e in entries.json()["items"]] == ["30.00"]

    # The elder's member code: the counter takes the elder's points; the showing is audited.
    code = await son.client.get("/api/me/code", headers={ACT: str(elder.id)})
    assert code.status_code == 200
    product = await _product(shopkeeper, "大米", "10", 5)
    redeemed = await shopkeeper.client.post(
        "/api/redemptions", headers={"Idempotency-Key": secrets.token_hex(8)},
        json={"member_code": code.json()["code"], "items": [{"product_id": product, "quantity": 1}]},
    )
    assert redeemed.status_code == 201, redeemed.text
    assert redeemed.json()["person"]["id"] == elder.id
    shown = await fetch("SELECT actor, subject FROM audit_log WHERE action = 'member_code_shown_for'"
                        " AND actor = {}", son.id)
    assert [(row["actor"], row["subject"]) for row in shown] == [(son.id, f"person:{elder.id}")]

    # A reservation for the elder: the elder's points held, the son named as who acted.
    order = await son.client.post("/api/orders", headers={ACT: str(elder.id)},
                                  json={"items": [{"product_id": product, "quantity": 1}]})
    assert order.status_code == 201, order.text
    assert order.json()["person_id"] == elder.id and order.json()["acted_by"] == son.id
    assert (await elder.client.get("/api/me/balance")).json()["available"] == "10.00"
    # The elder's own statement says who reserved for them; their own entries name nobody.
    statement = (await elder.client.get("/api/me/entries")).json()["items"]
    assert [(e["kind"], e["phase"], e["acted_by"]) for e in statement][:2] == [
        ("order", "pending", "王小明"), ("redemption", "single", None)]
    own = await son.client.post("/api/orders", json={"items": [{"product_id": product, "quantity": 1}]})
    assert own.status_code == 201 and own.json()["person_id"] == son.id and own.json()["acted_by"] is None
    listed = await elder.client.get("/api/orders")
    assert [(o["id"], o["acted_by"]) for o in listed.json()["items"]] == [(order.json()["id"], son.id)]
    cancelled = await son.client.post(f"/api/orders/{order.json()['id']}/cancel",
                                      headers={ACT: str(elder.id)})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


async def test_a_delegate_never_gives_the_elders_points_away(enrol: Enrol, admin: Member) -> None:
    elder = await enrol("resident", name="赵爷爷")
    son = await enrol("resident", name="赵小军")
    assert (await adjust(admin, elder.id, "20")).status_code == 201
    assert (await _link(admin, elder, son)).status_code == 201
    before = await fetch("SELECT COUNT(*) AS n FROM audit_log")
    for method, path, body in (
        ("POST", "/api/gifts", {"to_person_id": son.id, "amount": "5"}),
        ("PUT", "/api/me/pin", {"current": "000000", "pin": "135790"}),
        ("GET", "/api/me/export", None),
    ):
        answer = await son.client.request(method, path, json=body, headers={
            ACT: str(elder.id), "Idempotency-Key": secrets.token_hex(8)})
        assert answer.status_code == 403 and answer.json()["reason"] == "not_delegable", (path, answer.text)
    assert (await elder.client.get("/api/me/balance")).json()["balance"] == "20.00"
    assert (await fetch("SELECT COUNT(*) AS n FROM audit_log"))[0]["n"] == before[0]["n"]


async def test_links_are_the_offices_to_make_and_end(enrol: Enrol, admin: Member, organizer: Member) -> None:
    elder = await enrol("resident", name="钱奶奶")
    daughter = await enrol("resident", name="钱小红")
    stranger = await enrol("resident", name="孙某")
    assert (await organizer.client.post(f"/api/people/{elder.id}/delegates",
                                        json={"delegate_id": daughter.id})).status_code == 403
    assert (await daughter.client.post(f"/api/people/{elder.id}/delegates",
                                       json={"delegate_id": daughter.id})).status_code == 403
    self_link = await _link(admin, elder, elder)
    assert self_link.status_code == 400 and self_link.json()["reason"] == "delegate_self"
    staff = await _link(admin, elder, organizer)  # an organizer holding no resident role
    assert staff.status_code == 400 and staff.json()["reason"] == "delegate_not_resident"
    missing = await admin.client.post(f"/api/people/{elder.id}/delegates", json={"delegate_id": 2**31 - 1})
    assert missing.status_code == 404

    link = (await _link(admin, elder, daughter)).json()
    listed = await admin.client.get(f"/api/people/{elder.id}/delegates")
    assert [item["delegate_id"] for item in listed.json()["items"]] == [daughter.id]
    assert (await stranger.client.get("/api/me/balance", headers={ACT: str(elder.id)})).status_code == 403
    bad = await daughter.client.get("/api/me/balance", headers={ACT: "abc"})
    assert bad.status_code == 400

    ended = await admin.client.post(f"/api/people/{elder.id}/delegates/{link['id']}/end")
    assert ended.status_code == 200 and ended.json()["ended_at"] is not None
    assert (await admin.client.post(f"/api/people/{elder.id}/delegates/{link['id']}/end")).status_code == 404
    after = await daughter.client.get("/api/me/balance", headers={ACT: str(elder.id)})
    assert after.status_code == 403 and after.json()["reason"] == "not_your_elder"
    assert (await daughter.client.get("/api/me/delegations")).json()["items"] == []
    assert (await _link(admin, elder, daughter)).status_code == 201  # linked again later: a new link
    actions = await fetch("SELECT action FROM audit_log WHERE subject = {} ORDER BY id", f"person:{elder.id}")
    assert [row["action"] for row in actions] == ["delegate_linked", "delegate_ended", "delegate_linked"]
