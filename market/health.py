"""GET /health: is the app up and can it reach its database."""

import msgspec
from litestar import get

from market import db
from market.tables import Community


class Health(msgspec.Struct):
    status: str
    database: str


@get("/health", tags=["health"], summary="Liveness and database check")
async def health() -> Health:
    # A real query, so a load balancer stops sending traffic when the database is gone.
    await Community.select(Community.id).limit(1)
    return Health(status="ok", database=db.engine_name())
