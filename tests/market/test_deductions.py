"""Deductions, redemption suspensions and appeals (issue 15), on both engines.

The rule under test (``market.points.deductions``): a deduction takes what the wallet has
available (balance less held), never more; the rest is recorded as ``not_taken`` and not carried.
A suspension refuses the counter and reservations until its last day or until it is lifted; an
upheld appeal reverses the deduction with a linked ledger entry and lifts its suspension.
"""

import asyncio
import secrets
from datetime import date, datetime, timedelta

import httpx

from ledger import Ledger
from market import clock
from market.community import service as communities
from market.community.service import CommunityView
from market.db import fetch
from market.points.policy import CHINA
from tests.market.support import Enrol, Member, balance
from tests.market.test_orders import reserve
from tests.market.test_redemptions import code_of, product, redeem


async def deduct(member: Member, key: str | None = None, **body: object) -> httpx.Response:
    return await member.client.post(
        "/api/deductions", json=body, headers={"Idempotency-Key": key or secrets.token_hex(8)},
    )


async def new_rule(admin: Member, name: str, amount: str, suspension: object = "none") -> dict:
    response = await admin.client.post("/api/points/deduction-rules",
                                       json={"name": name, "amount": amount, "suspension": suspension})
    assert response.status_code == 201, response.text
    return response.json()


async def funded(ledger: Ledger, person: Member, amount: str) -> None:
    """Points straight from the community's issuance account (no lot: they never expire)."""
    community_id = await _community_of(person)
    issuance = await ledger.account_id(community_id, "issuance")
    wallet = await ledger.account_id(community_id, "wallet", str(person.id))
    await ledger.transfer(f"test-fund:{secrets.token_hex(8)}", issuance, wallet, amount, "adjustment",
                          memo="测试", ledger=community_id)


async def verified(admin: Member) -> None:
    check = (await admin.client.get("/api/ledger/verify")).json()
    assert check["ok"] and check["total"] == "0.00", check


async def audit_actions(community_id: int) -> list[str]:
    rows = await fetch("SELECT action FROM audit_log WHERE community = {} ORDER BY id", community_id)
    return [row["action"] for row in rows]


def china_today() -> date:
    return clock.now().astimezone(CHINA).date()


async def test_the_rules_catalogue_is_checked_and_archived_rules_cannot_be_applied(
    admin: Member, resident: Member, enrol: Enrol, ledger: Ledger,
) -> None:
    rule = await new_rule(admin, " 乱堆乱放 ", "2", "this_and_next_year")
    assert (rule["name"], rule["amount"], rule["suspension"], rule["archived"]) == (
        "乱堆乱放", "2.00", "this_and_next_year", False)
    months = await new_rule(admin, "高空抛物", "10.50", {"months": 6})
    assert months["suspension"] == {"months": 6}

    for body, reason in [
        ({"name": "", "amount": "1"}, "invalid_rule_name"),
        ({"name": "长" * 51, "amount": "1"}, "invalid_rule_name"),
        ({"name": "零分", "amount": "0"}, "invalid_deduction_amount"),
        ({"name": "负分", "amount": "-2"}, "invalid_deduction_amount"),
        ({"name": "太多", "amount": "1000000.01"}, "invalid_deduction_amount"),
        ({"name": "暂停", "amount": "1", "suspension": {"months": 0}}, "invalid_suspension"),
        ({"name": "暂停", "amount": "1", "suspension": {"months": 61}}, "invalid_suspension"),
        ({"name": "乱堆乱放", "amount": "1"}, "name_taken"),
    ]:
        refused = await admin.client.post("/api/points/deduction-rules", json=body)
        assert (refused.status_code, refused.json()["reason"]) == (400, reason), (body, refused.text)
    bad = await admin.client.post("/api/points/deduction-rules",
                                  json={"name": "x", "amount": "1.001"})
    assert bad.status_code == 400
    unknown = await admin.client.post("/api/points/deduction-rules",
                                      json={"name": "x", "amount": "1", "suspension": "forever"})
    assert unknown.status_code == 400
    listed = (await admin.client.get("/api/points/deduction-rules")).json()["items"]
    assert [r["name"] for r in listed] == ["乱堆乱放", "高空抛物"]

    archived = await admin.client.put(f"/api/points/deduction-rules/{rule['id']}", json={
        "name": "乱堆乱放", "amount": "3", "suspension": "none", "archived": True})
    assert archived.status_code == 200, archived.text
    assert (archived.json()["archived"], archived.json()["amount"]) == (True, "3.00")
    active = (await admin.client.get("/api/points/deduction-rules", params={"archived": "false"})).json()
    assert [r["name"] for r in active["items"]] == ["高空抛物"]
    await funded(ledger, resident, "5")
    refused = await deduct(admin, person_id=resident.id, rule_id=rule["id"])
    assert (refused.status_code, refused.json()["reason"]) == (409, "archived")
    assert await balance(resident) == "5.00"

    # Another community's admin sees none of it.
    stranger = await enrol("admin", community_id=(await _other_community(ledger)))
    assert (await stranger.client.put(f"/api/points/deduction-rules/{rule['id']}", json={
        "name": "y", "amount": "1"})).status_code == 404
    assert (await stranger.client.get("/api/points/deduction-rules")).json()["items"] == []
    assert "deduction_rule_created" in await audit_actions(await _community_of(admin))


