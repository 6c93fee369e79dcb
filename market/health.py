"""GET /health: is the app up, and can it reach what it needs — its database, and Redis when set.

200 ``{"status": "ok", "database": "sqlite"|"postgres"}`` (with ``"redis": "ok"`` when
``REDIS_URL`` is set); otherwise a 503 problem naming what is down (``"down": ["database",
"redis"]``) with ``Retry-After``, so a load balancer stops sending traffic to this worker and
sends it again by itself once the dependency is back (each probe asks anew).
"""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import msgspec
from litestar import Request, get

from market import db
from market.errors import DependenciesDown, database_unavailable
from market.tables import Community

log = logging.getLogger(__name__)

#: A load balancer's probe gives up after a few seconds (nginx, HAProxy: 2–5 s by default);
#: a check still waiting after two counts as down, though the pools would wait longer.
CHECK_TIMEOUT = 2.0


async def _answers_in_time(check: Coroutine[Any, Any, bool]) -> bool:
    """Did ``check`` finish within ``CHECK_TIMEOUT``? One still running is left to end on its
    own: a query cut off on a hung server waits for its cancel as long again (asyncpg), and the
    probe must not wait with it."""
    task = asyncio.ensure_future(check)
    # Whatever it ends with later has been answered for already.
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    await asyncio.wait({task}, timeout=CHECK_TIMEOUT)
    if not task.done():
        task.cancel()
        return False
    return bool(task.result())


async def _database() -> bool:
    try:
        # A real query, so a database without our tables counts as down too.
        await Community.select(Community.id).limit(1)
    except Exception as error:
        if not database_unavailable(error):
            raise
        return False
    return True


async def _redis(redis: Any) -> bool:
    try:
        await redis.ping()
    except Exception as error:  # refused, reset, timed out: all the same to a probe
        log.warning("health: Redis does not answer (%s)", type(error).__name__)
        return False
    return True


class Health(msgspec.Struct, omit_defaults=True):
    status: str
    database: str
    redis: str | None = None
    """"ok" when ``REDIS_URL`` is set (absent otherwise)."""


@get("/health", tags=["health"], summary="Liveness, and the database (and Redis) check")
async def health(request: Request) -> Health:
    settings = request.app.state.settings
    checks = {"database": _database()}
    # The limiter's connection pool; one passed in without Redis (tests) has none to ask.
    if settings.redis_url and (redis := getattr(request.app.state.limiter, "redis", None)):
        checks["redis"] = _redis(redis)
    answers = dict(zip(checks, await asyncio.gather(*map(_answers_in_time, checks.values())),
                       strict=True))
    down = [name for name, up in answers.items() if not up]
    if down:
        raise DependenciesDown(down, database=db.engine_name())
    return Health(status="ok", database=db.engine_name(), redis="ok" if settings.redis_url else None)
