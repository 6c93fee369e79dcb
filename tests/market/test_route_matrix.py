"""Route × role matrix: every /api route of the OpenAPI document against a declared table.

The routes come from ``/schema/openapi.json``, so a new route without an entry
in ``ROUTES`` fails the test. Each route is called as anonymous, resident,
organizer, shopkeeper and admin: a role the table does not allow must get 403
(anonymous 401), an allowed one must get past the guards (a 400/422 for the
empty body used here proves it did). Path parameters are filled with a fresh
record of the caller's own community and, for allowed roles, with one of
another community, which must never answer 2xx.

To add a route: add its entry to ``ROUTES``; for a new kind of path parameter,
add a maker to ``RECORDS``.
"""

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from litestar import Litestar

from market.community import service as communities
from tests.market import records
from tests.market.support import client_for

#: The community's four roles and the 街道 office's (issue 17), which acts inside no community.
ROLES = ("resident", "organizer", "shopkeeper", "admin", "subdistrict_admin")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Access:
    """Who may call a route: everyone (public), anyone signed in, or holders of some roles."""

    roles: frozenset[str]
    public: bool = False
    #: Declared before the route exists (being built alongside); it may be absent.
    planned: bool = False
    #: Public about any community (a community by its slug): another community's record is found.
    any_community: bool = False

    def allows(self, role: str | None) -> bool:
        return self.public or (role is not None and role in self.roles)


def public(planned: bool = False, any_community: bool = False) -> Access:
    return Access(frozenset(ROLES), public=True, planned=planned, any_community=any_community)


def signed_in(planned: bool = False) -> Access:
    return Access(frozenset(ROLES), planned=planned)


def only(*roles: str, planned: bool = False) -> Access:
    return Access(frozenset(roles), planned=planned)


ADMIN = only("admin")


def _structure(kind: str, plural: str, extra: dict[tuple[str, str], Access] | None = None
               ) -> dict[tuple[str, str], Access]:
    """Admin-only create/list/show/rename/archive/restore of a structure kind."""
    item = f"/api/{plural}/{{{kind}_id}}"
    routes = {
        ("GET", f"/api/{plural}"): ADMIN, ("POST", f"/api/{plural}"): ADMIN,
        ("GET", item): ADMIN, ("PATCH", item): ADMIN,
        ("POST", f"{item}/archive"): ADMIN, ("POST", f"{item}/restore"): ADMIN,
    }
    return routes | (extra or {})