async def _community_of(member: Member) -> int:
    (row,) = await fetch("SELECT community FROM person WHERE id = {}", member.id)
    return row["community"]


async def _other_community(ledger: Ledger) -> int:
    return (await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(6)}")).id


async def test_a_deduction_by_rule_and_by_amount_replayed_and_refused(
    admin: Member, organizer: Member, resident: Member, community: CommunityView, enrol: Enrol,
    ledger: Ledger,
) -> None:
    await funded(ledger, resident, "10")
    rule = await new_rule(admin, "乱堆乱放", "2", "this_and_next_year")
    key = secrets.token_hex(8)
    first = await deduct(organizer, key, person_id=resident.id, rule_id=rule["id"], reason="3号楼楼道")
    assert first.status_code == 201, first.text
    made = first.json()
    assert (made["amount"], made["taken"], made["not_taken"], made["balance_after"]) == (
        "2.00", "2.00", "0.00", "8.00")
    assert made["reason"] == "乱堆乱放：3号楼楼道"
    today = china_today()
    assert made["suspension"]["until"] == date(today.year + 1, 12, 31).isoformat()
    assert made["suspension"]["active"] is True

    again = await deduct(organizer, key, person_id=resident.id, rule_id=rule["id"], reason="3号楼楼道")
    assert (again.status_code, again.json()["id"]) == (201, made["id"])
    other_body = await deduct(organizer, key, person_id=resident.id, amount="1", reason="别的")
    assert (other_body.status_code, other_body.json()["reason"]) == (422, "id_conflict")
    assert await balance(resident) == "8.00"

    by_amount = await deduct(admin, person_id=resident.id, amount="3.25", reason="损坏公物")
    assert by_amount.status_code == 201, by_amount.text
    assert (by_amount.json()["taken"], by_amount.json()["suspension"]) == ("3.25", None)
    assert await balance(resident) == "4.75"

    for body, status, reason in [
        ({"person_id": resident.id}, 400, "rule_or_amount"),
        ({"person_id": resident.id, "rule_id": rule["id"], "amount": "1"}, 400, "rule_or_amount"),
        ({"person_id": resident.id, "amount": "1"}, 400, "invalid_deduction_reason"),
        ({"person_id": resident.id, "amount": "0", "reason": "x"}, 400, "invalid_deduction_amount"),
        ({"person_id": resident.id, "amount": "1", "reason": "x",
          "suspend_until": (today - timedelta(days=1)).isoformat()}, 400, "invalid_suspend_until"),
        ({"person_id": resident.id, "rule_id": 2**31 - 1}, 404, "not_found"),
    ]:
        refused = await deduct(admin, **body)
        assert (refused.status_code, refused.json()["reason"]) == (status, reason), (body, refused.text)
    no_key = await admin.client.post("/api/deductions",
                                     json={"person_id": resident.id, "amount": "1", "reason": "x"})
    assert (no_key.status_code, no_key.json()["reason"]) == (400, "idempotency_key_required")
    shopkeeper = await enrol("shopkeeper")
    assert (await deduct(shopkeeper, person_id=resident.id, amount="1", reason="x")).status_code == 403
    outsider = await enrol("resident", community_id=await _other_community(ledger))
    assert (await deduct(admin, person_id=outsider.id, amount="1", reason="x")).status_code == 404
    assert await balance(resident) == "4.75"

    entries = (await resident.client.get("/api/me/entries")).json()["items"]
    assert [(e["kind"], e["amount"]) for e in entries[:2]] == [("deduction", "-3.25"), ("deduction", "-2.00")]
    assert entries[1]["id"] == made["transfer_id"]
    listed = (await admin.client.get("/api/deductions", params={"person_id": resident.id})).json()["items"]
    assert [d["taken"] for d in listed] == ["3.25", "2.00"]
    assert (await audit_actions(community.id)).count("deduction") == 2
    await verified(admin)


