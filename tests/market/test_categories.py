"""Earning categories and how to earn (issue 15): the catalogue's rules, activities that name a
category, and the resident's how-to-earn answer with the policy's caps, expiry and 公示."""

import secrets
from datetime import UTC, datetime, timedelta

from ledger import Ledger
from market.community import service as communities
from market.db import fetch
from market.tables import Activity
from tests.market.records import team
from tests.market.support import Enrol, Member


async def add(admin: Member, **body: object) -> dict:
    response = await admin.client.post("/api/points/categories", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def refused(response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["reason"] == reason, response.text


async def stored(community_id: int) -> list[tuple]:
    rows = await fetch("SELECT name, points_per_checkin, points_per_hour, description, archived"
                       " FROM earning_category WHERE community = {} ORDER BY id", community_id)
    return [tuple(row.values()) for row in rows]


def soon(hours: float) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


async def test_the_catalogue_checks_what_it_keeps(
    admin: Member, enrol: Enrol, community, ledger: Ledger
) -> None:
    made = await add(admin, name="  楼道   清扫 ", points_per_checkin="5", points_per_hour=2.5,
                     description="每周六上午，楼栋长组织")
    assert made | {"id": 0} == {"id": 0, "name": "楼道 清扫", "points_per_checkin": "5.00",
                                "points_per_hour": "2.50", "description": "每周六上午，楼栋长组织",
                                "archived": False}
    before = await stored(community.id)
    client = admin.client
    for body, status, reason in (
        ({"name": " "}, 400, "invalid_category_name"),
        ({"name": "长" * 21}, 400, "invalid_category_name"),
        ({"name": "义诊", "points_per_checkin": "-1"}, 400, "invalid_category_rate"),
        ({"name": "义诊", "points_per_hour": "10000.01"}, 400, "invalid_category_rate"),
        ({"name": "义诊", "points_per_hour": "1.005"}, 400, "invalid_category_rate"),
        ({"name": "义诊", "description": "说" * 201}, 400, "invalid_category_description"),
        ({"name": "楼道 清扫"}, 409, "category_name_taken"),
    ):
        await refused(await client.post("/api/points/categories", json=body), status, reason)
    unknown = await client.post("/api/points/categories", json={"name": "义诊", "colour": "red"})
    assert unknown.status_code == 400, unknown.text
    english = await client.post("/api/points/categories", json={"name": ""},
                                headers={"Accept-Language": "en"})
    assert english.json()["detail"] == "A category's name must be 1–20 characters long"
    assert await stored(community.id) == before  # nothing refused was kept

    second = await add(admin, name="垃圾分类督导", points_per_hour="3")
    changed = await client.put(f"/api/points/categories/{made['id']}",
                               json={"points_per_hour": "4", "archived": True})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["points_per_hour"], changed.json()["archived"]) == ("4.00", True)
    await refused(await client.put(f"/api/points/categories/{second['id']}", json={"name": "楼道 清扫"}),
                  409, "category_name_taken")  # archived names stay taken
    await refused(await client.put(f"/api/points/categories/{second['id']}",
                                   json={"points_per_checkin": "1e3"}), 400, "invalid_input")
    listed = (await client.get("/api/points/categories")).json()["items"]
    assert [(c["name"], c["archived"]) for c in listed] == [("垃圾分类督导", False), ("楼道 清扫", True)]
    offered = (await client.get("/api/points/categories", params={"archived": "false"})).json()["items"]
    assert [c["name"] for c in offered] == ["垃圾分类督导"]

    # Another community's admin neither sees nor changes ours.
    elsewhere = await communities.get_or_create(ledger, f"另一社区-{secrets.token_hex(4)}")
    other = await enrol("admin", community_id=elsewhere.id)
    assert (await other.client.get("/api/points/categories")).json()["items"] == []
    await refused(await other.client.put(f"/api/points/categories/{second['id']}",
                                         json={"name": "改名"}), 404, "not_found")
    assert await stored(community.id) == [("楼道 清扫", 500, 400, "每周六上午，楼栋长组织", True),
                                          ("垃圾分类督导", 0, 300, "", False)]


async def test_an_activity_takes_an_offered_category(admin: Member, organizer: Member) -> None:
    kept = await add(admin, name="环境整治", points_per_checkin="3")
    gone = await add(admin, name="旧类别")
    await admin.client.put(f"/api/points/categories/{gone['id']}", json={"archived": True})

    def body(category: str) -> dict:
        return {"title": "周末大扫除", "category": category, "starts_at": soon(24).isoformat(),
                "ends_at": soon(26).isoformat(), "points_per_checkin": "3", "points_per_hour": "0"}

    made = await organizer.client.post("/api/activities", json=body("环境整治"))
    assert made.status_code == 201, made.text
    assert made.json()["category"] == "环境整治"
    builtin = await organizer.client.post("/api/activities", json=body("volunteer_service"))
    assert builtin.status_code == 201, builtin.text
    for name in ("旧类别", "没有的类别"):
        refusal = await organizer.client.post("/api/activities", json=body(name))
        await refused(refusal, 400, "invalid_category")

    # An activity keeps its category after the category is archived, through any edit.
    await admin.client.put(f"/api/points/categories/{kept['id']}", json={"archived": True})
    edited = await organizer.client.patch(f"/api/activities/{made.json()['id']}",
                                          json={"category": "环境整治", "title": "周末大扫除（改）"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["category"] == "环境整治"


async def activity(community_id: int, title: str, category: str, starts: float, hours: float = 2,
                   **fields: object) -> int:
    row = Activity(community=community_id, title=title, category=category, starts_at=soon(starts),
                   ends_at=soon(starts + hours), points_per_checkin=300, points_per_hour=0, **fields)
    await row.save()
    return row.id


async def test_how_to_earn_says_what_earns_what_under_the_policy(
    admin: Member, resident: Member, community
) -> None:
    plain = (await resident.client.get("/api/points/how-to-earn")).json()
    assert plain == {"categories": [], "other_activities": [], "cap_per_day": None, "cap_per_month": None,
                     "expiry": "none", "expiry_rule": "积分长期有效，不会过期", "publicity_days": 0,
                     "publicity_rule": None}

    policy = await admin.client.put("/api/points/policy", json={
        "expiry": "calendar_year", "publicity_days": 3, "cap_per_day": "20", "cap_per_month": "100"})
    assert policy.status_code == 200, policy.text
    tidy = await add(admin, name="环境整治", points_per_checkin="3", description="清理楼道、绿化带")
    await add(admin, name="邻里互助", points_per_hour="5")
    old = await add(admin, name="旧类别")
    await admin.client.put(f"/api/points/categories/{old['id']}", json={"archived": True})
    cid = community.id
    tomorrow = await activity(cid, "周六大扫除", "环境整治", 24)
    today = await activity(cid, "绿化带除草", "环境整治", 2)
    await activity(cid, "队员专场", "环境整治", 5, team=await team(cid))  # not the resident's team
    await activity(cid, "昨天的清扫", "环境整治", -26)  # over
    await activity(cid, "取消的互助", "邻里互助", 3, status="cancelled")
    clinic = await activity(cid, "社区义诊", "volunteer_service", 30)
    archived = await activity(cid, "旧活动", "旧类别", 4)

    answer = (await resident.client.get("/api/points/how-to-earn")).json()
    assert [(c["name"], c["points_per_checkin"], c["points_per_hour"], [a["id"] for a in c["activities"]])
            for c in answer["categories"]] == [
        ("环境整治", "3.00", "0.00", [today, tomorrow]), ("邻里互助", "0.00", "5.00", []),
    ]
    assert answer["categories"][0]["id"] == tidy["id"]
    assert answer["categories"][0]["description"] == "清理楼道、绿化带"
    assert [a["id"] for a in answer["other_activities"]] == [archived, clinic]
    assert (answer["cap_per_day"], answer["cap_per_month"]) == ("20.00", "100.00")
    assert answer["expiry"] == "calendar_year"
    assert answer["expiry_rule"] == "积分在获得当年的 12 月 31 日后清零"
    assert (answer["publicity_days"], answer["publicity_rule"]) == (3, "新获得的积分公示 3 个工作日后到账")

    english = (await resident.client.get("/api/points/how-to-earn",
                                          headers={"Accept-Language": "en"})).json()
    assert english["expiry_rule"] == "Points are cleared after 31 December of the year they were earned"
    for months, words in ((36, "积分在获得 3 年后到期"), (18, "积分在获得 18 个月后到期")):
        await admin.client.put("/api/points/policy", json={"expiry": {"months": months}})
        answer = (await resident.client.get("/api/points/how-to-earn")).json()
        assert (answer["expiry"], answer["expiry_rule"]) == ({"months": months}, words)
        assert answer["cap_per_day"] is None and answer["publicity_rule"] is None
    assert (await admin.client.get("/api/points/how-to-earn")).status_code == 200  # anyone signed in