#: (method, OpenAPI path) → who may call it. The single source of who may do what.
ROUTES: dict[tuple[str, str], Access] = {
    # sessions and one's own data
    ("POST", "/api/session"): public(),
    ("POST", "/api/session/code"): public(),
    ("DELETE", "/api/session"): signed_in(),
    ("GET", "/api/me"): signed_in(),
    ("GET", "/api/me/balance"): signed_in(),
    ("GET", "/api/me/entries"): signed_in(),
    ("GET", "/api/me/export"): signed_in(),
    # people
    ("GET", "/api/people"): ADMIN,
    ("POST", "/api/people"): ADMIN,
    ("GET", "/api/people/{person_id}"): ADMIN,
    ("GET", "/api/people/{person_id}/phone"): ADMIN,
    ("POST", "/api/people/{person_id}/erase"): ADMIN,
    ("POST", "/api/people/import"): only("admin"),
    # points
    ("POST", "/api/adjustments"): ADMIN,
    ("GET", "/api/ledger/verify"): ADMIN,
    ("GET", "/api/points/policy"): ADMIN,
    ("PUT", "/api/points/policy"): ADMIN,
    ("GET", "/api/points/expiring"): ADMIN,
    ("GET", "/api/points/categories"): ADMIN,
    ("POST", "/api/points/categories"): ADMIN,
    ("PUT", "/api/points/categories/{category_id}"): ADMIN,
    ("GET", "/api/points/how-to-earn"): signed_in(),
    # households and gifts
    ("GET", "/api/me/household"): only("resident"),
    ("POST", "/api/gifts"): only("resident"),
    # deductions, suspensions and appeals
    ("GET", "/api/points/deduction-rules"): ADMIN,
    ("POST", "/api/points/deduction-rules"): ADMIN,
    ("PUT", "/api/points/deduction-rules/{rule_id}"): ADMIN,
    ("POST", "/api/deductions"): only("organizer", "admin"),
    ("GET", "/api/deductions"): only("organizer", "admin"),
    ("POST", "/api/suspensions/{suspension_id}/lift"): ADMIN,
    ("GET", "/api/me/suspension"): signed_in(),
    ("GET", "/api/me/appeals"): signed_in(),
    ("POST", "/api/appeals"): only("resident"),
    ("GET", "/api/appeals"): ADMIN,
    ("POST", "/api/appeals/{appeal_id}/decision"): ADMIN,
    ("GET", "/api/transparency"): public(),
    # 公示
    ("GET", "/api/public/notices"): public(),
    ("GET", "/api/notices"): ADMIN,
    ("POST", "/api/notices/{notice_id}/objections"): only("resident"),
    ("POST", "/api/notices/{notice_id}/decision"): ADMIN,
    # community structure (admins)
    **_structure("compound", "compounds"),
    **_structure("building", "buildings"),
    **_structure("grid", "grids", {
        ("GET", "/api/grids/{grid_id}/workers"): ADMIN,
        ("POST", "/api/grids/{grid_id}/workers"): ADMIN,
        ("DELETE", "/api/grids/{grid_id}/workers/{person_id}"): ADMIN,
    }),
    **_structure("household", "households", {
        ("GET", "/api/households/{household_id}/doorplate.pdf"): ADMIN,
        ("POST", "/api/households/{household_id}/doorplate/reissue"): ADMIN,
    }),
    # doorplates (数字门牌) and the 民声 hotline
    ("GET", "/api/doorplates/{token}"): public(any_community=True),
    ("GET", "/api/community/hotline"): only("resident", "organizer", "shopkeeper", "admin"),
    ("PUT", "/api/community/hotline"): ADMIN,
    **_structure("team", "teams", {
        ("GET", "/api/teams/{team_id}/members"): ADMIN,
        ("POST", "/api/teams/{team_id}/members"): ADMIN,
        ("DELETE", "/api/teams/{team_id}/members/{person_id}"): ADMIN,
    }),
    # cards, member codes, PINs, roles
    ("GET", "/api/me/code"): only("resident"),
    ("GET", "/api/me/code.png"): only("resident"),
    ("GET", "/api/me/card.png"): only("resident"),
    ("PUT", "/api/me/pin"): only("resident"),
    ("GET", "/api/people/{person_id}/card.png"): only("admin"),
    ("POST", "/api/people/{person_id}/card/reissue"): only("admin"),
    ("POST", "/api/people/{person_id}/pin"): only("admin"),
    ("PUT", "/api/people/{person_id}/roles"): only("admin"),
    ("PUT", "/api/people/{person_id}/password"): only("admin"),
    ("POST", "/api/people/roles"): only("admin"),
    ("POST", "/api/people/access-codes"): only("admin"),
    ("GET", "/api/roles"): only("admin"),
    ("POST", "/api/member-codes/resolve"): only("organizer", "shopkeeper", "admin"),
    # activities and check-in (organizers other than the activity's own get 404)
    ("GET", "/api/activities"): signed_in(),
    ("POST", "/api/activities"): only("organizer", "admin"),
    ("GET", "/api/activities/{activity_id}"): signed_in(),
    ("PATCH", "/api/activities/{activity_id}"): only("organizer", "admin"),
    ("POST", "/api/activities/{activity_id}/cancel"): only("organizer", "admin"),
    ("GET", "/api/activities/{activity_id}/code"): only("organizer", "admin"),
    ("GET", "/api/activities/{activity_id}/code.png"): only("organizer", "admin"),
    ("GET", "/api/activities/{activity_id}/attendance"): only("organizer", "admin"),
    ("POST", "/api/activities/{activity_id}/attendance"): only("organizer", "admin"),
    ("POST", "/api/activities/{activity_id}/attendance/assisted"): only("organizer", "admin"),
    ("GET", "/api/activities/{activity_id}/residents"): only("organizer", "admin"),
    ("GET", "/api/activities/{activity_id}/poster"): only("organizer", "admin"),
    ("GET", "/api/activities/{activity_id}/poster.png"): only("organizer", "admin"),
    ("POST", "/api/activities/{activity_id}/approve"): only("organizer", "admin"),
    ("POST", "/api/activities/{activity_id}/reject"): only("organizer", "admin"),
    ("POST", "/api/activities/{activity_id}/attendance/{person_id}/hours"): only("organizer", "admin"),
    ("POST", "/api/checkins"): only("resident"),
    # the shop's catalogue, stock record and photos (shop keepers and admins manage them)
    ("GET", "/api/products"): signed_in(),
    ("POST", "/api/products"): only("shopkeeper", "admin"),
    ("GET", "/api/products/{product_id}"): signed_in(),
    ("PATCH", "/api/products/{product_id}"): only("shopkeeper", "admin"),
    ("POST", "/api/products/{product_id}/stock"): only("shopkeeper", "admin"),
    ("GET", "/api/products/{product_id}/stock"): only("shopkeeper", "admin"),
    ("PUT", "/api/products/{product_id}/photo"): only("shopkeeper", "admin"),
    ("GET", "/api/products/{product_id}/photo.jpg"): signed_in(),
    ("GET", "/api/products/{product_id}/thumb.jpg"): signed_in(),
    # the counter (a resident sees only their own redemptions: others' are 404)
    ("POST", "/api/redemptions"): only("shopkeeper"),
    ("GET", "/api/redemptions/{redemption_id}"): signed_in(),
    ("POST", "/api/redemptions/{redemption_id}/refund"): only("shopkeeper", "admin"),
    # the shop's opening rules (everyone reads them) and a counter's day, reconciled
    ("GET", "/api/shop/rules"): signed_in(),
    ("PUT", "/api/shop/rules"): only("admin"),
    ("GET", "/api/shop/reconciliation"): only("shopkeeper", "admin"),
    # orders: residents see and cancel their own (others' are 404), shop staff any
    ("POST", "/api/orders"): only("resident"),
    ("GET", "/api/people/{person_id}/delegates"): ADMIN,
    ("POST", "/api/people/{person_id}/delegates"): ADMIN,
    ("POST", "/api/people/{person_id}/delegates/{link_id}/end"): ADMIN,
    ("GET", "/api/me/delegations"): only("resident"),
    # subdistricts (街道): the office only, and only its own subdistrict
    ("GET", "/api/subdistricts"): only("subdistrict_admin"),
    ("GET", "/api/subdistricts/{subdistrict_id}"): only("subdistrict_admin"),
    ("PUT", "/api/subdistricts/{subdistrict_id}"): only("subdistrict_admin"),
    ("GET", "/api/subdistricts/{subdistrict_id}/overview"): only("subdistrict_admin"),
    ("GET", "/api/subdistricts/{subdistrict_id}/overview.csv"): only("subdistrict_admin"),
    ("GET", "/api/subdistricts/{subdistrict_id}/ledger"): only("subdistrict_admin"),
    ("GET", "/api/subdistricts/{subdistrict_id}/settlement"): only("subdistrict_admin"),
    ("GET", "/api/subdistricts/{subdistrict_id}/dashboard"): only("subdistrict_admin"),
    # moving house (搬家): the old community's admin asks and cancels, the new one's decides
    ("POST", "/api/moves"): ADMIN,
    ("GET", "/api/moves"): ADMIN,
    ("POST", "/api/moves/{move_id}/approve"): ADMIN,
    ("POST", "/api/moves/{move_id}/refuse"): ADMIN,
    ("POST", "/api/moves/{move_id}/cancel"): ADMIN,
    ("GET", "/api/subdistricts/{subdistrict_id}/leaderboard"): only("subdistrict_admin"),
    ("GET", "/api/orders"): signed_in(),
    ("GET", "/api/orders/{order_id}"): signed_in(),
    ("POST", "/api/orders/{order_id}/fulfil"): only("shopkeeper"),
    ("POST", "/api/orders/{order_id}/cancel"): signed_in(),
    # -- 民声 requests: residents post and take them, grid workers (any role) post for elders,
    # the office (organizers and admins) reviews, resolves and sees the board
    ("GET", "/api/help-requests"): only("resident", "organizer", "admin"),
    ("POST", "/api/help-requests"): only("resident"),
    ("POST", "/api/help-requests/assisted"): only("resident", "organizer", "admin"),
    ("GET", "/api/help-requests/grid"): only("resident", "organizer", "admin"),
    ("GET", "/api/help-requests/board"): only("organizer", "admin"),
    ("GET", "/api/help-requests/terms"): only("resident", "organizer", "admin"),
    ("PUT", "/api/help-requests/terms"): ADMIN,
    ("GET", "/api/help-requests/{request_id}"): only("resident", "organizer", "admin"),
    ("POST", "/api/help-requests/{request_id}/claim"): only("resident"),
    **{("POST", f"/api/help-requests/{{request_id}}/{step}"): only("resident", "organizer", "admin")
       for step in ("release", "confirm", "dispute", "withdraw")},
    ("POST", "/api/help-requests/{request_id}/review"): only("organizer", "admin"),
    ("POST", "/api/help-requests/{request_id}/resolve"): only("organizer", "admin"),
    ("PUT", "/api/help-requests/{request_id}/photo"): only("resident", "organizer", "admin"),
    ("GET", "/api/help-requests/{request_id}/photo.jpg"): only("resident", "organizer", "admin"),
    ("GET", "/api/help-requests/{request_id}/thumb.jpg"): only("resident", "organizer", "admin"),
    # -- reports: leaderboards and dashboards
    ("GET", "/api/leaderboards"): only("resident", "organizer", "shopkeeper", "admin"),  # not the office
    ("GET", "/api/leaderboards/public"): public(),
    ("GET", "/api/dashboards/activities"): only("organizer", "admin"),
    ("GET", "/api/dashboards/points"): only("organizer", "admin"),
    ("GET", "/api/dashboards/shop"): only("organizer", "admin"),
    ("GET", "/api/dashboards/help-requests"): only("organizer", "admin"),
    # -- reports: exports
    **{("GET", f"/api/exports/{kind}.{fmt}"): only(*roles)
       for kind, roles in (("ledger", ("admin",)), ("attendance", ("organizer", "admin")),
                           ("redemptions", ("shopkeeper", "admin")), ("stock", ("shopkeeper", "admin")),
                           ("hours", ("admin",)), ("help_requests", ("organizer", "admin")))
       for fmt in ("csv", "xlsx")},
    # -- reports: certificates
    ("GET", "/api/me/certificate.pdf"): only("resident"),
    ("GET", "/api/people/{person_id}/certificate.pdf"): only("admin", "organizer"),
    ("GET", "/api/certificates/verify/{token}"): public(),
    # the national format (issue 16): ID for certificates, the issuing office, corrections
    ("GET", "/api/me/identity"): only("resident"),
    ("PUT", "/api/me/identity"): only("resident"),
    ("GET", "/api/people/{person_id}/identity"): ADMIN,
    ("PUT", "/api/people/{person_id}/identity"): ADMIN,
    ("GET", "/api/certificates/office"): ADMIN,
    ("PUT", "/api/certificates/office"): ADMIN,
    ("POST", "/api/certificates/corrections"): only("resident"),
    ("GET", "/api/me/certificate-corrections"): only("resident"),
    ("GET", "/api/certificates/corrections"): ADMIN,
    ("POST", "/api/certificates/corrections/{correction_id}/decision"): ADMIN,
    # -- reports: transparency
    ("GET", "/api/transparency/checkpoints"): public(),
    ("GET", "/api/transparency/checkpoints.json"): public(),
    ("GET", "/api/transparency/legacy.json"): public(),
    ("POST", "/api/transparency/checkpoints"): ADMIN,
    ("GET", "/api/transparency/proof"): public(),
    # -- communities by their public address (market.community.slugs)
    ("GET", "/api/communities/{slug}"): public(any_community=True),
}


