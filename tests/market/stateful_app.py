"""One app for all the examples of a Hypothesis state machine (``test_shop_stateful.py``,
``test_points_stateful.py``), as ``tests/market/conftest.py`` keeps one for all the tests.

Building an app costs ~0.35 s of CPU (Litestar registers and copies every route, and its first
start-up documents the problems in its OpenAPI document), and a machine runs a few dozen examples.
Each example still gets its own start-up and shutdown (pools, ledger, sweepers on its own event
loop), its own community, and the app's state back as it was before.
"""

import contextlib
from collections.abc import AsyncIterator

from litestar import Litestar

from market.app import create_app
from market.settings import Settings, get_settings
from tests.market.support import running

_apps: dict[Settings, Litestar] = {}


def _app() -> Litestar:
    settings = get_settings()
    if settings.redis_url:  # its limiter's connections are closed at shutdown: a new app each time
        return create_app()
    if (app := _apps.get(settings)) is None:
        app = _apps[settings] = create_app()
    return app


@contextlib.asynccontextmanager
async def example_app() -> AsyncIterator[Litestar]:
    """The shared app between its start-up and its shutdown, for one example."""
    app = _app()
    state = app.state.dict()
    try:
        async with running(app):
            yield app
    finally:
        app.state.clear()
        app.state.update(state)
