"""create_app(): the one place where the web application is assembled.

Lifespan: migrate the database, open the PostgreSQL pool, start the ledger's
writer and the background sweeps (``market.background``: each run by one worker
at a time); everything is closed in reverse at shutdown. The /api router carries
authentication (middleware) and the signed-in guard; every error leaves
through ``market.errors.problem_response``.
"""

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from ledger import Ledger
from market import background, clock, db
from market.activities import service as activities
from market.activities.controllers import ActivityController, CheckinController
from market.activities.how_to_earn_controllers import HowToEarnController
from market.amounts import AmountSchemaPlugin, decode_amount, is_amount
from market.auth.controllers import SessionController
from market.auth.guards import signed_in
from market.auth.hashing import SecretHasher
from market.auth.limiter import DatabaseLoginLimiter, LoginLimiter, TotalFailures, limiter_from_url
from market.auth.middleware import SessionAuthMiddleware
from market.cards.controllers import CardAdminController, MemberCodeController, MyCodeController
from market.community.controllers import STRUCTURE_CONTROLLERS
from market.community.doorplate_controllers import DOORPLATE_CONTROLLERS
from market.dependencies import DEPENDENCIES
from market.errors import database_unavailable, problem_response
from market.health import health
from market.help_requests import board as help_board
from market.help_requests import controllers as help_request_controllers
from market.openapi import document_problems
from market.people import import_jobs
from market.people.controllers import MeController, PeopleController
from market.people.delegate_controllers import DelegateController, MyDelegationsController
from market.people.delegates import acting_for
from market.people.import_controllers import RosterImportController
from market.people.roles_controllers import RolesController
from market.points import expiry as points_expiry
from market.points import publicity as points_publicity
from market.points.category_controllers import EarningCategoryController
from market.points.controllers import (
    AdjustmentController,
    LedgerController,
    MyPointsController,
    PointsPolicyController,
    TransparencyController,
)
from market.points.deduction_controllers import API as DEDUCTIONS_API
from market.points.gift_controllers import GiftController, MyHouseholdController
from market.points.publicity_controllers import CONTROLLERS as PUBLICITY_API
from market.privacy import redaction
from market.privacy.controllers import MyDataController, PersonalDataController
from market.reports import (
    certificate_controllers,
    checkpoint_service,
    dashboard_controllers,
    export_controllers,
    leaderboard_controllers,
    transparency_controllers,
)
from market.settings import Settings, SettingsError, get_settings, sqlite_path
from market.shop import orders
from market.shop.controllers import ProductController
from market.shop.counter_controllers import OrderController, RedemptionController
from market.shop.shop_controllers import ShopController
from market.storable import check_request
from market.subdistricts.controllers import SubdistrictController
from market.subdistricts.move_controllers import MoveController
from market.web.headers import security_headers
from market.web.site import static_files, template_config, web_router

log = logging.getLogger(__name__)

#: Loggers that write SQL parameters (phones, password hashes) at DEBUG. Held at
#: INFO so that turning on DEBUG logging to chase a bug leaks no personal data.
PARAMETER_LOGGERS = ("aiosqlite",)


def _check_same_database(settings: Settings) -> None:
    """Piccolo's engine (piccolo_conf, from the environment) and the ledger
    (from ``settings``) must use one database, or points and people diverge."""
    engine = db.engine()
    if db.engine_name() != settings.engine:
        raise SettingsError(
            f"piccolo_conf uses {db.engine_name()} but the settings say {settings.engine}"
        )
    if settings.engine == "sqlite":
        piccolo_path = sqlite_path("sqlite:///" + engine.path)  # type: ignore[attr-defined]
        if piccolo_path != sqlite_path(settings.database_url):
            raise SettingsError("piccolo_conf and the settings name different SQLite files")


GIL_SWITCH_INTERVAL = 0.0005

#: How often unfinished stays are closed for review.
CLOSE_STAYS_EVERY = 300.0
#: How often expired points are cleared: lots expire at midnight (China time), so within the hour.
POINTS_EXPIRY_EVERY = 3600.0
#: How often credits whose 公示 window ended are posted.
PUBLICITY_EVERY = 900.0
#: How often 民声 requests nobody took in time are escalated to their grid workers.
HELP_ESCALATION_EVERY = 300.0
#: How often old import jobs and quiet lock-out counts are pruned.
HOUSEKEEPING_EVERY = 3600.0


def _background_jobs(
    settings: Settings, ledger: Ledger, limiter: LoginLimiter
) -> list[background.Periodic]:
    """The periodic work of the installation, each run by one worker at a time."""
    every = settings.sweep_seconds

    async def housekeeping() -> None:
        await import_jobs.prune()
        if isinstance(limiter, DatabaseLoginLimiter):
            await limiter.prune()

    return [
        background.Periodic("close_unfinished_stays", every or CLOSE_STAYS_EVERY,
                            activities.close_unfinished),
        background.Periodic("expire_orders", every or orders.SWEEP_EVERY,
                            lambda: orders.expire_overdue(ledger)),
        background.Periodic("daily_checkpoints", every or checkpoint_service.SWEEP_EVERY,
                            lambda: checkpoint_service.checkpoint_all(settings)),
        background.Periodic("housekeeping", HOUSEKEEPING_EVERY, housekeeping),
        background.Periodic("points_expiry", every or POINTS_EXPIRY_EVERY,
                            lambda: points_expiry.clear_all(ledger, clock.now())),
        # 公示: credits whose window ended count from midnight (China time), within the hour.
        background.Periodic("publicity", every or PUBLICITY_EVERY,
                            lambda: points_publicity.post_due(ledger, clock.now())),
        background.Periodic("help_escalation", every or HELP_ESCALATION_EVERY, help_board.escalate),
    ]