async def _activity(community_id: int) -> int:
    """An activity running now, organized by no one (admins manage it)."""
    from datetime import UTC, datetime, timedelta

    from market.tables import Activity

    start = datetime.now(UTC) - timedelta(minutes=5)
    row = Activity(community=community_id, title="矩阵活动", category="volunteer_service",
                   starts_at=start, ends_at=start + timedelta(hours=2))
    await row.save()
    return row.id


async def _category(community_id: int) -> int:
    """An earning category of the community."""
    from market.db import fetch

    (row,) = await fetch(
        "INSERT INTO earning_category (community, name, created_ms, updated_ms)"
        " VALUES ({}, {}, 0, 0) RETURNING id", community_id, f"类别{secrets.token_hex(4)}",
    )
    return row["id"]


async def _deduction_records(community_id: int) -> dict[str, int]:
    """A deduction rule, and a suspension and an open appeal of a deduction that took nothing."""
    from market.db import fetch

    person = await records.person(community_id)
    (rule,) = await fetch(
        "INSERT INTO deduction_rule (community, name, amount, updated_ms) VALUES ({}, {}, 100, 0)"
        " RETURNING id", community_id, f"扣分项{secrets.token_hex(4)}",
    )
    (suspension,) = await fetch(
        "INSERT INTO redemption_suspension (community, person, starts_on, until_on, reason, created_ms)"
        " VALUES ({}, {}, '2026-01-01', '2099-12-31', '矩阵', 0) RETURNING id", community_id, person,
    )
    (deduction,) = await fetch(
        "INSERT INTO deduction (community, person, actor, key, request_hash, amount, taken, not_taken,"
        " balance_after, reason, suspension, created_ms) VALUES ({}, {}, {}, {}, '', 100, 0, 100, 0,"
        " '矩阵', {}, 0) RETURNING id", community_id, person, person, secrets.token_hex(8), suspension["id"],
    )
    (appeal,) = await fetch(
        "INSERT INTO deduction_appeal (community, deduction, person, reason, created_ms)"
        " VALUES ({}, {}, {}, '矩阵', 0) RETURNING id", community_id, deduction["id"], person,
    )
    return {"rule_id": rule["id"], "suspension_id": suspension["id"], "appeal_id": appeal["id"]}