async def test_a_deduction_takes_only_what_is_available_and_records_the_rest(
    admin: Member, resident: Member, shopkeeper: Member,
    ledger: Ledger,
) -> None:
    await funded(ledger, resident, "5")
    rice = await product(shopkeeper, price="2.00")
    assert (await reserve(resident, [(rice, 1)])).status_code == 201  # 2.00 held

    partial = await deduct(admin, person_id=resident.id, amount="10", reason="严重违规")
    assert partial.status_code == 201, partial.text
    shown = partial.json()
    assert (shown["taken"], shown["not_taken"], shown["balance_after"]) == ("3.00", "7.00", "2.00")
    wallet = (await resident.client.get("/api/me/balance")).json()
    assert (wallet["balance"], wallet["held"], wallet["available"]) == ("2.00", "2.00", "0.00")

    nothing = await deduct(admin, person_id=resident.id, amount="1", reason="再次违规",
                           suspend_until=(china_today() + timedelta(days=30)).isoformat())
    assert nothing.status_code == 201, nothing.text
    assert (nothing.json()["taken"], nothing.json()["not_taken"], nothing.json()["transfer_id"]) == (
        "0.00", "1.00", None)
    assert nothing.json()["suspension"]["active"] is True  # no points to take, still suspended
    state = (await resident.client.get("/api/me/suspension")).json()
    assert state["suspension"]["deduction_id"] == nothing.json()["id"]  # appealed by its id
    assert await balance(resident) == "2.00"
    await verified(admin)


async def test_parallel_deductions_and_a_redemption_never_overdraw(
    admin: Member, organizer: Member, resident: Member, shopkeeper: Member,
    ledger: Ledger,
) -> None:
    await funded(ledger, resident, "10")
    soap = await product(shopkeeper, price="4.00")
    code = await code_of(resident)
    answers = await asyncio.gather(
        *(deduct(admin if n % 2 else organizer, person_id=resident.id, amount="3", reason=f"第{n}次")
          for n in range(5)),
        redeem(shopkeeper, code, [(soap, 1)]),
    )
    *deductions, sale = answers
    assert all(d.status_code == 201 for d in deductions), [d.text for d in deductions]
    taken = sum(int(d.json()["taken"].replace(".", "")) for d in deductions)
    assert all(d.json()["not_taken"] != "3.00" or d.json()["taken"] == "0.00" for d in deductions)
    sold = 400 if sale.status_code == 201 else 0
    assert sale.status_code in (201, 409), sale.text
    assert taken + sold <= 1000
    # Everything available was taken by someone: the wallet is never below zero, and never
    # left with points while a deduction recorded some as not taken.
    left = int((await balance(resident)).replace(".", ""))
    assert left == 1000 - taken - sold >= 0
    assert left == 0 or all(d.json()["not_taken"] == "0.00" for d in deductions)
    await verified(admin)