def _lifespan(
    settings: Settings, owned_limiters: tuple[LoginLimiter, ...] = ()
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        _check_same_database(settings)
        # Every query hands work to a database thread and back. Python lets a
        # thread wait up to 5 ms for the GIL while the event loop computes;
        # 0.5 ms measured 181 -> 241 check-ins/s with 200 residents at once.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        # At the first start, not in create_app: building the document takes 0.5 s.
        document_problems(app)
        await db.migrate()
        async with db.connection_pool():
            # A batch that finds the database unreachable fails whole and at once (503).
            # On PostgreSQL the ledger reads through the app's pool: fewer connections per worker.
            shared = db.engine().pool if settings.engine == "postgres" else None  # type: ignore[attr-defined]
            # No sweeper of the ledger's own in every worker: every batch of a community voids its
            # expired holds, and the orders' sweep (one worker, under a lease) settles them first.
            ledger = Ledger.from_url(settings.ledger_url, pool=shared, unreachable=database_unavailable,
                                     sweep_every=None)
            await ledger.start()
            app.state.ledger = ledger
            log.info("market started on %s", settings.engine)
            # Each sweep is done by one worker at a time, whatever the number of workers
            # and hosts: the one that takes its lease in the database.
            holder = background.holder_name()
            sweepers = [
                asyncio.create_task(background.keep(job, holder), name=f"background-{job.name}")
                for job in _background_jobs(settings, ledger, app.state.limiter)
            ]
            try:
                yield
            finally:
                for sweeper in sweepers:
                    sweeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sweeper
                await ledger.close()
                # Only the limiters this app made are closed; one passed in is its owner's.
                for owned in owned_limiters:
                    if close := getattr(owned, "close", None):
                        await close()

    return lifespan


def create_app(
    settings: Settings | None = None, *, limiter: LoginLimiter | None = None
) -> Litestar:
    settings = settings or get_settings()
    for name in PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger(name).level))
    redaction.install()
    # Every worker and host shares the lock-outs: in Redis when REDIS_URL is set, else in
    # the database. Per person, per source, per network and in total (``market.auth.limiter``):
    # a limiter for each, as each has its own number of failures.
    owned_limiter = None if limiter else limiter_from_url(settings.redis_url)
    source_limiter = limiter_from_url(settings.redis_url, kind="source")
    network_limiter = limiter_from_url(settings.redis_url, kind="network")
    total_limiter = limiter_from_url(settings.redis_url, kind="total")
    api = Router(
        path="/api",
        route_handlers=[
            SessionController,
            MeController,
            MyPointsController,
            PeopleController,
            RosterImportController,
            *STRUCTURE_CONTROLLERS,
            *DOORPLATE_CONTROLLERS,
            AdjustmentController,
            LedgerController,
            PointsPolicyController,
            MyHouseholdController,
            GiftController,
            *DEDUCTIONS_API,
            *PUBLICITY_API,
            *help_request_controllers.API,
            EarningCategoryController,
            HowToEarnController,
            TransparencyController,
            MyCodeController,
            CardAdminController,
            MemberCodeController,
            RolesController,
            PersonalDataController,
            MyDataController,
            ActivityController,
            CheckinController,
            ProductController,
            RedemptionController,
            ShopController,
            OrderController,
            DelegateController,
            MyDelegationsController,
            SubdistrictController,
            MoveController,
            *leaderboard_controllers.API,
            *dashboard_controllers.API,
            *export_controllers.API,
            *certificate_controllers.API,
            *transparency_controllers.API,
        ],
        middleware=[DefineMiddleware(SessionAuthMiddleware)],
        # signed_in first: acting for an elder needs a session of one's own.
        guards=[signed_in, acting_for],
    )
    return Litestar(
        route_handlers=[api, health, web_router(), static_files()],
        lifespan=[_lifespan(settings, tuple(
            x for x in (owned_limiter, source_limiter, network_limiter, total_limiter) if x))],
        dependencies=DEPENDENCIES,
        exception_handlers={Exception: problem_response},
        # Amounts are read by the ledger's rule, and documented so (market.amounts).
        type_decoders=[(is_amount, decode_amount)],
        plugins=[AmountSchemaPlugin()],
        # Ids and text no database here could hold are refused before any handler reads them.
        before_request=check_request,
        before_send=[security_headers(settings)],
        template_config=template_config(),
        state=State({
            "settings": settings,
            "hasher": SecretHasher(),
            "limiter": limiter or owned_limiter,
            "source_limiter": source_limiter,
            "network_limiter": network_limiter,
            "total_failures": TotalFailures(total_limiter),
        }),
        openapi_config=OpenAPIConfig(
            title="积分超市 API",
            version="1",
            path="/schema",
            # JSON only: the HTML viewers load their scripts from a CDN.
            render_plugins=[JsonRenderPlugin()],
        ),
        debug=settings.debug,
    )


def serve_app() -> Litestar:
    """The app as ``market serve`` runs it (uvicorn's factory, in each worker).

    Everything made so far — routes, handlers, templates, catalogues — lives as long as the
    process, so it is moved out of the garbage collector's sight (``gc.freeze``). Otherwise each
    full collection walks all of it again: a leaderboard's recount allocates enough to start one
    every few requests, and on PostgreSQL those pauses made the slowest tenth of cold boards
    about twice as slow (p50 62 ms, p95 102 ms in-process; frozen: p95 78 ms).
    """
    app = create_app()
    gc.freeze()
    return app