def _deduction_record(name: str) -> Callable[[int], Awaitable[int]]:
    async def make(community_id: int) -> int:
        return (await _deduction_records(community_id))[name]

    return make


async def _notice(community_id: int) -> int:
    """A credit under 公示, settled already (its hold need not exist: the matrix only checks who
    gets through, and the 公示 job leaves a voided row alone)."""
    from market.db import fetch

    person = await records.person(community_id)
    (row,) = await fetch(
        "INSERT INTO points_publicity (transfer_id, community, person, memo, kind, amount, made_us,"
        " due_day, due_us, state) VALUES ({}, {}, {}, '矩阵', 'checkin', 100, 0, '2099-01-01', 0, 'voided')"
        " RETURNING id",
        f"matrix:{secrets.token_hex(6)}", community_id, person,
    )
    return row["id"]


async def _correction(community_id: int) -> int:
    """An open certificate correction request (``market.reports.certificate_office``)."""
    from market.db import fetch

    person = await records.person(community_id)
    (row,) = await fetch(
        "INSERT INTO certificate_correction (community, person, what, status, created_at)"
        " VALUES ({}, {}, '矩阵', 'open', CURRENT_TIMESTAMP) RETURNING id", community_id, person,
    )
    return row["id"]


async def _any_token() -> str:
    return "NOT-A-CERTIFICATE"