async def test_a_suspension_refuses_the_counter_and_reservations_until_it_ends_or_is_lifted(
    monkeypatch, admin: Member, resident: Member, shopkeeper: Member,
    ledger: Ledger,
) -> None:
    await funded(ledger, resident, "20")
    soap = await product(shopkeeper, price="2.00", stock_count=5)
    until = china_today() + timedelta(days=7)
    made = await deduct(admin, person_id=resident.id, amount="1", reason="乱堆乱放",
                        suspend_until=until.isoformat())
    assert made.status_code == 201, made.text
    state = (await resident.client.get("/api/me/suspension")).json()
    assert state["suspended"] and state["suspension"]["until"] == until.isoformat()
    assert state["suspension"]["reason"] == "乱堆乱放"

    at_counter = await redeem(shopkeeper, await code_of(resident), [(soap, 1)])
    assert (at_counter.status_code, at_counter.json()["reason"]) == (409, "redemption_suspended")
    assert at_counter.json()["until"] == until.isoformat()
    english = await shopkeeper.client.post(
        "/api/redemptions", json={"member_code": await code_of(resident),
                                  "items": [{"product_id": soap, "quantity": 1}]},
        headers={"Idempotency-Key": secrets.token_hex(8), "Accept-Language": "en"})
    assert until.isoformat() in english.json()["detail"] and "redeem" in english.json()["detail"]
    online = await reserve(resident, [(soap, 1)])
    assert (online.status_code, online.json()["reason"]) == (409, "redemption_suspended")
    assert await balance(resident) == "19.00"
    assert (await shopkeeper.client.get(f"/api/products/{soap}")).json()["stock"] == 5

    # The day after its last day, the resident may redeem again.
    later = datetime.combine(until + timedelta(days=1), datetime.min.time(), CHINA) + timedelta(hours=9)
    monkeypatch.setattr(clock, "clock", lambda: later)
    free = (await resident.client.get("/api/me/suspension")).json()
    assert free == {"suspended": False, "suspension": None}
    assert (await redeem(shopkeeper, await code_of(resident), [(soap, 1)])).status_code == 201
    monkeypatch.undo()

    # Lifted by the office: allowed at once.
    second = await deduct(admin, person_id=resident.id, amount="1", reason="再次",
                          suspend_until=until.isoformat())
    assert (await reserve(resident, [(soap, 1)])).status_code == 409
    lifted = await admin.client.post(f"/api/suspensions/{second.json()['suspension']['id']}/lift")
    assert lifted.status_code == 200, lifted.text
    assert (lifted.json()["active"], lifted.json()["lifted_at"] is not None) == (False, True)
    # The first one (back to today's clock) still holds until it is lifted too.
    assert (await reserve(resident, [(soap, 1)])).status_code == 409
    first = await admin.client.post(f"/api/suspensions/{made.json()['suspension']['id']}/lift")
    assert first.status_code == 200, first.text
    assert (await reserve(resident, [(soap, 1)])).status_code == 201
    again = await admin.client.post(f"/api/suspensions/{second.json()['suspension']['id']}/lift")
    assert (again.status_code, again.json()["reason"]) == (409, "suspension_lifted")


