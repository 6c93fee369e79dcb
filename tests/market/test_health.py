"""The app is up: /health answers with the engine, and the OpenAPI document lists the API."""

import httpx


async def test_health_reports_the_engine(anon: httpx.AsyncClient, db_engine: str) -> None:
    response = await anon.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": db_engine}


async def test_openapi_lists_the_api(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/session", "/api/me", "/api/me/balance", "/api/me/entries", "/api/people",
        "/api/people/{person_id}", "/api/adjustments", "/api/ledger/verify", "/api/transparency",
    ):
        assert path in paths, path
    assert "post" in paths["/api/adjustments"]
    headers = {p["name"] for p in paths["/api/adjustments"]["post"].get("parameters", [])}
    assert "Idempotency-Key" in headers


async def test_unknown_route_is_a_problem(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/no-such-thing")
    # The auth middleware does not run for unknown routes; routing answers 404.
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["reason"] == "not_found"