async def _slug(community_id: int) -> str:
    """The community's public address (``market.community.slugs``)."""
    from market.community import slugs

    return (await slugs.current(community_id)).slug


async def _subdistrict(community_id: int) -> int:
    """The subdistrict the community belongs to (founded for it), administered by the community's
    people who hold the office's role (``market.subdistricts``)."""
    from market.db import fetch
    from market.subdistricts import service as subdistricts

    view = await subdistricts.create(f"矩阵街道-{community_id}", [community_id])
    office = await fetch("SELECT id FROM person WHERE community = {} AND roles LIKE '%subdistrict_admin%'",
                         community_id)
    for row in office:
        await subdistricts.add_admin(view.id, row["id"])
    return view.id


async def _move(community_id: int) -> int:
    """A pending move of a new resident out of the community, to a new community of its own."""
    from market.db import fetch

    (place,) = await fetch("INSERT INTO community (name, created_at) VALUES ({}, {}) RETURNING id",
                           f"迁入社区-{secrets.token_hex(6)}", datetime.now(UTC))
    person = await records.person(community_id)
    (row,) = await fetch(
        "INSERT INTO house_move (person, from_community, to_community, requested_by, requested_ms, state)"
        " VALUES ({}, {}, {}, {}, {}, 'pending') RETURNING id", person, community_id, place["id"], person, 0)
    return row["id"]