async def test_an_upheld_appeal_reverses_the_deduction_and_lifts_its_suspension(
    admin: Member, resident: Member, shopkeeper: Member, community: CommunityView, enrol: Enrol,
    ledger: Ledger,
) -> None:
    await funded(ledger, resident, "10")
    rule = await new_rule(admin, "高空抛物", "4", {"months": 3})
    made = (await deduct(admin, person_id=resident.id, rule_id=rule["id"])).json()
    assert made["suspension"]["active"] and await balance(resident) == "6.00"

    neighbour = await enrol("resident", name="王大爷")
    assert (await neighbour.client.post("/api/appeals", json={
        "transfer_id": made["transfer_id"], "reason": "不是我"})).status_code == 404
    asked = await resident.client.post("/api/appeals", json={
        "transfer_id": made["transfer_id"], "reason": "东西不是我扔的，有监控为证"})
    assert asked.status_code == 201, asked.text
    appeal = asked.json()
    assert (appeal["status"], appeal["taken"], appeal["deduction_reason"]) == ("open", "4.00", "高空抛物")
    entry = made["transfer_id"]
    twice = await resident.client.post("/api/appeals", json={"transfer_id": entry, "reason": "再问"})
    assert (twice.status_code, twice.json()["reason"]) == (409, "appeal_open")
    blank = await resident.client.post("/api/appeals", json={"transfer_id": entry, "reason": " "})
    assert (blank.status_code, blank.json()["reason"]) == (400, "invalid_appeal_reason")

    queue = (await admin.client.get("/api/appeals")).json()["items"]
    assert [a["id"] for a in queue] == [appeal["id"]]
    decided = await admin.client.post(f"/api/appeals/{appeal['id']}/decision",
                                      json={"uphold": True, "note": "监控核实"})
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["reversal_id"]) == ("upheld", f"{entry}/appeal")
    assert await balance(resident) == "10.00"
    assert (await resident.client.get("/api/me/suspension")).json()["suspended"] is False
    entries = (await resident.client.get("/api/me/entries")).json()["items"]
    assert (entries[0]["kind"], entries[0]["amount"], entries[0]["id"]) == (
        "reversal", "4.00", decided.json()["reversal_id"])
    assert entries[1]["id"] == made["transfer_id"]  # the deduction stays in the books
    await verified(admin)
    actions = await audit_actions(community.id)
    assert {"deduction", "appeal", "appeal_upheld", "suspension_lifted"} <= set(actions)

    soap = await product(shopkeeper, price="1.00")
    assert (await redeem(shopkeeper, await code_of(resident), [(soap, 1)])).status_code == 201
    again = await admin.client.post(f"/api/appeals/{appeal['id']}/decision",
                                    json={"uphold": False, "note": "x"})
    assert (again.status_code, again.json()["reason"]) == (409, "appeal_not_open")
    anew = await resident.client.post("/api/appeals", json={"transfer_id": entry, "reason": "再问"})
    assert (anew.status_code, anew.json()["reason"]) == (409, "deduction_reversed")
    assert (await admin.client.get("/api/appeals")).json()["items"] == []


async def test_a_rejected_appeal_changes_no_points_and_may_be_made_again(
    admin: Member, resident: Member,
    ledger: Ledger,
) -> None:
    await funded(ledger, resident, "10")
    made = (await deduct(admin, person_id=resident.id, amount="2", reason="乱停车",
                         suspend_until=(china_today() + timedelta(days=3)).isoformat())).json()
    appeal = (await resident.client.post("/api/appeals", json={
        "deduction_id": made["id"], "reason": "当时在卸货"})).json()
    no_note = await admin.client.post(f"/api/appeals/{appeal['id']}/decision", json={"uphold": False})
    assert (no_note.status_code, no_note.json()["reason"]) == (400, "invalid_decision_note")
    rejected = await admin.client.post(f"/api/appeals/{appeal['id']}/decision",
                                       json={"uphold": False, "note": "卸货不可超过十分钟"})
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["status"], rejected.json()["note"]) == ("rejected", "卸货不可超过十分钟")
    assert await balance(resident) == "8.00"
    assert (await resident.client.get("/api/me/suspension")).json()["suspended"] is True
    mine = (await resident.client.get("/api/me/appeals")).json()["items"]
    assert [(a["id"], a["status"]) for a in mine] == [(appeal["id"], "rejected")]
    decided = (await admin.client.get("/api/appeals", params={"status": "rejected"})).json()["items"]
    assert [a["id"] for a in decided] == [appeal["id"]]
    again = await resident.client.post("/api/appeals",
                                       json={"deduction_id": made["id"], "reason": "补充证据"})
    assert again.status_code == 201, again.text
    await verified(admin)
