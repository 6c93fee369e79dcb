"""The pages' tests use the market tests' fixtures: a running app, a community, people per role."""

import pytest

from tests.market.conftest import (  # noqa: F401  (fixtures)
    admin,
    anon,
    app,
    community,
    enrol,
    ledger,
    organizer,
    resident,
    shopkeeper,
)
from tests.web.browser import screenshots, server  # noqa: F401  (fixtures of the browser tests)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # As for the market tests: Litestar deprecations fail the page tests too.
    for item in items:
        if "tests/web/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.filterwarnings("error::DeprecationWarning"))