#: path parameter → how to make a record of a community for it.
RECORDS: dict[str, Callable[[int], Awaitable[int]]] = {
    "person_id": records.person,
    "compound_id": records.compound,
    "building_id": records.building,
    "grid_id": records.grid,
    "household_id": records.household,
    "team_id": records.team,
    "activity_id": _activity,
    "product_id": records.product,
    "redemption_id": records.redemption,
    "order_id": records.order,
    "link_id": records.delegate_link,
    "notice_id": lambda community_id: _notice(community_id),
    "category_id": _category,
    **{name: _deduction_record(name) for name in ("rule_id", "suspension_id", "appeal_id")},
    "token": lambda _community_id: _any_token(),  # a certificate token: any text is checked
    "correction_id": _correction,
    "slug": lambda community_id: _slug(community_id),
    "subdistrict_id": _subdistrict,
    "move_id": _move,
    "request_id": records.help_request,
}


def api_routes(document: dict) -> list[tuple[str, str]]:
    methods = ("get", "post", "put", "patch", "delete")
    return sorted(
        (method.upper(), path)
        for path, operations in document["paths"].items() if path.startswith("/api")
        for method in operations if method in methods
    )


def parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


async def fill(path: str, community_id: int) -> str:
    for name in parameters(path):
        assert name in RECORDS, f"no maker for {{{name}}}: add one to RECORDS"
        path = path.replace(f"{{{name}}}", str(await RECORDS[name](community_id)))
    return path


async def call(client: httpx.AsyncClient, method: str, path: str) -> httpx.Response:
    if method in UNSAFE and method != "DELETE":
        return await client.request(
            method, path, json={}, headers={"Idempotency-Key": secrets.token_hex(8)}
        )
    return await client.request(method, path)


def undocumented(document: dict, method: str, template: str, response: httpx.Response) -> str | None:
    """What the OpenAPI document does not say about this answer, if anything: its status, or a
    refusal not sent as the problem details the document names."""
    listed = document["paths"][template][method.lower()]["responses"]
    status = str(response.status_code)
    if status not in listed:
        return f"{method} {template}: {status} is not among the documented {sorted(listed)}"
    kind = response.headers.get("content-type", "").split(";")[0]
    if response.status_code >= 400 and kind not in listed[status].get("content", {}):
        return f"{method} {template}: {status} as {kind}, documented as {list(listed[status]['content'])}"
    return None


@pytest.fixture
async def openapi(anon: httpx.AsyncClient) -> dict:
    response = await anon.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


