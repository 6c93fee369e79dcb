"""Enrolling and finding people: validation, masking, paging, community boundaries."""

import itertools
import re

import httpx
import pytest

from ledger import Ledger
from market.community import service as communities
from market.people.rules import is_card_no
from tests.market.support import Enrol, Member, random_phone


def masked(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


async def count_people(admin: Member) -> int:
    response = await admin.client.get("/api/people", params={"limit": 100})
    assert response.status_code == 200
    return len(response.json()["items"])


async def test_admin_enrols_a_resident(
    admin: Member, ledger: Ledger, community: communities.CommunityView
) -> None:
    phone = random_phone()
    response = await admin.client.post(
        "/api/people",
        json={"name": "王大爷", "phone": phone, "roles": ["resident"], "pin": "246813"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "王大爷"
    assert body["phone"] == masked(phone)
    assert body["roles"] == ["resident"]
    assert is_card_no(body["card_no"])
    assert set(body) == {"id", "name", "phone", "roles", "card_no", "household_id"}

    # Enrolment opened the wallet in the admin's community's ledger …
    wallet = await ledger.find_account(community.id, "wallet", owner=str(body["id"]))
    assert wallet is not None
    # … and the resident can sign in with the card number and PIN.
    signed_in = await admin.client.post(
        "/api/session", json={"login": body["card_no"], "secret": "246813"}
    )
    assert signed_in.status_code == 200
    assert signed_in.json()["person"]["id"] == body["id"]


async def test_card_numbers_are_unique_and_not_sequential(enrol: Enrol) -> None:
    cards = [(await enrol("resident")).card_no for _ in range(5)]
    assert len(set(cards)) == 5
    numbers = sorted(int(card) for card in cards)
    assert any(b - a != 1 for a, b in itertools.pairwise(numbers))


@pytest.mark.parametrize(
    ("change", "reason", "field"),
    [
        ({"phone": "12345678901"}, "invalid_phone", "phone"),
        ({"phone": "1380000000"}, "invalid_phone", "phone"),
        ({"phone": "１３８００００００００"}, "invalid_phone", "phone"),
        ({"name": ""}, "invalid_name", "name"),
        ({"name": "名" * 51}, "invalid_name", "name"),
        ({"roles": []}, "invalid_roles", "roles"),
        ({"roles": ["resident", "king"]}, "invalid_roles", "roles"),
        ({"pin": None}, "pin_required", "pin"),
        ({"pin": "12345"}, "invalid_pin", "pin"),
        ({"pin": "000000"}, "weak_pin", "pin"),
        ({"pin": "123456"}, "weak_pin", "pin"),
        ({"pin": "777777"}, "weak_pin", "pin"),
        ({"pin": "PHONE_TAIL"}, "weak_pin", "pin"),
        ({"roles": ["organizer"], "pin": None}, "password_required", "password"),
        ({"roles": ["admin"], "password": "short"}, "password_too_short", "password"),
    ],
)
async def test_bad_enrolments_are_refused_and_change_nothing(
    admin: Member, change: dict, reason: str, field: str
) -> None:
    phone = random_phone()
    body = {"name": "赵六", "phone": phone, "roles": ["resident"], "pin": "258036"}
    body.update(change)
    if body.get("pin") == "PHONE_TAIL":
        body["pin"] = phone[-6:]
    before = await count_people(admin)
    response = await admin.client.post("/api/people", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["reason"] == reason
    assert response.json()["field"] == field
    assert await count_people(admin) == before


async def test_missing_fields_are_invalid_input(admin: Member) -> None:
    response = await admin.client.post("/api/people", json={"name": "x"})
    assert response.status_code == 400
    body = response.json()
    assert body["reason"] == "invalid_input"
    assert body["field"] == "phone"  # the first missing field
    assert "phone" in body["detail"]


async def test_a_phone_is_registered_once_per_community(
    admin: Member, enrol: Enrol, ledger: Ledger
) -> None:
    existing = await enrol("resident")
    before = await count_people(admin)
    response = await admin.client.post(
        "/api/people",
        json={"name": "重复", "phone": existing.phone, "roles": ["resident"], "pin": "258036"},
    )
    assert response.status_code == 409
    assert response.json()["reason"] == "phone_taken"
    assert await count_people(admin) == before

    # Another community may register the same phone.
    other = await communities.get_or_create(ledger, "另一个社区-" + existing.phone)
    elsewhere = await enrol("admin", community_id=other.id)
    again = await elsewhere.client.post(
        "/api/people",
        json={"name": "同号", "phone": existing.phone, "roles": ["resident"], "pin": "258036"},
    )
    assert again.status_code == 201, again.text


async def test_staff_with_both_roles_need_password_and_pin(admin: Member) -> None:
    phone = random_phone()
    body = {"name": "钱七", "phone": phone, "roles": ["resident", "organizer"], "pin": "258036"}
    missing = await admin.client.post("/api/people", json=body)
    assert missing.json()["reason"] == "password_required"
    body["password"] = "long enough password"
    created = await admin.client.post("/api/people", json=body)
    assert created.status_code == 201
    assert created.json()["roles"] == ["organizer", "resident"]


async def test_people_are_listed_in_pages(admin: Member, enrol: Enrol) -> None:
    made = [await enrol("resident", name=f"居民{i}") for i in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await admin.client.get("/api/people", params=params)).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        for item in page["items"]:
            assert re.fullmatch(r"1[3-9][0-9]\*{4}[0-9]{4}", item["phone"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen)
    assert set(seen) == {admin.id} | {m.id for m in made}


async def test_people_search(admin: Member, enrol: Enrol) -> None:
    wang = await enrol("resident", name="王小明")
    await enrol("resident", name="李小红")
    by_name = (await admin.client.get("/api/people", params={"q": "小明"})).json()["items"]
    assert [p["id"] for p in by_name] == [wang.id]
    by_phone = (await admin.client.get("/api/people", params={"q": wang.phone})).json()["items"]
    assert [p["id"] for p in by_phone] == [wang.id]
    by_card = (await admin.client.get("/api/people", params={"q": wang.card_no})).json()["items"]
    assert [p["id"] for p in by_card] == [wang.id]
    # Part of a phone, a card's start, a name in another case.
    part = (await admin.client.get("/api/people", params={"q": wang.phone[3:9]})).json()["items"]
    assert [p["id"] for p in part] == [wang.id]
    assert [p["id"] for p in (await admin.client.get(
        "/api/people", params={"q": wang.card_no[:-1]})).json()["items"]] == [wang.id]
    amy = await enrol("resident", name="Amy Zhang")
    found = (await admin.client.get("/api/people", params={"q": "aMY"})).json()["items"]
    assert [p["id"] for p in found] == [amy.id]


@pytest.mark.parametrize("q", ["%", "_", "%_%", "小%", "_明"])
async def test_search_text_is_literal_not_a_pattern(admin: Member, enrol: Enrol, q: str) -> None:
    await enrol("resident", name="王小明")
    found = (await admin.client.get("/api/people", params={"q": q})).json()["items"]
    assert found == []
    percent = await enrol("resident", name="百分之%百")
    found = (await admin.client.get("/api/people", params={"q": "%"})).json()["items"]
    assert [p["id"] for p in found] == [percent.id]


async def test_bad_cursor_is_refused(admin: Member) -> None:
    response = await admin.client.get("/api/people", params={"cursor": "abc"})
    assert response.status_code == 400
    assert response.json()["reason"] == "invalid_cursor"


async def test_people_of_another_community_are_not_found(
    admin: Member, enrol: Enrol, ledger: Ledger
) -> None:
    other = await communities.get_or_create(ledger, f"别的社区-{admin.phone}")
    stranger = await enrol("resident", community_id=other.id)
    response = await admin.client.get(f"/api/people/{stranger.id}")
    assert response.status_code == 404
    assert response.json()["reason"] == "not_found"
    listing = (await admin.client.get("/api/people", params={"q": stranger.phone})).json()
    assert listing["items"] == []
    assert (await admin.client.get("/api/people/999999999")).status_code == 404


async def test_me_shows_a_masked_phone(resident: Member) -> None:
    response = await resident.client.get("/api/me")
    assert response.status_code == 200
    assert response.json() == {
        "id": resident.id, "name": resident.name, "phone": masked(resident.phone),
        "roles": ["resident"], "card_no": resident.card_no, "household_id": None,
    }


async def test_no_response_contains_a_full_phone(
    admin: Member, resident: Member, anon: httpx.AsyncClient
) -> None:
    responses = [
        await admin.client.get("/api/people"),
        await admin.client.get(f"/api/people/{resident.id}"),
        await resident.client.get("/api/me"),
        await anon.post("/api/session", json={"login": resident.phone, "secret": resident.pin}),
    ]
    for response in responses:
        assert response.status_code == 200
        assert resident.phone not in response.text
        assert admin.phone not in response.text
