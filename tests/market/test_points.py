"""Points through the API: adjustments, idempotency, exact amounts, history, verify, transparency."""

import secrets

import httpx
import pytest

from ledger import Ledger
from market.community.service import CommunityView
from tests.market.support import Enrol, Member, adjust, balance


async def entries(member: Member, **params: object) -> dict:
    response = await member.client.get("/api/me/entries", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_credit_then_debit(admin: Member, resident: Member) -> None:
    credit = await adjust(admin, resident.id, "12.5", reason="清扫楼道")
    assert credit.status_code == 201, credit.text
    assert credit.json()["amount"] == "12.50"
    assert credit.json()["balance_after"] == "12.50"
    debit = await adjust(admin, resident.id, -2.25, reason="更正")
    assert debit.status_code == 201, debit.text
    assert debit.json()["amount"] == "-2.25"
    assert debit.json()["balance_after"] == "10.25"
    assert (await resident.client.get("/api/me/balance")).json() == {
        "balance": "10.25", "held": "0.00", "available": "10.25", "service_hours": "0.00",
        "stars": 0, "expiring": [],
    }


async def test_json_numbers_are_exact(admin: Member, resident: Member) -> None:
    # As floats, 0.1 + 0.2 + 0.3 is 0.6000000000000001.
    for amount in (0.1, 0.2, 0.3):
        assert (await adjust(admin, resident.id, amount)).status_code == 201
    assert await balance(resident) == "0.60"


async def test_amounts_in_exponent_form_are_exact(admin: Member, resident: Member) -> None:
    response = await admin.client.post(
        "/api/adjustments",
        content=b'{"person_id": %d, "amount": 1.5e2, "reason": "x"}' % resident.id,
        headers={"Content-Type": "application/json", "Idempotency-Key": "exp"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == "150.00"


async def test_insufficient_points_change_nothing(
    admin: Member, resident: Member, ledger: Ledger
) -> None:
    await adjust(admin, resident.id, "3")
    head_before = await ledger.head()
    response = await adjust(admin, resident.id, "-3.01")
    assert response.status_code == 409
    assert response.json()["reason"] == "insufficient_points"
    assert response.json()["detail"] == "积分不足"
    assert await balance(resident) == "3.00"
    assert await ledger.head() == head_before


async def test_idempotency_key_is_required(admin: Member, resident: Member) -> None:
    response = await admin.client.post(
        "/api/adjustments", json={"person_id": resident.id, "amount": "5", "reason": "x"}
    )
    assert response.status_code == 400
    assert response.json()["reason"] == "idempotency_key_required"
    assert await balance(resident) == "0.00"


async def test_same_key_same_body_answers_the_same_and_credits_once(
    admin: Member, resident: Member
) -> None:
    key = secrets.token_hex(8)
    first = await adjust(admin, resident.id, "7", reason="义务劳动", key=key)
    second = await adjust(admin, resident.id, "7", reason="义务劳动", key=key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert await balance(resident) == "7.00"
    assert len((await entries(resident))["items"]) == 1


async def test_same_key_different_body_is_refused(admin: Member, resident: Member) -> None:
    key = secrets.token_hex(8)
    assert (await adjust(admin, resident.id, "7", key=key)).status_code == 201
    for changed in ({"amount": "8"}, {"reason": "别的理由"}):
        body = {"person_id": resident.id, "amount": "7", "reason": "测试"} | changed
        response = await admin.client.post(
            "/api/adjustments", json=body, headers={"Idempotency-Key": key}
        )
        assert response.status_code == 422, changed
        assert response.json()["reason"] == "id_conflict"
    assert await balance(resident) == "7.00"


async def test_keys_belong_to_their_admin(admin: Member, enrol: Enrol, resident: Member) -> None:
    other_admin = await enrol("admin")
    key = "shared-key"
    assert (await adjust(admin, resident.id, "1", key=key)).status_code == 201
    assert (await adjust(other_admin, resident.id, "1", key=key)).status_code == 201
    assert await balance(resident) == "2.00"


@pytest.mark.parametrize(
    "amount", ["1.005", "NaN", "abc", "Infinity", "-inf", 0, "0", "0.00", None, True, [], "", " "]
)
async def test_bad_amounts_are_refused_and_write_nothing(
    admin: Member, resident: Member, ledger: Ledger, amount: object
) -> None:
    head_before = await ledger.head()
    response = await adjust(admin, resident.id, amount)
    assert response.status_code == 400, response.text
    assert response.json()["reason"] in {"invalid_amount", "invalid_input"}
    assert await ledger.head() == head_before
    assert await balance(resident) == "0.00"


@pytest.mark.parametrize("raw", [b"1e400", b"1.005", b"-0.001", b"1e999999999", b"100000000000000"])
async def test_bad_json_number_amounts_write_nothing(
    admin: Member, resident: Member, ledger: Ledger, raw: bytes
) -> None:
    head_before = await ledger.head()
    body = b'{"person_id": %d, "amount": %s, "reason": "x"}' % (resident.id, raw)
    response = await admin.client.post(
        "/api/adjustments", content=body,
        headers={"Content-Type": "application/json", "Idempotency-Key": secrets.token_hex(8)},
    )
    assert response.status_code == 400, response.text
    assert await ledger.head() == head_before


async def test_amount_reasons(admin: Member, resident: Member) -> None:
    assert (await adjust(admin, resident.id, "1.005")).json()["reason"] == "invalid_amount"
    assert (await adjust(admin, resident.id, 0)).json()["reason"] == "invalid_amount"
    bad = await adjust(admin, resident.id, "abc")
    assert bad.json()["reason"] == "invalid_input"
    assert bad.json()["field"] == "amount"


@pytest.mark.parametrize("amount", ["９９", "٣", "1e3", "1_0", "NaN", "Infinity", "", "5-", True])
async def test_amounts_are_read_as_the_ledger_reads_them(admin: Member, resident: Member, amount) -> None:
    """Python's Decimal reads full-width and Arabic-Indic digits, exponents and underscores; an
    amount is digits 0-9, a sign and a point, and anything else is not a number (issue 14)."""
    before = await balance(resident)
    bad = await adjust(admin, resident.id, amount)
    assert bad.status_code == 400, bad.text
    assert (bad.json()["reason"], bad.json()["field"]) == ("invalid_input", "amount")
    assert await balance(resident) == before


@pytest.mark.parametrize(("amount", "credited"), [
    ("12.5", "12.50"), (" 3 ", "3.00"), (7.25, "7.25"), (".5", "0.50"), (12, "12.00"),
])
async def test_amounts_as_strings_or_numbers(admin: Member, resident: Member, amount, credited) -> None:
    response = await adjust(admin, resident.id, amount)
    assert response.status_code == 201, response.text
    assert await balance(resident) == credited


async def test_unknown_person_is_not_found(admin: Member) -> None:
    response = await adjust(admin, 987_654_321, "1")
    assert response.status_code == 404


async def test_entries_are_paged_newest_first(admin: Member, resident: Member) -> None:
    for i in range(1, 6):
        assert (await adjust(admin, resident.id, str(i), reason=f"第{i}次")).status_code == 201
    pages: list[list[dict]] = []
    cursor = None
    while True:
        page = await entries(resident, limit=2, **({"cursor": cursor} if cursor else {}))
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    items = [item for page in pages for item in page]
    assert [item["amount"] for item in items] == ["5.00", "4.00", "3.00", "2.00", "1.00"]
    assert [item["balance_after"] for item in items] == [
        "15.00", "10.00", "6.00", "3.00", "1.00"
    ]
    assert [item["memo"] for item in items] == ["第5次", "第4次", "第3次", "第2次", "第1次"]
    first = items[0]
    assert set(first) == {"id", "at", "amount", "balance_after", "kind", "memo", "phase", "acted_by",
                          "community_id"}
    assert first["kind"] == "adjustment"
    assert first["at"].endswith(("Z", "+00:00"))


async def test_verify_endpoint(admin: Member, resident: Member) -> None:
    await adjust(admin, resident.id, "3")
    response = await admin.client.get("/api/ledger/verify")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["entries"] >= 1
    assert len(body["head"]) == 64
    assert body["total"] == "0.00"


async def test_transparency_adds_up(
    admin: Member, enrol: Enrol, anon: httpx.AsyncClient, community: CommunityView
) -> None:
    alice, bob = await enrol("resident"), await enrol("resident")
    await adjust(admin, alice.id, "10")
    await adjust(admin, bob.id, "5.5")
    await adjust(admin, alice.id, "-2")
    response = await anon.get("/api/transparency", params={"community": community.id})
    assert response.status_code == 200
    body = response.json()
    assert body["community_id"] == community.id
    assert body["issued"] == "13.50"
    assert body["outstanding"] == "13.50"
    assert body["redeemed"] == "0.00"
    assert body["expired"] == "0.00"
    assert len(body["head"]) == 64
    assert body["entries"] >= 3
    verify = (await admin.client.get("/api/ledger/verify")).json()
    assert verify["head"] == body["head"] or verify["entries"] > body["entries"]


async def test_transparency_of_unknown_community(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/transparency", params={"community": 987_654_321})
    assert response.status_code == 404