async def test_every_api_route_is_declared(openapi: dict) -> None:
    undeclared = [route for route in api_routes(openapi) if route not in ROUTES]
    assert not undeclared, f"declare who may call these in ROUTES: {undeclared}"


async def test_every_declared_route_exists(openapi: dict) -> None:
    present = set(api_routes(openapi))
    missing = [route for route, access in ROUTES.items()
               if route not in present and not access.planned]
    assert not missing, f"declared but not served (typo, or mark planned): {missing}"


async def test_the_document_bounds_every_id_a_request_carries(openapi: dict) -> None:
    """Ids in paths, queries and bodies are documented as the server reads them (1 … 2³¹−1),
    amounts by the ledger's rule, and the rule for text is said once (issue 14)."""
    bounded = {"minimum": 1, "maximum": 2**31 - 1}
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["name"].endswith("_id"):
                    schema = parameter["schema"]
                    integer = next(s for s in schema.get("oneOf", [schema]) if s.get("type") == "integer")
                    assert integer | bounded == integer, (method, path, parameter["name"])
    schemas = openapi["components"]["schemas"]
    assert schemas["AdjustmentRequest"]["properties"]["person_id"] | bounded \
        == schemas["AdjustmentRequest"]["properties"]["person_id"]
    amount = schemas["AdjustmentRequest"]["properties"]["amount"]["oneOf"]
    assert {"type": "number", "multipleOf": 0.01}.items() <= amount[1].items()
    assert amount[0]["pattern"] == r"^[+-]?(\d{1,12}(\.\d{1,2})?|\.\d{1,2})$"
    assert "NUL" in openapi["info"]["description"]


async def test_the_document_says_what_fields_take(openapi: dict) -> None:
    """The limits the services check, said in the document from the same constants
    (``market.constraints``), so a generated client sends what the server takes."""
    schemas = openapi["components"]["schemas"]
    name = schemas["NameRequest"]["properties"]["name"]
    assert (name["minLength"], name["maxLength"], name["pattern"]) == (1, 50, r"\S")
    person = schemas["NewPersonRequest"]["properties"]
    assert person["phone"]["pattern"] == "^(?:1[3-9][0-9]{9})$"
    assert person["roles"]["minItems"] == 1
    assert person["roles"]["items"]["enum"] == ["admin", "organizer", "resident", "shopkeeper"]
    days = schemas["RulesChange"]["properties"]["open_days"]
    assert (days["minItems"], days["items"]["minimum"], days["items"]["maximum"]) == (1, 1, 7)
    assert schemas["NewActivity"]["properties"]["category"]["anyOf"][0]["enum"] == [
        "collective_labour", "self_governance", "volunteer_service"]

    def query(path: str) -> dict:
        return {p["name"]: p["schema"] for p in openapi["paths"][path]["get"]["parameters"]}

    assert query("/api/people")["cursor"]["pattern"] == "^[0-9]{0,18}$"
    assert query("/api/leaderboards")["period"]["enum"] == ["month", "quarter", "year"]
    assert query("/api/exports/ledger.csv")["from"]["format"] == "date"
    # Types that refuse unknown fields say so; a key is required where the server requires one.
    assert schemas["RulesChange"]["additionalProperties"] is False
    assert "additionalProperties" not in schemas["NameRequest"]

    def key_required(path: str) -> bool:
        (key,) = [p for p in openapi["paths"][path]["post"]["parameters"] if p["name"] == "Idempotency-Key"]
        return key["required"]

    assert key_required("/api/adjustments") and key_required("/api/redemptions")
    assert not key_required("/api/orders")


async def test_route_role_matrix(app: Litestar, openapi: dict) -> None:
    ledger = app.state.ledger
    home = await communities.get_or_create(ledger, f"矩阵社区-{secrets.token_hex(6)}")
    away = await communities.get_or_create(ledger, f"邻居社区-{secrets.token_hex(6)}")
    people = {role: await records.person(home.id, role) for role in ROLES}

    failures: list[str] = []
    for method, template in api_routes(openapi):
        access = ROUTES.get((method, template))
        if access is None:
            continue  # reported by test_every_api_route_is_declared
        own = await fill(template, home.id)
        foreign = await fill(template, away.id) if parameters(template) else None

        async with client_for(app) as anon:
            answer = await call(anon, method, own)
            status = answer.status_code
        if problem := undocumented(openapi, method, template, answer):
            failures.append(f"anonymous: {problem}")
        if access.public and (status in (401, 403) or status >= 500):
            failures.append(f"anonymous {method} {own}: {status}, expected allowed")
        elif not access.public and status != 401:
            failures.append(f"anonymous {method} {own}: {status}, expected 401")

        for role in ROLES:
            # A fresh session each time: DELETE /api/session would end a shared one.
            async with await records.bearer_client(app, people[role]) as client:
                answer = await call(client, method, own)
                status = answer.status_code
                if problem := undocumented(openapi, method, template, answer):
                    failures.append(f"{role}: {problem}")
                if access.allows(role):
                    if status in (401, 403) or status >= 500:
                        failures.append(f"{role} {method} {own}: {status}, expected allowed")
                elif status != 403:
                    failures.append(f"{role} {method} {own}: {status}, expected 403")
                if foreign is not None and access.allows(role) and not access.any_community:
                    answer = await call(client, method, foreign)
                    status = answer.status_code
                    if problem := undocumented(openapi, method, template, answer):
                        failures.append(f"{role}, other community: {problem}")
                    # A GET must find nothing; a write may stop earlier at the empty body.
                    other_ok = status in (403, 404) if method == "GET" else 400 <= status < 500
                    if not other_ok:
                        failures.append(
                            f"{role} {method} {foreign} (other community): {status}")
    assert not failures, "\n".join(failures)


async def test_every_state_changing_route_needs_the_csrf_token_with_a_cookie(
    app: Litestar, openapi: dict
) -> None:
    """A cookie session without the X-CSRF-Token header changes nothing, anywhere."""
    ledger = app.state.ledger
    home = await communities.get_or_create(ledger, f"CSRF社区-{secrets.token_hex(6)}")
    admin = await records.person(home.id, *ROLES)  # every role: no route refuses by role
    unsafe = [(m, p) for m, p in api_routes(openapi)
              if m in UNSAFE and not ROUTES.get((m, p), signed_in()).public]
    assert len(unsafe) >= 4
    failures = []
    for method, template in unsafe:
        path = await fill(template, home.id)
        client, csrf = await records.cookie_client(app, admin)
        async with client:
            response = await call(client, method, path)
            if problem := undocumented(openapi, method, template, response):
                failures.append(problem)
            if response.status_code != 403 or response.json().get("reason") != "csrf":
                failures.append(f"{method} {path}: {response.status_code}")
            # The session itself is fine: a safe request with the same cookie works.
            assert (await client.get("/api/me")).status_code == 200
            assert csrf
    assert not failures, "\n".join(failures)


async def test_cross_site_browser_requests_are_refused_everywhere(
    app: Litestar, openapi: dict
) -> None:
    """``Sec-Fetch-Site: cross-site`` on a state change is another site's page: refused,
    sign-in included (login CSRF), even with a valid CSRF token."""
    ledger = app.state.ledger
    home = await communities.get_or_create(ledger, f"跨站社区-{secrets.token_hex(6)}")
    admin = await records.person(home.id, *ROLES)
    failures = []
    for method, template in api_routes(openapi):
        if method not in UNSAFE:
            continue
        path = await fill(template, home.id)
        client, csrf = await records.cookie_client(app, admin)
        async with client:
            response = await client.request(
                method, path, content=b"{}" if method != "DELETE" else None,
                headers={"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": csrf,
                         "Content-Type": "application/json", "Idempotency-Key": "x"},
            )
            if response.status_code != 403 or response.json().get("reason") != "csrf":
                failures.append(f"{method} {path}: {response.status_code}")
    assert not failures, "\n".join(failures)
